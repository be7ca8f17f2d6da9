//! [`RingrouteService`]: the `tower::Service` that routes each request by
//! its key, with bounded in-flight requests, leases and failover.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use ringroute::NodeIndex;
use ringroute::router::{Outcome, Router, Snapshot};
use tokio::time::Instant;
use tonic::Code;
use tonic::body::Body;
use tower::Service;
use tower::retry::budget::{Budget, TpsBudget};

use crate::body::{Prepared, ResponseBody, grpc_status};
use crate::error::{BoxError, ErrorKind, RouteError, chain};
use crate::inflight::InFlight;
use crate::key::{self, KeySource, RouteKey};
use crate::pool::{Backend, Factory, Miss, Pool, Slot};
use crate::retry::{Failure, GRPC_TIMEOUT, RetryConfig, grpc_timeout, timeout_value};

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
    pub pool: Pool<S, T>,
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
    /// Takes the key from this header instead of `x-ringroute-key` (a
    /// request's [`RouteKey`](crate::RouteKey) extension still comes first).
    pub fn key_header(mut self, name: http::HeaderName) -> Self {
        self.key = KeySource::Header(name);
        self
    }

    /// Takes the key from the request with a closure (`None`: no key),
    /// instead of the [`RouteKey`](crate::RouteKey) extension and header.
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
        let router = self.router;
        RingrouteService {
            shared: Arc::new(Shared {
                budget: self.retry.build_budget(),
                pool: Pool::new(self.factory, router.clone()),
                router,
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

    /// The node a keyed request would go to first: its key's primary, or
    /// with the router's [bounded loads](ringroute::router::RouterBuilder::bounded_loads)
    /// the first node of its failover order under its bound. `None` for a
    /// keyless request or when no node is up. No lease is taken.
    pub fn route(&self, req: &Request<Body>) -> Option<NodeIndex> {
        let shared = &self.shared;
        let first = |key: &[u8]| {
            shared
                .router
                .with_snapshot(|s| choose(&shared.router, s, key, &[]))
        };
        match &shared.key {
            KeySource::Header(name) => first(key::keyed(req.extensions(), req.headers(), name)?),
            KeySource::Fn(f) => first(&f(req)?[..]),
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

impl<S, T> RingrouteService<S, T>
where
    S: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// The routing decision of a call's first attempt, and its bookkeeping:
    /// the key read from the request, its node chosen (as
    /// [`route`](RingrouteService::route), or the picker's for a keyless
    /// request), a slot taken on the node's backend and a router lease
    /// started on it. The request counts as in flight on that backend until
    /// the returned guard is dropped (as abandoned: no outcome reported).
    /// A call does exactly this before it sends; nothing is sent here.
    pub fn begin(&self, req: &Request<Body>) -> Result<InFlight<T>, RouteError> {
        let shared = &self.shared;
        match &shared.key {
            KeySource::Header(name) => {
                let key = key::keyed(req.extensions(), req.headers(), name);
                shared.start(key, &[])
            }
            KeySource::Fn(f) => shared.start(f(req).as_deref(), &[]),
        }
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

/// `f`'s output, or `None` if `timer` (the request's deadline) fires
/// first; polled in that order, as `tokio::time::timeout` does.
async fn within<F: Future>(
    mut timer: Option<&mut Pin<Box<tokio::time::Sleep>>>,
    f: F,
) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(out) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match timer.as_mut().map(|t| t.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    })
    .await
}

/// The error of an attempt that outlived the request's deadline.
#[cold]
fn deadline_passed(backend: Arc<str>) -> BoxError {
    RouteError::new(
        ErrorKind::DeadlineExceeded,
        Some(backend),
        "the request's deadline passed",
    )
    .into()
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

/// The node an attempt for `key` goes to: the first node of the key's
/// failover order not `tried` yet, and with the router's bounded loads the
/// first such node under its bound (the first one if all are full, as
/// [`Router::lease`] falls back to the plain route).
#[inline(always)]
fn choose<T: Clone + Send + Sync + 'static>(
    router: &Router<T>,
    snapshot: &Snapshot<T>,
    key: &[u8],
    tried: &[NodeIndex],
) -> Option<NodeIndex> {
    match router.load_limits(snapshot) {
        None if tried.is_empty() => snapshot.route(key),
        None => snapshot.failover(key).find(|n| !tried.contains(n)),
        Some(limits) => {
            // The primary, found without walking, mostly has room.
            if tried.is_empty() {
                let primary = snapshot.route(key)?;
                if limits.has_room(primary) {
                    return Some(primary);
                }
            }
            let mut fallback = None;
            for node in snapshot.failover(key).filter(|n| !tried.contains(n)) {
                if limits.has_room(node) {
                    return Some(node);
                }
                fallback.get_or_insert(node);
            }
            fallback
        }
    }
}

/// Why the pool had no backend for a node of `snapshot`.
#[cold]
#[inline(never)]
fn missed<T>(snapshot: &Snapshot<T>, miss: Miss) -> RouteError {
    match miss {
        Miss::NotMember => no_node(snapshot),
        Miss::Factory { name, why } => RouteError::new(ErrorKind::Factory, Some(name), why),
    }
}

/// Why no node could be chosen in `snapshot`.
#[cold]
#[inline(never)]
fn no_node<T>(snapshot: &Snapshot<T>) -> RouteError {
    let members = snapshot.nodes().len();
    if members == 0 {
        RouteError::new(ErrorKind::NoBackends, None, "the router has no members")
    } else {
        let why = format!("none of the {members} members is up");
        RouteError::new(ErrorKind::AllDown, None, why)
    }
}

impl<S, T> Shared<S, T>
where
    S: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// Starts an attempt: `key`'s node (skipping the nodes `tried`), or the
    /// picker's for a keyless request (avoiding the last node tried).
    #[inline(always)]
    fn start(&self, key: Option<&[u8]>, tried: &[NodeIndex]) -> Result<InFlight<T>, RouteError> {
        match key {
            // The per-thread snapshot: no reference count touched.
            Some(key) => self.router.with_snapshot(|snapshot| {
                match choose(&self.router, snapshot, key, tried) {
                    Some(node) => self.start_on(snapshot, node),
                    None => Err(no_node(snapshot)),
                }
            }),
            None => self.start_keyless(tried.last().copied()),
        }
    }

    /// Takes a slot on `node`'s backend and starts a lease on it.
    #[inline(always)]
    fn start_on(&self, snapshot: &Snapshot<T>, node: NodeIndex) -> Result<InFlight<T>, RouteError> {
        let backend = self.acquire(snapshot, node)?;
        match self.router.start_on(snapshot, node) {
            Some(lease) => Ok(InFlight::new(node, lease.into_ticket(), backend)),
            None => {
                backend.release();
                Err(no_node(snapshot))
            }
        }
    }

    /// `node`'s backend, with a slot taken on it.
    #[inline(always)]
    fn acquire(
        &self,
        snapshot: &Snapshot<T>,
        node: NodeIndex,
    ) -> Result<Arc<Backend<S, T>>, RouteError> {
        let backend = match self.pool.lookup(snapshot, node) {
            Ok(b) => b,
            Err(miss) => return Err(missed(snapshot, miss)),
        };
        if !backend.try_acquire(self.max_in_flight) {
            return Err(self.overloaded(&backend));
        }
        Ok(backend)
    }

    #[cold]
    #[inline(never)]
    fn overloaded(&self, backend: &Backend<S, T>) -> RouteError {
        self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
        let why = format!("{} requests in flight, the maximum", self.max_in_flight);
        RouteError::new(ErrorKind::Overloaded, Some(Arc::clone(&backend.name)), why)
    }

    /// The picker's node for a keyless attempt. P2C may well pick the node
    /// that just failed (`last`): it picks again a few times (it is random)
    /// before accepting it.
    fn start_keyless(&self, last: Option<NodeIndex>) -> Result<InFlight<T>, RouteError> {
        let Some(mut ticket) = self.router.pick_ticket() else {
            return Err(no_node(&self.router.snapshot()));
        };
        for _ in 0..3 {
            if Some(ticket.node()) != last {
                break;
            }
            let Some(again) = self.router.pick_ticket() else {
                break;
            };
            self.router
                .finish(std::mem::replace(&mut ticket, again), Outcome::Abandoned);
        }
        let node = ticket.node();
        // At least as new as the snapshot the picker read.
        let snapshot = self.router.snapshot();
        match self.acquire(&snapshot, node) {
            Ok(backend) => Ok(InFlight::new(node, ticket, backend)),
            Err(e) => {
                self.router.finish(ticket, Outcome::Abandoned);
                Err(e)
            }
        }
    }

    /// Whether a failed attempt (the `attempt`-th, from 0) may be retried,
    /// budget aside.
    fn may_retry(
        &self,
        failure: &Failure<'_>,
        body: &Prepared,
        attempt: usize,
        deadline: Option<Instant>,
    ) -> bool {
        attempt + 1 < self.retry.max_attempts
            && (self.retry.predicate)(failure)
            && body.replayable()
            && deadline.is_none_or(|d| Instant::now() < d)
    }

    /// The next attempt after a failure the retry rules allow: `None` when
    /// no node is left or the budget refuses (the failure stands), an error
    /// when the next node cannot take it (overloaded, no service).
    fn retry(
        &self,
        key: Option<&[u8]>,
        tried: &[NodeIndex],
    ) -> Option<Result<InFlight<T>, RouteError>> {
        match self.start(key, tried) {
            Ok(next) => {
                if self.budget.withdraw() {
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    Some(Ok(next))
                } else {
                    self.counters.budget_refused.fetch_add(1, Ordering::Relaxed);
                    // Dropped: the lease ends unreported.
                    None
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::NoBackends | ErrorKind::AllDown) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl<S, T> Shared<S, T>
where
    S: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// A call: what needs no waiting is done at once (counters, deadline,
    /// key), the rest in the returned future. The future captures the
    /// request's parts and body where they are used: an `async fn` would
    /// store its arguments and the locals moved out of them side by side,
    /// and every call boxes this future.
    fn serve<B>(
        self: Arc<Self>,
        req: Request<Body>,
    ) -> impl Future<Output = Result<Response<ResponseBody<B, T>>, BoxError>> + use<B, S, T>
    where
        S: Service<Request<Body>, Response = Response<B>>,
        S::Future: Send,
        S::Error: Into<BoxError>,
    {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.budget.deposit();
        let deadline = grpc_timeout(req.headers()).map(|d| Instant::now() + d);
        // A closure's key is taken before the body is; a header's is read
        // (borrowed) from the parts kept for the attempts. A `RouteKey` is
        // kept here rather than in the extensions, which every attempt
        // clones: one allocation and one free less per call.
        let fn_key: Option<Bytes> = match &self.key {
            KeySource::Fn(f) => f(&req),
            KeySource::Header(_) => None,
        };
        let (mut parts, body) = req.into_parts();
        let owned_key: Option<Bytes> = match &self.key {
            KeySource::Header(_) if !parts.extensions.is_empty() => {
                let key = parts.extensions.remove::<RouteKey>();
                if parts.extensions.is_empty() {
                    // An empty map is still a box to clone.
                    parts.extensions = http::Extensions::new();
                }
                key.map(RouteKey::into_bytes)
            }
            KeySource::Header(_) => None,
            KeySource::Fn(_) => fn_key,
        };
        async move {
            let body = Prepared::read(body, self.replay_limit)
                .await
                .map_err(|s| RouteError::new(ErrorKind::RequestBody, None, s.message()))?;
            let key: Option<&[u8]> = match (&self.key, &owned_key) {
                (_, Some(k)) => Some(k),
                (KeySource::Header(name), None) => {
                    key::header(&parts.headers, name).map(|v| v.as_bytes())
                }
                (KeySource::Fn(_), None) => None,
            };

            // The nodes tried so far: allocated only when a retry comes.
            let mut tried: Vec<NodeIndex> = Vec::new();
            let mut guard = self.start(key, &tried)?;
            let mut attempt = 0;
            // One timer for the whole call, boxed: it is large, and every
            // call's future (boxed once per call) is as large as its largest
            // await.
            let mut timer = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
            loop {
                let name = Arc::clone(guard.backend_name());
                let backend = guard
                    .backend_of::<S>()
                    .expect("guards of this service hold its own backends");
                // The request is made once the backend is ready, so that no
                // await holds it (the same reason as the timer's box).
                let mut service = backend.checkout();
                let ready = std::future::poll_fn(|cx| service.poll_ready(cx));
                let ready: Option<Result<(), BoxError>> = within(timer.as_mut(), ready)
                    .await
                    .map(|r| r.map_err(Into::into));
                let result = match ready {
                    None => {
                        guard.finish(None);
                        return Err(deadline_passed(name));
                    }
                    Some(Err(e)) => Err(e),
                    Some(Ok(())) => {
                        let mut request = Request::from_parts(parts.clone(), body.attempt());
                        if let Some(d) = deadline {
                            let left = d.saturating_duration_since(Instant::now());
                            request
                                .headers_mut()
                                .insert(GRPC_TIMEOUT.clone(), timeout_value(left));
                        }
                        let response = service.call(request);
                        // The response future owns what it needs.
                        backend.checkin(service);
                        match within(timer.as_mut(), response).await {
                            Some(r) => r.map_err(Into::into),
                            None => {
                                guard.finish(None);
                                return Err(deadline_passed(name));
                            }
                        }
                    }
                };
                let (failure, error) = match result {
                    Ok(response) => match early_status(&response) {
                        None => return Ok(response.map(|b| ResponseBody::new(b, Some(guard)))),
                        // A trailers-only error: nothing of the answer was read.
                        Some(code) => {
                            guard.finish(Some(code));
                            let failure = Failure::Status(Code::from(code));
                            if !self.may_retry(&failure, &body, attempt, deadline) {
                                return Ok(response.map(|b| ResponseBody::new(b, None)));
                            }
                            tried.push(guard.node());
                            match self.retry(key, &tried) {
                                Some(next) => {
                                    guard = next?;
                                    attempt += 1;
                                    continue;
                                }
                                None => return Ok(response.map(|b| ResponseBody::new(b, None))),
                            }
                        }
                    },
                    Err(e) => {
                        guard.finish(None);
                        let error = RouteError::new(ErrorKind::Backend, Some(name), chain(&*e));
                        (e, error)
                    }
                };
                if !self.may_retry(&Failure::Transport(&*failure), &body, attempt, deadline) {
                    return Err(error.into());
                }
                tried.push(guard.node());
                match self.retry(key, &tried) {
                    Some(next) => {
                        guard = next?;
                        attempt += 1;
                    }
                    None => return Err(error.into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call boxes its future. glibc serves blocks up to 1,032 bytes
    /// from a per-thread cache; larger ones take an arena lock, which the
    /// runtime's threads then contend for (the future was 1,672 bytes).
    #[test]
    fn a_calls_future_fits_the_allocators_thread_cache() {
        let router: Router = Router::builder().node("127.0.0.1:1", 1.0).build().unwrap();
        let service = RingrouteService::builder(router, crate::lazy_channel).build();
        let request = Request::builder()
            .header(key::DEFAULT_KEY_HEADER, "user:1")
            .body(Body::empty())
            .unwrap();
        let future = Arc::clone(&service.shared).serve(request);
        let size = std::mem::size_of_val(&future);
        assert!(size <= 1000, "a call's future is {size} bytes");
    }
}
