//! The per-node inner services: made by the factory the first time a node
//! is used, dropped once the node has left the router's membership.
//!
//! A request finds its backend by node index, not by name: each thread
//! keeps, per pool, a table from the node indices of one snapshot version
//! to the backends, so the lookup hashes nothing, takes no lock and touches
//! no shared cache line but the backend's own reference count. The table
//! holds weak references: a cached table never keeps a backend (its
//! connection) alive after the pool dropped it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use ringroute::NodeIndex;
use ringroute::router::{Router, Snapshot};

use crate::error::BoxError;

/// Makes the inner service for a node from its name (for example a lazily
/// connected tonic `Channel` to `http://{name}`).
pub type Factory<S> = Arc<dyn Fn(&str) -> Result<S, BoxError> + Send + Sync>;

/// One backend: its service and its own in-flight count, bounded by the
/// service's configuration.
pub(crate) struct Backend<S, T> {
    pub name: Arc<str>,
    pub service: S,
    /// Clones of `service` given back after a call, for the next ones. A
    /// fresh clone of a tonic `Channel` (a tower `Buffer`) allocates when
    /// first polled ready; a reused one has that allocation already.
    spares: Mutex<Vec<S>>,
    /// Requests in flight through this backend; released by their guards.
    in_flight: AtomicU32,
    /// The router the requests' leases are finished on (so that a guard
    /// holding the backend needs nothing else).
    router: Router<T>,
}

impl<S, T> Backend<S, T> {
    /// Takes a slot if fewer than `max` requests are in flight.
    #[inline]
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

    /// A clone of the service for one call: a spare if there is one.
    #[inline]
    pub fn checkout(&self) -> S
    where
        S: Clone,
    {
        let spare = self.spares.lock().pop();
        spare.unwrap_or_else(|| self.service.clone())
    }

    /// Gives back a clone once its call has started, unless enough spares
    /// are kept already (one per request in flight at the peak, at most
    /// [`MAX_SPARES`]).
    #[inline]
    pub fn checkin(&self, service: S) {
        let mut spares = self.spares.lock();
        if spares.len() < MAX_SPARES {
            spares.push(service);
        }
        // Otherwise `service` is dropped on return, after the lock guard (a
        // function's locals drop before its parameters).
    }
}

/// The most spare service clones a backend keeps.
const MAX_SPARES: usize = 64;

/// What a request's guard needs of its backend, without the service type.
pub(crate) trait Slot<T>: Send + Sync {
    fn router(&self) -> &Router<T>;
    fn name(&self) -> &Arc<str>;
    /// Gives back the slot [`Backend::try_acquire`] took.
    fn release(&self);
    /// The backend itself, to recover its service.
    fn as_any(&self) -> &dyn Any;
}

impl<S: Send + Sync + 'static, T: Send + Sync + 'static> Slot<T> for Backend<S, T> {
    fn router(&self) -> &Router<T> {
        &self.router
    }

    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::Release);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A node's entry in the pool: its backend, or why the factory could not
/// make one (kept, so that each request fails at once with the reason).
pub(crate) enum Entry<S, T> {
    Ready(Arc<Backend<S, T>>),
    Failed { name: Arc<str>, why: Arc<str> },
}

impl<S, T> Clone for Entry<S, T> {
    fn clone(&self) -> Self {
        match self {
            Entry::Ready(b) => Entry::Ready(Arc::clone(b)),
            Entry::Failed { name, why } => Entry::Failed {
                name: Arc::clone(name),
                why: Arc::clone(why),
            },
        }
    }
}

impl<S, T> Entry<S, T> {
    fn name(&self) -> &Arc<str> {
        match self {
            Entry::Ready(b) => &b.name,
            Entry::Failed { name, .. } => name,
        }
    }
}

/// Why [`Pool::lookup`] found no backend.
#[derive(Debug)]
pub(crate) enum Miss {
    /// The index is not a member of the snapshot.
    NotMember,
    /// The factory failed for this node.
    Factory { name: Arc<str>, why: Arc<str> },
}

