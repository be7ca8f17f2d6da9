//! The "ketama" family: libmemcached 1.1, twemproxy (nutcracker) and
//! uhashring 2.5. All three hash md5 of `"<name>-<i>"` into 32-bit points,
//! but name the servers, count the points and break ties differently.

use super::hashes::{HashKind, digest_word, md5};
use super::table::{Member, Table};

/// libmemcached's ketama settings (`memcached_behavior_set`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Libmemcached {
    /// `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`: 160 points per server scaled
    /// by weight, 4 per md5 digest. Also on when any server has a weight
    /// above 1, as libmemcached does when such a server is added.
    pub weighted: bool,
    /// `MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY`: points named
    /// `"/host:port-i"` (spymemcached's naming).
    pub spy: bool,
    /// `MEMCACHED_BEHAVIOR_HASH`, the key hash. Unweighted ketama also
    /// hashes its points with it.
    pub key_hash: HashKind,
}

impl Libmemcached {
    /// `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED = 1`: weighted, md5 key hash (the
    /// behaviour sets both).
    pub const fn weighted() -> Self {
        Libmemcached {
            weighted: true,
            spy: false,
            key_hash: HashKind::Md5,
        }
    }

    /// `MEMCACHED_BEHAVIOR_KETAMA = 1` alone: 100 points per server hashed
    /// with the key hash, which stays libhashkit's default, one-at-a-time.
    pub const fn unweighted() -> Self {
        Libmemcached {
            weighted: false,
            spy: false,
            key_hash: HashKind::OneAtATime,
        }
    }
}

impl Default for Libmemcached {
    fn default() -> Self {
        Self::weighted()
    }
}

/// twemproxy's per-pool settings.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Twemproxy {
    /// `hash:` (default `fnv1a_64`, 32-bit as twemproxy computes it).
    pub hash: HashKind,
    /// `hash_tag:`, e.g. `b"{}"`: only the part between the two characters
    /// is hashed, when both occur in that order with something between.
    pub hash_tag: Option<[u8; 2]>,
}

impl Default for Twemproxy {
    fn default() -> Self {
        Twemproxy {
            hash: HashKind::Fnv1a64,
            hash_tag: None,
        }
    }
}

impl Twemproxy {
    /// The bytes twemproxy hashes for `key`, after `hash_tag`.
    pub fn tagged<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        let Some([open, close]) = self.hash_tag else {
            return key;
        };
        let Some(start) = key.iter().position(|&b| b == open) else {
            return key;
        };
        match key[start + 1..].iter().position(|&b| b == close) {
            Some(len) if len > 0 => &key[start + 1..start + 1 + len],
            _ => key,
        }
    }
}

/// uhashring's two rings.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Uhashring {
    /// `hash_fn="ketama"`; otherwise its default md5 ring.
    pub ketama: bool,
    /// `vnodes`: points per unit weight (md5) or groups per server (ketama);
    /// uhashring's defaults are 160 and 40.
    pub vnodes: u32,
    /// `replicas`: points per digest in the ketama ring (at most 4).
    pub replicas: u32,
}

impl Uhashring {
    /// The default md5 ring: 160 points per unit weight.
    pub const fn md5() -> Self {
        Uhashring {
            ketama: false,
            vnodes: 160,
            replicas: 4,
        }
    }

    /// `hash_fn="ketama"`: 40 groups of 4 points per server.
    pub const fn ketama() -> Self {
        Uhashring {
            ketama: true,
            vnodes: 40,
            replicas: 4,
        }
    }
}

impl Default for Uhashring {
    fn default() -> Self {
        Self::md5()
    }
}

/// Splits `host:port` at the last `:`; no port means `default`.
pub(crate) fn host_port(name: &[u8], default: u16) -> (&[u8], u16) {
    if let Some(at) = name.iter().rposition(|&b| b == b':') {
        let port = std::str::from_utf8(&name[at + 1..])
            .ok()
            .and_then(|p| p.parse().ok());
        if let Some(port) = port {
            return (&name[..at], port);
        }
    }
    (name, default)
}

/// libmemcached's and twemproxy's weighted point count, every step in
/// `f32` as their C does: `floor(w/Σw · 160 / 4 · n + 1e-10) · 4`.
pub(crate) fn float_points(weight: u32, total: u64, live: usize) -> u32 {
    let pct = weight as f32 / total as f32;
    // libmemcached 1.1 adds `0.0000000001F`, a float far below the ulp of
    // any count: it cannot lift 7.9999995 to 8.
    let f = pct * 160.0 / 4.0 * live as f32 + 0.000_000_000_1_f32;
    (f.floor() as u32) * 4
}

