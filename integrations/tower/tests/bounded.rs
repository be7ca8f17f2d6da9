//! Bounded loads for keyed requests, on real tonic servers: a hot key set
//! spills over its replicas under the router's bound, and without bounded
//! loads every request of a key stays on its primary; failover follows the
//! key's order; under concurrency and churn nothing is lost or left in
//! flight.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{HOLD, Log, Routed, Server, UNAVAILABLE, get, routed, servers};
use ringroute::NodeIndex;
use ringroute::router::Router;
use ringroute_tower::{RetryConfig, RingrouteService, lazy_channel};

/// Requests held in flight at once.
const M: u64 = 40;
const C: f64 = 1.25;
/// Server weights: one heavier node, so the bound's `w / W` shows.
const WEIGHTS: [f64; 4] = [1.0, 1.0, 2.0, 1.0];

fn router(servers: &[Server], bounded: bool) -> Router {
    let builder = servers
        .iter()
        .zip(WEIGHTS)
        .fold(Router::builder().no_outlier_detection(), |b, (s, w)| {
            b.node(&s.name(), w)
        });
    let builder = if bounded {
        builder.bounded_loads(C)
    } else {
        builder
    };
    builder.build().unwrap()
}

/// Three keys with the same primary: a hot key set on one node.
fn hot_keys(router: &Router) -> (NodeIndex, Vec<String>) {
    let snapshot = router.snapshot();
    let primary = snapshot.route("hot:0").unwrap();
    let keys: Vec<String> = (0..)
        .map(|i| format!("hot:{i}"))
        .filter(|k| snapshot.route(k) == Some(primary))
        .take(3)
        .collect();
    (primary, keys)
}

/// The server of `node`.
fn server<'a>(servers: &'a [Server], router: &Router, node: NodeIndex) -> &'a Server {
    let snapshot = router.snapshot();
    let name = snapshot.node(node).unwrap().name();
    servers
        .iter()
        .find(|s| s.name().as_bytes() == name)
        .unwrap()
}

/// The weight of `node`.
fn weight(router: &Router, node: NodeIndex) -> f64 {
    router.snapshot().node(node).unwrap().weight()
}

