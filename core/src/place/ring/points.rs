//! The sorted points of a ring and the index that finds one in O(1).
//!
//! Layout (structure of arrays, 18 to 24 bytes per point):
//! * `hashes`: the points in ring order (`u64`), followed by [`WINDOW`]
//!   sentinels equal to `u64::MAX`;
//! * `owners`: the owner of each point (`u32`), followed by the owner of
//!   the first point again, so that "one past the last point" (the
//!   wrap-around) needs no test on the all-up path;
//! * `starts`: a bucket table of `B` entries (1.5 to 3 per point, `2n` after
//!   a build) where bucket `b` covers the hashes `h` with
//!   `⌊h · B / 2^64⌋ = b` and `starts[b]` is the first point in or after it.
//!
//! A lookup reads `starts[b]`, then counts, without a branch, how many of
//! the next four points are below the hash: the answer is that many points
//! further. Four points cover a bucket and its successor's first point in
//! all but about one lookup in thousands; those take a scalar walk that the
//! sentinels end. So a lookup touches three cache lines (bucket, points,
//! owner) with no mispredicted branch; an array of 16-byte `(point, owner)`
//! structs would save the owner's line but cost 4 more bytes per point and
//! make the four-point window span two lines as often as not.
//!
//! Why not a chunked copy-on-write layout: it would let a change copy only
//! the chunks it touches, but every lookup would pay one more dependent
//! load. Flat arrays instead are rewritten by a change with bulk copies
//! (`memcpy` between the changed positions) into buffers recycled from a
//! retired snapshot, and the bucket table is shifted rather than recounted;
//! see [`Points::edited`].

use std::cmp::Ordering;

use crate::hash::opaque;

/// Points compared branch-free from a bucket's first point.
pub(crate) const WINDOW: usize = 4;

/// Sorted points plus the bucket index.
#[derive(Clone, Debug)]
pub(crate) struct Points {
    hashes: Vec<u64>,
    owners: Vec<u32>,
    starts: Vec<u32>,
    buckets: u64,
}

impl Default for Points {
    fn default() -> Self {
        let mut points = Points {
            hashes: Vec::new(),
            owners: Vec::new(),
            starts: Vec::new(),
            buckets: 0,
        };
        points.finish(None);
        points
    }
}

/// Buckets for `n` points after a full build.
fn buckets_for(n: usize) -> u64 {
    (2 * n as u64).max(2)
}

/// Buckets per partition of a build, as a shift: about 256 (some 128
/// points, a few KiB), more for huge rings so that there are at most 4,096
/// partitions and their write cursors stay in L1.
fn partition_shift(buckets: u64) -> u32 {
    let bits = u64::BITS - (buckets - 1).leading_zeros();
    bits.saturating_sub(12).max(8)
}

/// The bucket of `hash` among `buckets`: the high half of `hash × buckets`.
/// Monotone in `hash`, which is all the index needs.
#[inline(always)]
fn bucket_of(hash: u64, buckets: u64) -> usize {
    ((u128::from(hash) * u128::from(buckets)) >> 64) as usize
}

/// How many of `w` are below `hash`, without a branch.
#[inline(always)]
fn count_below(w: &[u64; WINDOW], hash: u64) -> usize {
    let mut n = 0;
    for &p in w {
        let p = opaque(p);
        n += usize::from(p < hash);
    }
    n
}

impl Points {
    /// Number of points.
    #[inline]
    pub fn len(&self) -> usize {
        self.hashes.len() - WINDOW
    }

    /// The point at ring position `i` (`< len`).
    #[inline]
    pub fn hash(&self, i: usize) -> u64 {
        self.hashes[i]
    }

    /// Owner of ring position `i` (`<= len`; `len` gives the first point's
    /// owner, the wrap-around).
    #[inline]
    pub fn owner(&self, i: usize) -> u32 {
        self.owners[i]
    }

