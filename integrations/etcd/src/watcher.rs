//! [`Watcher`]: keeps a [`Router`] in sync with the nodes registered under
//! an etcd prefix, on a tokio task of its own.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringroute::NodeIndex;
use ringroute::router::{Change, Router};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::client::{Client, ClientConfig, WatchMessage};
use crate::error::{Error, Result};
use crate::format::{AutoFormat, ValueFormat};
use crate::membership::{MemberChange, Membership};

/// What the watcher is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening the watch (or not started yet).
    Connecting,
    /// Reading the whole prefix.
    Listing,
    /// The watch is open and events flow.
    Watching,
    /// The last attempt failed; waiting before the next one.
    Backoff,
    /// Stopped.
    Stopped,
}

/// The watcher's state, for health checks and metrics.
#[derive(Clone, Debug)]
pub struct Status {
    /// The connection state.
    pub state: ConnectionState,
    /// The registry revision the router reflects (0: none yet).
    pub applied_revision: i64,
    /// The latest revision read from etcd; above `applied_revision` while a
    /// mass removal is held.
    pub seen_revision: i64,
    /// Whether a listing has been applied at least once.
    pub synced: bool,
    /// Whether a mass removal is being held back.
    pub held: bool,
    /// Mass removals held so far.
    pub holds: u64,
    /// Values skipped because they did not parse (bad JSON, bad weight,
    /// empty name).
    pub bad_values: u64,
    /// Batches the router refused (logged; retried with the next batch).
    pub refused: u64,
    /// Full listings made (the first one, and after each compaction or
    /// hold).
    pub lists: u64,
    /// Failed attempts (connection lost, etcd unreachable).
    pub failures: u64,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
}

/// One publication: what changed in the router, and at which revision.
#[derive(Clone, Debug)]
pub struct Update {
    /// The registry revision the router now reflects.
    pub revision: i64,
    /// The revisions of the watch events in this batch (empty for a listing).
    pub event_revisions: Vec<i64>,
    /// Whether this came from a full listing.
    pub from_list: bool,
    /// The changes (empty if the events changed no node).
    pub changes: Vec<MemberChange>,
    /// The router snapshot version after the changes.
    pub snapshot_version: u64,
    /// When it was published.
    pub at: Instant,
}

/// Settings of a [`Watcher`].
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// How to reach etcd.
    pub client: ClientConfig,
    /// The directory to watch; a `/` is appended if missing, so `svc`
    /// never matches `svc2/...`.
    pub prefix: String,
    /// How values become nodes (default [`AutoFormat`]).
    pub format: Arc<dyn ValueFormat>,
    /// Nodes to route to until etcd first answers.
    pub seeds: Vec<(String, f64)>,
    /// A batch removing more than this share of the nodes is held back
    /// until the next listing confirms it (default 0.5; 1.0 disables).
    pub guard_share: f64,
    /// A batch removing fewer nodes than this is never held (default 2): a
    /// single departure is ordinary churn, even from a cluster of one or two.
    pub guard_min_removals: usize,
    /// How long a held removal waits for its confirming listing.
    pub guard_confirm_after: Duration,
    /// First retry delay; doubles up to `backoff_max`, with jitter.
    pub backoff_min: Duration,
    /// Largest retry delay.
    pub backoff_max: Duration,
}

impl WatchConfig {
    /// Defaults for `endpoints` (comma-separated URLs) and `prefix`.
    pub fn new(endpoints: &str, prefix: &str) -> Self {
        WatchConfig {
            client: ClientConfig::new(endpoints),
            prefix: prefix.to_string(),
            format: Arc::new(AutoFormat),
            seeds: Vec::new(),
            guard_share: 0.5,
            guard_min_removals: 2,
            guard_confirm_after: Duration::from_secs(10),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// Makes `prefix` a directory: `svc` → `svc/`.
pub fn directory(prefix: &str) -> String {
    if prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

/// Why [`Watcher::route`] found no node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// etcd has not answered yet and no seed was given.
    NoNodesYet,
    /// The registry lists no node under the prefix.
    NoNodes,
    /// Nodes exist but none is up.
    NoNodeUp,
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RouteError::NoNodesYet => {
                "no nodes yet: etcd has not answered and no seed nodes were given"
            }
            RouteError::NoNodes => "no nodes are registered under the prefix",
            RouteError::NoNodeUp => "no node is up",
        })
    }
}

