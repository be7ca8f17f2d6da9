//! The all-up lookup through raw pointers, for a reader that holds its
//! snapshot: [`RawIndex`].
//!
//! A `RouterReader` keeps one of these beside the snapshot it holds. Its
//! lookup then loads the three array addresses and the bucket count from
//! the reader itself, instead of following reader → snapshot → placement →
//! ring for them on every call: at 100 nodes those dependent loads were
//! what kept the C reader call at 1.22–1.27× the time of an inlined
//! `Ring::route`, whose loop hoists them.

use std::ptr::NonNull;

use super::{Points, WINDOW, bucket_of, count_below};

/// The arrays of a non-empty [`Points`], as the all-up lookup reads them.
///
/// Valid while that `Points` lives unchanged: the caller of
/// [`owner_in_window`](RawIndex::owner_in_window) answers for it.
#[derive(Copy, Clone, Debug)]
pub(crate) struct RawIndex {
    starts: NonNull<u32>,
    hashes: NonNull<u64>,
    owners: NonNull<u32>,
    buckets: u64,
}

// SAFETY: a `RawIndex` is addresses and a number; it reads through them
// only in `owner_in_window`, whose caller promises the arrays are alive
// and unchanged. The arrays are plain integers, which any thread may read.
unsafe impl Send for RawIndex {}
// SAFETY: as for `Send`: `&RawIndex` allows nothing more than `RawIndex`.
unsafe impl Sync for RawIndex {}

impl Points {
    /// The lookup's view of these arrays; `None` for an empty ring (which
    /// has no owner to answer with).
    pub fn raw(&self) -> Option<RawIndex> {
        if self.len == 0 {
            return None;
        }
        Some(RawIndex {
            starts: NonNull::from(&self.starts[..]).cast(),
            hashes: NonNull::from(&self.hashes[..]).cast(),
            owners: NonNull::from(&self.owners[..]).cast(),
            buckets: self.buckets,
        })
    }
}

impl RawIndex {
    /// [`Points::owner_of`] when the bucket's window decides it, as it does
    /// for all but about one hash in 250; `None` otherwise (ask the
    /// `Points`). No call on any path, so a caller's fast path stays a
    /// leaf function that saves no registers.
    ///
    /// # Safety
    ///
    /// The `Points` this came from must be alive and unchanged.
    #[inline(always)]
    pub unsafe fn owner_in_window(&self, hash: u64) -> Option<u32> {
        let b = bucket_of(hash, self.buckets);
        // SAFETY: the `Points` is alive and unchanged (the caller), so its
        // invariants hold, as in `Points::start` and `Points::scan`: `b` is
        // below `buckets`, the length of `starts`; a start `i` is at most
        // `slots()`, and `hashes` holds `slots() + WINDOW` entries.
        let (i, window) = unsafe {
            let i = *self.starts.as_ptr().add(b) as usize;
            (i, &*self.hashes.as_ptr().add(i).cast::<[u64; WINDOW]>())
        };
        // As in `Points::owner_of`: the owner's line beside the window's.
        super::prefetch(self.owners.as_ptr().wrapping_add(i));
        let below = count_below(window, hash);
        if below == WINDOW {
            return None;
        }
        // SAFETY: `i + below` is at most `slots()` (slot `slots()` is a
        // sentinel no hash is above), and `owners` holds `slots() + 1`
        // entries; the arrays are alive (as above).
        Some(unsafe { *self.owners.as_ptr().add(i + below) })
    }
}