    /// `(point, owner)` in ring order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u64, u32)> + '_ {
        let n = self.len();
        self.hashes[..n]
            .iter()
            .copied()
            .zip(self.owners[..n].iter().copied())
    }

    /// Index of the first point `>= hash`, or `len` when every point is
    /// below it (the caller wraps, or reads [`owner`](Points::owner)`(len)`).
    #[inline]
    pub fn find_raw(&self, hash: u64) -> usize {
        self.scan(self.start(hash), hash)
    }

    /// First step of a lookup: the first point in or after `hash`'s bucket.
    #[inline(always)]
    pub fn start(&self, hash: u64) -> usize {
        self.starts[bucket_of(hash, self.buckets)] as usize
    }

    /// Second step: from `start(hash)` to the first point `>= hash`.
    #[inline(always)]
    pub fn scan(&self, i: usize, hash: u64) -> usize {
        let window: &[u64; WINDOW] = self.hashes[i..i + WINDOW].try_into().expect("padded");
        let below = count_below(window, hash);
        if below < WINDOW {
            i + below
        } else {
            self.walk(i + WINDOW, hash)
        }
    }

    /// The rare case: a crowded bucket. The sentinels end the walk.
    #[cold]
    #[inline(never)]
    fn walk(&self, mut i: usize, hash: u64) -> usize {
        while self.hashes[i] < hash {
            i += 1;
        }
        i
    }

    /// Index of the first point `>= hash`, wrapping to 0 past the last.
    /// The ring must not be empty.
    #[inline]
    pub fn find(&self, hash: u64) -> usize {
        let i = self.find_raw(hash);
        if i == self.len() { 0 } else { i }
    }

    /// Builds from scratch in three passes, each with a small working set
    /// (hashing every point twice costs less than one pass of random
    /// accesses over arrays larger than the L2 cache):
    ///
    /// 1. hash every point and count it in its *partition*, a run of
    ///    `2^shift` consecutive buckets (the counters fit in L1);
    /// 2. hash again and append each point to its partition: one write
    ///    cursor per partition, so the writes stream;
    /// 3. per partition (a few hundred points, in L1): count its buckets,
    ///    place the points by bucket, and insertion-sort them, which moves a
    ///    point only within its bucket; its part of the bucket table is
    ///    written in order.
    ///
    /// `spare`'s buffers are reused when given. `nodes` yields `(node, name,
    /// count)`; `name_of` resolves a node's name for ties between equal
    /// points.
    pub fn build<'a, F>(
        nodes: &[(u32, &'a [u8], u32)],
        total: usize,
        name_of: F,
        spare: Option<Points>,
    ) -> Self
    where
        F: Fn(u32) -> &'a [u8],
    {
        let buckets = buckets_for(total);
        let shift = partition_shift(buckets);
        let partitions = ((buckets - 1) >> shift) as usize + 1;
        let Points {
            mut hashes,
            mut owners,
            mut starts,
            ..
        } = spare.unwrap_or_else(Points::empty);
        let mut chunk = [0u64; CHUNK];

        // Pass 1: bounds[p + 1] = points in partition p, then running sums:
        // partition p is bounds[p]..bounds[p + 1].
        let mut bounds = vec![0u32; partitions + 1];
        for &(_, name, count) in nodes {
            for_each_point(name, 0..count, &mut chunk, |_, point| {
                bounds[(bucket_of(point, buckets) >> shift) + 1] += 1;
            });
        }
        let mut sum = 0u32;
        for bound in &mut bounds {
            sum += *bound;
            *bound = sum;
        }
        debug_assert_eq!(sum as usize, total);

        // Pass 2: each point at its partition's write cursor.
        hashes.clear();
        hashes.resize(total + WINDOW, u64::MAX);
        owners.clear();
        owners.resize(total + 1, u32::MAX);
        let mut cursors = bounds[..partitions].to_vec();
        for &(node, name, count) in nodes {
            for_each_point(name, 0..count, &mut chunk, |_, point| {
                let cursor = &mut cursors[bucket_of(point, buckets) >> shift];
                hashes[*cursor as usize] = point;
                owners[*cursor as usize] = node;
                *cursor += 1;
            });
        }
        drop(cursors);

        // Pass 3: each partition sorted by bucket, its buckets indexed.
        starts.clear();
        starts.resize(buckets as usize, 0);
        let widest = bounds.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        let mut held: Vec<(u64, u32)> = Vec::with_capacity(widest as usize);
        for p in 0..partitions {
            let (lo, hi) = (bounds[p] as usize, bounds[p + 1] as usize);
            let first = p << shift;
            let table = &mut starts[first..((p + 1) << shift).min(buckets as usize)];
            held.clear();
            held.extend(
                hashes[lo..hi]
                    .iter()
                    .copied()
                    .zip(owners[lo..hi].iter().copied()),
            );
            // Counts, then where each bucket ends...
            for &(point, _) in &held {
                table[bucket_of(point, buckets) - first] += 1;
            }
            let mut end = lo as u32;
            for start in table.iter_mut() {
                end += *start;
                *start = end;
            }
            // ...then each point just below its bucket's cursor, which moves
            // down to where the bucket starts, as the index needs.
            for &(point, node) in &held {
                let start = &mut table[bucket_of(point, buckets) - first];
                *start -= 1;
                hashes[*start as usize] = point;
                owners[*start as usize] = node;
            }
            insertion_sort(&mut hashes[lo..hi], &mut owners[lo..hi], &name_of);
        }
        owners.truncate(total);
        let mut points = Points {
            hashes,
            owners,
            starts,
            buckets,
        };
        hashes_padded(&mut points.hashes, total);
        points
            .owners
            .push(points.owners.first().copied().unwrap_or(u32::MAX));
        points
    }

    /// Empty buffers (not a valid ring until `finish`ed).
    fn empty() -> Self {
        Points {
            hashes: Vec::new(),
            owners: Vec::new(),
            starts: Vec::new(),
            buckets: 0,
        }
    }

    /// A copy of these points without `drops` and with `fresh`, written into
    /// `spare`'s buffers when given (a change then allocates nothing).
    ///
    /// * `drops`: `(point, owner)` pairs present on the ring, in any order;
    /// * `fresh`: `(point, owner)` pairs to add, in any order;
    /// * `name_of`: names of the owners after the change (ties).
    ///
    /// Costs one bulk copy of the arrays plus O(k log k) for k changed
    /// points: the positions of the changed points are found with the index,
    /// the runs between them are copied with `memcpy`, and the bucket table
    /// is copied with the running count of changes below each bucket added
    /// (recounted only when the point count leaves 1.5–3 buckets per point).
    pub fn edited<'a, F>(
        &self,
        drops: &[(u64, u32)],
        fresh: &mut [(u64, u32)],
        name_of: F,
        spare: Option<Points>,
    ) -> Self
    where
        F: Fn(u32) -> &'a [u8],
    {
        let n = self.len();
        // Positions of the dropped points, ascending: located in point order,
        // so the lookups sweep forward through memory.
        let mut drops = drops.to_vec();
        drops.sort_unstable();
        let mut gone: Vec<usize> = Vec::with_capacity(drops.len());
        for (k, &(p, o)) in drops.iter().enumerate() {
            // Two equal points of one node (2^-64) are two entries: the
            // second is found after the first.
            let from = match k.checked_sub(1) {
                Some(prev) if drops[prev] == (p, o) => gone[prev] + 1,
                _ => self.find_raw(p),
            };
            gone.push(self.locate(from, p, o));
        }
        gone.sort_unstable();
        debug_assert!(
            gone.windows(2).all(|w| w[0] < w[1]),
            "a point dropped twice"
        );
        // Fresh points in ring order with the old position each goes before.
        fresh.sort_unstable_by(|a, b| compare(*a, *b, &name_of));
        let mut at: Vec<usize> = fresh.iter().map(|&f| self.insertion(f, &name_of)).collect();
        // Monotone already, except if a fresh point ties a dropped one whose
        // slot changed hands (2^-64): their order is then immaterial.
        for k in 1..at.len() {
            at[k] = at[k].max(at[k - 1]);
        }

        let len = n - gone.len() + fresh.len();
        let Points {
            mut hashes,
            mut owners,
            mut starts,
            ..
        } = spare.unwrap_or_else(Points::empty);
        hashes.clear();
        owners.clear();
        hashes.reserve(len + WINDOW);
        owners.reserve(len + 1);
        let (mut cur, mut d, mut f) = (0usize, 0usize, 0usize);
        loop {
            let next_drop = gone.get(d).copied().unwrap_or(usize::MAX);
            let next_fresh = at.get(f).copied().unwrap_or(usize::MAX);
            let pos = next_drop.min(next_fresh).min(n);
            hashes.extend_from_slice(&self.hashes[cur..pos]);
            owners.extend_from_slice(&self.owners[cur..pos]);
            cur = pos;
            if next_fresh <= next_drop && next_fresh <= n {
                // A fresh point goes before old position `pos` (also when
                // that position is dropped: order among them is immaterial).
                hashes.push(fresh[f].0);
                owners.push(fresh[f].1);
                f += 1;
            } else if d < gone.len() && next_drop <= n {
                cur = pos + 1;
                d += 1;
            } else {
                break;
            }
        }
        debug_assert_eq!(hashes.len(), len);

        // The bucket table: shift the old one by the changes below each
        // bucket while the density allows, else recount.
        // 1.5 to 3 buckets per point: 18 to 24 bytes per point, and a
        // window of four points still rarely overflows.
        let keep = len > 0 && 2 * self.buckets >= 3 * len as u64 && self.buckets <= 3 * len as u64;
        let mut out = Points {
            hashes,
            owners,
            starts: Vec::new(),
            buckets: 0,
        };
        if keep {
            let buckets = self.buckets;
            let mut deltas: Vec<(usize, i64)> = gone
                .iter()
                .map(|&g| (bucket_of(self.hashes[g], buckets), -1))
                .chain(fresh.iter().map(|&(p, _)| (bucket_of(p, buckets), 1)))
                .collect();
            deltas.sort_unstable();
            starts.clear();
            starts.reserve(buckets as usize);
            // starts'[b] = starts[b] + (changes in buckets below b).
            let mut offset = 0i64;
            let mut from = 0usize;
            for (bucket, delta) in deltas {
                let to = bucket + 1;
                if to > from {
                    starts.extend(
                        self.starts[from..to]
                            .iter()
                            .map(|&s| (i64::from(s) + offset) as u32),
                    );
                    from = to;
                }
                offset += delta;
            }
            starts.extend(
                self.starts[from..]
                    .iter()
                    .map(|&s| (i64::from(s) + offset) as u32),
            );
            out.starts = starts;
            out.buckets = buckets;
            hashes_padded(&mut out.hashes, len);
            out.owners
                .push(out.owners.first().copied().unwrap_or(u32::MAX));
        } else {
            out.starts = starts;
            out.finish(None);
        }
        out
    }

    /// A copy without the points of `owner`.
    pub fn without_owner(&self, owner: u32) -> Self {
        let (hashes, owners) = self.iter().filter(|&(_, o)| o != owner).unzip();
        let mut points = Points {
            hashes,
            owners,
            starts: Vec::new(),
            buckets: 0,
        };
        points.finish(None);
        points
    }

    /// Position of the point `(hash, owner)` at or after `i` (which must
    /// not be past it), which must be on the ring.
    fn locate(&self, mut i: usize, hash: u64, owner: u32) -> usize {
        while self.owners[i] != owner || self.hashes[i] != hash {
            debug_assert!(self.hashes[i] == hash, "dropped point not on the ring");
            i += 1;
        }
        i
    }

    /// The old position before which `fresh` goes in ring order.
    fn insertion<'a, F: Fn(u32) -> &'a [u8]>(&self, fresh: (u64, u32), name_of: &F) -> usize {
        let mut i = self.find_raw(fresh.0);
        while i < self.len()
            && compare((self.hashes[i], self.owners[i]), fresh, name_of) == Ordering::Less
        {
            i += 1;
        }
        i
    }

    /// Pads and indexes sorted points: `hashes` and `owners` hold exactly
    /// the points; a bucket count of `buckets_for(len)` (or `buckets`).
    fn finish(&mut self, buckets: Option<u64>) {
        let n = self.hashes.len();
        debug_assert_eq!(self.owners.len(), n);
        self.buckets = buckets.unwrap_or_else(|| buckets_for(n));
        let buckets = self.buckets;
        self.starts.clear();
        self.starts.resize(buckets as usize, 0);
        // Count each bucket, then turn counts into starts. No data-dependent
        // branch: walking points and buckets side by side mispredicts about
        // once per bucket.
        for &p in &self.hashes {
            self.starts[bucket_of(p, buckets)] += 1;
        }
        let mut sum = 0u32;
        for start in &mut self.starts {
            let count = *start;
            *start = sum;
            sum += count;
        }
        hashes_padded(&mut self.hashes, n);
        self.owners
            .push(self.owners.first().copied().unwrap_or(u32::MAX));
    }

    /// Bytes used by the arrays.
    pub fn memory_bytes(&self) -> usize {
        self.hashes.capacity() * 8 + self.owners.capacity() * 4 + self.starts.capacity() * 4
    }

    /// Buckets per point (for tests of the density bounds).
    #[cfg(test)]
    fn density(&self) -> f64 {
        self.buckets as f64 / self.len().max(1) as f64
    }
}

