//! Plain tower services as backends (no network): a backend that is never
//! ready holds up only its own keys, deadlines bound waits and retries, and
//! HTTP-level errors count as failures.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use ringroute::router::Router;
use ringroute_tower::{BoxError, ErrorKind, RingrouteService, RouteError};
use tonic::body::Body;
use tower::{Service, ServiceExt};

/// A backend: `Stuck` is never ready, `Slow` answers 503 after 100 ms,
/// `Ok` answers 200 with its name in a header at once.
#[derive(Clone)]
enum Fake {
    Stuck,
    Slow(Arc<AtomicU32>),
    Ok(&'static str, Arc<AtomicU32>),
}

impl Service<http::Request<Body>> for Fake {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self {
            Fake::Stuck => Poll::Pending,
            _ => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, _: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let mut response = http::Response::new(Body::empty());
            match this {
                Fake::Stuck => unreachable!("never ready"),
                Fake::Slow(calls) => {
                    calls.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                }
                Fake::Ok(name, calls) => {
                    calls.fetch_add(1, Ordering::Relaxed);
                    response
                        .headers_mut()
                        .insert("x-served-by", name.parse().unwrap());
                    response
                        .headers_mut()
                        .insert("grpc-status", "0".parse().unwrap());
                }
            }
            Ok(response)
        })
    }
}

fn request(key: &str, timeout: Option<&str>) -> http::Request<Body> {
    let mut b = http::Request::builder()
        .uri("/kv.Kv/Get")
        .header("x-ringroute-key", key);
    if let Some(t) = timeout {
        b = b.header("grpc-timeout", t);
    }
    b.body(Body::empty()).unwrap()
}

fn key_on(router: &Router, node: &str) -> String {
    let snapshot = router.snapshot();
    let n = snapshot.index_of(node).unwrap();
    (0..)
        .map(|i| format!("user:{i}"))
        .find(|k| snapshot.route(k) == Some(n))
        .unwrap()
}

fn route_error(err: BoxError) -> RouteError {
    *err.downcast::<RouteError>().expect("a RouteError")
}

