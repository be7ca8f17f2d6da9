//! [`RouterReader`]: a per-thread handle whose lookups skip even arc-swap's
//! load, for the hottest loops.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Router, Snapshot};
use crate::node::NodeIndex;
use crate::place::Replicas;

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
}

impl<T: Clone + Send + Sync + 'static> RouterReader<T> {
    pub(crate) fn new(router: &Router<T>) -> Self {
        let epoch = router.inner.epoch.load(Ordering::Acquire);
        RouterReader {
            snapshot: router.inner.current.load_full(),
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
    }

    /// Routes every key of `keys` into `out`; see [`Snapshot::route_many`].
    #[inline]
    pub fn route_many<K: AsRef<[u8]>>(&mut self, keys: &[K], out: &mut [Option<NodeIndex>]) {
        self.snapshot().route_many(keys, out)
    }

    /// The up node serving `key`.
    #[inline(always)]
    pub fn route<K: AsRef<[u8]> + ?Sized>(&mut self, key: &K) -> Option<NodeIndex> {
        self.snapshot().route(key)
    }

    /// The up node serving a key hash computed elsewhere.
    #[inline]
    pub fn route_hash(&mut self, hash: u64) -> Option<NodeIndex> {
        self.snapshot().route_hash(hash)
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