/// Appends the sentinels after the `n` points.
fn hashes_padded(hashes: &mut Vec<u64>, n: usize) {
    hashes.truncate(n);
    hashes.extend_from_slice(&[u64::MAX; WINDOW]);
}

/// Points hashed per batch in a build. Hashing a batch before touching the
/// bucket table (whose accesses miss the cache) lets many misses overlap.
pub(super) const CHUNK: usize = 256;

/// Calls `f(vnode, point_hash(name, vnode))` for `vnode` in `vnodes`,
/// hashing `CHUNK` points at a time into `hashes`.
#[inline]
pub(super) fn for_each_point(
    name: &[u8],
    vnodes: std::ops::Range<u32>,
    hashes: &mut [u64; CHUNK],
    mut f: impl FnMut(u32, u64),
) {
    let hasher = crate::hash::PointHasher::new(name);
    let mut from = vnodes.start;
    while from < vnodes.end {
        let batch = &mut hashes[..(vnodes.end - from).min(CHUNK as u32) as usize];
        hasher.hash_many(from, batch);
        for (vnode, &point) in (from..).zip(batch.iter()) {
            f(vnode, point);
        }
        from += batch.len() as u32;
    }
}

/// Ring order: by point, then by owner name (the spec). Two equal points of
/// one node (a 2^-64 event) compare equal: either order routes the same.
#[inline]
fn compare<'a, F: Fn(u32) -> &'a [u8]>(a: (u64, u32), b: (u64, u32), name_of: &F) -> Ordering {
    a.0.cmp(&b.0).then_with(|| {
        if a.1 == b.1 {
            Ordering::Equal
        } else {
            name_of(a.1).cmp(name_of(b.1))
        }
    })
}

/// Insertion sort for input already ordered by bucket: points only move
/// within their bucket, about one compare per point.
fn insertion_sort<'a, F: Fn(u32) -> &'a [u8]>(hashes: &mut [u64], owners: &mut [u32], name_of: &F) {
    for i in 1..hashes.len() {
        let mut j = i;
        while j > 0
            && compare(
                (hashes[j], owners[j]),
                (hashes[j - 1], owners[j - 1]),
                name_of,
            ) == Ordering::Less
        {
            hashes.swap(j, j - 1);
            owners.swap(j, j - 1);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests;