#[tokio::test]
async fn a_backend_never_ready_holds_up_only_its_own_keys() {
    let router: Router = Router::builder()
        .no_outlier_detection()
        .node("stuck", 1.0)
        .node("good", 1.0)
        .build()
        .unwrap();
    let served = Arc::new(AtomicU32::new(0));
    let s = Arc::clone(&served);
    let service = RingrouteService::builder(router.clone(), move |name| {
        Ok(match name {
            "stuck" => Fake::Stuck,
            _ => Fake::Ok("good", Arc::clone(&s)),
        })
    })
    .build();

    // A request bound for the stuck backend waits (here: forever).
    let waiting = tokio::spawn(
        service
            .clone()
            .oneshot(request(&key_on(&router, "stuck"), None)),
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Requests for the other backend go through meanwhile.
    for _ in 0..50 {
        let response = service
            .clone()
            .oneshot(request(&key_on(&router, "good"), None))
            .await
            .unwrap();
        assert_eq!(response.headers()["x-served-by"], "good");
    }
    assert_eq!(served.load(Ordering::Relaxed), 50);
    assert!(!waiting.is_finished());

    // With a deadline, the wait ends with an error naming the backend.
    let err = service
        .clone()
        .oneshot(request(&key_on(&router, "stuck"), Some("30m")))
        .await
        .unwrap_err();
    let err = route_error(err);
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(err.backend(), Some("stuck"));
    waiting.abort();
    let snapshot = router.snapshot();
    let stuck = snapshot.index_of("stuck").unwrap();
    // The aborted request released its lease.
    tokio::task::yield_now().await;
    assert_eq!(snapshot.stats(stuck).unwrap().in_flight(), 0);
}

#[tokio::test]
async fn retries_stop_at_the_deadline_and_http_errors_count_as_failures() {
    let router: Router = Router::builder()
        .no_outlier_detection()
        .node("slow", 1.0)
        .node("good", 1.0)
        .build()
        .unwrap();
    let (slow_calls, good_calls) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (s, g) = (Arc::clone(&slow_calls), Arc::clone(&good_calls));
    let service = RingrouteService::builder(router.clone(), move |name| {
        Ok(match name {
            "slow" => Fake::Slow(Arc::clone(&s)),
            _ => Fake::Ok("good", Arc::clone(&g)),
        })
    })
    .build();
    let key = key_on(&router, "slow");

    // No deadline: the 503 is UNAVAILABLE, retried on the next replica.
    let response = service.clone().oneshot(request(&key, None)).await.unwrap();
    assert_eq!(response.headers()["x-served-by"], "good");
    assert_eq!(service.stats().retries, 1);
    let snapshot = router.snapshot();
    let slow = snapshot.index_of("slow").unwrap();
    assert_eq!(snapshot.stats(slow).unwrap().failures(), 1);

    // A 50 ms deadline passes during the first attempt: no retry.
    let err = service
        .clone()
        .oneshot(request(&key, Some("50m")))
        .await
        .unwrap_err();
    assert_eq!(route_error(err).kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(service.stats().retries, 1);
    assert_eq!(good_calls.load(Ordering::Relaxed), 1);
    assert_eq!(slow_calls.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_key_from_a_closure() {
    let router: Router = Router::builder()
        .node("a", 1.0)
        .node("b", 1.0)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let service = RingrouteService::builder(router.clone(), move |name| {
        Ok(Fake::Ok(
            if name == "a" { "a" } else { "b" },
            Arc::clone(&c),
        ))
    })
    .key_fn(|req| {
        // The last path segment of the URI is the key.
        let path = req.uri().path();
        Some(bytes::Bytes::copy_from_slice(
            path.rsplit('/').next()?.as_bytes(),
        ))
    })
    .build();
    for key in ["k1", "k2", "k3", "k4", "k5"] {
        let req = http::Request::builder()
            .uri(format!("/items/{key}"))
            .body(Body::empty())
            .unwrap();
        let expected = router.snapshot().route(key).unwrap();
        assert_eq!(service.route(&req), Some(expected));
        let response = service.clone().oneshot(req).await.unwrap();
        let name = router
            .snapshot()
            .node(expected)
            .unwrap()
            .name_lossy()
            .into_owned();
        assert_eq!(response.headers()["x-served-by"], name.as_str());
    }
}

#[tokio::test]
async fn a_discover_stream_drives_membership_and_services() {
    use ringroute_tower::discover::Discovered;
    use tower::discover::Change;

    let router: Router = Router::builder().build().unwrap();
    let discovered = Discovered::new();
    let service = RingrouteService::builder(router.clone(), discovered.factory()).build();
    let calls = Arc::new(AtomicU32::new(0));
    let changes = tokio_stream::iter([
        Ok::<_, Infallible>(Change::Insert("a", Fake::Ok("a", Arc::clone(&calls)))),
        Ok(Change::Insert("b", Fake::Ok("b", Arc::clone(&calls)))),
        Ok(Change::Insert("c", Fake::Ok("c", Arc::clone(&calls)))),
        Ok(Change::Remove("b")),
    ]);
    discovered.run(router.clone(), changes).await.unwrap();
    let snapshot = router.snapshot();
    let names: Vec<String> = snapshot
        .nodes()
        .iter()
        .map(|(_, n)| n.name_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"a".to_string()) && names.contains(&"c".to_string()));
    // Every key is served by the discovered service of its node.
    for i in 0..20 {
        let key = format!("user:{i}");
        let node = snapshot.route(&key).unwrap();
        let name = snapshot.node(node).unwrap().name_lossy().into_owned();
        let response = service.clone().oneshot(request(&key, None)).await.unwrap();
        assert_eq!(response.headers()["x-served-by"], name.as_str());
    }
    assert_eq!(calls.load(Ordering::Relaxed), 20);
}