impl std::error::Error for RouteError {}

struct Shared {
    status: Mutex<Status>,
}

/// Keeps a [`Router`] in sync with the nodes registered under an etcd
/// prefix. Starting never blocks: the work runs on a tokio task, and the
/// router serves its seeds (or nothing) until etcd answers.
///
/// A listing at revision R publishes one snapshot, then a watch from R+1
/// applies puts and deletes, one snapshot per batch of revisions that
/// arrived together, never part of a revision. On a lost connection it
/// retries with jittered exponential backoff and resumes from the last
/// revision read; on compaction it lists again and publishes the
/// difference.
pub struct Watcher<T: Clone + Send + Sync + Default + 'static = ()> {
    router: Router<T>,
    shared: Arc<Shared>,
    updates: broadcast::Sender<Update>,
    revision: watch::Receiver<i64>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl<T: Clone + Send + Sync + Default + 'static> Watcher<T> {
    /// Starts watching; `router` is kept in sync. The seeds of `config`
    /// are added to it first. Must be called inside a tokio runtime.
    pub fn start(router: Router<T>, config: WatchConfig) -> Result<Self> {
        let client = Client::new(config.client.clone())?;
        if !(config.guard_share > 0.0 && config.guard_share <= 1.0) {
            return Err(Error::Config("guard_share must be in (0, 1]".into()));
        }
        let prefix = directory(&config.prefix);
        if !config.seeds.is_empty() {
            router.apply(
                config
                    .seeds
                    .iter()
                    .map(|(n, w)| Change::add(n, *w, T::default())),
            )?;
        }
        let mut membership = Membership::new(prefix.clone(), config.format.clone());
        let current = router.snapshot();
        let seeded: Vec<(String, f64)> = current
            .nodes()
            .iter()
            .map(|(_, n)| (n.name_lossy().into_owned(), n.weight()))
            .collect();
        membership.seed(&seeded);
        for (_, n) in current.nodes().iter() {
            if !n.is_up() {
                if let Some(v) = membership.applied.get_mut(n.name_lossy().as_ref()) {
                    v.up = false;
                }
            }
        }
        let shared = Arc::new(Shared {
            status: Mutex::new(Status {
                state: ConnectionState::Connecting,
                applied_revision: 0,
                seen_revision: 0,
                synced: false,
                held: false,
                holds: 0,
                bad_values: 0,
                refused: 0,
                lists: 0,
                failures: 0,
                last_error: None,
            }),
        });
        let (updates, _) = broadcast::channel(4096);
        let (rev_tx, revision) = watch::channel(0);
        let (stop, stop_rx) = watch::channel(false);
        let worker = Worker {
            client,
            router: router.clone(),
            prefix,
            config,
            membership,
            shared: shared.clone(),
            updates: updates.clone(),
            revision: rev_tx,
            seen: 0,
            synced: false,
            held_since: None,
            attempts: 0,
        };
        let task = tokio::spawn(worker.run(stop_rx));
        Ok(Watcher {
            router,
            shared,
            updates,
            revision,
            stop,
            task: Some(task),
        })
    }

    /// The router kept in sync.
    pub fn router(&self) -> &Router<T> {
        &self.router
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.shared.status.lock().expect("status lock").clone()
    }

    /// The revision the router reflects (0: none yet).
    pub fn applied_revision(&self) -> i64 {
        *self.revision.borrow()
    }

    /// Every publication from now on. A receiver that falls more than 4096
    /// updates behind loses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    /// Waits until the router reflects `revision` or later; `false` on
    /// timeout.
    pub async fn wait_for_revision(&self, revision: i64, timeout: Duration) -> bool {
        let mut rx = self.revision.clone();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The up node serving `key`, with a clear reason when there is none.
    pub fn route<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Result<NodeIndex, RouteError> {
        let snap = self.router.snapshot();
        if let Some(i) = snap.route(key) {
            return Ok(i);
        }
        Err(if !snap.nodes().is_empty() {
            RouteError::NoNodeUp
        } else if self.shared.status.lock().expect("status lock").synced {
            RouteError::NoNodes
        } else {
            RouteError::NoNodesYet
        })
    }

    /// Stops watching and waits for the task to end.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl<T: Clone + Send + Sync + Default + 'static> Drop for Watcher<T> {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Worker<T: Clone + Send + Sync + Default + 'static> {
    client: Client,
    router: Router<T>,
    prefix: String,
    config: WatchConfig,
    membership: Membership,
    shared: Arc<Shared>,
    updates: broadcast::Sender<Update>,
    revision: watch::Sender<i64>,
    /// The latest revision folded into the membership.
    seen: i64,
    synced: bool,
    held_since: Option<Instant>,
    /// Consecutive failed attempts, for the backoff.
    attempts: u32,
}

