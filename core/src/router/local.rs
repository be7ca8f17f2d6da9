//! [`Router::route`](super::Router::route)'s per-thread snapshot cache: the
//! fast path that skips arc-swap's `load` without a reader handle.
//!
//! Every publication of every router is stamped with a process-wide unique
//! epoch (a global counter), stored in the router after the snapshot. A
//! thread remembers the epoch it last saw, a pointer to that snapshot and a
//! strong reference keeping it alive. A lookup reads the router's epoch
//! (one atomic load); if it is the remembered one, the remembered snapshot
//! is that router's current one (epochs are never reused, so no other
//! router and no other `T` can match), else it loads the current snapshot
//! and remembers it. One entry per thread: a thread alternating between
//! routers refills on each switch (then a reader per router is the tool).
//!
//! The cost of the scheme: a thread that routed once keeps the last
//! snapshot it saw alive until its next `Router::route` or its exit.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use super::Snapshot;

/// The next epoch to hand out; 0 is never handed out (it means "nothing
/// remembered").
static EPOCHS: AtomicU64 = AtomicU64::new(1);

/// A fresh, never reused epoch for a publication.
pub(super) fn next_epoch() -> u64 {
    EPOCHS.fetch_add(1, Ordering::Relaxed)
}

struct Slot {
    /// True while a lookup borrows the remembered snapshot: a nested
    /// refill (a closure that routes again) then leaves the slot alone, so
    /// the borrowed snapshot stays alive.
    busy: Cell<bool>,
    epoch: Cell<u64>,
    snapshot: Cell<*const ()>,
    keep: RefCell<Option<Arc<dyn Any + Send + Sync>>>,
}

thread_local! {
    static SLOT: Slot = const {
        Slot {
            busy: Cell::new(false),
            epoch: Cell::new(0),
            snapshot: Cell::new(std::ptr::null()),
            keep: RefCell::new(None),
        }
    };
}

/// Clears [`Slot::busy`] when the borrowing lookup ends, unwinding included.
struct Release<'a>(&'a Cell<bool>);

impl Drop for Release<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Runs `f` on the router's current snapshot: the remembered one when the
/// router's `epoch` still says so, else the one in `current` (remembered
/// for next time). `f` may do anything, routing included.
#[inline]
pub(super) fn with_current<T: Send + Sync + 'static, R>(
    epoch: &AtomicU64,
    current: &ArcSwap<Snapshot<T>>,
    f: impl FnOnce(&Snapshot<T>) -> R,
) -> R {
    // Acquire pairs with the publisher's Release store: the snapshot stored
    // before the epoch is visible to the refill below.
    let now = epoch.load(Ordering::Acquire);
    let hit = SLOT
        .try_with(|slot| {
            (slot.epoch.get() == now && !slot.busy.get()).then(|| {
                slot.busy.set(true);
                (slot.snapshot.get(), &slot.busy as *const Cell<bool>)
            })
        })
        .ok()
        .flatten();
    match hit {
        Some((snapshot, busy)) => {
            // SAFETY: `busy` points into this thread's slot, alive for the
            // rest of the thread, and the slot outlives this call (it is
            // destroyed only at thread exit, after every frame).
            let _release = Release(unsafe { &*busy });
            // SAFETY: the slot remembers `now` only together with a pointer
            // to a snapshot published by the router that handed out `now`
            // (epochs are unique), so it is a `Snapshot<T>` of this router;
            // `keep` holds a strong reference to it, which only `refill`
            // replaces, and `refill` leaves the slot alone while `busy`.
            f(unsafe { &*snapshot.cast::<Snapshot<T>>() })
        }
        None => f(&refill(now, current)),
    }
}

/// The current snapshot, remembered under `epoch` (read before loading it,
/// so the snapshot is at least as new as the epoch says).
#[cold]
#[inline(never)]
fn refill<T: Send + Sync + 'static>(
    epoch: u64,
    current: &ArcSwap<Snapshot<T>>,
) -> Arc<Snapshot<T>> {
    let snapshot = current.load_full();
    let keep: Arc<dyn Any + Send + Sync> = snapshot.clone();
    let old = SLOT.try_with(|slot| {
        if slot.busy.get() {
            // An outer lookup on this thread borrows the remembered one.
            return None;
        }
        slot.epoch.set(0);
        slot.snapshot.set(Arc::as_ptr(&snapshot).cast());
        let old = slot.keep.replace(Some(keep));
        slot.epoch.set(epoch);
        old
    });
    // Dropped outside the slot update: a payload's `Drop` may do anything.
    drop(old);
    snapshot
}
