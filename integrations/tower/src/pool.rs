//! The per-node inner services: made by the factory the first time a node
//! is used, dropped once the node has left the router's membership.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use parking_lot::RwLock;
use ringroute::router::Snapshot;

use crate::error::BoxError;

/// Makes the inner service for a node from its name (for example a lazily
/// connected tonic `Channel` to `http://{name}`).
pub type Factory<S> = Arc<dyn Fn(&str) -> Result<S, BoxError> + Send + Sync>;

/// One backend: its service (or why the factory could not make one) and
/// its own in-flight count, bounded by the service's configuration.
pub(crate) struct Backend<S> {
    pub name: Arc<str>,
    pub service: Result<S, Arc<str>>,
    /// Shared with the requests in flight, which release it when they end.
    pub in_flight: Arc<AtomicU32>,
}

impl<S> Backend<S> {
    /// Takes a slot if fewer than `max` requests are in flight.
    pub fn try_acquire(&self, max: u32) -> bool {
        self.in_flight
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

type ByName<S> = HashMap<Box<[u8]>, Arc<Backend<S>>>;

/// Backends by node name. Lookups take a read lock; the write lock is taken
/// only to make a backend or to prune after a new snapshot.
pub(crate) struct Pool<S> {
    factory: Factory<S>,
    backends: RwLock<ByName<S>>,
    /// The snapshot version the pool was last pruned against.
    pruned: AtomicU64,
}

impl<S: Clone> Pool<S> {
    pub fn new(factory: Factory<S>) -> Self {
        Pool {
            factory,
            backends: RwLock::new(HashMap::new()),
            pruned: AtomicU64::new(0),
        }
    }

    /// The backend for `name`, made on first use.
    pub fn get(&self, name: &[u8]) -> Arc<Backend<S>> {
        if let Some(b) = self.backends.read().get(name) {
            return Arc::clone(b);
        }
        let mut map = self.backends.write();
        Arc::clone(map.entry(name.into()).or_insert_with(|| {
            let label: Arc<str> = String::from_utf8_lossy(name).into();
            let service = (self.factory)(&label).map_err(|e| Arc::from(e.to_string()));
            Arc::new(Backend {
                name: label,
                service,
                in_flight: Arc::new(AtomicU32::new(0)),
            })
        }))
    }

    /// Drops the backends of nodes that are not members of `snapshot`, once
    /// per newer snapshot. Requests still running on them keep their clone
    /// of the service until they end.
    pub fn prune<T>(&self, snapshot: &Snapshot<T>) {
        let version = snapshot.version();
        if self.pruned.fetch_max(version, Ordering::AcqRel) >= version {
            return;
        }
        let nodes = snapshot.nodes();
        self.backends
            .write()
            .retain(|name, _| nodes.index_of(name).is_some());
    }

    /// Names of the backends held now.
    pub fn names(&self) -> Vec<Arc<str>> {
        let mut names: Vec<_> = self
            .backends
            .read()
            .values()
            .map(|b| Arc::clone(&b.name))
            .collect();
        names.sort();
        names
    }

    /// Requests in flight through this pool, per backend.
    pub fn in_flight(&self) -> Vec<(Arc<str>, u32)> {
        let mut out: Vec<_> = self
            .backends
            .read()
            .values()
            .map(|b| (Arc::clone(&b.name), b.in_flight()))
            .collect();
        out.sort();
        out
    }
}