const MEMCACHED_DEFAULT_PORT: u16 = 11211;

/// libmemcached 1.1's `update_continuum` over `members` (server order).
pub(crate) fn libmemcached(opts: &Libmemcached, members: &[Member]) -> Table {
    let weighted = opts.weighted || members.iter().any(|m| m.weight > 1);
    let total: u64 = members.iter().map(|m| u64::from(m.weight)).sum();
    let mut entries = Vec::new();
    let mut label = Vec::with_capacity(64);
    for m in members {
        let (host, port) = host_port(&m.name, MEMCACHED_DEFAULT_PORT);
        let (groups, per_group) = if weighted {
            (float_points(m.weight, total, members.len()) / 4, 4)
        } else {
            (100, 1)
        };
        for i in 0..groups {
            label.clear();
            if opts.spy {
                label.push(b'/');
                label.extend_from_slice(host);
                label.extend_from_slice(format!(":{port}-{i}").as_bytes());
            } else if port == MEMCACHED_DEFAULT_PORT {
                label.extend_from_slice(host);
                label.extend_from_slice(format!("-{i}").as_bytes());
            } else {
                label.extend_from_slice(host);
                label.extend_from_slice(format!(":{port}-{i}").as_bytes());
            }
            if per_group == 4 {
                let d = md5(&label);
                entries.extend((0..4).map(|k| (u64::from(digest_word(&d, k)), m.index)));
            } else {
                entries.push((u64::from(opts.key_hash.hash(&label)), m.index));
            }
        }
    }
    Table::ring(entries, false)
}

/// The name twemproxy hashes for a server: its explicit name (written
/// `host:port name` as in twemproxy's `servers:` list, or `name@host:port`
/// where whitespace is not welcome, e.g. on the command line), else `host`
/// for port 11211, else `host:port`.
pub(crate) fn twemproxy_name(name: &[u8]) -> &[u8] {
    if let Some(at) = name.iter().position(|&b| b == b' ') {
        return &name[at + 1..];
    }
    if let Some(at) = name.iter().position(|&b| b == b'@') {
        return &name[..at];
    }
    let (host, port) = host_port(name, MEMCACHED_DEFAULT_PORT);
    if port == MEMCACHED_DEFAULT_PORT {
        host
    } else {
        name
    }
}

/// twemproxy's `ketama_update` (`src/hashkit/nc_ketama.c`).
pub(crate) fn twemproxy(members: &[Member]) -> Table {
    let total: u64 = members.iter().map(|m| u64::from(m.weight)).sum();
    let mut entries = Vec::new();
    let mut label = Vec::with_capacity(64);
    for m in members {
        let name = twemproxy_name(&m.name);
        for i in 0..float_points(m.weight, total, members.len()) / 4 {
            label.clear();
            label.extend_from_slice(name);
            label.extend_from_slice(format!("-{i}").as_bytes());
            let d = md5(&label);
            entries.extend((0..4).map(|k| (u64::from(digest_word(&d, k)), m.index)));
        }
    }
    Table::ring(entries, false)
}

/// uhashring 2.5 (`ring.py`, `ring_ketama.py`, `ring_meta.py`).
pub(crate) fn uhashring(opts: &Uhashring, members: &[Member]) -> Table {
    let mut entries = Vec::new();
    let mut label = Vec::with_capacity(64);
    if opts.ketama {
        let total: u64 = members.iter().map(|m| u64::from(m.weight)).sum();
        let n = members.len() as u64;
        for m in members {
            let groups = u64::from(opts.vnodes) * n * u64::from(m.weight) / total.max(1);
            for w in 0..groups {
                label.clear();
                label.extend_from_slice(&m.name);
                label.extend_from_slice(format!("-{w}").as_bytes());
                let d = md5(&label);
                entries.extend(
                    (0..opts.replicas as usize).map(|k| (u64::from(digest_word(&d, k)), m.index)),
                );
            }
        }
    } else {
        for m in members {
            for w in 0..u64::from(opts.vnodes) * u64::from(m.weight) {
                label.clear();
                label.extend_from_slice(&m.name);
                label.extend_from_slice(format!("-{w}").as_bytes());
                // The 128-bit big-endian digest, compared by its top 64 bits.
                let d = md5(&label);
                let top = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
                entries.push((top, m.index));
            }
        }
    }
    // Its ring is a dict point → node: a later node overwrites an equal
    // point, and every copy of that point answers with the last writer.
    entries.sort_by_key(|e| e.0);
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len() && entries[j].0 == entries[i].0 {
            j += 1;
        }
        let last = entries[j - 1].1;
        for e in &mut entries[i..j] {
            e.1 = last;
        }
        i = j;
    }
    Table::from_sorted(entries, true)
}

