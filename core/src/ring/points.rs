//! The sorted points of a ring and the index that finds one in O(1).
//!
//! Layout: one array of 16-byte entries `(point, node, vnode)` sorted by
//! `(point, node name)`, followed by a sentinel whose point is `u64::MAX`, and
//! a bucket table over the top `k` bits of the hash: `starts[b]` is the first
//! entry whose point falls in bucket `b`. A lookup reads one `u32` from the
//! bucket table and then scans forward from there; with about one point per
//! bucket the scan is a single compare on average, so a lookup touches two
//! cache lines. The sentinel ends every scan without a bounds test.
//!
//! Entries are an array of structs rather than separate point and owner
//! arrays: the scan needs the point and the answer needs the owner, and
//! keeping them in one 16-byte entry saves a cache miss per lookup.
//!
//! Memory: 16 bytes per point plus 4 bytes per bucket, with between 1 and 2
//! buckets per point (`2^k` is the power of two at or above the point count),
//! so 20 to 24 bytes per point. A build allocates nothing else of that size
//! (no temporary copy of the points): on a fresh heap, page faults on new
//! memory cost more than hashing every point twice.

use std::cmp::Ordering;

/// One virtual node on the ring.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Entry {
    /// Position on the ring: `xxh3_64(name ‖ le32(vnode))` (spec v2).
    pub point: u64,
    /// Owner, a raw [`NodeIndex`](crate::NodeIndex).
    pub node: u32,
    /// Which of the owner's points this is (`j` of the spec).
    pub vnode: u32,
}

const SENTINEL: Entry = Entry {
    point: u64::MAX,
    node: u32::MAX,
    vnode: u32::MAX,
};

/// Sorted points plus the bucket index. Always ends with [`SENTINEL`].
#[derive(Clone, Debug)]
pub(crate) struct Points {
    entries: Vec<Entry>,
    starts: Vec<u32>,
    shift: u32,
}

impl Default for Points {
    fn default() -> Self {
        let mut points = Points {
            entries: vec![SENTINEL],
            starts: Vec::new(),
            shift: 63,
        };
        points.reindex();
        points
    }
}

/// Bits of the bucket index for `n` points: the power of two at or above `n`,
/// at least 2 buckets so that the shift stays below 64.
fn bucket_bits(n: usize) -> u32 {
    n.max(2).next_power_of_two().trailing_zeros().min(32)
}

