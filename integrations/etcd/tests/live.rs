//! Against real etcd servers started by the tests (Debian's `etcd-server`,
//! installed by `scripts/test-etcd`). Ignored by a plain `cargo test`;
//! `scripts/test-etcd` runs them with `--include-ignored`.

#[path = "support/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harness::{Etcd, Proxy, eventually};
use ringroute::router::Router;
use ringroute_etcd::{
    Client, ClientConfig, ConnectionState, Error, Registration, RouteError, TlsConfig, Update,
    WatchConfig, Watcher, router_members,
};
use tokio::sync::broadcast;

const NEEDS_ETCD: &str = "needs etcd: run scripts/test-etcd";

fn client(url: &str) -> Client {
    Client::new(ClientConfig::new(url)).unwrap()
}

fn config(url: &str, prefix: &str) -> WatchConfig {
    let mut c = WatchConfig::new(url, prefix);
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(500);
    c.guard_confirm_after = Duration::from_millis(1500);
    c
}

fn start(url: &str, prefix: &str) -> Watcher {
    Watcher::start(Router::builder().build().unwrap(), config(url, prefix)).unwrap()
}

fn plain(w: f64) -> Vec<u8> {
    format!(r#"{{"weight":{w}}}"#).into_bytes()
}

/// name -> (weight, up) as a fresh range read sees it (plain format).
async fn listed(c: &Client, prefix: &str) -> BTreeMap<String, (f64, bool)> {
    let (_, kvs) = c.range_prefix(prefix.as_bytes()).await.unwrap();
    kvs.iter()
        .filter_map(|kv| {
            let name = String::from_utf8(kv.key[prefix.len()..].to_vec()).ok()?;
            let v: serde_json::Value = serde_json::from_slice(&kv.value).ok()?;
            let w = v.get("weight").and_then(|w| w.as_f64()).unwrap_or(1.0);
            let up = v.get("state").and_then(|s| s.as_str()) != Some("down");
            Some((name, (w, up)))
        })
        .collect()
}

fn drain(rx: &mut broadcast::Receiver<Update>) -> Vec<Update> {
    let mut out = Vec::new();
    while let Ok(u) = rx.try_recv() {
        out.push(u);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn puts_deletes_reweights_converge_and_a_txn_is_one_snapshot() {
    let _ = NEEDS_ETCD;
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::single(dir.path()).await;
    let c = client(&etcd.url());
    c.put(b"svc/a", &plain(1.0), 0).await.unwrap();
    c.put(b"svc2/intruder", &plain(1.0), 0).await.unwrap(); // not in the directory
    let w = start(&etcd.url(), "svc"); // "svc" is read as "svc/"
    let mut rx = w.subscribe();
    let within = Duration::from_secs(1);
    assert!(eventually(within, || w.status().synced).await);
    assert_eq!(router_members(w.router()).keys().collect::<Vec<_>>(), ["a"]);

    for (op, expect) in [
        ("put b", vec![("a", 1.0), ("b", 1.0)]),
        ("reweight a", vec![("a", 4.0), ("b", 1.0)]),
        ("delete b", vec![("a", 4.0)]),
    ] {
        let t = Instant::now();
        let rev = match op {
            "put b" => c.put(b"svc/b", &plain(1.0), 0).await.unwrap(),
            "reweight a" => c.put(b"svc/a", &plain(4.0), 0).await.unwrap(),
            _ => c.delete(b"svc/b").await.unwrap(),
        };
        assert!(
            w.wait_for_revision(rev, within).await,
            "{op} did not converge within 1 s"
        );
        let want: BTreeMap<String, (f64, bool)> = expect
            .iter()
            .map(|(n, w)| (n.to_string(), (*w, true)))
            .collect();
        assert_eq!(router_members(w.router()), want, "after {op}");
        assert!(t.elapsed() < within);
    }

    drain(&mut rx);
    let v0 = w.router().snapshot().version();
    let rev = c
        .txn(
            &[
                (b"svc/c", &plain(1.0)),
                (b"svc/d", &plain(2.0)),
                (b"svc/a", &plain(5.0)),
            ],
            &[],
        )
        .await
        .unwrap();
    assert!(w.wait_for_revision(rev, within).await);
    let updates = drain(&mut rx);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0].changes.len(), 3, "{updates:?}");
    assert_eq!(updates[0].event_revisions, vec![rev]);
    assert_eq!(
        w.router().snapshot().version(),
        v0 + 1,
        "one snapshot for the txn"
    );
    assert_eq!(router_members(w.router()), listed(&c, "svc/").await);
    assert_eq!(w.status().state, ConnectionState::Watching);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn etcd_killed_and_restarted_the_watch_resumes_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::single(dir.path()).await;
    let c = client(&etcd.url());
    let w = start(&etcd.url(), "svc/");
    let mut rx = w.subscribe();
    assert!(eventually(Duration::from_secs(2), || w.status().synced).await);
    let mut written = Vec::new();
    for i in 0..5 {
        written.push(
            c.put(format!("svc/n{i}").as_bytes(), &plain(1.0), 0)
                .await
                .unwrap(),
        );
    }
    assert!(
        w.wait_for_revision(*written.last().unwrap(), Duration::from_secs(2))
            .await
    );

    etcd.kill();
    assert!(
        eventually(Duration::from_secs(3), || w.status().state
            == ConnectionState::Backoff)
        .await,
        "the watcher noticed the outage"
    );
    // Routing goes on from the last good view.
    assert!(w.route("k").is_ok());
    etcd.restart().await;
    // Writes right after the restart, likely before the watcher is back.
    for i in 5..10 {
        written.push(
            c.put(format!("svc/n{i}").as_bytes(), &plain(2.0), 0)
                .await
                .unwrap(),
        );
    }
    written.push(c.delete(b"svc/n0").await.unwrap());
    assert!(
        w.wait_for_revision(*written.last().unwrap(), Duration::from_secs(5))
            .await
    );

    let seen: Vec<i64> = drain(&mut rx)
        .iter()
        .flat_map(|u| u.event_revisions.clone())
        .collect();
    assert_eq!(seen, written, "every revision applied once, in order");
    assert!(w.status().failures >= 1);
    assert_eq!(router_members(w.router()), listed(&c, "svc/").await);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn compaction_past_the_watcher_relists_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::single(dir.path()).await;
    let proxy = Proxy::start(etcd.client_port).await;
    let c = client(&etcd.url());
    for i in 0..4 {
        c.put(format!("svc/n{i}").as_bytes(), &plain(1.0), 0)
            .await
            .unwrap();
    }
    let w = start(&proxy.url(), "svc/");
    assert!(eventually(Duration::from_secs(2), || w.status().synced).await);
    let lists = w.status().lists;

    proxy.cut().await;
    assert!(
        eventually(Duration::from_secs(3), || w.status().state
            == ConnectionState::Backoff)
        .await
    );
    c.delete(b"svc/n0").await.unwrap();
    c.put(b"svc/n1", &plain(3.0), 0).await.unwrap();
    let rev = c.put(b"svc/n9", &plain(1.0), 0).await.unwrap();
    c.compact(rev).await.unwrap();
    proxy.restore();

    assert!(w.wait_for_revision(rev, Duration::from_secs(5)).await);
    assert!(
        w.status().lists > lists,
        "listed again after the compaction"
    );
    assert_eq!(router_members(w.router()), listed(&c, "svc/").await);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn unreachable_at_start_uses_seeds_or_says_no_nodes_yet() {
    let dir = tempfile::tempdir().unwrap();
    let port = harness::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    let empty = start(&url, "svc/");
    let mut seeded_config = config(&url, "svc/");
    seeded_config.seeds = vec![("seed-1".into(), 1.0)];
    let seeded = Watcher::<()>::start(Router::builder().build().unwrap(), seeded_config).unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "start never blocks on etcd"
    );
    assert_eq!(empty.route("k"), Err(RouteError::NoNodesYet));
    assert!(
        empty
            .route("k")
            .unwrap_err()
            .to_string()
            .contains("no nodes yet")
    );
    assert!(seeded.route("k").is_ok());

    let etcd = Etcd::single_on(dir.path(), port, None).await;
    let c = client(&etcd.url());
    let rev = c.put(b"svc/real", &plain(1.0), 0).await.unwrap();
    for w in [&empty, &seeded] {
        assert!(w.wait_for_revision(rev, Duration::from_secs(5)).await);
        assert_eq!(
            router_members(w.router()).keys().collect::<Vec<_>>(),
            ["real"]
        );
    }
    c.delete(b"svc/real").await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || empty.route("k")
            == Err(RouteError::NoNodes))
        .await
    );
}