type ByName<S, T> = HashMap<Box<[u8]>, Entry<S, T>>;

/// Backends by node index for one snapshot version.
struct Table<S, T> {
    version: u64,
    slots: Vec<Option<Weak<Backend<S, T>>>>,
}

/// The backends themselves, by name, and the table last built from them.
struct Held<S, T> {
    by_name: ByName<S, T>,
    /// The snapshot version the backends were last pruned against.
    pruned: u64,
    table: Arc<Table<S, T>>,
}

/// Backends by node name, with per-thread tables by node index.
pub(crate) struct Pool<S, T> {
    factory: Factory<S>,
    router: Router<T>,
    /// Unique among the pools of the process: the key of the per-thread
    /// tables.
    id: u64,
    held: Mutex<Held<S, T>>,
}

static POOL_IDS: AtomicU64 = AtomicU64::new(0);

/// Tables a thread keeps, most recently refreshed last; a thread routing
/// through more pools than this refreshes on each switch.
const CACHED_POOLS: usize = 8;

struct Cached {
    pool: u64,
    table: Arc<dyn Any + Send + Sync>,
}

/// A thread's tables: every one it keeps in `keep`, and the one it used
/// last in two cells, all the hot path reads.
///
/// Invariant: while `pool` holds a pool's id, `table` points to a table of
/// that pool that `keep` holds. Only `Pool::remember` removes from `keep`,
/// and it sets both cells to the table it adds.
struct Local {
    pool: Cell<u64>,
    table: Cell<*const ()>,
    keep: RefCell<Vec<Cached>>,
}

/// No pool has this id (ids count up from 0).
const NO_POOL: u64 = u64::MAX;

thread_local! {
    static LOCAL: Local = const {
        Local {
            pool: Cell::new(NO_POOL),
            table: Cell::new(std::ptr::null()),
            keep: RefCell::new(Vec::new()),
        }
    };
}

impl<S, T> Pool<S, T> {
    pub fn new(factory: Factory<S>, router: Router<T>) -> Self {
        Pool {
            factory,
            router,
            id: POOL_IDS.fetch_add(1, Ordering::Relaxed),
            held: Mutex::new(Held {
                by_name: HashMap::new(),
                pruned: 0,
                table: Arc::new(Table {
                    version: 0,
                    slots: Vec::new(),
                }),
            }),
        }
    }

    fn make(&self, name: &[u8]) -> Entry<S, T>
    where
        T: Clone,
    {
        let label: Arc<str> = String::from_utf8_lossy(name).into();
        match (self.factory)(&label) {
            Ok(service) => Entry::Ready(Arc::new(Backend {
                name: label,
                service,
                spares: Mutex::new(Vec::new()),
                in_flight: AtomicU32::new(0),
                router: self.router.clone(),
            })),
            Err(e) => Entry::Failed {
                name: label,
                why: e.to_string().into(),
            },
        }
    }

    /// The entry for `name`, made on first use (for the health checker).
    pub fn get(&self, name: &[u8]) -> Entry<S, T>
    where
        T: Clone,
    {
        let mut held = self.held.lock();
        if let Some(e) = held.by_name.get(name) {
            return e.clone();
        }
        let e = self.make(name);
        held.by_name.insert(name.into(), e.clone());
        e
    }

    /// Drops the backends of nodes that are not members of `snapshot`, once
    /// per newer snapshot. Requests still running on them keep their
    /// backend until they end.
    pub fn prune(&self, snapshot: &Snapshot<T>) {
        let version = snapshot.version();
        let dropped = {
            let mut held = self.held.lock();
            if version <= held.pruned {
                return;
            }
            held.pruned = version;
            prune(&mut held.by_name, snapshot)
        };
        drop(dropped);
    }

    /// Names of the backends held now (factory failures included).
    pub fn names(&self) -> Vec<Arc<str>> {
        let mut names: Vec<_> = self
            .held
            .lock()
            .by_name
            .values()
            .map(|e| Arc::clone(e.name()))
            .collect();
        names.sort();
        names
    }

