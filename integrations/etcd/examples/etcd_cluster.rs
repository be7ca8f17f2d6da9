//! Register two nodes in etcd, route keys through a watcher, stop one node,
//! and watch its keys move.
//!
//! ```sh
//! etcd --data-dir /tmp/etcd-demo --unsafe-no-fsync &      # listens on 127.0.0.1:2379
//! cargo run -p ringroute-etcd --example etcd_cluster -- http://127.0.0.1:2379
//! ```

use std::time::Duration;

use ringroute::router::Router;
use ringroute_etcd::{Client, ClientConfig, Registration, WatchConfig, Watcher};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:2379".into());
    let client = Client::new(ClientConfig::new(&url))?;

    // Two serving processes would each do this at start-up.
    let ttl = Duration::from_secs(10);
    let a = Registration::start_plain(client.clone(), "demo/", "cache-a:11211", 1.0, ttl);
    let b = Registration::start_plain(client.clone(), "demo/", "cache-b:11211", 2.0, ttl);

    // A client keeps its router in sync; starting never blocks on etcd.
    let router: Router = Router::builder().build()?;
    let watcher = Watcher::start(router, WatchConfig::new(&url, "demo/"))?;
    let route = |w: &Watcher, key: &str| match w.route(key) {
        Ok(i) => w
            .router()
            .snapshot()
            .node(i)
            .map(|n| n.name_lossy().into_owned())
            .unwrap_or_default(),
        Err(e) => format!("({e})"),
    };
    println!(
        "before etcd answers: user:1 -> {}",
        route(&watcher, "user:1")
    );

    for r in [&a, &b] {
        if !r.registered(Duration::from_secs(5)).await {
            return Err(
                format!("could not register in etcd at {url}: {:?}", r.last_error()).into(),
            );
        }
    }
    while watcher.router().snapshot().nodes().len() < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let keys: Vec<String> = (0..8).map(|i| format!("user:{i}")).collect();
    println!("revision {}:", watcher.applied_revision());
    for k in &keys {
        println!("  {k} -> {}", route(&watcher, k));
    }

    // cache-b stops gracefully: it leaves at once (a crash would take the TTL).
    b.stop().await;
    while watcher.router().snapshot().nodes().len() > 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "after cache-b left (revision {}):",
        watcher.applied_revision()
    );
    for k in &keys {
        println!("  {k} -> {}", route(&watcher, k));
    }

    a.stop().await;
    watcher.stop().await;
    Ok(())
}
