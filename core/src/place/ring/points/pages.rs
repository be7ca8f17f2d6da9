//! Pages: their slots, their gaps and their part of the bucket table.

use super::{Points, WINDOW, bucket_of, buckets_for, fresh_id, partition_shift};

/// Slots for a page of `count` points: room for an eighth more, and at
/// least 4, before the ring must be laid out afresh.
pub(super) fn capacity(count: u32) -> u32 {
    count + (count / 8).max(4)
}

impl Points {
    /// Starts a layout of `buckets` buckets in pages of `2^shift`: every
    /// page counts 0 points.
    pub(super) fn start_layout(&mut self, buckets: u64, shift: u32) {
        let pages = ((buckets - 1) >> shift) as usize + 1;
        self.buckets = buckets;
        self.shift = shift;
        self.counts.clear();
        self.counts.resize(pages, 0);
    }

    /// With `counts` known: each page's slots, all gaps for now, and a
    /// zeroed bucket table. `total` is the number of points.
    pub(super) fn place_pages(&mut self, total: usize) {
        debug_assert_eq!(
            self.counts.iter().map(|&c| c as usize).sum::<usize>(),
            total
        );
        self.page_at.clear();
        self.page_at.reserve(self.counts.len() + 1);
        let mut at = 0u32;
        self.page_at.push(0);
        for &count in &self.counts {
            at += capacity(count);
            self.page_at.push(at);
        }
        let slots = at as usize;
        self.hashes.clear();
        self.hashes.resize(slots + WINDOW, u64::MAX);
        self.owners.clear();
        self.owners.resize(slots + 1, u32::MAX);
        self.starts.clear();
        self.starts.resize(self.buckets as usize, 0);
    }

    /// With every page's points and buckets in place: the gaps' owners, the
    /// wrap-around, and a new layout id.
    pub(super) fn finish_layout(&mut self, total: usize) {
        self.len = total;
        let first = self.first_owner();
        let mut next = first;
        for p in (0..self.counts.len()).rev() {
            let (lo, end, hi) = self.page_bounds(p);
            self.owners[end..hi].fill(next);
            if lo < end {
                next = self.owners[lo];
            }
        }
        let slots = self.slots();
        self.owners[slots] = first;
        self.layout = fresh_id();
        self.generation = 0;
        self.id = fresh_id();
        self.parent = 0;
        self.touched.clear();
    }

    /// Page `p`'s first slot, first gap slot (its end when full) and end.
    #[inline]
    pub(super) fn page_bounds(&self, p: usize) -> (usize, usize, usize) {
        let lo = self.page_at[p] as usize;
        (
            lo,
            lo + self.counts[p] as usize,
            self.page_at[p + 1] as usize,
        )
    }

    /// Number of pages.
    #[inline]
    pub(super) fn pages(&self) -> usize {
        self.counts.len()
    }

    /// The page of `hash`.
    #[inline]
    pub(super) fn page_of(&self, hash: u64) -> usize {
        bucket_of(hash, self.buckets) >> self.shift
    }

    /// Page `p`'s buckets: `first..end`.
    #[inline]
    pub(super) fn page_buckets(&self, p: usize) -> (usize, usize) {
        let first = p << self.shift;
        (first, ((p + 1) << self.shift).min(self.buckets as usize))
    }

    /// The first point's owner, `u32::MAX` on an empty ring.
    pub(super) fn first_owner(&self) -> u32 {
        self.counts
            .iter()
            .position(|&c| c > 0)
            .map_or(u32::MAX, |p| self.owners[self.page_at[p] as usize])
    }

    /// The owner of the first point after page `p`'s points, wrapping (to
    /// `p`'s own first point when it is the only page with points).
    pub(super) fn owner_after(&self, p: usize) -> u32 {
        let pages = self.pages();
        let mut q = p;
        for _ in 0..pages {
            q = if q + 1 == pages { 0 } else { q + 1 };
            if self.counts[q] > 0 {
                return self.owners[self.page_at[q] as usize];
            }
        }
        u32::MAX
    }

    /// Recomputes the bucket entries of page `p` from bucket `from` on;
    /// `at` is the slot of the page's first point in or after `from` (the
    /// entries before `from` must be right already).
    pub(super) fn index_buckets(&mut self, p: usize, from: usize, at: usize) {
        let (_, end, _) = self.page_bounds(p);
        let (_, last) = self.page_buckets(p);
        let buckets = self.buckets;
        let table = &mut self.starts[from..last];
        table.fill(0);
        for &point in &self.hashes[at..end] {
            table[bucket_of(point, buckets) - from] += 1;
        }
        let mut sum = at as u32;
        for start in table {
            let count = *start;
            *start = sum;
            sum += count;
        }
    }

