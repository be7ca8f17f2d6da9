//! Many requests in flight while membership changes; the retry budget when
//! every backend fails; overload, empty and all-down errors.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Log, Routed, SLOW, UNAVAILABLE, get, routed, servers};
use ringroute::router::Router;
use ringroute_tower::{ErrorKind, RetryConfig, RingrouteService, RouteError, lazy_channel};
use tonic::Code;

const PER_CLIENT: u64 = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_with_a_thousand_requests_each_while_membership_changes() {
    let log = Log::default();
    let mut servers = servers(4, &log).await;
    let router: Router = Router::builder()
        .node(&servers[0].name(), 1.0)
        .node(&servers[1].name(), 1.0)
        .node(&servers[2].name(), 1.0)
        .build()
        .unwrap();
    // Two clients: two services (own backends, own budgets) on one router.
    let clients: Vec<Routed> = (0..2).map(|_| routed(&router)).collect();

    let mut calls = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for i in 0..PER_CLIENT {
            let id = c as u64 * PER_CLIENT + i;
            let client = client.clone();
            calls.push(tokio::spawn(async move {
                let key = format!("user:{}", id % 257);
                // Every third request is keyless (the picker's).
                let key = (!id.is_multiple_of(3)).then_some(key);
                (id, get(&client, key.as_deref(), id).await)
            }));
        }
    }
    // Membership changes while those are in flight: a join, a manual
    // down/up, a leave (of a server that keeps serving what it has).
    let churn = {
        let router = router.clone();
        let (joining, leaving, flapping) =
            (servers[3].name(), servers[2].name(), servers[0].name());
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            router.add(&joining, 1.0).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            router.mark_down(&flapping).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            router.remove(&leaving).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            router.mark_up(&flapping).unwrap();
        })
    };

    let mut answered = HashSet::new();
    for call in calls {
        let (id, reply) = call.await.unwrap();
        let reply = reply.unwrap_or_else(|s| panic!("request {id} failed: {s}"));
        assert_eq!(reply.id, id);
        assert!(answered.insert(id), "request {id} answered twice");
    }
    churn.await.unwrap();
    assert_eq!(answered.len(), 2 * PER_CLIENT as usize, "requests lost");
    // Each request ran exactly once on exactly one server.
    {
        let log = log.lock();
        assert_eq!(log.len(), 2 * PER_CLIENT as usize);
        assert!(log.values().all(|&n| n == 1), "a request ran twice");
    }

    // Nothing is left in flight: not in the services, not in the router.
    for client in &clients {
        assert!(
            client.in_flight().iter().all(|(_, n)| *n == 0),
            "{:?}",
            client.in_flight()
        );
        assert_eq!(client.stats().requests, PER_CLIENT);
    }
    let snapshot = router.snapshot();
    for (node, _) in snapshot.nodes().iter() {
        assert_eq!(snapshot.stats(node).unwrap().in_flight(), 0);
    }
    for s in &mut servers {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_budget_holds_when_every_backend_fails() {
    const REQUESTS: u64 = 400;
    let log = Log::default();
    let mut servers = servers(3, &log).await;
    for s in &servers {
        s.state.mode.store(UNAVAILABLE, Ordering::Relaxed);
    }
    let router: Router = Router::builder()
        .no_outlier_detection()
        .node(&servers[0].name(), 1.0)
        .node(&servers[1].name(), 1.0)
        .node(&servers[2].name(), 1.0)
        .build()
        .unwrap();
    // At most 10 % of the requests may be retried, no minimum.
    let service = RingrouteService::builder(router.clone(), lazy_channel)
        .retry(
            RetryConfig::default()
                .max_attempts(3)
                .budget(Duration::from_secs(10), 0, 0.1),
        )
        .build();
    let service = Arc::new(service);
    let mut calls = Vec::new();
    for id in 0..REQUESTS {
        let service = Arc::clone(&service);
        calls.push(tokio::spawn(async move {
            get(&service, Some(&format!("user:{id}")), id).await
        }));
    }
    for call in calls {
        let status = call.await.unwrap().unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
    }
    let stats = service.stats();
    let hits: u64 = servers.iter().map(|s| s.hits()).sum();
    assert_eq!(
        hits,
        REQUESTS + stats.retries,
        "every attempt reached a server"
    );
    assert!(stats.retries <= REQUESTS / 10, "{stats:?}");
    assert!(
        stats.retries >= REQUESTS / 20,
        "the budget was used: {stats:?}"
    );
    assert!(stats.budget_refused > 0);
    assert!(service.in_flight().iter().all(|(_, n)| *n == 0));
    for s in &mut servers {
        s.stop().await;
    }
}

fn route_error(status: &tonic::Status) -> String {
    status.message().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_fails_fast_and_names_the_backend() {
    let log = Log::default();
    let mut servers = servers(1, &log).await;
    servers[0].state.mode.store(SLOW, Ordering::Relaxed);
    let router: Router = Router::builder()
        .node(&servers[0].name(), 1.0)
        .build()
        .unwrap();
    let service = RingrouteService::builder(router, lazy_channel)
        .max_in_flight(1)
        .build();
    let first = {
        let service = service.clone();
        tokio::spawn(async move { get(&service, Some("a"), 1).await })
    };
    // Wait until the first request is in flight on the backend.
    while service.in_flight().iter().all(|(_, n)| *n == 0) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let started = tokio::time::Instant::now();
    let status = get(&service, Some("a"), 2).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(200), "not fast");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        route_error(&status).contains(&servers[0].name()),
        "{status}"
    );
    assert!(route_error(&status).contains("in flight"), "{status}");
    first.await.unwrap().unwrap();
    assert_eq!(service.stats().overloaded, 1);
    servers[0].stop().await;
}

