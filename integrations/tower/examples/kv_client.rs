//! A tonic client that routes each call by its key over three loopback
//! servers, with health checking, and keeps answering when one server dies.
//!
//! `cargo run -p ringroute-tower --example kv_client`

// The small key-value service the tests use, defined by hand (no protoc).
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use ringroute::router::Router;
use ringroute_tower::{
    HealthChecker, HealthConfig, RetryConfig, RingrouteService, RouteKey, lazy_channel,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let log = common::Log::default();
    let mut servers = common::servers(3, &log).await;

    // Membership lives in the router: add, remove, mark down, or keep it in
    // sync from a registry. Node names are what the factory connects to.
    let router: Router = servers
        .iter()
        .fold(Router::builder(), |b, s| b.node(&s.name(), 1.0))
        .build()?;
    let service = RingrouteService::builder(router.clone(), lazy_channel)
        .retry(RetryConfig::default().max_attempts(2))
        .max_in_flight(512)
        .build();
    let _checker = HealthChecker::spawn(
        &service,
        HealthConfig::default().interval(Duration::from_millis(200)),
    );

    // `common::get` is what a generated client does: tonic's `Grpc` over
    // the service, with the key in the `x-ringroute-key` metadata.
    for user in ["alice", "bob", "carol", "dave"] {
        let reply = common::get(&service, Some(user), 0).await?;
        println!("{user:>6} -> {}", reply.server);
    }

    let gone = servers[0].name();
    servers[0].stop().await;
    println!("stopped {gone}");
    // The key as a `RouteKey` extension this time: routed the same, and
    // not sent to the server.
    for user in ["alice", "bob", "carol", "dave"] {
        let mut request = tonic::Request::new(common::GetRequest {
            key: user.into(),
            id: 1,
        });
        request.extensions_mut().insert(RouteKey::new(user));
        let reply = common::call(&service, request).await?;
        println!("{user:>6} -> {}", reply.server);
    }
    println!("{:?}", service.stats());
    for s in &mut servers[1..] {
        s.stop().await;
    }
    Ok(())
}
