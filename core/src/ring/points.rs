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
//! so 20 to 24 bytes per point.

use std::cmp::Ordering;

/// One virtual node on the ring.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Entry {
    /// Position on the ring: `xxh3_64_with_seed(name, vnode)`.
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

    /// Builds from scratch: one counting sort by bucket, then an insertion
    /// sort that only ever moves entries within their bucket.
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

        let mut raw = Vec::with_capacity(total);
        for (node, name, count) in nodes {
            raw.extend((0..count).map(|vnode| Entry {
                point: crate::hash::point_hash(name, vnode),
                node,
                vnode,
            }));
        }
        debug_assert_eq!(raw.len(), total);

        // starts[b + 1] counts bucket b, then the prefix sum turns counts into starts.
        let mut starts = vec![0u32; buckets + 1];
        for e in &raw {
            starts[(e.point >> shift) as usize + 1] += 1;
        }
        for b in 1..=buckets {
            starts[b] += starts[b - 1];
        }
        let mut cursor = starts.clone();
        let mut entries = vec![SENTINEL; total + 1];
        for e in raw {
            let slot = &mut cursor[(e.point >> shift) as usize];
            entries[*slot as usize] = e;
            *slot += 1;
        }
        insertion_sort(&mut entries[..total], &name_of);
        starts.truncate(buckets);
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
        let mut fresh: Vec<Entry> = (from..to)
            .map(|vnode| Entry {
                point: crate::hash::point_hash(name, vnode),
                node,
                vnode,
            })
            .collect();
        fresh.sort_unstable_by(|a, b| a.point.cmp(&b.point).then(a.vnode.cmp(&b.vnode)));

        let old = std::mem::take(&mut self.entries);
        let old = &old[..old.len() - 1];
        let mut merged = Vec::with_capacity(old.len() + fresh.len() + 1);
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < fresh.len() {
            if compare(&fresh[j], &old[i], &name_of) == Ordering::Less {
                merged.push(fresh[j]);
                j += 1;
            } else {
                merged.push(old[i]);
                i += 1;
            }
        }
        merged.extend_from_slice(&old[i..]);
        merged.extend_from_slice(&fresh[j..]);
        merged.push(SENTINEL);
        self.entries = merged;
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
        let mut i = 0usize;
        for (b, start) in self.starts.iter_mut().enumerate() {
            while i < n && ((self.entries[i].point >> self.shift) as usize) < b {
                i += 1;
            }
            *start = i as u32;
        }
    }

    /// Bytes used by the entries and the bucket table.
    pub fn memory_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.starts.capacity() * std::mem::size_of::<u32>()
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
