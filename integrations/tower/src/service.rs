//! [`RingrouteService`]: the `tower::Service` that routes each request by
//! its key, with bounded in-flight requests, leases and failover.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use ringroute::NodeIndex;
use ringroute::router::{Outcome, Router, Snapshot, Ticket};
use tokio::time::Instant;
use tonic::Code;
use tonic::body::Body;
use tower::retry::budget::{Budget, TpsBudget};
use tower::{Service, ServiceExt};

use crate::body::{Prepared, ResponseBody, grpc_status};
use crate::error::{BoxError, ErrorKind, RouteError, chain};
use crate::key::{Key, KeySource};
use crate::pool::{Factory, Pool};
use crate::retry::{Failure, RetryConfig, grpc_timeout, timeout_value};

/// Requests in flight per backend by default.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 1024;
/// Largest request body replayed on another backend by default (64 KiB).
pub const DEFAULT_REPLAY_LIMIT: usize = 64 * 1024;

/// Routes each request to the backend its key maps to on a
/// [`Router`]; see the [crate docs](crate).
///
/// Clones share everything (router, backends, budget, counters). It is
/// always ready: readiness is awaited per backend inside the call, so a
/// backend that is not ready never holds up requests bound for others.
pub struct RingrouteService<S, T = ()> {
    shared: Arc<Shared<S, T>>,
}

impl<S, T> Clone for RingrouteService<S, T> {
    fn clone(&self) -> Self {
        RingrouteService {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S, T> fmt::Debug for RingrouteService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingrouteService")
            .field("key", &self.shared.key)
            .field("retry", &self.shared.retry)
            .field("max_in_flight", &self.shared.max_in_flight)
            .field("replay_limit", &self.shared.replay_limit)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared<S, T> {
    pub router: Router<T>,
    pub pool: Pool<S>,
    key: KeySource<Body>,
    retry: RetryConfig,
    budget: TpsBudget,
    max_in_flight: u32,
    replay_limit: usize,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    overloaded: AtomicU64,
    budget_refused: AtomicU64,
}

/// Counters of a service since it was built.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceStats {
    /// Requests received.
    pub requests: u64,
    /// Attempts beyond each request's first.
    pub retries: u64,
    /// Requests refused because their backend was at its in-flight bound.
    pub overloaded: u64,
    /// Retries the budget refused.
    pub budget_refused: u64,
}

/// Configures a [`RingrouteService`].
pub struct Builder<S, T> {
    router: Router<T>,
    factory: Factory<S>,
    key: KeySource<Body>,
    retry: RetryConfig,
    max_in_flight: u32,
    replay_limit: usize,
}

impl<S, T> fmt::Debug for Builder<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("key", &self.key)
            .field("retry", &self.retry)
            .field("max_in_flight", &self.max_in_flight)
            .field("replay_limit", &self.replay_limit)
            .finish_non_exhaustive()
    }
}

impl<S, T> Builder<S, T>
where
    S: Clone,
    T: Clone + Send + Sync + 'static,
{
    /// Takes the key from this header instead of `x-ringroute-key`.
    pub fn key_header(mut self, name: http::HeaderName) -> Self {
        self.key = KeySource::Header(name);
        self
    }

    /// Takes the key from the request with a closure (`None`: no key).
    pub fn key_fn(
        mut self,
        f: impl Fn(&Request<Body>) -> Option<Bytes> + Send + Sync + 'static,
    ) -> Self {
        self.key = KeySource::from_fn(f);
        self
    }

    /// Retry settings (attempts, budget, predicate).
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Requests in flight per backend (default 1024); past it a request
    /// fails at once with [`ErrorKind::Overloaded`].
    pub fn max_in_flight(mut self, n: u32) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Largest request body kept to replay on another backend (default
    /// 64 KiB).
    pub fn replay_limit(mut self, bytes: usize) -> Self {
        self.replay_limit = bytes;
        self
    }

    /// The service.
    pub fn build(self) -> RingrouteService<S, T> {
        RingrouteService {
            shared: Arc::new(Shared {
                budget: self.retry.build_budget(),
                router: self.router,
                pool: Pool::new(self.factory),
                key: self.key,
                retry: self.retry,
                max_in_flight: self.max_in_flight,
                replay_limit: self.replay_limit,
                counters: Counters::default(),
            }),
        }
    }
}

impl<S, T> RingrouteService<S, T>
where
    S: Clone,
    T: Clone + Send + Sync + 'static,
{
    /// A builder over `router`; `factory` makes the inner service of a node
    /// from its name (for tonic: [`lazy_channel`](crate::lazy_channel)).
    pub fn builder(
        router: Router<T>,
        factory: impl Fn(&str) -> Result<S, BoxError> + Send + Sync + 'static,
    ) -> Builder<S, T> {
        Builder {
            router,
            factory: Arc::new(factory),
            key: KeySource::default(),
            retry: RetryConfig::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            replay_limit: crate::service::DEFAULT_REPLAY_LIMIT,
        }
    }

    /// The router the service routes with.
    pub fn router(&self) -> &Router<T> {
        &self.shared.router
    }

    /// The node a request would go to first (its key's primary, or `None`
    /// for a keyless request or when no node is up). The routing decision
    /// alone: no lease is taken.
    pub fn route(&self, req: &Request<Body>) -> Option<NodeIndex> {
        match &self.shared.key {
            // Borrowed: no reference count touched.
            KeySource::Header(name) => {
                let key = crate::key::header(req.headers(), name)?;
                self.shared.router.route(key.as_bytes())
            }
            KeySource::Fn(f) => self.shared.router.route(&f(req)?),
        }
    }

    /// Names of the backends whose inner service exists now. A node that
    /// left the router is dropped at the next request after it left.
    pub fn backends(&self) -> Vec<Arc<str>> {
        self.shared.pool.names()
    }

    /// Requests in flight per backend through this service.
    pub fn in_flight(&self) -> Vec<(Arc<str>, u32)> {
        self.shared.pool.in_flight()
    }

    /// Counters since the service was built.
    pub fn stats(&self) -> ServiceStats {
        let c = &self.shared.counters;
        ServiceStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            overloaded: c.overloaded.load(Ordering::Relaxed),
            budget_refused: c.budget_refused.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<S, T>> {
        &self.shared
    }
}

type ServeFuture<R> = Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send>>;

impl<S, T, B> Service<Request<Body>> for RingrouteService<S, T>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    T: Clone + Send + Sync + 'static,
{
    type Response = Response<ResponseBody<B, T>>;
    type Error = BoxError;
    type Future = ServeFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        Box::pin(Arc::clone(&self.shared).serve(req))
    }
}

/// A request's lease on its backend and its in-flight slot: ends when the
/// response body ends (or is dropped), with the outcome its `grpc-status`
/// gives.
pub struct InFlight<T: Clone + Send + Sync + 'static> {
    router: Router<T>,
    ticket: Option<Ticket>,
    slot: Arc<AtomicU32>,
}