/// The registrant run as a child process by the SIGKILL test (the test
/// binary runs itself with this test selected).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn child_registrant() {
    let Ok(spec) = std::env::var("RINGROUTE_ETCD_CHILD") else {
        return; // run as a normal test: nothing to do
    };
    let (url, name) = spec.split_once(' ').unwrap();
    let r = Registration::start_plain(client(url), "svc/", name, 1.0, Duration::from_secs(2));
    assert!(r.registered(Duration::from_secs(5)).await);
    println!("REGISTERED");
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn registered_process_leaves_on_sigkill_at_lease_expiry_and_at_once_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::single(dir.path()).await;
    let c = client(&etcd.url());
    let w = start(&etcd.url(), "svc/");

    // A child process registers with a 2 s lease, then is SIGKILLed.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_registrant",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RINGROUTE_ETCD_CHILD", format!("{} doomed", etcd.url()))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let member = |w: &Watcher, n: &str| router_members(w.router()).contains_key(n);
    assert!(eventually(Duration::from_secs(10), || member(&w, "doomed")).await);
    // SAFETY-free: Child::kill sends SIGKILL on Unix.
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    assert!(eventually(Duration::from_secs(6), || !member(&w, "doomed")).await);
    let gone_after = killed.elapsed();
    assert!(
        gone_after > Duration::from_millis(500),
        "left by lease expiry, not at once: {gone_after:?}"
    );

    // In-process: a lost lease is re-granted, and a graceful stop leaves at once.
    let r = Registration::start_plain(c.clone(), "svc/", "kept", 2.0, Duration::from_secs(10));
    assert!(r.registered(Duration::from_secs(5)).await);
    assert!(eventually(Duration::from_secs(1), || member(&w, "kept")).await);
    let first = r.lease();
    c.revoke(first).await.unwrap(); // lost, e.g. expired during an outage
    assert!(
        eventually(Duration::from_secs(8), || r.lease() != 0
            && r.lease() != first)
        .await
    );
    assert!(eventually(Duration::from_secs(1), || member(&w, "kept")).await);
    assert_eq!(router_members(w.router())["kept"], (2.0, true));
    let t = Instant::now();
    r.stop().await;
    assert!(eventually(Duration::from_secs(1), || !member(&w, "kept")).await);
    assert!(t.elapsed() < Duration::from_secs(1));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn three_member_cluster_with_one_member_killed_still_converges() {
    let dir = tempfile::tempdir().unwrap();
    let mut members = Etcd::cluster(dir.path(), 3).await;
    let urls: Vec<String> = members.iter().map(Etcd::url).collect();
    let all = urls.join(",");
    let c = client(&all);
    c.put(b"svc/a", &plain(1.0), 0).await.unwrap();
    let w = start(&all, "svc/"); // watches through the first member
    assert!(eventually(Duration::from_secs(3), || w.status().synced).await);
    members[0].kill();
    let rev = {
        let mut r = 0;
        for i in 0..3 {
            r = c
                .put(format!("svc/b{i}").as_bytes(), &plain(1.0), 0)
                .await
                .unwrap();
        }
        r
    };
    assert!(
        w.wait_for_revision(rev, Duration::from_secs(10)).await,
        "{:?}",
        w.status()
    );
    assert_eq!(router_members(w.router()), listed(&c, "svc/").await);
    assert_eq!(router_members(w.router()).len(), 4);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn deleting_80_percent_at_once_is_held_until_a_listing_confirms_it() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::single(dir.path()).await;
    let c = client(&etcd.url());
    for i in 0..10 {
        c.put(format!("svc/n{i}").as_bytes(), &plain(1.0), 0)
            .await
            .unwrap();
    }
    let w = start(&etcd.url(), "svc/");
    assert!(eventually(Duration::from_secs(2), || w.status().synced).await);
    assert_eq!(router_members(w.router()).len(), 10);

    // 40%: under the guard, applied at once.
    let keys: Vec<Vec<u8>> = (0..10).map(|i| format!("svc/n{i}").into_bytes()).collect();
    let few: Vec<&[u8]> = keys[..4].iter().map(Vec::as_slice).collect();
    let rev = c.txn(&[], &few).await.unwrap();
    assert!(w.wait_for_revision(rev, Duration::from_secs(1)).await);
    assert_eq!(router_members(w.router()).len(), 6);
    // Back to 10, then 80% at once.
    let mut rev = 0;
    for k in &keys[..4] {
        rev = c.put(k, &plain(1.0), 0).await.unwrap();
    }
    assert!(w.wait_for_revision(rev, Duration::from_secs(1)).await);
    assert_eq!(router_members(w.router()).len(), 10);
    let many: Vec<&[u8]> = keys[..8].iter().map(Vec::as_slice).collect();
    let rev = c.txn(&[], &many).await.unwrap();
    assert!(eventually(Duration::from_secs(1), || w.status().held).await);
    let held = Instant::now();
    assert_eq!(
        router_members(w.router()).len(),
        10,
        "the last good view is kept"
    );
    assert!(w.status().seen_revision >= rev && w.applied_revision() < rev);
    // Confirmed by the next listing (guard_confirm_after = 1.5 s).
    assert!(w.wait_for_revision(rev, Duration::from_secs(4)).await);
    assert!(held.elapsed() >= Duration::from_millis(1000));
    assert_eq!(router_members(w.router()).len(), 2);
    assert!(!w.status().held && w.status().holds == 1);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn bad_values_are_skipped_and_counted_and_formats_name_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::single(dir.path()).await;
    let c = client(&etcd.url());
    let w = start(&etcd.url(), "svc/");
    assert!(eventually(Duration::from_secs(2), || w.status().synced).await);
    let rev = c
        .txn(
            &[
                (b"svc/good", br#"{"weight":2,"state":"up","future":true}"#),
                (b"svc/notjson", b"{oops"),
                (b"svc/negative", br#"{"weight":-3}"#),
                (
                    b"svc/nan",
                    br#"{"Addr":"10.0.0.9:1","Metadata":{"weight":"NaN"}}"#,
                ),
                (b"svc/", br#"{"weight":1}"#), // empty name
                (
                    b"svc/e1",
                    br#"{"Op":0,"Addr":"10.0.0.1:80","Metadata":{"weight":3}}"#,
                ),
                (
                    b"svc/k1",
                    br#"{"network":"tcp","address":"10.0.0.2:80","weight":5,"tags":{}}"#,
                ),
            ],
            &[],
        )
        .await
        .unwrap();
    assert!(w.wait_for_revision(rev, Duration::from_secs(1)).await);
    let want: BTreeMap<String, (f64, bool)> = [
        ("good".to_string(), (2.0, true)),
        ("10.0.0.1:80".to_string(), (3.0, true)),
        ("10.0.0.2:80".to_string(), (5.0, true)),
    ]
    .into();
    assert_eq!(router_members(w.router()), want);
    assert_eq!(w.status().bad_values, 4);
    // The watch goes on.
    let rev = c.put(b"svc/later", &plain(1.0), 0).await.unwrap();
    assert!(w.wait_for_revision(rev, Duration::from_secs(1)).await);
    assert_eq!(router_members(w.router()).len(), 4);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn tls_with_client_certificates_works_and_a_wrong_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let certs = harness::make_certs(dir.path());
    let etcd = Etcd::single_on(dir.path(), harness::free_port(), Some(&certs.server)).await;
    let tls = |ca: &std::path::Path| {
        let mut cfg = ClientConfig::new(&etcd.url());
        cfg.tls = Some(
            TlsConfig::from_files(Some(ca), Some(&certs.client_cert), Some(&certs.client_key))
                .unwrap(),
        );
        cfg
    };
    let good = Client::new(tls(&certs.server.ca)).unwrap();
    let mut rev = 0;
    for _ in 0..50 {
        match good.put(b"svc/secure", &plain(1.0), 0).await {
            Ok(r) => {
                rev = r;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(rev > 0, "TLS put failed");
    let mut wc = WatchConfig::new(&etcd.url(), "svc/");
    wc.client = tls(&certs.server.ca);
    let w = Watcher::<()>::start(Router::builder().build().unwrap(), wc).unwrap();
    assert!(w.wait_for_revision(rev, Duration::from_secs(3)).await);
    assert_eq!(
        router_members(w.router()).keys().collect::<Vec<_>>(),
        ["secure"]
    );

    let bad = Client::new(tls(&certs.wrong_ca)).unwrap();
    let err = bad.put(b"svc/x", b"{}", 0).await.unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("TLS") && text.to_lowercase().contains("certificate"),
        "{text}"
    );
    // A watcher with the wrong CA reports it and routes nothing.
    let mut wc = WatchConfig::new(&etcd.url(), "svc/");
    wc.client = tls(&certs.wrong_ca);
    let w2 = Watcher::<()>::start(Router::builder().build().unwrap(), wc).unwrap();
    assert!(eventually(Duration::from_secs(3), || w2.status().last_error.is_some()).await);
    assert!(w2.status().last_error.unwrap().contains("TLS"));
    assert_eq!(w2.route("k"), Err(RouteError::NoNodesYet));
    w.stop().await;
    w2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn lag_with_1000_leased_entries_and_100_updates_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::single(dir.path()).await;
    let c = client(&etcd.url());
    let mut regs = Vec::new();
    for i in 0..1000 {
        regs.push(Registration::start_plain(
            c.clone(),
            "svc/",
            &format!("node-{i:04}"),
            1.0,
            Duration::from_secs(60),
        ));
    }
    for r in &regs {
        assert!(r.registered(Duration::from_secs(30)).await);
    }
    let w = start(&etcd.url(), "svc/");
    assert!(
        eventually(Duration::from_secs(10), || router_members(w.router()).len()
            == 1000)
        .await
    );
    let mut rx = w.subscribe();
    let collector = tokio::spawn(async move {
        let mut at = BTreeMap::new();
        while let Ok(u) = rx.recv().await {
            for r in u.event_revisions {
                at.insert(r, u.at);
            }
        }
        at
    });
    // 100 updates/s for 5 s: reweights of registered entries, on their leases.
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for i in 0..500usize {
        tick.tick().await;
        let n = (i * 7) % 1000;
        let t = Instant::now();
        let rev = c
            .put(
                format!("svc/node-{n:04}").as_bytes(),
                &plain(1.0 + (i % 5) as f64),
                regs[n].lease(),
            )
            .await
            .unwrap();
        sent.push((rev, t));
    }
    let last = sent.last().unwrap().0;
    assert!(w.wait_for_revision(last, Duration::from_secs(5)).await);
    w.stop().await;
    let at = collector.await.unwrap();
    let mut lags: Vec<Duration> = sent
        .iter()
        .map(|(rev, t)| {
            at.get(rev)
                .expect("every revision published")
                .duration_since(*t)
        })
        .collect();
    lags.sort();
    let p = |q: f64| lags[((lags.len() as f64 * q) as usize).min(lags.len() - 1)];
    println!(
        "LAG put->snapshot over {} updates at 100/s with 1000 leased entries: p50 {:?}, p99 {:?}, max {:?}",
        lags.len(),
        p(0.50),
        p(0.99),
        lags.last().unwrap()
    );
    // The lag is dominated by Router::apply rebuilding the placement of
    // 1,000 nodes, which an unoptimized build of the core makes ~15x slower;
    // the watcher merges what arrives meanwhile, so the lag stays bounded.
    let bound = if cfg!(debug_assertions) { 5 } else { 1 };
    assert!(p(0.99) < Duration::from_secs(bound), "p99 {:?}", p(0.99));
    for r in regs {
        drop(r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd: run scripts/test-etcd"]
async fn username_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = Etcd::single(dir.path()).await;
    // Enable auth through the gateway: a root user with the root role.
    let http = reqwest::Client::new();
    for (path, body) in [
        (
            "/v3/auth/user/add",
            r#"{"name":"root","password":"s3cret"}"#,
        ),
        ("/v3/auth/role/add", r#"{"name":"root"}"#),
        ("/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#),
        ("/v3/auth/enable", "{}"),
    ] {
        let r = http
            .post(format!("{}{path}", etcd.url()))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "{path}: {}",
            r.text().await.unwrap()
        );
    }
    let anonymous = client(&etcd.url());
    assert!(anonymous.put(b"svc/x", &plain(1.0), 0).await.is_err());
    let with = |password: &str| {
        let mut c = ClientConfig::new(&etcd.url());
        c.auth = Some(("root".into(), password.into()));
        c
    };
    let wrong = Client::new(with("nope")).unwrap();
    let err = wrong.put(b"svc/x", &plain(1.0), 0).await.unwrap_err();
    assert!(err.to_string().contains("authentication failed"), "{err}");
    let c = Client::new(with("s3cret")).unwrap();
    let mut wc = WatchConfig::new(&etcd.url(), "svc/");
    wc.client = with("s3cret");
    let w = Watcher::<()>::start(Router::builder().build().unwrap(), wc).unwrap();
    let rev = c.put(b"svc/authed", &plain(1.0), 0).await.unwrap();
    assert!(
        w.wait_for_revision(rev, Duration::from_secs(2)).await,
        "{:?}",
        w.status()
    );
    assert_eq!(
        router_members(w.router()).keys().collect::<Vec<_>>(),
        ["authed"]
    );
    w.stop().await;
}
