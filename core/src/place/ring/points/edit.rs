//! Changes: only the pages the changed points fall in are rewritten, in
//! place, on a copy that is usually the spare brought up to date.

use std::cmp::Ordering;
use std::ops::Range;

use super::{Points, bucket_of, compare, fresh_id};

/// The changes that fall in one page: ranges of the dropped slots and of
/// the fresh points.
struct Group {
    page: usize,
    gone: Range<usize>,
    fresh: Range<usize>,
}

impl Points {
    /// These points without `drops` and with `fresh`, written into
    /// `spare`'s buffers when given (a change then allocates nothing).
    ///
    /// * `drops`: `(point, owner)` pairs present on the ring, in any order;
    /// * `fresh`: `(point, owner)` pairs to add, in any order;
    /// * `name_of`: names of the owners after the change (ties).
    ///
    /// When `spare` is the version these points were edited from (same
    /// layout, the generation before, the parent id), it differs from them
    /// only in the pages they `touched`: those pages are copied into it, and
    /// the change is applied there in place. Otherwise the arrays are copied
    /// whole first (one `memcpy` each). Applying a change rewrites, in each
    /// page with changed points, the slots and bucket entries from the first
    /// changed bucket on, then the gap owners of that page and of the pages
    /// before it up to one with points. A page that would overflow, a
    /// density out of 0.75–1.5 buckets per point or too many gaps lay the
    /// points out afresh instead (into `spare`'s buffers).
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
        let gone = self.locate_all(drops);
        fresh.sort_unstable_by(|a, b| compare(*a, *b, &name_of));
        let groups = self.groups(&gone, fresh);
        if !self.fits(&groups, gone.len(), fresh.len()) {
            return self.relaid(&gone, fresh, &name_of, spare);
        }
        let mut out = self.copy_into(spare);
        out.apply(&groups, &gone, fresh, &name_of);
        out
    }

    /// [`edited`](Points::edited) in place, for a ring that keeps no spare.
    pub fn edit<'a, F>(&mut self, drops: &[(u64, u32)], fresh: &mut [(u64, u32)], name_of: F)
    where
        F: Fn(u32) -> &'a [u8],
    {
        let gone = self.locate_all(drops);
        fresh.sort_unstable_by(|a, b| compare(*a, *b, &name_of));
        self.edit_located(&gone, fresh, &name_of);
    }

    /// Drops every point of `owner`, in place.
    pub fn remove_owner(&mut self, owner: u32) {
        let mut gone = Vec::new();
        for p in 0..self.pages() {
            let (lo, end, _) = self.page_bounds(p);
            gone.extend((lo..end).filter(|&i| self.owners[i] == owner));
        }
        // No fresh point: names are never compared.
        self.edit_located(&gone, &[], &|_| &[][..]);
    }

    fn edit_located<'a, F>(&mut self, gone: &[usize], fresh: &[(u64, u32)], name_of: &F)
    where
        F: Fn(u32) -> &'a [u8],
    {
        let groups = self.groups(gone, fresh);
        if self.fits(&groups, gone.len(), fresh.len()) {
            self.apply(&groups, gone, fresh, name_of);
        } else {
            *self = self.relaid(gone, fresh, name_of, None);
        }
    }

    /// Slots of the dropped points, ascending. Located in point order, so
    /// the lookups sweep forward through memory.
    fn locate_all(&self, drops: &[(u64, u32)]) -> Vec<usize> {
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
        gone
    }

    /// Slot of the point `(hash, owner)` at or after `i` (which must not be
    /// past it), which must be on the ring.
    fn locate(&self, mut i: usize, hash: u64, owner: u32) -> usize {
        while self.owners[i] != owner || self.hashes[i] != hash {
            debug_assert!(self.hashes[i] == hash, "dropped point not on the ring");
            i += 1;
        }
        i
    }

    /// The changes grouped by page, in page order (`gone` ascending,
    /// `fresh` in ring order).
    fn groups(&self, gone: &[usize], fresh: &[(u64, u32)]) -> Vec<Group> {
        let page_gone = |d: usize| {
            gone.get(d)
                .map_or(usize::MAX, |&g| self.page_of(self.hashes[g]))
        };
        let page_fresh = |f: usize| fresh.get(f).map_or(usize::MAX, |x| self.page_of(x.0));
        let mut groups = Vec::new();
        let (mut d, mut f) = (0, 0);
        while d < gone.len() || f < fresh.len() {
            let page = page_gone(d).min(page_fresh(f));
            let (d0, f0) = (d, f);
            while page_gone(d) == page {
                d += 1;
            }
            while page_fresh(f) == page {
                f += 1;
            }
            groups.push(Group {
                page,
                gone: d0..d,
                fresh: f0..f,
            });
        }
        groups
    }

    /// Whether the change can be applied in place: every page keeps room,
    /// the density stays within 0.75–1.5 buckets per point (a window of
    /// four still rarely overflows), and gaps stay under a fifth of the
    /// slots (plus the 4 a page has at least). A build leaves a ninth of
    /// the slots as gaps and 1 bucket per point: 17.5 bytes per point, at
    /// most about 19.5 before removals lay the ring out afresh.
    fn fits(&self, groups: &[Group], gone: usize, fresh: usize) -> bool {
        let len = self.len - gone + fresh;
        let (buckets, n) = (self.buckets, len as u64);
        let dense = len > 0 && 4 * buckets >= 3 * n && 2 * buckets <= 3 * n;
        let slots = self.slots();
        let roomy = slots.saturating_sub(len) <= slots / 5 + 4 * self.pages();
        dense
            && roomy
            && groups.iter().all(|g| {
                let (lo, end, hi) = self.page_bounds(g.page);
                end - lo + g.fresh.len() - g.gone.len() <= hi - lo
            })
    }

    /// The points after the change, laid out afresh.
    fn relaid<'a, F>(
        &self,
        gone: &[usize],
        fresh: &[(u64, u32)],
        name_of: &F,
        spare: Option<Points>,
    ) -> Points
    where
        F: Fn(u32) -> &'a [u8],
    {
        let n = self.len - gone.len() + fresh.len();
        Points::lay_out(n, None, spare, |f| {
            let slots = (0..self.pages()).flat_map(|p| {
                let (lo, end, _) = self.page_bounds(p);
                lo..end
            });
            self.merge(slots, gone, fresh, name_of, |(point, owner)| {
                f(point, owner)
            });
        })
    }

    /// Calls `emit` with the points at `slots` (real points, ascending)
    /// except those in `gone` (ascending, among `slots`), merged in ring
    /// order with `fresh` (in ring order; what is left of it comes last).
    /// Returns how many of `gone` were met.
    fn merge<'a, F>(
        &self,
        slots: impl Iterator<Item = usize>,
        gone: &[usize],
        fresh: &[(u64, u32)],
        name_of: &F,
        mut emit: impl FnMut((u64, u32)),
    ) -> usize
    where
        F: Fn(u32) -> &'a [u8],
    {
        let (mut d, mut k) = (0, 0);
        for i in slots {
            if gone.get(d) == Some(&i) {
                d += 1;
                continue;
            }
            let point = (self.hashes[i], self.owners[i]);
            while k < fresh.len() && compare(point, fresh[k], name_of) != Ordering::Less {
                emit(fresh[k]);
                k += 1;
            }
            emit(point);
        }
        fresh[k..].iter().copied().for_each(emit);
        d
    }

    /// A copy of these points in `spare`'s buffers: only the pages touched
    /// since `spare` when it is this version's parent, else everything.
    fn copy_into(&self, spare: Option<Points>) -> Points {
        match spare {
            Some(mut s)
                if s.layout == self.layout
                    && s.generation + 1 == self.generation
                    && s.id == self.parent =>
            {
                debug_assert_eq!(s.page_at, self.page_at);
                #[cfg(test)]
                SYNCED.with(|n| n.set(n.get() + 1));
                for &p in &self.touched {
                    let p = p as usize;
                    let (lo, _, hi) = self.page_bounds(p);
                    s.hashes[lo..hi].copy_from_slice(&self.hashes[lo..hi]);
                    s.owners[lo..hi].copy_from_slice(&self.owners[lo..hi]);
                    let (first, last) = self.page_buckets(p);
                    s.starts[first..last].copy_from_slice(&self.starts[first..last]);
                    s.counts[p] = self.counts[p];
                }
                let slots = self.slots();
                s.owners[slots] = self.owners[slots];
                s.len = self.len;
                s.generation = self.generation;
                s.id = self.id;
                s.parent = self.parent;
                s.touched.clone_from(&self.touched);
                s
            }
            spare => {
                let mut s = spare.unwrap_or_else(Points::empty);
                copy_vec(&mut s.hashes, &self.hashes);
                copy_vec(&mut s.owners, &self.owners);
                copy_vec(&mut s.starts, &self.starts);
                copy_vec(&mut s.page_at, &self.page_at);
                copy_vec(&mut s.counts, &self.counts);
                copy_vec(&mut s.touched, &self.touched);
                s.buckets = self.buckets;
                s.shift = self.shift;
                s.len = self.len;
                s.layout = self.layout;
                s.generation = self.generation;
                s.id = self.id;
                s.parent = self.parent;
                s
            }
        }
    }

    /// Applies a change that [`fits`](Points::fits), in place: the next
    /// generation, whose `touched` pages are the ones rewritten here.
    fn apply<'a, F>(&mut self, groups: &[Group], gone: &[usize], fresh: &[(u64, u32)], name_of: &F)
    where
        F: Fn(u32) -> &'a [u8],
    {
        let mut touched = std::mem::take(&mut self.touched);
        touched.clear();
        let mut merged: Vec<(u64, u32)> = Vec::new();
        // Pages whose first point changed owner: the gaps before them hold
        // that owner.
        let mut heads: Vec<usize> = Vec::new();
        for g in groups {
            let p = g.page;
            let (lo, end, hi) = self.page_bounds(p);
            let (gone, fresh) = (&gone[g.gone.clone()], &fresh[g.fresh.clone()]);
            // The first changed bucket: entries and points before it stay.
            let from = gone
                .first()
                .map(|&i| self.hashes[i])
                .into_iter()
                .chain(fresh.first().map(|x| x.0))
                .map(|h| bucket_of(h, self.buckets))
                .min()
                .expect("a group changes something");
            let at = self.starts[from] as usize;
            let head = (lo < end).then(|| self.owners[lo]);
            merged.clear();
            let met = self.merge(at..end, gone, fresh, name_of, |x| merged.push(x));
            debug_assert_eq!(met, gone.len(), "dropped points in page {p}");
            let new_end = at + merged.len();
            assert!(new_end <= hi, "page {p} overflows");
            for (i, &(point, owner)) in (at..).zip(&merged) {
                self.hashes[i] = point;
                self.owners[i] = owner;
            }
            if new_end < end {
                self.hashes[new_end..end].fill(u64::MAX);
            }
            self.counts[p] = (new_end - lo) as u32;
            self.index_buckets(p, from, at);
            touched.push(p as u32);
            if (lo < new_end).then(|| self.owners[lo]) != head {
                heads.push(p);
            }
        }
        self.len = self.len - gone.len() + fresh.len();
        // Gap owners: each changed page's (they may have grown), and, when
        // its first point's owner changed, those of the pages before it
        // down to one with points.
        let pages = self.pages();
        for &p in &touched {
            self.fill_gaps(p as usize);
        }
        for p in heads {
            let mut q = p;
            loop {
                q = q.checked_sub(1).unwrap_or(pages - 1);
                if q == p {
                    break;
                }
                self.fill_gaps(q);
                touched.push(q as u32);
                if self.counts[q] > 0 {
                    break;
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let slots = self.slots();
        self.owners[slots] = self.first_owner();
        self.touched = touched;
        self.generation += 1;
        self.parent = self.id;
        self.id = fresh_id();
    }

    /// Gives page `p`'s gaps the owner of the point after them.
    fn fill_gaps(&mut self, p: usize) {
        let next = self.owner_after(p);
        let (_, end, hi) = self.page_bounds(p);
        self.owners[end..hi].fill(next);
    }
}

#[cfg(test)]
thread_local! {
    /// Spares brought up to date page by page (tests check that the path
    /// is taken).
    pub(super) static SYNCED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// `to = from`, in `to`'s buffer.
fn copy_vec<T: Copy>(to: &mut Vec<T>, from: &[T]) {
    to.clear();
    to.extend_from_slice(from);
}