impl<T: Clone + Send + Sync + 'static> fmt::Debug for InFlight<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlight")
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

impl<T: Clone + Send + Sync + 'static> InFlight<T> {
    fn end(&mut self, outcome: impl FnOnce(&Ticket) -> Outcome) {
        if let Some(ticket) = self.ticket.take() {
            let outcome = outcome(&ticket);
            self.router.finish(ticket, outcome);
            self.slot.fetch_sub(1, Ordering::Release);
        }
    }
}

/// Codes that count against the backend (it failed, rather than the call).
fn is_backend_failure(code: i32) -> bool {
    matches!(
        Code::from(code),
        Code::Unavailable
            | Code::Internal
            | Code::Unknown
            | Code::DeadlineExceeded
            | Code::DataLoss
    )
}

impl<T: Clone + Send + Sync + 'static> InFlight<T> {
    /// Ends the request: a gRPC status arrived (0 is OK), or the body
    /// failed (`None`).
    pub(crate) fn finish(&mut self, code: Option<i32>) {
        let router = self.router.clone();
        self.end(|ticket| match code {
            Some(c) if !is_backend_failure(c) => {
                Outcome::Success(router.now().saturating_sub(ticket.started()))
            }
            _ => Outcome::Failure,
        });
    }
}

impl<T: Clone + Send + Sync + 'static> Drop for InFlight<T> {
    fn drop(&mut self) {
        self.end(|_| Outcome::Abandoned);
    }
}

/// The gRPC error a response carries in its headers: a trailers-only
/// answer, or an HTTP error status mapped as gRPC clients map it (502, 503
/// and 504 are `UNAVAILABLE`). `None` for a response that goes on.
fn early_status<B>(response: &Response<B>) -> Option<i32> {
    let http = response.status();
    if !http.is_success() {
        return Some(match http.as_u16() {
            502..=504 => Code::Unavailable as i32,
            _ => Code::Unknown as i32,
        });
    }
    grpc_status(response.headers()).filter(|c| *c != 0)
}

/// Where the next attempt goes.
enum Candidates<'a> {
    Keyed(std::iter::Peekable<ringroute::router::Failover<'a>>),
    /// The picker's choice; a retry avoids the node picked last.
    Keyless {
        last: Option<NodeIndex>,
    },
}

