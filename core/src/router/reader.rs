//! [`RouterReader`]: a per-thread handle whose lookups skip even arc-swap's
//! load, for the hottest loops.

use std::ops::Deref;
use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

use super::{Router, Snapshot};
use crate::node::NodeIndex;
use crate::place::Replicas;

/// The router's current-snapshot slot, owned through a router handle so the
/// reader needs no lifetime.
struct Current<T>(Router<T>);

impl<T> Deref for Current<T> {
    type Target = ArcSwap<Snapshot<T>>;

    fn deref(&self) -> &ArcSwap<Snapshot<T>> {
        &self.0.inner.current
    }
}

/// A reading handle for one thread (it is `Send`, not meant to be shared).
///
/// [`Router::route`] pays for an arc-swap load on every call. A reader keeps
/// the last snapshot and only checks, with one atomic pointer read, that it
/// is still current, so a lookup costs about what it costs on a bare
/// [`Ring`](crate::Ring). It sees every publication on its next call.
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
    cache: Cache<Current<T>, Arc<Snapshot<T>>>,
}

impl<T: Clone + Send + Sync + 'static> RouterReader<T> {
    pub(crate) fn new(router: &Router<T>) -> Self {
        RouterReader {
            cache: Cache::new(Current(router.clone())),
        }
    }

    /// The current snapshot (refreshed if the router published since).
    #[inline]
    pub fn snapshot(&mut self) -> &Arc<Snapshot<T>> {
        self.cache.load()
    }

    /// Routes every key of `keys` into `out`; see [`Snapshot::route_many`].
    #[inline]
    pub fn route_many<K: AsRef<[u8]>>(&mut self, keys: &[K], out: &mut [Option<NodeIndex>]) {
        self.cache.load().route_many(keys, out)
    }

    /// The up node serving `key`.
    #[inline]
    pub fn route<K: AsRef<[u8]> + ?Sized>(&mut self, key: &K) -> Option<NodeIndex> {
        self.cache.load().route(key)
    }

    /// The up node serving a key hash computed elsewhere.
    #[inline]
    pub fn route_hash(&mut self, hash: u64) -> Option<NodeIndex> {
        self.cache.load().route_hash(hash)
    }

    /// Up to `n` distinct up nodes for `key`, primary first.
    pub fn route_n<K: AsRef<[u8]> + ?Sized>(&mut self, key: &K, n: usize) -> Replicas {
        self.cache.load().route_n(key, n)
    }

    /// Writes up to `out.len()` distinct up nodes for `key` into `out`.
    pub fn route_n_into<K: AsRef<[u8]> + ?Sized>(
        &mut self,
        key: &K,
        out: &mut [NodeIndex],
    ) -> usize {
        self.cache.load().route_n_into(key, out)
    }
}