/// Requests in flight per node, as the router counts them.
fn leases(router: &Router) -> Vec<(NodeIndex, u32)> {
    let snapshot = router.snapshot();
    snapshot
        .nodes()
        .iter()
        .map(|(n, _)| (n, snapshot.stats(n).unwrap().in_flight()))
        .collect()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Sends `M` requests over the hot keys one after the other, each held by
/// its server, and returns the node each one's lease went to. Before each,
/// `expect` says where it should go given the leases held so far.
async fn place(
    service: &Routed,
    router: &Router,
    keys: &[String],
    mut expect: impl FnMut(&str) -> Option<NodeIndex>,
) -> (Vec<tokio::task::JoinHandle<()>>, HashMap<NodeIndex, u64>) {
    let mut calls = Vec::new();
    let mut placed = HashMap::new();
    for i in 0..M {
        let key = keys[i as usize % keys.len()].clone();
        let expected = expect(&key);
        let before = leases(router);
        let service = service.clone();
        calls.push(tokio::spawn(async move {
            get(&service, Some(&key), i).await.unwrap();
        }));
        // The decision is made once the call starts: its lease shows.
        wait_for("the lease of the next request", || {
            leases(router).iter().map(|(_, n)| *n as u64).sum::<u64>() == i + 1
        })
        .await;
        let after = leases(router);
        let node = after
            .iter()
            .zip(&before)
            .find(|(a, b)| a.1 > b.1)
            .map(|(a, _)| a.0)
            .unwrap();
        assert_eq!(Some(node), expected, "request {i}");
        *placed.entry(node).or_insert(0) += 1;
    }
    (calls, placed)
}

#[tokio::test]
async fn a_hot_key_set_spills_over_its_replicas_within_the_bound() {
    let log = Log::default();
    let mut servers = servers(4, &log).await;
    for s in &servers {
        s.state.mode.store(HOLD, Ordering::Relaxed);
    }
    let router = router(&servers, true);
    let service: Routed = RingrouteService::builder(router.clone(), lazy_channel).build();
    let (primary, keys) = hot_keys(&router);

    // Each request goes where the router's own bounded lease would send it
    // (a lease taken and dropped at once, under the same loads).
    let oracle = router.clone();
    let (calls, placed) = place(&service, &router, &keys, |key| {
        oracle.lease(key).map(|l| l.node())
    })
    .await;

    // All of them reach their servers and are held there.
    wait_for("every request at its server", || {
        servers.iter().map(Server::active).sum::<u64>() == M
    })
    .await;
    let snapshot = router.snapshot();
    let total_weight: f64 = WEIGHTS.iter().sum();
    for (s, w) in servers.iter().zip(WEIGHTS) {
        // ⌈c · (m + 1) · w / W⌉ with m + 1 = M for the last one placed.
        let cap = (C * M as f64 * w / total_weight).ceil() as u64;
        assert!(
            s.active() <= cap,
            "{} (weight {w}) holds {} requests, bound {cap}",
            s.name(),
            s.active()
        );
        let node = snapshot.index_of(&s.name()).unwrap();
        assert_eq!(s.active(), placed.get(&node).copied().unwrap_or(0));
    }
    // The primary took a request whenever it was under its bound, so it
    // ends exactly at it; the rest spilled along the keys' orders.
    let primary_cap = (C * M as f64 * weight(&router, primary) / total_weight).ceil() as u64;
    assert_eq!(server(&servers, &router, primary).active(), primary_cap);
    assert!(
        placed.len() >= 3,
        "spilled to two replicas or more: {placed:?}"
    );

    for s in &servers {
        s.release();
    }
    for call in calls {
        call.await.unwrap();
    }
    assert!(leases(&router).iter().all(|(_, n)| *n == 0));
    assert!(service.in_flight().iter().all(|(_, n)| *n == 0));
    for s in &mut servers {
        s.stop().await;
    }
}

#[tokio::test]
async fn without_bounded_loads_a_hot_key_set_stays_on_its_primary() {
    let log = Log::default();
    let mut servers = servers(4, &log).await;
    for s in &servers {
        s.state.mode.store(HOLD, Ordering::Relaxed);
    }
    let router = router(&servers, false);
    assert!(router.load_limits(&router.snapshot()).is_none());
    let service: Routed = RingrouteService::builder(router.clone(), lazy_channel).build();
    let (primary, keys) = hot_keys(&router);
    let (calls, placed) = place(&service, &router, &keys, |_| Some(primary)).await;
    assert_eq!(placed, HashMap::from([(primary, M)]));
    let held = server(&servers, &router, primary);
    wait_for("every request at its server", || held.active() == M).await;
    for s in &servers {
        s.release();
    }
    for call in calls {
        call.await.unwrap();
    }
    for s in &mut servers {
        s.stop().await;
    }
}

#[tokio::test]
async fn failover_under_bounded_loads_follows_the_keys_order() {
    let log = Log::default();
    let mut servers = servers(4, &log).await;
    let router = router(&servers, true);
    let service: Routed = RingrouteService::builder(router.clone(), lazy_channel)
        .retry(RetryConfig::default().max_attempts(4))
        .build();
    let (primary, keys) = hot_keys(&router);
    let order: Vec<NodeIndex> = router.snapshot().failover(&keys[0]).collect();
    assert_eq!(order[0], primary);
    // The primary and the next replica refuse: the request is answered by
    // the third node of the key's order (every node has room).
    for &node in &order[..2] {
        let s = server(&servers, &router, node);
        s.state.mode.store(UNAVAILABLE, Ordering::Relaxed);
    }
    let reply = get(&service, Some(&keys[0]), 1).await.unwrap();
    assert_eq!(reply.server, server(&servers, &router, order[2]).name());
    assert_eq!(service.stats().retries, 2);
    for &node in &order[..2] {
        assert_eq!(server(&servers, &router, node).hits(), 1);
    }
    assert!(leases(&router).iter().all(|(_, n)| *n == 0));
    for s in &mut servers {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_loads_under_concurrency_and_churn_lose_nothing() {
    const PER_CLIENT: u64 = 500;
    let log = Log::default();
    let mut servers = servers(4, &log).await;
    let router = router(&servers[..3], true);
    let clients: Vec<Routed> = (0..2).map(|_| routed(&router)).collect();
    let mut calls = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for i in 0..PER_CLIENT {
            let id = c as u64 * PER_CLIENT + i;
            let client = client.clone();
            calls.push(tokio::spawn(async move {
                // A hot key set: four keys take every request.
                let key = format!("hot:{}", id % 4);
                (id, get(&client, Some(&key), id).await)
            }));
        }
    }
    let churn = {
        let router = router.clone();
        let (joining, flapping) = (servers[3].name(), servers[0].name());
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            router.add(&joining, 1.0).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            router.mark_down(&flapping).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            router.mark_up(&flapping).unwrap();
        })
    };
    for call in calls {
        let (id, reply) = call.await.unwrap();
        let reply = reply.unwrap_or_else(|s| panic!("request {id} failed: {s}"));
        assert_eq!(reply.id, id);
    }
    churn.await.unwrap();
    {
        let log = log.lock();
        assert_eq!(log.len(), 2 * PER_CLIENT as usize, "requests lost");
        assert!(log.values().all(|&n| n == 1), "a request ran twice");
    }
    // Every lease and slot ended: the loads the bound reads are exact.
    assert!(leases(&router).iter().all(|(_, n)| *n == 0));
    for client in &clients {
        assert!(client.in_flight().iter().all(|(_, n)| *n == 0));
    }
    for s in &mut servers {
        s.stop().await;
    }
}
