//! nginx `hash $key consistent` (`ngx_http_upstream_hash_module.c`), the
//! ketama of Cache::Memcached::Fast: per server as written, split at the
//! last `:` (`unix:` sockets have no port), `base = host ‖ 0 ‖ port`, then
//! `160 · weight` points chained `crc32(base ‖ le32(previous point))`.
//! Points are sorted and later equal points dropped; the key hash is
//! `crc32(key)`, the first point `>=` it serves, wrapping.

use crc32fast::Hasher;

use super::table::{Member, Table};

/// `host` and `port` as nginx splits a server string.
fn split(name: &[u8]) -> (&[u8], &[u8]) {
    if name.len() >= 5 && name[..5].eq_ignore_ascii_case(b"unix:") {
        return (&name[5..], b"");
    }
    match name.iter().rposition(|&b| b == b':') {
        Some(at) => (&name[..at], &name[at + 1..]),
        None => (name, b""),
    }
}

pub(crate) fn build(members: &[Member]) -> Table {
    let mut entries = Vec::new();
    for m in members {
        let (host, port) = split(&m.name);
        let mut base = Hasher::new();
        base.update(host);
        base.update(b"\0");
        base.update(port);
        let mut prev: u32 = 0;
        for _ in 0..160 * u64::from(m.weight) {
            let mut h = base.clone();
            h.update(&prev.to_le_bytes());
            let point = h.finalize();
            entries.push((u64::from(point), m.index));
            prev = point;
        }
    }
    entries.sort_by_key(|e| e.0);
    // Equal points: the first in sorted (then server) order stays.
    entries.dedup_by_key(|e| e.0);
    Table::from_sorted(entries, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_nginx() {
        assert_eq!(split(b"127.0.0.1:8080"), (&b"127.0.0.1"[..], &b"8080"[..]));
        assert_eq!(split(b"[::1]:80"), (&b"[::1]"[..], &b"80"[..]));
        assert_eq!(split(b"unix:/tmp/s"), (&b"/tmp/s"[..], &b""[..]));
        assert_eq!(split(b"backend"), (&b"backend"[..], &b""[..]));
    }

    #[test]
    fn points_chain_crc32() {
        let m = [Member {
            index: crate::node::NodeIndex::new(0),
            name: b"h:1".to_vec().into(),
            weight: 1,
        }];
        let Table::Ring { points, .. } = build(&m) else {
            panic!()
        };
        let first = crc32fast::hash(b"h\x001\x00\x00\x00\x00");
        let second = crc32fast::hash(&[&b"h\x001"[..], &first.to_le_bytes()].concat());
        assert!(points.contains(&u64::from(first)));
        assert!(points.contains(&u64::from(second)));
        assert_eq!(points.len(), 160);
    }
}
