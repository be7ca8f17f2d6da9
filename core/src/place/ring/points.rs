//! The sorted points of a ring and the index that finds one in O(1).
//!
//! Layout (structure of arrays, paged and gapped, 17.5 bytes per point
//! after a build, about 19.5 at most while edits keep the layout):
//! * the buckets (`⌊h · B / 2^64⌋`, `B` = 0.75 to 1.5 per point, `n` after
//!   a build) are grouped in *pages* of `2^shift` consecutive buckets (about
//!   128 to 4,096 points each, at most 4,096 pages);
//! * page `p` owns the slots `page_at[p]..page_at[p + 1]` of `hashes` and
//!   `owners`: its `counts[p]` points in ring order, then *gap* slots, whose
//!   hash is `u64::MAX` and whose owner is the owner of the next point in
//!   ring order (wrapping). `hashes` ends with [`WINDOW`] `u64::MAX`
//!   sentinels, `owners` with the first point's owner (the wrap-around);
//! * `starts[b]`, for bucket `b` of page `p`: the slot of the first point
//!   of `p` in or after `b`, or `p`'s first gap slot (its end when it has
//!   none) if there is none.
//!
//! A lookup reads `starts[b]`, then counts, without a branch, how many of
//! the next four slots hold a point below the hash: the answer is that many
//! slots further. A window that runs into the gaps stops there, and a gap's
//! owner is the right answer. Four slots cover a bucket and its successor's
//! first point in all but about one lookup in 250 (a bucket holds one
//! point on average); those take a scalar walk that the gaps or the
//! sentinels end. So a lookup touches three cache lines (bucket, points,
//! owner) and rarely mispredicts a branch, exactly as over flat arrays.
//!
//! Why pages with gaps: a change then rewrites only the pages its points
//! fall in (and the bucket entries of those pages), never shifts the rest;
//! and the router keeps the placement before last as a spare, which differs
//! from the current one only in the pages the last change touched
//! (`touched`), so the next change copies those pages into the spare and
//! edits it in place instead of copying the whole ring (320 MB at 16 M
//! points). A page that overflows, too many gaps or a bucket density out of
//! 0.75–1.5 per point lay the ring out afresh. See [`Points::edited`].
//!
//! Why one bucket per point and not two: at 1,000 nodes (160,000 points)
//! the index outgrows a 2 MiB L2 either way, and half the bucket table is
//! 640 KB less to miss in: throughput 14.3 → 12.5 ns, `route_hash` 7.4 →
//! 6.6 ns, 4 bytes less per point, for a scan that overflows its window in
//! one lookup in 250 instead of one in 2,600 (a mispredicted branch each).

use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use crate::hash::opaque;

mod edit;
mod pages;
mod raw;
#[cfg(test)]
use edit::SYNCED;
pub(crate) use raw::RawIndex;

/// Points compared branch-free from a bucket's first point.
pub(crate) const WINDOW: usize = 4;

/// Where a lookup's scan begins: a slot read from the bucket table, so at
/// most `slots()`. Only [`Points::start`] makes one (and `Default`, slot 0,
/// which every layout has), which lets [`Points::scan`] read its window
/// unchecked.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Start(usize);

/// Sorted points in gapped pages, plus the bucket index.
#[derive(Clone, Debug)]
pub(crate) struct Points {
    /// Slots (points and gaps), then [`WINDOW`] sentinels.
    hashes: Vec<u64>,
    /// Owner of each slot, then the first point's owner.
    owners: Vec<u32>,
    /// First slot of each bucket (see the module docs).
    starts: Vec<u32>,
    buckets: u64,
    /// Buckets per page, as a shift.
    shift: u32,
    /// Page `p`'s slots: `page_at[p]..page_at[p + 1]`.
    page_at: Vec<u32>,
    /// Points (not gaps) per page.
    counts: Vec<u32>,
    /// Points in all.
    len: usize,
    /// New on every build or relayout.
    layout: u64,
    /// Edits since the layout.
    generation: u64,
    /// New on every version; `parent` is the version this one was edited
    /// from (0 for none), so two edits of one version are never mistaken
    /// for each other.
    id: u64,
    parent: u64,
    /// Pages whose slots, gap owners or buckets differ from the parent.
    touched: Vec<u32>,
}

/// A fresh layout or version id (never 0).
fn fresh_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, AtomicOrdering::Relaxed)
}

impl Default for Points {
    fn default() -> Self {
        Points::from_sorted(&[], None, None)
    }
}

/// Buckets for `n` points after a full build.
fn buckets_for(n: usize) -> u64 {
    (n as u64).max(2)
}

/// Buckets per partition (page) of a build, as a shift: about 128 (some
/// 128 points, a few KiB), more for huge rings so that there are at most
/// 4,096 partitions and their write cursors stay in L1.
fn partition_shift(buckets: u64) -> u32 {
    let bits = u64::BITS - (buckets - 1).leading_zeros();
    bits.saturating_sub(12).max(7)
}