impl<S, T> Shared<S, T>
where
    S: Clone,
    T: Clone + Send + Sync + 'static,
{
    /// The next node and a ticket on it, from the key's replicas or the
    /// picker. The snapshot returned resolves the node's name.
    fn next_node(
        &self,
        snapshot: &Arc<Snapshot<T>>,
        candidates: &mut Candidates<'_>,
    ) -> Option<(Arc<Snapshot<T>>, NodeIndex, Ticket)> {
        match candidates {
            Candidates::Keyed(walk) => {
                let node = walk.next()?;
                let ticket = self.router.start_on(snapshot, node)?.into_ticket();
                Some((Arc::clone(snapshot), node, ticket))
            }
            Candidates::Keyless { last } => {
                let mut ticket = self.router.pick_ticket()?;
                // P2C may well pick the node that just failed: pick again a
                // few times (it is random) before accepting it.
                for _ in 0..3 {
                    if Some(ticket.node()) != *last {
                        break;
                    }
                    let again = self.router.pick_ticket()?;
                    self.router
                        .finish(std::mem::replace(&mut ticket, again), Outcome::Abandoned);
                }
                *last = Some(ticket.node());
                // The picker read the current snapshot, which may be newer
                // than ours.
                let now = self.router.snapshot();
                Some((now, ticket.node(), ticket))
            }
        }
    }

    fn may_retry(
        &self,
        failure: &Failure<'_>,
        body: &Prepared,
        attempt: usize,
        deadline: Option<Instant>,
        candidates: &mut Candidates<'_>,
    ) -> bool {
        let more = match candidates {
            Candidates::Keyed(walk) => walk.peek().is_some(),
            Candidates::Keyless { .. } => true,
        };
        let ok = attempt + 1 < self.retry.max_attempts
            && more
            && (self.retry.predicate)(failure)
            && body.replayable()
            && deadline.is_none_or(|d| Instant::now() < d);
        if !ok {
            return false;
        }
        if self.budget.withdraw() {
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            self.counters.budget_refused.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

impl<S, T> Shared<S, T>
where
    T: Clone + Send + Sync + 'static,
{
    async fn serve<B>(
        self: Arc<Self>,
        req: Request<Body>,
    ) -> Result<Response<ResponseBody<B, T>>, BoxError>
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
    {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.budget.deposit();
        let deadline = grpc_timeout(req.headers()).map(|d| Instant::now() + d);
        let key: Option<Key> = self.key.extract(&req);
        let (parts, body) = req.into_parts();
        let body = Prepared::read(body, self.replay_limit)
            .await
            .map_err(|s| RouteError::new(ErrorKind::RequestBody, None, s.message()))?;

        let snapshot = self.router.snapshot();
        self.pool.prune(&snapshot);
        if snapshot.nodes().is_empty() {
            return Err(
                RouteError::new(ErrorKind::NoBackends, None, "the router has no members").into(),
            );
        }
        let mut candidates = match &key {
            Some(k) => Candidates::Keyed(snapshot.failover(k).peekable()),
            None => Candidates::Keyless { last: None },
        };
        let mut last_error: Option<RouteError> = None;
        let mut attempt = 0;
        while attempt < self.retry.max_attempts {
            let Some((snap, node, ticket)) = self.next_node(&snapshot, &mut candidates) else {
                break;
            };
            let Some(member) = snap.node(node) else {
                self.router.finish(ticket, Outcome::Abandoned);
                break;
            };
            let backend = self.pool.get(member.name());
            let name = Arc::clone(&backend.name);
            let service = match &backend.service {
                Ok(s) => s.clone(),
                Err(why) => {
                    self.router.finish(ticket, Outcome::Abandoned);
                    return Err(RouteError::new(ErrorKind::Factory, Some(name), why).into());
                }
            };
            if !backend.try_acquire(self.max_in_flight) {
                self.router.finish(ticket, Outcome::Abandoned);
                self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                let why = format!("{} requests in flight, the maximum", self.max_in_flight);
                return Err(RouteError::new(ErrorKind::Overloaded, Some(name), why).into());
            }
            let mut guard = InFlight {
                router: self.router.clone(),
                ticket: Some(ticket),
                slot: Arc::clone(&backend.in_flight),
            };
            let mut request = Request::from_parts(parts.clone(), body.attempt());
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                request
                    .headers_mut()
                    .insert("grpc-timeout", timeout_value(left));
            }
            let call = service.oneshot(request);
            let result = match deadline {
                Some(d) => match tokio::time::timeout_at(d, call).await {
                    Ok(r) => r,
                    Err(_) => {
                        guard.finish(None);
                        return Err(RouteError::new(
                            ErrorKind::DeadlineExceeded,
                            Some(name),
                            "the request's deadline passed",
                        )
                        .into());
                    }
                },
                None => call.await,
            };
            match result {
                Ok(response) => match early_status(&response) {
                    // A trailers-only error: nothing of the answer was read.
                    Some(code) => {
                        guard.finish(Some(code));
                        let failure = Failure::Status(Code::from(code));
                        if self.may_retry(&failure, &body, attempt, deadline, &mut candidates) {
                            attempt += 1;
                            continue;
                        }
                        return Ok(response.map(|b| ResponseBody::new(b, None)));
                    }
                    None => return Ok(response.map(|b| ResponseBody::new(b, Some(guard)))),
                },
                Err(e) => {
                    guard.finish(None);
                    let e: BoxError = e.into();
                    let error = RouteError::new(ErrorKind::Backend, Some(name), chain(&*e));
                    if self.may_retry(
                        &Failure::Transport(&*e),
                        &body,
                        attempt,
                        deadline,
                        &mut candidates,
                    ) {
                        last_error = Some(error);
                        attempt += 1;
                        continue;
                    }
                    return Err(error.into());
                }
            }
        }
        Err(match last_error {
            Some(e) => e.into(),
            None => {
                let why = format!("none of the {} members is up", snapshot.nodes().len());
                RouteError::new(ErrorKind::AllDown, None, why).into()
            }
        })
    }
}