    /// Requests in flight through this pool, per backend.
    pub fn in_flight(&self) -> Vec<(Arc<str>, u32)> {
        let mut out: Vec<_> = self
            .held
            .lock()
            .by_name
            .values()
            .filter_map(|e| match e {
                Entry::Ready(b) => Some((Arc::clone(&b.name), b.in_flight())),
                Entry::Failed { .. } => None,
            })
            .collect();
        out.sort();
        out
    }
}

impl<S, T> Pool<S, T>
where
    S: Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// The backend of `node` in `snapshot`, made on first use.
    #[inline(always)]
    pub fn lookup(
        &self,
        snapshot: &Snapshot<T>,
        node: NodeIndex,
    ) -> Result<Arc<Backend<S, T>>, Miss> {
        let hit = LOCAL
            .try_with(|local| {
                let table = if local.pool.get() == self.id {
                    local.table.get()
                } else {
                    self.switch(local)?
                };
                // SAFETY: `table` is what the cells hold for this pool's id
                // (or what `switch` just put there), so `keep` holds it (see
                // `Local`) and nothing here can run `remember`. It is a
                // `Table<S, T>`: pool ids are unique, and a pool only ever
                // keeps tables of its own types.
                let table = unsafe { &*table.cast::<Table<S, T>>() };
                if table.version != snapshot.version() {
                    return None;
                }
                table.slots.get(node.as_usize())?.as_ref()?.upgrade()
            })
            .ok()
            .flatten();
        match hit {
            Some(backend) => Ok(backend),
            None => self.lookup_slow(snapshot, node),
        }
    }

    /// Points this thread's cells at its table of this pool, if it keeps
    /// one (another pool was used last).
    #[cold]
    #[inline(never)]
    fn switch(&self, local: &Local) -> Option<*const ()> {
        let keep = local.keep.try_borrow().ok()?;
        let cached = keep.iter().find(|c| c.pool == self.id)?;
        let table: *const Table<S, T> = cached.table.downcast_ref::<Table<S, T>>()?;
        local.pool.set(self.id);
        local.table.set(table.cast());
        Some(table.cast())
    }

    /// Brings the backends and the table up to `snapshot` (pruning nodes
    /// that left, making the one asked for), and hands this thread the
    /// table.
    #[cold]
    #[inline(never)]
    fn lookup_slow(
        &self,
        snapshot: &Snapshot<T>,
        node: NodeIndex,
    ) -> Result<Arc<Backend<S, T>>, Miss> {
        let name = snapshot.node(node).ok_or(Miss::NotMember)?.name();
        let version = snapshot.version();
        // Declared before the lock: what pruning drops goes after it.
        let mut gone = Vec::new();
        let mut held = self.held.lock();
        if version > held.pruned {
            gone = prune(&mut held.by_name, snapshot);
            held.pruned = version;
        }
        let entry = match held.by_name.get(name) {
            Some(e) => e.clone(),
            // A snapshot older than the backends' (this thread raced a
            // publication): the node may have left since. Serve this
            // request with a backend of its own rather than bring the node
            // back into the pool.
            None if version < held.pruned => self.make(name),
            None => {
                let e = self.make(name);
                held.by_name.insert(name.into(), e.clone());
                e
            }
        };
        let backend = match entry {
            Entry::Ready(b) => b,
            Entry::Failed { name, why } => return Err(Miss::Factory { name, why }),
        };
        let table = &held.table;
        let stale = table.version < version
            || (table.version == version
                && table
                    .slots
                    .get(node.as_usize())
                    .is_none_or(|s| s.as_ref().is_none_or(|w| w.strong_count() == 0)));
        if stale {
            held.table = Arc::new(build_table(&held.by_name, snapshot));
        }
        let table = (held.table.version == version).then(|| Arc::clone(&held.table));
        drop(held);
        drop(gone);
        if let Some(table) = table {
            self.remember(table);
        }
        Ok(backend)
    }

    /// Keeps `table` as this thread's table of this pool.
    fn remember(&self, table: Arc<Table<S, T>>) {
        let ptr: *const () = Arc::as_ptr(&table).cast();
        let old = LOCAL.try_with(|local| {
            let Ok(mut keep) = local.keep.try_borrow_mut() else {
                return None;
            };
            let at = keep.iter().position(|c| c.pool == self.id);
            let old = match at {
                Some(i) => Some(keep.remove(i)),
                None if keep.len() >= CACHED_POOLS => Some(keep.remove(0)),
                None => None,
            };
            keep.push(Cached {
                pool: self.id,
                table,
            });
            // Both cells at once, to a table `keep` holds: the invariant.
            local.pool.set(self.id);
            local.table.set(ptr);
            old
        });
        // Dropped outside the borrow: a table's drop may drop backends.
        drop(old);
    }
}