/// The bucket of `hash` among `buckets`: the high half of `hash × buckets`.
/// Monotone in `hash`, which is all the index needs.
#[inline(always)]
fn bucket_of(hash: u64, buckets: u64) -> usize {
    ((u128::from(hash) * u128::from(buckets)) >> 64) as usize
}

/// A hint to load `p`'s cache line; nothing on architectures without a
/// stable prefetch instruction (the batch lookups then rely on out-of-order
/// execution alone).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and reads nothing
    // the program can observe, whatever the address (callers stay within
    // or one past their arrays anyway).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
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
    /// Number of points (gaps excluded).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Number of slots, points and gaps: walks over positions wrap here.
    #[inline]
    pub fn slots(&self) -> usize {
        self.hashes.len() - WINDOW
    }

    /// Owner of slot `i` (`<= slots`; `slots` gives the first point's
    /// owner, the wrap-around; a gap gives the next point's owner).
    #[inline]
    pub fn owner(&self, i: usize) -> u32 {
        self.owners[i]
    }

    /// `(point, owner)` in ring order, gaps skipped.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            points: self,
            page: 0,
            at: 0,
            end: 0,
            left: self.len,
        }
    }

    /// The last point in ring order, if any.
    pub fn last(&self) -> Option<u64> {
        let p = self.counts.iter().rposition(|&c| c > 0)?;
        Some(self.hashes[(self.page_at[p] + self.counts[p] - 1) as usize])
    }

    /// Slot of the first point `>= hash`, or of a gap or sentinel whose
    /// owner is that point's (the wrap-around when every point is below
    /// `hash`): [`owner`](Points::owner) of the answer is the owner of the
    /// first point `>= hash`, wrapping.
    #[inline]
    pub fn find_raw(&self, hash: u64) -> usize {
        self.scan(self.start(hash), hash)
    }

    /// The owner of the first point `>= hash`, wrapping: the all-up lookup.
    /// The ring must not be empty.
    #[inline(always)]
    pub fn owner_of(&self, hash: u64) -> u32 {
        let start = self.start(hash);
        // The owner's line is fetched beside the window's, not after it:
        // the owner's slot is within `WINDOW` of the start, so a lookup that
        // misses the cache waits for two misses in a row instead of three.
        prefetch(self.owners.as_ptr().wrapping_add(start.0));
        let i = self.scan(start, hash);
        debug_assert!(i < self.owners.len());
        // SAFETY: `scan` answers at most `slots()` (see there), and `owners`
        // holds `slots() + 1` entries (`place_pages`; edits keep both).
        unsafe { *self.owners.get_unchecked(i) }
    }

    /// First step of a lookup: the first slot in or after `hash`'s bucket.
    ///
    /// The lookup's three reads skip the bounds checks: at 100 nodes it is
    /// bound by instruction count, and the checks with their length loads
    /// were 7 of its 61 instructions. Their soundness rests on the layout's
    /// invariants, which `check_invariants` (tests) asserts after every kind
    /// of change: `starts` has `buckets` entries, each at most `slots()`,
    /// pages are sorted, `WINDOW` sentinels follow the slots.
    #[inline(always)]
    pub fn start(&self, hash: u64) -> Start {
        let b = bucket_of(hash, self.buckets);
        debug_assert!(b < self.starts.len());
        // SAFETY: the high half of `hash × buckets` is below `buckets`, and
        // `starts` holds `buckets` entries (`place_pages`; a layout's bucket
        // count never changes). `Points::empty`, the one value without them,
        // is scratch for a build and never looked up.
        let i = unsafe { *self.starts.get_unchecked(b) } as usize;
        debug_assert!(i <= self.slots());
        Start(i)
    }

    /// Asks the cache for `start(hash)`'s bucket entry ahead of use.
    #[inline(always)]
    pub fn prefetch_start(&self, hash: u64) {
        prefetch(
            self.starts
                .as_ptr()
                .wrapping_add(bucket_of(hash, self.buckets)),
        );
    }

    /// Asks the cache for what `scan(i, _)` and the owner of its answer
    /// read, ahead of use (the window's first line and its owners' line).
    #[inline(always)]
    pub fn prefetch_scan(&self, start: Start) {
        prefetch(self.hashes.as_ptr().wrapping_add(start.0));
        prefetch(self.owners.as_ptr().wrapping_add(start.0));
    }

    /// Second step: from `start(hash)` to the first slot `>= hash`, which
    /// is at most `slots()` (slot `slots()` is a sentinel, above any hash
    /// that gets there, or equal).
    #[inline(always)]
    pub fn scan(&self, start: Start, hash: u64) -> usize {
        let i = start.0;
        debug_assert!(i + WINDOW <= self.hashes.len());
        // SAFETY: a `Start` is at most `slots()`, and `hashes` holds
        // `slots() + WINDOW` entries.
        let window = unsafe { &*self.hashes.as_ptr().add(i).cast::<[u64; WINDOW]>() };
        let below = count_below(window, hash);
        if below < WINDOW {
            i + below
        } else {
            self.walk(i + WINDOW, hash)
        }
    }

    /// The rare case: a crowded bucket. The gaps or sentinels end the walk.
    #[cold]
    #[inline(never)]
    fn walk(&self, mut i: usize, hash: u64) -> usize {
        while self.hashes[i] < hash {
            i += 1;
        }
        i
    }

    /// [`find_raw`](Points::find_raw), wrapping to slot 0 past the last.
    /// The ring must not be empty.
    #[inline]
    pub fn find(&self, hash: u64) -> usize {
        let i = self.find_raw(hash);
        if i == self.slots() { 0 } else { i }
    }

    /// Builds from scratch in three passes, each with a small working set
    /// (hashing every point twice costs less than one pass of random
    /// accesses over arrays larger than the L2 cache):
    ///
    /// 1. hash every point and count it in its page, a run of `2^shift`
    ///    consecutive buckets (the counters fit in L1); each page gets its
    ///    slots, its points plus some gaps;
    /// 2. hash again and append each point to its page: one write cursor
    ///    per page, so the writes stream;
    /// 3. per page (a few hundred points, in L1): count its buckets, place
    ///    the points by bucket, and insertion-sort them, which moves a point
    ///    only within its bucket; its part of the bucket table is written in
    ///    order. Then the gaps get their owners.
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
        let mut points = spare.unwrap_or_else(Points::empty);
        points.start_layout(buckets, shift);
        let mut chunk = [0u64; CHUNK];

        // Pass 1: points per page, then each page's slots.
        for &(_, name, count) in nodes {
            for_each_point(name, 0..count, &mut chunk, |_, point| {
                points.counts[bucket_of(point, buckets) >> shift] += 1;
            });
        }
        points.place_pages(total);

        // Pass 2: each point at its page's write cursor.
        let Points {
            hashes,
            owners,
            starts,
            page_at,
            counts,
            ..
        } = &mut points;
        let pages = counts.len();
        let mut cursors = page_at[..pages].to_vec();
        for &(node, name, count) in nodes {
            for_each_point(name, 0..count, &mut chunk, |_, point| {
                let cursor = &mut cursors[bucket_of(point, buckets) >> shift];
                hashes[*cursor as usize] = point;
                owners[*cursor as usize] = node;
                *cursor += 1;
            });
        }
        drop(cursors);

        // Pass 3: each page sorted by bucket, its buckets indexed.
        let widest = counts.iter().copied().max().unwrap_or(0);
        let mut held: Vec<(u64, u32)> = Vec::with_capacity(widest as usize);
        for p in 0..pages {
            let lo = page_at[p] as usize;
            let hi = lo + counts[p] as usize;
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
        points.finish_layout(total);
        points
    }

    /// Empty buffers (not a valid ring until laid out).
    fn empty() -> Self {
        Points {
            hashes: Vec::new(),
            owners: Vec::new(),
            starts: Vec::new(),
            buckets: 0,
            shift: 0,
            page_at: Vec::new(),
            counts: Vec::new(),
            len: 0,
            layout: 0,
            generation: 0,
            id: 0,
            parent: 0,
            touched: Vec::new(),
        }
    }

    /// Bytes used by the arrays.
    pub fn memory_bytes(&self) -> usize {
        self.hashes.capacity() * 8
            + (self.owners.capacity()
                + self.starts.capacity()
                + self.page_at.capacity()
                + self.counts.capacity()
                + self.touched.capacity())
                * 4
    }

    /// Buckets per point (for tests of the density bounds).
    #[cfg(test)]
    fn density(&self) -> f64 {
        self.buckets as f64 / self.len().max(1) as f64
    }
}

/// The points of a ring in order, gaps skipped.
pub(crate) struct Iter<'a> {
    points: &'a Points,
    page: usize,
    at: usize,
    end: usize,
    left: usize,
}

impl Iterator for Iter<'_> {
    type Item = (u64, u32);

    #[inline]
    fn next(&mut self) -> Option<(u64, u32)> {
        while self.at == self.end {
            if self.left == 0 {
                return None;
            }
            let p = self.page;
            self.page += 1;
            self.at = self.points.page_at[p] as usize;
            self.end = self.at + self.points.counts[p] as usize;
        }
        let i = self.at;
        self.at += 1;
        self.left -= 1;
        Some((self.points.hashes[i], self.points.owners[i]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

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