/// The key hash of a uhashring ring: `md5(key)` as its first little-endian
/// word (ketama) or its top 64 big-endian bits (md5).
pub(crate) fn uhashring_key(opts: &Uhashring, key: &[u8]) -> u64 {
    let d = md5(key);
    if opts.ketama {
        u64::from(digest_word(&d, 0))
    } else {
        u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeIndex;
    use crate::place::AllUp;

    fn members(list: &[(&str, u32)]) -> Vec<Member> {
        list.iter()
            .enumerate()
            .map(|(i, (n, w))| Member {
                index: NodeIndex::new(i as u32),
                name: n.as_bytes().into(),
                weight: *w,
            })
            .collect()
    }

    const POOL: [(&str, u32); 8] = [
        ("10.0.1.1:11211", 600),
        ("10.0.1.2:11211", 300),
        ("10.0.1.3:11211", 200),
        ("10.0.1.4:11211", 350),
        ("10.0.1.5:11211", 1000),
        ("10.0.1.6:11211", 800),
        ("10.0.1.7:11211", 950),
        ("10.0.1.8:11211", 100),
    ];

    /// libmemcached `test/fixtures/ketama.hpp` (`ketama_test_cases`,
    /// `ketama_test_cases_spy`), asserted by `test/tests/memcached/ketama.cpp`
    /// `memcached_ketama_compat` over the pool above with
    /// `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`.
    #[test]
    fn libmemcached_ketama_fixtures() {
        let m = members(&POOL);
        let spy = Libmemcached {
            spy: true,
            ..Libmemcached::weighted()
        };
        let plain = libmemcached(&Libmemcached::weighted(), &m);
        let spied = libmemcached(&spy, &m);
        let live = AllUp(8);
        for (key, hash1, server, spy_server) in super::super::fixtures::KETAMA {
            let h = HashKind::Md5.hash(key.as_bytes());
            assert_eq!(h, hash1, "{key}");
            let got = plain.route(u64::from(h), &live).unwrap();
            assert_eq!(POOL[got.as_usize()].0, format!("{server}:11211"), "{key}");
            let got = spied.route(u64::from(h), &live).unwrap();
            assert_eq!(
                POOL[got.as_usize()].0,
                format!("{spy_server}:11211"),
                "{key} spy"
            );
        }
        // "VDEAAAAA hashes to fffcd1b5, after the last continuum point":
        // the wrap goes to the first point's server.
        let h = HashKind::Md5.hash(b"VDEAAAAA");
        assert_eq!(h, 0xfffc_d1b5);
        let Table::Ring { owners, .. } = &plain else {
            panic!()
        };
        assert_eq!(plain.route(u64::from(h), &live), Some(owners[0]));
    }

    #[test]
    fn float_point_counts() {
        // Equal weights: 160 points each.
        assert_eq!(float_points(1, 3, 3), 160);
        // Weights 1,6,6,6,6 (Σ 25, 5 servers): 1/25·40·5 is 8 exactly, but
        // 7.9999995 in float32, so 7 groups (28 points) where uhashring's
        // integer `40·5·1 // 25` gives 8 groups (32 points); 6 → 188, not 192.
        assert_eq!(float_points(1, 25, 5), 28);
        assert_eq!(float_points(6, 25, 5), 188);
    }

    #[test]
    fn twemproxy_names_and_tags() {
        assert_eq!(twemproxy_name(b"10.0.0.1:11211"), b"10.0.0.1");
        assert_eq!(twemproxy_name(b"10.0.0.1:11212"), b"10.0.0.1:11212");
        assert_eq!(twemproxy_name(b"10.0.0.1:11211 cache-a"), b"cache-a");
        assert_eq!(twemproxy_name(b"cache-a@10.0.0.1:11212"), b"cache-a");
        let t = Twemproxy {
            hash_tag: Some(*b"{}"),
            ..Twemproxy::default()
        };
        assert_eq!(t.tagged(b"user:{42}:name"), b"42");
        assert_eq!(t.tagged(b"user:{}:name"), b"user:{}:name");
        assert_eq!(t.tagged(b"user:{42"), b"user:{42");
        assert_eq!(Twemproxy::default().tagged(b"a{b}"), b"a{b}");
    }

    #[test]
    fn uhashring_ties_go_to_the_last_writer() {
        let m = members(&[("a", 1), ("b", 1)]);
        let t = uhashring(&Uhashring::md5(), &m);
        assert_eq!(t.shares().iter().map(|s| s.1).sum::<usize>(), 320);
    }
}