/// Removes the entries of non-members of `snapshot`; returns them.
fn prune<S, T>(by_name: &mut ByName<S, T>, snapshot: &Snapshot<T>) -> Vec<Entry<S, T>> {
    let nodes = snapshot.nodes();
    let gone: Vec<Box<[u8]>> = by_name
        .keys()
        .filter(|name| nodes.index_of(name).is_none())
        .cloned()
        .collect();
    gone.iter().filter_map(|n| by_name.remove(n)).collect()
}

/// The table of `snapshot`: each member's backend, if it has one.
fn build_table<S, T>(by_name: &ByName<S, T>, snapshot: &Snapshot<T>) -> Table<S, T> {
    let nodes = snapshot.nodes();
    let mut slots = vec![None; nodes.capacity()];
    for (index, node) in nodes.iter() {
        if let Some(Entry::Ready(b)) = by_name.get(node.name()) {
            slots[index.as_usize()] = Some(Arc::downgrade(b));
        }
    }
    Table {
        version: snapshot.version(),
        slots,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A service that counts its drops.
    struct Probe(Arc<AtomicUsize>);

    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn lookup(pool: &Pool<Probe, ()>, router: &Router, name: &str) -> Arc<Backend<Probe, ()>> {
        let snapshot = router.snapshot();
        let node = snapshot.index_of(name).expect("a member");
        pool.lookup(&snapshot, node).expect("a backend")
    }

    #[test]
    fn tables_follow_membership_and_keep_nothing_alive() {
        let router: Router = Router::builder()
            .node("a", 1.0)
            .node("b", 1.0)
            .build()
            .unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let made = Arc::new(AtomicUsize::new(0));
        let (d, m) = (Arc::clone(&drops), Arc::clone(&made));
        let factory: Factory<Probe> = Arc::new(move |_: &str| {
            m.fetch_add(1, Ordering::SeqCst);
            Ok(Probe(Arc::clone(&d)))
        });
        let pool = Pool::new(factory, router.clone());
        let first = lookup(&pool, &router, "a");
        // The second lookup comes from this thread's table: same backend.
        assert!(Arc::ptr_eq(&first, &lookup(&pool, &router, "a")));
        assert_eq!(made.load(Ordering::SeqCst), 1);
        drop(first);

        // `a` leaves and `c` joins (possibly in `a`'s slot): the next
        // lookup prunes `a`, although this thread's table still names it.
        router.remove("a").unwrap();
        router.add("c", 1.0).unwrap();
        assert_eq!(&*lookup(&pool, &router, "c").name, "c");
        assert_eq!(&*lookup(&pool, &router, "b").name, "b");
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(pool.names().len(), 2);

        // A health change publishes a new version: the table is rebuilt,
        // the backends stay.
        router.mark_down("b").unwrap();
        router.mark_up("b").unwrap();
        assert_eq!(&*lookup(&pool, &router, "b").name, "b");
        assert_eq!(made.load(Ordering::SeqCst), 3);

        // Dropping the pool drops its backends, cached tables or not.
        drop(pool);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    }
}