#[tokio::test]
async fn empty_and_all_down_memberships_fail_at_once() {
    let router: Router = Router::builder().build().unwrap();
    let service: Routed = RingrouteService::builder(router.clone(), lazy_channel).build();
    let status = get(&service, Some("a"), 1).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("no members"), "{status}");

    router.add("127.0.0.1:1", 1.0).unwrap();
    router.mark_down("127.0.0.1:1").unwrap();
    for key in [Some("a"), None] {
        let status = get(&service, key, 1).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status.message().contains("none of the 1 members is up"),
            "{status}"
        );
    }

    // The same error reaches a plain tower caller as a RouteError.
    use tower::ServiceExt;
    let request = http::Request::builder()
        .uri("/kv.Kv/Get")
        .header("x-ringroute-key", "a")
        .body(tonic::body::Body::empty())
        .unwrap();
    let err = service.clone().oneshot(request).await.unwrap_err();
    let err = err.downcast::<RouteError>().unwrap();
    assert_eq!(err.kind(), ErrorKind::AllDown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_errors_name_the_backend_and_large_unsent_bodies_fail_over() {
    // A port with nothing listening: bind one, note it, close it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let router: Router = Router::builder()
        .no_outlier_detection()
        .node(&closed, 1.0)
        .build()
        .unwrap();
    let service: Routed = RingrouteService::builder(router.clone(), lazy_channel).build();
    let status = get(&service, Some("a"), 1).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains(&closed), "{status}");

    // With a live replica, a body larger than the replay limit still fails
    // over: the dead backend refused the connection before reading it.
    let log = Log::default();
    let mut live = servers(1, &log).await;
    router.add(&live[0].name(), 1.0).unwrap();
    let service: Routed = RingrouteService::builder(router.clone(), lazy_channel)
        .replay_limit(4)
        .build();
    let snapshot = router.snapshot();
    let dead = snapshot.index_of(&closed).unwrap();
    let key = (0..)
        .map(|i| format!("user:{i}"))
        .find(|k| snapshot.route(k) == Some(dead))
        .unwrap();
    let reply = get(&service, Some(&key), 7).await.unwrap();
    assert_eq!(reply.server, live[0].name());
    assert_eq!(service.stats().retries, 1);
    live[0].stop().await;
}
