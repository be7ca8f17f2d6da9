//! `ringroute watch` and `ringroute register`: membership from etcd
//! (built with `--features etcd`, see the README).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use ringroute::router::{Router, Snapshot};
use ringroute_etcd::{
    Client, ClientConfig, ConnectionState, Registration, TlsConfig, WatchConfig, Watcher,
};

use crate::error::CliError;

#[derive(Args, Debug)]
pub struct Connection {
    /// etcd endpoint(s), comma-separated, e.g. http://127.0.0.1:2379
    #[arg(long = "etcd", value_name = "URL")]
    etcd: String,

    /// The directory of registry keys, e.g. svc/ (a trailing / is added)
    #[arg(long, value_name = "P")]
    prefix: String,

    /// CA certificate (PEM) for https:// endpoints
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,

    /// Client certificate (PEM), with --key
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,

    /// Client private key (PEM), with --cert
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,

    /// etcd user, as NAME:PASSWORD
    #[arg(long, value_name = "NAME:PASSWORD")]
    user: Option<String>,
}

impl Connection {
    fn client_config(&self) -> Result<ClientConfig, CliError> {
        let mut c = ClientConfig::new(&self.etcd);
        if self.cacert.is_some() || self.cert.is_some() {
            c.tls = Some(
                TlsConfig::from_files(
                    self.cacert.as_deref(),
                    self.cert.as_deref(),
                    self.key.as_deref(),
                )
                .map_err(|e| CliError::usage(e.to_string()))?,
            );
        }
        if let Some(u) = &self.user {
            let (name, pass) = u
                .split_once(':')
                .ok_or_else(|| CliError::usage("--user must be NAME:PASSWORD"))?;
            c.auth = Some((name.to_string(), pass.to_string()));
        }
        Ok(c)
    }
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    conn: Connection,

    /// Keys routed before and after each change to measure the share moved
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    sample: u64,
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    conn: Connection,

    /// Lease TTL in seconds: a crashed process leaves after this long
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    ttl: u64,

    /// The node to register, with an optional weight (default 1)
    #[arg(value_name = "NAME[=WEIGHT]")]
    node: String,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))
}

/// Share of `keys` sample keys whose primary node differs.
fn moved(before: &Snapshot<()>, after: &Snapshot<()>, keys: u64) -> Option<f64> {
    if before.up_count() == 0 || after.up_count() == 0 || keys == 0 {
        return None;
    }
    let mut buf = String::new();
    let mut n = 0u64;
    for i in 0..keys {
        buf.clear();
        use std::fmt::Write as _;
        let _ = write!(buf, "key-{i}");
        let a = before
            .route(&buf)
            .and_then(|x| before.node(x))
            .map(|x| x.name());
        let b = after
            .route(&buf)
            .and_then(|x| after.node(x))
            .map(|x| x.name());
        if a != b {
            n += 1;
        }
    }
    Some(n as f64 / keys as f64)
}

pub fn watch(args: WatchArgs) -> Result<(), CliError> {
    let mut config = WatchConfig::new(&args.conn.etcd, &args.conn.prefix);
    config.client = args.conn.client_config()?;
    runtime()?.block_on(async move {
        let router: Router = Router::builder()
            .build()
            .map_err(|e| CliError::runtime(e.to_string()))?;
        let watcher = Watcher::start(router, config).map_err(|e| CliError::usage(e.to_string()))?;
        let mut updates = watcher.subscribe();
        let mut before: Arc<Snapshot<()>> = watcher.router().snapshot();
        let mut state = None;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tick.tick() => {
                    let s = watcher.status();
                    if state.as_ref() != Some(&s.state) {
                        let why = match (&s.state, &s.last_error) {
                            (ConnectionState::Backoff, Some(e)) => format!(": {e}"),
                            _ => String::new(),
                        };
                        eprintln!("# {:?}{why}", s.state);
                        state = Some(s.state);
                    }
                }
                u = updates.recv() => {
                    let Ok(u) = u else { continue };
                    let after = watcher.router().snapshot();
                    if u.changes.is_empty() {
                        continue;
                    }
                    let share = moved(&before, &after, args.sample)
                        .map(|m| format!("{:.2}% of keys moved", m * 100.0))
                        .unwrap_or_else(|| "no routable keys before or after".into());
                    let mut out = io::stdout().lock();
                    writeln!(
                        out,
                        "revision {}{}: {} node(s), {}",
                        u.revision,
                        if u.from_list { " (list)" } else { "" },
                        after.nodes().len(),
                        share
                    )?;
                    for c in &u.changes {
                        writeln!(out, "  {c}")?;
                    }
                    out.flush()?;
                    before = after;
                }
            }
        }
        watcher.stop().await;
        Ok(())
    })
}

pub fn register(args: RegisterArgs) -> Result<(), CliError> {
    let (name, weight) = match args.node.split_once('=') {
        Some((n, w)) => {
            let w: f64 = w
                .parse()
                .map_err(|_| CliError::usage(format!("invalid weight {w:?}")))?;
            (n.to_string(), w)
        }
        None => (args.node.clone(), 1.0),
    };
    if name.is_empty() {
        return Err(CliError::usage("node name must not be empty"));
    }
    if !(weight.is_finite() && weight > 0.0) {
        return Err(CliError::usage(format!(
            "invalid weight {weight}: must be finite and greater than 0"
        )));
    }
    let cfg = args.conn.client_config()?;
    runtime()?.block_on(async move {
        let client = Client::new(cfg).map_err(|e| CliError::usage(e.to_string()))?;
        let reg = Registration::start_plain(
            client,
            &args.conn.prefix,
            &name,
            weight,
            Duration::from_secs(args.ttl),
        );
        let mut registered = false;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| CliError::runtime(format!("cannot watch SIGTERM: {e}")))?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = terminate.recv() => break,
                _ = tick.tick() => {
                    let now = reg.lease() != 0;
                    if now != registered {
                        if now {
                            eprintln!("registered {name} (weight {weight}) with lease {:x}", reg.lease());
                        } else if let Some(e) = reg.last_error() {
                            eprintln!("not registered: {e}");
                        }
                        registered = now;
                    }
                }
            }
        }
        reg.stop().await;
        eprintln!("deregistered {name}");
        Ok(())
    })
}