enum Next {
    List,
    Watch,
}

impl<T: Clone + Send + Sync + Default + 'static> Worker<T> {
    fn status(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.shared.status.lock().expect("status lock"));
    }

    fn backoff(&self) -> Duration {
        let min = self.config.backoff_min.as_secs_f64();
        let max = self.config.backoff_max.as_secs_f64().max(min);
        let exp = min * 2f64.powi(self.attempts.saturating_sub(1).min(20) as i32);
        // Full jitter over the upper half: spreads a fleet's reconnects.
        let d = exp.min(max) * (0.5 + fastrand::f64() * 0.5);
        Duration::from_secs_f64(d)
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut next = Next::List;
        loop {
            if *stop.borrow() {
                break;
            }
            let result = tokio::select! {
                biased;
                _ = stop.changed() => break,
                r = self.session(next) => r,
            };
            match result {
                Ok(n) => next = n,
                Err(e) => {
                    self.attempts += 1;
                    let delay = self.backoff();
                    tracing::warn!(
                        prefix = %self.prefix,
                        attempt = self.attempts,
                        "etcd: {e}; retrying in {delay:?}"
                    );
                    self.status(|s| {
                        s.state = ConnectionState::Backoff;
                        s.failures += 1;
                        s.last_error = Some(e.to_string());
                    });
                    self.client.rotate();
                    next = if self.synced { Next::Watch } else { Next::List };
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.status(|s| s.state = ConnectionState::Stopped);
    }

    /// Lists if asked, then watches until the watch fails (`Err`) or a
    /// listing is needed (`Ok(Next::List)`).
    async fn session(&mut self, next: Next) -> Result<Next> {
        if matches!(next, Next::List) {
            self.status(|s| s.state = ConnectionState::Listing);
            let (revision, kvs) = self.client.range_prefix(self.prefix.as_bytes()).await?;
            self.membership.relist(&kvs);
            self.status(|s| s.lists += 1);
            self.publish(revision, Vec::new(), true);
        }
        self.status(|s| s.state = ConnectionState::Connecting);
        let mut stream = self
            .client
            .watch(self.prefix.as_bytes(), self.seen + 1)
            .await?;
        loop {
            let deadline = self
                .held_since
                .map(|t| tokio::time::Instant::from_std(t + self.config.guard_confirm_after));
            let messages = tokio::select! {
                m = stream.next_batch() => m?,
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => {
                    tracing::info!(prefix = %self.prefix, "listing again to confirm a held removal");
                    return Ok(Next::List);
                }
            };
            let mut events = Vec::new();
            let mut compacted = None;
            for m in messages {
                match m {
                    WatchMessage::Created { .. } => {
                        self.attempts = 0;
                        self.status(|s| {
                            s.state = ConnectionState::Watching;
                            s.last_error = None;
                        });
                    }
                    WatchMessage::Events(ev) => events.extend(ev),
                    WatchMessage::Compacted(c) => compacted = Some(c),
                    WatchMessage::Progress(_) => {}
                }
            }
            if !events.is_empty() {
                let revisions: BTreeSet<i64> = events.iter().map(|e| e.kv.mod_revision).collect();
                let last = *revisions.last().expect("events are not empty");
                self.membership.fold(&events);
                self.publish(last, revisions.into_iter().collect(), false);
            }
            if let Some(c) = compacted {
                tracing::warn!(
                    prefix = %self.prefix,
                    "etcd compacted past revision {} (now {c}); listing again",
                    self.seen + 1
                );
                return Ok(Next::List);
            }
        }
    }

    /// Applies the membership's view to the router, unless the guard holds
    /// it; one snapshot at most.
    fn publish(&mut self, revision: i64, event_revisions: Vec<i64>, from_list: bool) {
        self.seen = self.seen.max(revision);
        let desired = self.membership.desired();
        let (changes, described, removals) = self.membership.diff::<T>(&desired);
        let before = self.membership.applied.len();
        // The first listing replaces seeds, which are a guess, not a view
        // of the registry; a listing made while a removal is held confirms it.
        let confirmed = from_list && (self.held_since.is_some() || !self.synced);
        let over = removals > 0
            && removals >= self.config.guard_min_removals
            && removals as f64 > self.config.guard_share * before as f64;
        let bad = self.membership.bad_values;
        if over && !confirmed {
            if self.held_since.is_none() {
                tracing::warn!(
                    prefix = %self.prefix,
                    revision,
                    "holding a mass removal of {removals} of {before} nodes (over {:.0}%) \
                     until the next listing confirms it",
                    self.config.guard_share * 100.0
                );
                self.held_since = Some(Instant::now());
                self.status(|s| s.holds += 1);
            }
            let seen = self.seen;
            self.status(|s| {
                s.held = true;
                s.seen_revision = seen;
                s.bad_values = bad;
            });
            return;
        }
        if self.held_since.take().is_some() {
            tracing::info!(prefix = %self.prefix, revision, "held removal released");
        }
        let mut refused = false;
        if !changes.is_empty() {
            match self.router.apply(changes) {
                Ok(()) => self.membership.applied = desired,
                Err(e) => {
                    tracing::error!(prefix = %self.prefix, revision, "router refused the batch: {e}");
                    refused = true;
                }
            }
        }
        self.synced = true;
        let seen = self.seen;
        self.status(|s| {
            s.applied_revision = revision;
            s.seen_revision = seen;
            s.synced = true;
            s.held = false;
            s.bad_values = bad;
            if refused {
                s.refused += 1;
            }
        });
        for c in &described {
            tracing::info!(prefix = %self.prefix, revision, "{c}");
        }
        let _ = self.updates.send(Update {
            revision,
            event_revisions,
            from_list,
            changes: if refused { Vec::new() } else { described },
            snapshot_version: self.router.snapshot().version(),
            at: Instant::now(),
        });
        self.revision.send_replace(revision);
    }
}

/// The router's current membership as name → (weight, up), for comparing
/// with a listing.
pub fn router_members<T: Clone + Send + Sync + 'static>(
    router: &Router<T>,
) -> std::collections::BTreeMap<String, (f64, bool)> {
    router
        .snapshot()
        .nodes()
        .iter()
        .map(|(_, n)| (n.name_lossy().into_owned(), (n.weight(), n.is_up())))
        .collect()
}