impl Points {
    /// Number of points (the sentinel excluded).
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len() - 1
    }

    /// The entries in ring order, sentinel excluded.
    #[inline]
    pub fn entries(&self) -> &[Entry] {
        &self.entries[..self.len()]
    }

    /// Owner of entry `i` (`i < len`).
    #[inline]
    pub fn owner(&self, i: usize) -> u32 {
        self.entries[i].node
    }

    /// Index of the first entry with `point >= hash`, wrapping to 0 past the
    /// last. The ring must not be empty.
    #[inline]
    pub fn find(&self, hash: u64) -> usize {
        let bucket = (hash >> self.shift) as usize;
        let mut i = self.starts[bucket] as usize;
        // Terminates: the sentinel's point is u64::MAX >= hash.
        while self.entries[i].point < hash {
            i += 1;
        }
        if i == self.len() { 0 } else { i }
    }

    /// Builds from scratch with a counting sort by bucket that hashes every
    /// point twice (once to count, once to place), then an insertion sort
    /// that only ever moves entries within their bucket.
    ///
    /// `nodes` yields `(node, name, count)`; `name_of` resolves a node's name
    /// for tie-breaks between equal points.
    pub fn build<'a, F>(
        nodes: impl Iterator<Item = (u32, &'a [u8], u32)>,
        total: usize,
        name_of: F,
    ) -> Self
    where
        F: Fn(u32) -> &'a [u8],
    {
        let bits = bucket_bits(total);
        let shift = 64 - bits;
        let buckets = 1usize << bits;
        let nodes: Vec<(u32, &[u8], u32)> = nodes.collect();
        let mut hashes = [0u64; CHUNK];

        // Pass 1: count each bucket, then turn the counts into running
        // totals, so that starts[b] is where bucket b ends.
        let mut starts = vec![0u32; buckets];
        for &(_, name, count) in &nodes {
            for_each_point(name, count, &mut hashes, |_, point| {
                starts[(point >> shift) as usize] += 1;
            });
        }
        let mut sum = 0u32;
        for start in &mut starts {
            sum += *start;
            *start = sum;
        }
        debug_assert_eq!(sum as usize, total);

        // Pass 2: place each entry just below its bucket's cursor, which
        // moves down from the bucket's end to its start: afterwards starts[b]
        // is where bucket b starts, as the index needs.
        let mut entries = vec![SENTINEL; total + 1];
        for &(node, name, count) in &nodes {
            for_each_point(name, count, &mut hashes, |vnode, point| {
                let cursor = &mut starts[(point >> shift) as usize];
                *cursor -= 1;
                entries[*cursor as usize] = Entry { point, node, vnode };
            });
        }
        insertion_sort(&mut entries[..total], &name_of);
        Points {
            entries,
            starts,
            shift,
        }
    }

    /// Adds the points `from..to` of `node`, merging them into place.
    pub fn insert<'a, F>(&mut self, node: u32, name: &'a [u8], from: u32, to: u32, name_of: F)
    where
        F: Fn(u32) -> &'a [u8],
    {
        if from >= to {
            return;
        }
        let mut hasher = crate::hash::PointHasher::new(name);
        let mut fresh: Vec<Entry> = (from..to)
            .map(|vnode| Entry {
                point: hasher.hash(vnode),
                node,
                vnode,
            })
            .collect();
        fresh.sort_unstable_by(|a, b| a.point.cmp(&b.point).then(a.vnode.cmp(&b.vnode)));

        // Merge in place from the back, so that no second copy of the
        // entries is allocated: grow by the fresh points (the old sentinel's
        // slot is reused and a new sentinel lands at the end), then fill from
        // the last slot down with the larger of the two remaining heads.
        let old_len = self.len();
        self.entries.reserve_exact(fresh.len());
        self.entries.resize(old_len + fresh.len() + 1, SENTINEL);
        let (mut i, mut j) = (old_len, fresh.len());
        while j > 0 {
            let k = i + j - 1;
            if i > 0 && compare(&fresh[j - 1], &self.entries[i - 1], &name_of) == Ordering::Less {
                self.entries[k] = self.entries[i - 1];
                i -= 1;
            } else {
                self.entries[k] = fresh[j - 1];
                j -= 1;
            }
        }
        self.reindex();
    }

    /// Removes every point of `node` whose vnode is `>= keep`
    /// (`keep = 0` removes the node entirely).
    pub fn remove(&mut self, node: u32, keep: u32) {
        self.entries.retain(|e| e.node != node || e.vnode < keep);
        self.reindex();
    }

    /// Recomputes the bucket table from the sorted entries, resizing it to
    /// the current point count.
    fn reindex(&mut self) {
        let n = self.len();
        let bits = bucket_bits(n);
        self.shift = 64 - bits;
        let buckets = 1usize << bits;
        self.starts.clear();
        self.starts.resize(buckets, 0);
        // Count each bucket (the entries are sorted, so the counts are
        // written in order), then turn counts into starts. No data-dependent
        // branch: walking entries and buckets side by side mispredicts about
        // once per bucket.
        for e in &self.entries[..n] {
            self.starts[(e.point >> self.shift) as usize] += 1;
        }
        let mut sum = 0u32;
        for start in &mut self.starts {
            let count = *start;
            *start = sum;
            sum += count;
        }
    }

    /// Bytes used by the entries and the bucket table.
    pub fn memory_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.starts.capacity() * std::mem::size_of::<u32>()
    }
}

/// Points hashed per batch in a build. Hashing a batch before touching the
/// bucket table (whose accesses miss the cache) lets many misses overlap.
const CHUNK: usize = 256;

/// Calls `f(vnode, point_hash(name, vnode))` for `vnode` in `0..count`,
/// hashing `CHUNK` points at a time into `hashes`.
#[inline]
fn for_each_point(name: &[u8], count: u32, hashes: &mut [u64; CHUNK], mut f: impl FnMut(u32, u64)) {
    let mut hasher = crate::hash::PointHasher::new(name);
    let mut from = 0u32;
    while from < count {
        let batch = &mut hashes[..(count - from).min(CHUNK as u32) as usize];
        for (vnode, hash) in (from..).zip(batch.iter_mut()) {
            *hash = hasher.hash(vnode);
        }
        for (vnode, &point) in (from..).zip(batch.iter()) {
            f(vnode, point);
        }
        from += batch.len() as u32;
    }
}

/// Ring order: by point, then by owner name (the spec), then by vnode so that
/// two equal points of one node (a 2^-64 event) still order deterministically.
#[inline]
fn compare<'a, F: Fn(u32) -> &'a [u8]>(a: &Entry, b: &Entry, name_of: &F) -> Ordering {
    a.point.cmp(&b.point).then_with(|| {
        if a.node == b.node {
            a.vnode.cmp(&b.vnode)
        } else {
            name_of(a.node).cmp(name_of(b.node))
        }
    })
}