    /// Sorted points laid out afresh (`buckets_for(n)` buckets unless
    /// `buckets` is given), into `spare`'s buffers when given. `visit` calls
    /// its argument with each of the `n` points in ring order (twice).
    pub(super) fn lay_out(
        n: usize,
        buckets: Option<u64>,
        spare: Option<Points>,
        visit: impl Fn(&mut dyn FnMut(u64, u32)),
    ) -> Points {
        let buckets = buckets.unwrap_or_else(|| buckets_for(n));
        let shift = partition_shift(buckets);
        let mut points = spare.unwrap_or_else(Points::empty);
        points.start_layout(buckets, shift);
        visit(&mut |point, _| points.counts[bucket_of(point, buckets) >> shift] += 1);
        points.place_pages(n);
        let mut cursors = points.page_at[..points.pages()].to_vec();
        visit(&mut |point, owner| {
            let cursor = &mut cursors[bucket_of(point, buckets) >> shift];
            points.hashes[*cursor as usize] = point;
            points.owners[*cursor as usize] = owner;
            *cursor += 1;
        });
        for p in 0..points.pages() {
            let (first, _) = points.page_buckets(p);
            points.index_buckets(p, first, points.page_at[p] as usize);
        }
        points.finish_layout(n);
        points
    }

    /// Points already in ring order, laid out (with `buckets` buckets when
    /// given), into `spare`'s buffers when given.
    pub(super) fn from_sorted(
        pairs: &[(u64, u32)],
        buckets: Option<u64>,
        spare: Option<Points>,
    ) -> Points {
        Points::lay_out(pairs.len(), buckets, spare, |f| {
            for &(point, owner) in pairs {
                f(point, owner);
            }
        })
    }

    /// Checks every invariant of the layout (tests and debug assertions):
    /// page bounds and counts, points sorted within and across pages and in
    /// their page's buckets, gaps `u64::MAX` owned by the next point's
    /// owner, the bucket table, the sentinels and the wrap-around owner.
    #[cfg(test)]
    pub(super) fn check_invariants<'a>(&self, name_of: impl Fn(u32) -> &'a [u8]) {
        use std::cmp::Ordering;
        let pages = self.pages();
        assert_eq!(pages, ((self.buckets - 1) >> self.shift) as usize + 1);
        assert_eq!(self.page_at.len(), pages + 1);
        assert_eq!(self.page_at[0], 0);
        assert_eq!(self.starts.len(), self.buckets as usize);
        let slots = self.page_at[pages] as usize;
        assert_eq!(self.hashes.len(), slots + WINDOW);
        assert_eq!(self.owners.len(), slots + 1);
        assert!(self.hashes[slots..].iter().all(|&h| h == u64::MAX));
        assert_eq!(
            self.counts.iter().map(|&c| c as usize).sum::<usize>(),
            self.len
        );
        let mut prev: Option<(u64, u32)> = None;
        for p in 0..pages {
            assert!(self.page_at[p] <= self.page_at[p + 1], "page {p} bounds");
            let (lo, end, hi) = self.page_bounds(p);
            assert!(end <= hi, "page {p} overflows");
            let (first, last) = self.page_buckets(p);
            for i in lo..end {
                let point = (self.hashes[i], self.owners[i]);
                let b = bucket_of(point.0, self.buckets);
                assert!((first..last).contains(&b), "point {i} outside page {p}");
                if let Some(prev) = prev {
                    assert_ne!(
                        super::compare(prev, point, &name_of),
                        Ordering::Greater,
                        "slot {i} out of order"
                    );
                }
                prev = Some(point);
            }
            let next = self.owner_after(p);
            for i in end..hi {
                assert_eq!(self.hashes[i], u64::MAX, "gap {i} of page {p}");
                assert_eq!(self.owners[i], next, "gap {i} of page {p}: owner");
            }
            let mut want = lo;
            for b in first..last {
                while want < end && bucket_of(self.hashes[want], self.buckets) < b {
                    want += 1;
                }
                assert_eq!(self.starts[b] as usize, want, "bucket {b} of page {p}");
            }
        }
        assert_eq!(self.owners[slots], self.first_owner(), "wrap owner");
    }
}
