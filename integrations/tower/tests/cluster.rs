//! Real tonic servers on loopback: stickiness, failover with replay, restart,
//! joins and active health checking.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{GetRequest, Log, Routed, call, get, keys, routed, servers};
use ringroute::health::PhiConfig;
use ringroute::router::{NodeHealth, Router};
use ringroute_tower::{HealthChecker, HealthConfig, RouteKey};

const KEYS: usize = 200;

/// Which server answered each key (every request must succeed); 16
/// requests in flight at a time.
async fn answers(service: &Routed, keys: &[String]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(16) {
        let mut calls = tokio::task::JoinSet::new();
        for (i, key) in chunk.iter().enumerate() {
            let (service, key) = (service.clone(), key.clone());
            calls.spawn(async move {
                let reply = get(&service, Some(&key), i as u64)
                    .await
                    .unwrap_or_else(|s| panic!("request for {key} failed: {s}"));
                assert_eq!(reply.key, key);
                (key, reply.server)
            });
        }
        while let Some(done) = calls.join_next().await {
            let (key, server) = done.unwrap();
            out.insert(key, server);
        }
    }
    out
}

fn name_of(router: &Router, key: &str) -> String {
    let snapshot = router.snapshot();
    let node = snapshot.route(key).expect("a node is up");
    snapshot.node(node).unwrap().name_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_stick_fail_over_come_back_and_move_only_to_a_new_node() {
    let log = Log::default();
    let mut servers = servers(4, &log).await;
    let router: Router = Router::builder()
        // Passive ejection would hold a restarted server out for 30 s.
        .no_outlier_detection()
        .node(&servers[0].name(), 1.0)
        .node(&servers[1].name(), 1.0)
        .node(&servers[2].name(), 1.0)
        .build()
        .unwrap();
    let service = routed(&router);
    let keys = keys(KEYS);

    // Each key's requests all land on one server: the router's choice.
    let before = answers(&service, &keys).await;
    let again = answers(&service, &keys).await;
    assert_eq!(before, again);
    for key in &keys {
        assert_eq!(before[key], name_of(&router, key), "{key}");
    }
    let mut per_server: HashMap<&str, usize> = HashMap::new();
    for s in before.values() {
        *per_server.entry(s).or_default() += 1;
    }
    assert_eq!(
        per_server.len(),
        3,
        "every server gets keys: {per_server:?}"
    );

    // One server shut down: every request still succeeds via the key's
    // next replica, and only that server's keys move.
    let down = servers[0].name();
    let next_replica: HashMap<&String, String> = {
        let snapshot = router.snapshot();
        keys.iter()
            .map(|k| {
                let second = snapshot.failover(k).nth(1).unwrap();
                (k, snapshot.node(second).unwrap().name_lossy().into_owned())
            })
            .collect()
    };
    servers[0].stop().await;
    let during = answers(&service, &keys).await;
    let mut moved = 0;
    for key in &keys {
        if before[key] == down {
            moved += 1;
            assert_eq!(
                during[key], next_replica[key],
                "{key} went to its next replica"
            );
        } else {
            assert_eq!(
                during[key], before[key],
                "{key} did not belong to {down} but moved"
            );
        }
    }
    assert!(moved > 0);
    assert!(service.stats().retries >= moved as u64);

    // Restarted on the same address: its keys come back (once the lazy
    // channel has reconnected; a request on the broken connection may fail
    // over once more).
    servers[0].restart().await;
    let probe = keys.iter().find(|k| before[*k] == down).unwrap();
    let mut back = false;
    for i in 0..20 {
        if get(&service, Some(probe), i).await.unwrap().server == down {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back, "{down} never answered again");
    assert_eq!(answers(&service, &keys).await, before);

    // A node joins: only the keys the ring now gives it move, and they
    // move to it.
    let joined = servers[3].name();
    router.add(&joined, 1.0).unwrap();
    let after = answers(&service, &keys).await;
    let mut gained = 0;
    for key in &keys {
        let now = name_of(&router, key);
        assert_eq!(after[key], now);
        if after[key] != before[key] {
            assert_eq!(
                after[key], joined,
                "{key} moved elsewhere than the new node"
            );
            gained += 1;
        }
    }
    assert!(
        gained > 0 && gained < KEYS / 2,
        "the new node got {gained} keys"
    );

    // A node that leaves has its channel dropped at the next request.
    router.remove(&joined).unwrap();
    get(&service, Some("user:0"), 0).await.unwrap();
    assert!(!service.backends().iter().any(|b| **b == *joined));
    for mut s in servers {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checking_takes_a_silent_server_out_before_a_request_fails() {
    let log = Log::default();
    let mut servers = servers(3, &log).await;
    let router: Router = Router::builder()
        .node(&servers[0].name(), 1.0)
        .node(&servers[1].name(), 1.0)
        .node(&servers[2].name(), 1.0)
        .build()
        .unwrap();
    let service = routed(&router);
    let checker = HealthChecker::spawn(
        &service,
        HealthConfig::default()
            .interval(Duration::from_millis(20))
            .timeout(Duration::from_millis(250))
            .unhealthy_after(2),
    );
    let keys = keys(KEYS);
    let before = answers(&service, &keys).await;

    // The server stops answering its health checks (it is going away):
    // the checker marks it down, and only then does it die.
    let silent = servers[1].name();
    servers[1]
        .state
        .health_hangs
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while router.health(&silent) != Some(NodeHealth::Down) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{silent} never marked down"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    servers[1].stop().await;
    let retries = service.stats().retries;
    let during = answers(&service, &keys).await;
    assert_eq!(
        service.stats().retries,
        retries,
        "no request failed on {silent}"
    );
    let snapshot = router.snapshot();
    let node = snapshot.index_of(&silent).unwrap();
    assert_eq!(snapshot.stats(node).unwrap().failures(), 0);
    for key in &keys {
        if before[key] != silent {
            assert_eq!(during[key], before[key]);
        } else {
            assert_ne!(during[key], silent);
        }
    }

    // Back and answering: the checker marks it up and its keys return.
    servers[1]
        .state
        .health_hangs
        .store(false, std::sync::atomic::Ordering::Relaxed);
    servers[1].restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while router.health(&silent) != Some(NodeHealth::Up) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{silent} never marked up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(answers(&service, &keys).await, before);
    drop(checker);
    for mut s in servers {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_feed_the_phi_accrual_detector() {
    let log = Log::default();
    let servers = servers(3, &log).await;
    let router: Router = Router::builder()
        .phi_accrual(PhiConfig {
            threshold: 5.0,
            min_std_dev: Duration::from_millis(50),
            first_heartbeat_estimate: Duration::from_millis(20),
            ..PhiConfig::default()
        })
        .node(&servers[0].name(), 1.0)
        .node(&servers[1].name(), 1.0)
        .node(&servers[2].name(), 1.0)
        .build()
        .unwrap();
    let service = routed(&router);
    // Checks never count as failed here: only heartbeats speak.
    let _checker = HealthChecker::spawn(
        &service,
        HealthConfig::default()
            .interval(Duration::from_millis(20))
            .timeout(Duration::from_millis(300))
            .unhealthy_after(u32::MAX),
    );
    let silent = servers[2].name();
    let wait_for = |want: NodeHealth| {
        let (router, silent) = (router.clone(), silent.clone());
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while router.health(&silent) != Some(want) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{silent} never {want:?}"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    // A few regular heartbeats first, then silence.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(router.health(&silent), Some(NodeHealth::Up));
    let its_key = keys(KEYS)
        .into_iter()
        .find(|k| name_of(&router, k) == silent)
        .unwrap();
    assert_eq!(
        get(&service, Some(&its_key), 0).await.unwrap().server,
        silent
    );
    servers[2]
        .state
        .health_hangs
        .store(true, std::sync::atomic::Ordering::Relaxed);
    wait_for(NodeHealth::Unreachable).await;
    // Unreachable: out of every lookup, so its keys are served elsewhere.
    assert_eq!(router.snapshot().up_count(), 2);
    assert_ne!(
        get(&service, Some(&its_key), 1).await.unwrap().server,
        silent
    );
    servers[2]
        .state
        .health_hangs
        .store(false, std::sync::atomic::Ordering::Relaxed);
    wait_for(NodeHealth::Up).await;
    for mut s in servers {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_requests_spread_over_the_picker_and_fail_over() {
    let log = Log::default();
    let servers = servers(3, &log).await;
    let router: Router = Router::builder()
        // Ejection would hide the refusing server below: retries must.
        .no_outlier_detection()
        .node(&servers[0].name(), 1.0)
        .node(&servers[1].name(), 1.0)
        .node(&servers[2].name(), 1.0)
        .build()
        .unwrap();
    let service = Arc::new(routed(&router));
    let mut tasks = Vec::new();
    for id in 0..300u64 {
        let service = Arc::clone(&service);
        tasks.push(tokio::spawn(async move { get(&service, None, id).await }));
    }
    let mut per_server: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        *per_server
            .entry(t.await.unwrap().unwrap().server)
            .or_default() += 1;
    }
    assert_eq!(per_server.len(), 3, "{per_server:?}");

    // One server refuses (UNAVAILABLE): a keyless retry goes to another
    // pick, avoiding the node that just failed (P2C is random: a request
    // fails only if every attempt lands on the refusing server, about 1 in
    // 20,000).
    let refusing = servers[0].name();
    servers[0]
        .state
        .mode
        .store(common::UNAVAILABLE, std::sync::atomic::Ordering::Relaxed);
    let mut ok = 0;
    for id in 0..200u64 {
        if let Ok(reply) = get(&service, None, 1000 + id).await {
            assert_ne!(reply.server, refusing);
            ok += 1;
        }
    }
    assert!(ok >= 198, "{ok} of 200 keyless requests succeeded");
    assert!(service.stats().retries > 20, "{:?}", service.stats());
    for mut s in servers {
        s.stop().await;
    }
}

/// A request keyed by a `RouteKey` extension, and with a key header too
/// when `header` is given.
fn keyed_request(key: &str, header: Option<&str>) -> tonic::Request<GetRequest> {
    let mut req = tonic::Request::new(GetRequest {
        key: key.to_string(),
        id: 0,
    });
    req.extensions_mut().insert(RouteKey::new(key.to_string()));
    if let Some(h) = header {
        req.metadata_mut()
            .insert("x-ringroute-key", h.parse().unwrap());
    }
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_key_extension_routes_before_the_header_and_fails_over() {
    let log = Log::default();
    let mut servers = servers(3, &log).await;
    let router: Router = servers
        .iter()
        .fold(Router::builder().no_outlier_detection(), |b, s| {
            b.node(&s.name(), 1.0)
        })
        .build()
        .unwrap();
    let service = routed(&router);
    let keys = keys(60);
    for (i, key) in keys.iter().enumerate() {
        let reply = call(&service, keyed_request(key, None)).await.unwrap();
        assert_eq!(reply.server, name_of(&router, key), "{key}");
        // A header naming a key with another primary loses to the extension.
        let other = (0..)
            .map(|j| format!("other:{i}:{j}"))
            .find(|o| name_of(&router, o) != name_of(&router, key))
            .unwrap();
        let reply = call(&service, keyed_request(key, Some(&other)))
            .await
            .unwrap();
        assert_eq!(reply.server, name_of(&router, key), "{key} with {other}");
    }

    // The key is kept for the retries: a stopped primary's keys go to their
    // next replica.
    let down = servers[0].name();
    let snapshot = router.snapshot();
    let mut moved = 0;
    servers[0].stop().await;
    for key in &keys {
        let reply = call(&service, keyed_request(key, None)).await.unwrap();
        if name_of(&router, key) == down {
            moved += 1;
            let second = snapshot.failover(key).nth(1).unwrap();
            assert_eq!(
                reply.server,
                snapshot.node(second).unwrap().name_lossy(),
                "{key}"
            );
        } else {
            assert_eq!(reply.server, name_of(&router, key), "{key}");
        }
    }
    assert!(moved > 0);
    for s in &mut servers[1..] {
        s.stop().await;
    }
}