/// Insertion sort for input already ordered by bucket: entries only move
/// within their bucket, about one compare per entry.
fn insertion_sort<'a, F: Fn(u32) -> &'a [u8]>(v: &mut [Entry], name_of: &F) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && compare(&v[j], &v[j - 1], name_of) == Ordering::Less {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(i: u32) -> &'static [u8] {
        [b"a".as_slice(), b"b", b"c"][i as usize]
    }

    fn reference(points: &Points, hash: u64) -> usize {
        let e = points.entries();
        let i = e.partition_point(|x| x.point < hash);
        if i == e.len() { 0 } else { i }
    }

    #[test]
    fn find_matches_binary_search() {
        let nodes = [
            (0u32, names(0), 50u32),
            (1, names(1), 7),
            (2, names(2), 300),
        ];
        let points = Points::build(nodes.iter().copied(), 357, names);
        assert!(
            points
                .entries()
                .windows(2)
                .all(|w| w[0].point <= w[1].point)
        );
        let mut h = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            h = h
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            assert_eq!(points.find(h), reference(&points, h));
        }
        for e in points.entries() {
            assert_eq!(points.find(e.point), reference(&points, e.point));
            assert_eq!(
                points.find(e.point.wrapping_add(1)),
                reference(&points, e.point.wrapping_add(1))
            );
        }
        assert_eq!(points.find(u64::MAX), reference(&points, u64::MAX));
        assert_eq!(points.find(0), 0);
    }

    #[test]
    fn insert_and_remove_equal_a_build() {
        let all = [
            (0u32, names(0), 40u32),
            (1, names(1), 40),
            (2, names(2), 40),
        ];
        let built = Points::build(all.iter().copied(), 120, names);
        let mut grown = Points::build(all[..2].iter().copied(), 80, names);
        grown.insert(2, names(2), 0, 10, names);
        grown.insert(2, names(2), 10, 40, names);
        assert_eq!(grown.entries(), built.entries());
        assert_eq!(grown.starts, built.starts);

        grown.remove(2, 0);
        let two = Points::build(all[..2].iter().copied(), 80, names);
        assert_eq!(grown.entries(), two.entries());
        grown.remove(1, 5);
        assert_eq!(grown.entries().iter().filter(|e| e.node == 1).count(), 5);
    }

    /// Deterministic names and a reference: every entry, sorted by `compare`.
    fn many_names(i: u32) -> &'static [u8] {
        static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| (0..64).map(|i| format!("node-{i}")).collect())[i as usize].as_bytes()
    }

    fn sorted_reference(nodes: &[(u32, u32)]) -> Vec<Entry> {
        let mut all: Vec<Entry> = nodes
            .iter()
            .flat_map(|&(node, count)| {
                (0..count).map(move |vnode| Entry {
                    point: crate::hash::point_hash(many_names(node), vnode),
                    node,
                    vnode,
                })
            })
            .collect();
        all.sort_by(|a, b| compare(a, b, &many_names));
        all
    }

    #[test]
    fn build_sorts_like_a_full_sort() {
        // Counts above CHUNK, and one node of 0 points, exercise the batching.
        let nodes: Vec<(u32, u32)> = (0..64)
            .map(|i| (i, [0, 1, 7, 160, 300, 1000][i as usize % 6]))
            .collect();
        let total = nodes.iter().map(|&(_, c)| c as usize).sum();
        let points = Points::build(
            nodes.iter().map(|&(n, c)| (n, many_names(n), c)),
            total,
            many_names,
        );
        assert_eq!(points.entries(), sorted_reference(&nodes).as_slice());
        assert_eq!(points.entries.last(), Some(&SENTINEL));
        let mut fresh = Points {
            entries: points.entries.clone(),
            ..Points::default()
        };
        fresh.reindex();
        assert_eq!(fresh.starts, points.starts);
        assert_eq!(fresh.shift, points.shift);
    }

    #[test]
    fn insert_merges_at_both_ends() {
        let nodes: Vec<(u32, u32)> = (0..8).map(|i| (i, 50)).collect();
        let built = Points::build(
            nodes.iter().map(|&(n, c)| (n, many_names(n), c)),
            400,
            many_names,
        );
        // Grow from empty, one node at a time, in a scrambled order, with a
        // weight change (two inserts) for one of them.
        let mut grown = Points::default();
        for &n in &[5u32, 0, 7, 3, 1, 6, 2, 4] {
            if n == 3 {
                grown.insert(n, many_names(n), 0, 20, many_names);
                grown.insert(n, many_names(n), 20, 50, many_names);
            } else {
                grown.insert(n, many_names(n), 0, 50, many_names);
            }
        }
        assert_eq!(grown.entries(), built.entries());
        assert_eq!(grown.entries.last(), Some(&SENTINEL));
        assert_eq!(grown.starts, built.starts);
    }

    #[test]
    fn empty_and_tiny() {
        let empty = Points::default();
        assert_eq!(empty.len(), 0);
        let one = Points::build([(0u32, names(0), 1u32)].into_iter(), 1, names);
        assert_eq!(one.len(), 1);
        assert_eq!(one.find(0), 0);
        assert_eq!(one.find(u64::MAX), 0);
    }
}
