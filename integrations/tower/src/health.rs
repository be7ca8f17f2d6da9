//! Active health checking: `grpc.health.v1.Health/Check` on every member at
//! an interval, fed into the router (heartbeats for its phi-accrual
//! detector, and mark down / up).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use ringroute::router::{NodeHealth, Router};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tonic::body::Body;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::Service;

use crate::error::BoxError;
use crate::pool::Entry;
use crate::service::RingrouteService;

/// Settings of a [`HealthChecker`].
#[derive(Clone, Debug)]
pub struct HealthConfig {
    interval: Duration,
    timeout: Duration,
    unhealthy_after: u32,
    service: String,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            unhealthy_after: 2,
            service: String::new(),
        }
    }
}

impl HealthConfig {
    /// Time between rounds of checks (default 1 s).
    pub fn interval(mut self, d: Duration) -> Self {
        self.interval = d.max(Duration::from_millis(1));
        self
    }

    /// How long a check may take before it counts as failed (default 500 ms).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Failed checks in a row before the node is marked down (default 2).
    pub fn unhealthy_after(mut self, n: u32) -> Self {
        self.unhealthy_after = n.max(1);
        self
    }

    /// The service name asked about (default `""`: the whole server).
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = name.into();
        self
    }
}

/// A background task checking every member of a service's router; stops
/// when dropped.
///
/// Each member is checked by its own task, so a check that hangs (up to
/// the timeout) delays no other node's. A node whose check answers
/// `SERVING` gets a [`Router::heartbeat`] (for
/// the phi-accrual detector, when the router has one) and is marked up
/// again if this checker had marked it down. A node that fails
/// `unhealthy_after` checks in a row (error, timeout, or any other status)
/// is marked down. Nodes marked down by someone else are left alone.
/// [`Router::tick`] runs every interval, so phi verdicts and ejection
/// expiries apply without a separate timer.
#[derive(Debug)]
pub struct HealthChecker {
    task: JoinHandle<()>,
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HealthChecker {
    /// Starts checking the members of `service`'s router, through the same
    /// inner services (connections) the requests use. Needs a tokio runtime.
    pub fn spawn<S, T, B>(service: &RingrouteService<S, T>, config: HealthConfig) -> HealthChecker
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError> + Send,
        T: Clone + Send + Sync + 'static,
    {
        let service = service.clone();
        HealthChecker {
            task: tokio::spawn(run(service, config)),
        }
    }
}

async fn run<S, T, B>(service: RingrouteService<S, T>, config: HealthConfig)
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
    T: Clone + Send + Sync + 'static,
{
    let shared = service.shared();
    let router: &Router<T> = &shared.router;
    // One checking task per member, so that a check that hangs delays only
    // its own node's heartbeats. Dropping the set (when this task is
    // aborted) aborts them all.
    let mut tasks = JoinSet::new();
    let mut running: HashMap<Box<[u8]>, AbortHandle> = HashMap::new();
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let snapshot = router.snapshot();
        // Channels of nodes that left go even while no request comes.
        shared.pool.prune(&snapshot);
        running.retain(|name, task| {
            let member = snapshot.index_of(name).is_some();
            if !member {
                task.abort();
            }
            member
        });
        for (_, node) in snapshot.nodes().iter() {
            if running.contains_key(node.name()) {
                continue;
            }
            let name: Box<[u8]> = node.name().into();
            let Entry::Ready(backend) = shared.pool.get(&name) else {
                continue;
            };
            let svc = backend.service.clone();
            let task = tasks.spawn(check_node(
                router.clone(),
                name.clone(),
                svc,
                config.clone(),
            ));
            running.insert(name, task);
        }
        while tasks.try_join_next().is_some() {}
        router.tick();
    }
}

/// Checks one node at the configured interval until aborted.
async fn check_node<S, T, B>(router: Router<T>, name: Box<[u8]>, svc: S, config: HealthConfig)
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
    T: Clone + Send + Sync + 'static,
{
    let mut client = HealthClient::new(svc);
    let mut failures = 0u32;
    let mut marked = false;
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let request = HealthCheckRequest {
            service: config.service.clone(),
        };
        let serving = match tokio::time::timeout(config.timeout, client.check(request)).await {
            Ok(Ok(answer)) => answer.into_inner().status == ServingStatus::Serving as i32,
            _ => false,
        };
        if serving {
            failures = 0;
            let _ = router.heartbeat(&name);
            if marked {
                marked = false;
                let _ = router.mark_up(&name);
            }
        } else {
            failures = failures.saturating_add(1);
            // A node marked down by someone else is theirs to bring back.
            let manual = router.health(&name) == Some(NodeHealth::Down);
            if failures >= config.unhealthy_after
                && !marked
                && !manual
                && router.mark_down(&name).is_ok()
            {
                marked = true;
            }
        }
    }
}
