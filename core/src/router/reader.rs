//! [`RouterReader`]: a per-thread handle whose lookups skip even arc-swap's
//! load, for the hottest loops.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Router, Snapshot};
use crate::hash::key_hash;
use crate::node::NodeIndex;
use crate::place::Replicas;
use crate::place::ring::RawIndex;

/// The longest key [`RouterReader::route_quick`] answers: xxh3 inlines its
/// hash of keys up to 128 bytes; longer ones take a call.
#[doc(hidden)]
pub const QUICK_KEY_MAX: usize = 128;

/// A reading handle for one thread (it is `Send`, not meant to be shared).
///
/// [`Router::route`] pays for an arc-swap load on every call. A reader keeps
/// the last snapshot and only checks, with one atomic read of the router's
/// publication epoch, that it is still current, so a lookup costs about
/// what it costs on a bare [`Ring`](crate::Ring). It sees every publication
/// on its next call.
///
/// ```
/// use ringroute::router::Router;
///
/// let router: Router = Router::builder().node("a:1", 1.0).node("b:1", 1.0).build()?;
/// let mut reader = router.reader(); // one per worker thread
/// let node = reader.route("user:42").unwrap();
/// assert_eq!(Some(node), router.route("user:42"));
/// # Ok::<(), ringroute::Error>(())
/// ```
pub struct RouterReader<T> {
    router: Router<T>,
    /// The router's epoch when `snapshot` was loaded (read before it, so
    /// the snapshot is at least as new as the epoch says).
    epoch: u64,
    snapshot: Arc<Snapshot<T>>,
    /// `snapshot.raw_ring()`: the all-up ring lookup reads its arrays from
    /// here, one load each, instead of through the snapshot. Valid as long
    /// as `snapshot` is held (a published snapshot never changes).
    ring: Option<RawIndex>,
}

impl<T: Clone + Send + Sync + 'static> RouterReader<T> {
    pub(crate) fn new(router: &Router<T>) -> Self {
        let epoch = router.inner.epoch.load(Ordering::Acquire);
        let snapshot = router.inner.current.load_full();
        RouterReader {
            ring: snapshot.raw_ring(),
            snapshot,
            router: router.clone(),
            epoch,
        }
    }

    /// The current snapshot (refreshed if the router published since).
    ///
    /// The check is one load and a compare; the refresh is out of line, so
    /// callers that inline a lookup carry none of arc-swap's load code.
    #[inline(always)]
    pub fn snapshot(&mut self) -> &Arc<Snapshot<T>> {
        // Acquire pairs with the publication's release of the epoch: a
        // changed epoch means a newer snapshot is already stored.
        if self.router.inner.epoch.load(Ordering::Acquire) != self.epoch {
            self.refresh();
        }
        &self.snapshot
    }

    #[cold]
    #[inline(never)]
    fn refresh(&mut self) {
        // The epoch first: a publication racing with this leaves a snapshot
        // newer than the epoch, and the next call refreshes again.
        self.epoch = self.router.inner.epoch.load(Ordering::Acquire);
        self.snapshot = self.router.inner.current.load_full();
        self.ring = self.snapshot.raw_ring();
    }

    /// The all-up ring lookup from the arrays this reader caches, when the
    /// bucket's window decides it; `None` otherwise (ask the snapshot).
    /// The caller has checked the epoch. `hash` is called only for a ring
    /// (another placement may hash keys otherwise).
    #[inline(always)]
    fn route_cached(&self, hash: impl FnOnce() -> u64) -> Option<NodeIndex> {
        let ring = self.ring.as_ref()?;
        let hash = hash();
        // SAFETY: `ring` came from `self.snapshot` (set together in `new`
        // and `refresh`), which this reader holds, so the points it reads
        // are alive; a published snapshot is immutable (its placement is
        // shared through `Arc`s and only ever taken back for reuse with
        // `Arc::try_unwrap`, which fails while this reader holds it).
        let owner = unsafe { ring.owner_in_window(hash) }?;
        Some(NodeIndex::new(owner))
    }

    /// `route` past the cached lookup: another placement, a node down, a
    /// crowded bucket.
    #[inline(never)]
    fn route_snapshot(&self, key: &[u8]) -> Option<NodeIndex> {
        self.snapshot.route(key)
    }

    /// [`route`](RouterReader::route) when its answer needs no call: the
    /// snapshot is current, the placement is a ring with every node up, the
    /// key is at most [`QUICK_KEY_MAX`] bytes (xxh3's inlined lengths) and its bucket
    /// window decides (all but about one key in 250). `None` means
    /// "call `route`", never a different answer.
    ///
    /// For the C ABI's `ringroute_reader_route`, whose fast path then makes
    /// no call and saves no registers, and whose slow path is a tail call.
    /// Rust callers want [`route`](RouterReader::route), which inlines the
    /// same lookup.
    #[doc(hidden)]
    #[inline(always)]
    pub fn route_quick(&self, key: &[u8]) -> Option<NodeIndex> {
        if key.len() > QUICK_KEY_MAX
            || self.router.inner.epoch.load(Ordering::Acquire) != self.epoch
        {
            return None;
        }
        self.route_cached(|| key_hash(key))
    }

    /// Routes every key of `keys` into `out`; see [`Snapshot::route_many`].
    #[inline]
    pub fn route_many<K: AsRef<[u8]>>(&mut self, keys: &[K], out: &mut [Option<NodeIndex>]) {
        self.snapshot().route_many(keys, out)
    }

    /// The up node serving `key`.
    #[inline(always)]
    pub fn route<K: AsRef<[u8]> + ?Sized>(&mut self, key: &K) -> Option<NodeIndex> {
        let key = key.as_ref();
        self.snapshot();
        self.route_cached(|| key_hash(key))
            .or_else(|| self.route_snapshot(key))
    }

    /// The up node serving a key hash computed elsewhere.
    #[inline]
    pub fn route_hash(&mut self, hash: u64) -> Option<NodeIndex> {
        self.snapshot();
        self.route_cached(|| hash)
            .or_else(|| self.snapshot.route_hash(hash))
    }

    /// Up to `n` distinct up nodes for `key`, primary first.
    pub fn route_n<K: AsRef<[u8]> + ?Sized>(&mut self, key: &K, n: usize) -> Replicas {
        self.snapshot().route_n(key, n)
    }

    /// Writes up to `out.len()` distinct up nodes for `key` into `out`.
    pub fn route_n_into<K: AsRef<[u8]> + ?Sized>(
        &mut self,
        key: &K,
        out: &mut [NodeIndex],
    ) -> usize {
        self.snapshot().route_n_into(key, out)
    }
}
