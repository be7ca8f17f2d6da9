//! [`Registration`]: a serving process puts its entry under a lease and
//! keeps it alive; the entry disappears when the process stops (at once)
//! or dies (when the lease expires).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::error::Result;
use crate::format::plain_value;
use crate::watcher::directory;

/// A live registration. [`stop`](Registration::stop) it to leave at once;
/// dropping it stops the keepalive, so the entry leaves when the lease
/// expires.
pub struct Registration {
    stop: watch::Sender<bool>,
    lease: watch::Receiver<i64>,
    last_error: Arc<Mutex<Option<String>>>,
    task: Option<JoinHandle<()>>,
}

impl Registration {
    /// Registers `name` with `weight` under `prefix` in the plain format
    /// (`{"weight":W,"state":"up"}` at `prefix/name`), with a lease of `ttl`.
    pub fn start_plain(
        client: Client,
        prefix: &str,
        name: &str,
        weight: f64,
        ttl: Duration,
    ) -> Self {
        let key = format!("{}{name}", directory(prefix));
        Self::start(
            client,
            key.into_bytes(),
            plain_value(weight).into_bytes(),
            ttl,
        )
    }

    /// Puts `key = value` under a lease of `ttl` (whole seconds, at least
    /// 1 s) and keeps the lease alive every third of its TTL. If the lease
    /// is lost (expired during an outage, revoked), grants a new one and
    /// puts again. Must be called inside a tokio runtime; never blocks.
    pub fn start(client: Client, key: Vec<u8>, value: Vec<u8>, ttl: Duration) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let (lease_tx, lease) = watch::channel(0);
        let last_error = Arc::new(Mutex::new(None));
        let task = tokio::spawn(keep(
            client,
            key,
            value,
            ttl.max(Duration::from_secs(1)),
            stop_rx,
            lease_tx,
            last_error.clone(),
        ));
        Registration {
            stop,
            lease,
            last_error,
            task: Some(task),
        }
    }

    /// The current lease id (0 while not registered).
    pub fn lease(&self) -> i64 {
        *self.lease.borrow()
    }

    /// The last error met (`None` once the entry is registered again).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("error lock").clone()
    }

    /// Waits until the entry is registered; `false` on timeout.
    pub async fn registered(&self, timeout: Duration) -> bool {
        let mut rx = self.lease.clone();
        tokio::time::timeout(timeout, rx.wait_for(|l| *l != 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Leaves at once: revokes the lease, which deletes the entry.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

async fn register(client: &Client, key: &[u8], value: &[u8], ttl: Duration) -> Result<i64> {
    let lease = client.grant(ttl).await?;
    client.put(key, value, lease).await?;
    Ok(lease)
}

async fn keep(
    client: Client,
    key: Vec<u8>,
    value: Vec<u8>,
    ttl: Duration,
    mut stop: watch::Receiver<bool>,
    lease_tx: watch::Sender<i64>,
    last_error: Arc<Mutex<Option<String>>>,
) {
    let name = String::from_utf8_lossy(&key).into_owned();
    let mut attempts = 0u32;
    loop {
        let lease = tokio::select! {
            _ = stop.changed() => return,
            r = register(&client, &key, &value, ttl) => r,
        };
        let lease = match lease {
            Ok(l) => l,
            Err(e) => {
                attempts += 1;
                tracing::warn!(key = %name, "registration failed: {e}");
                *last_error.lock().expect("error lock") = Some(e.to_string());
                let delay = Duration::from_millis(100 * (1 << attempts.min(5)))
                    .mul_f64(0.5 + fastrand::f64() * 0.5);
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(delay) => continue,
                }
            }
        };
        attempts = 0;
        *last_error.lock().expect("error lock") = None;
        lease_tx.send_replace(lease);
        tracing::info!(key = %name, lease, "registered");
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    // Graceful: the entry leaves now, not at lease expiry.
                    if let Err(e) = client.revoke(lease).await {
                        tracing::warn!(key = %name, "revoking the lease failed: {e}; \
                                       the entry leaves when it expires");
                        let _ = client.delete(&key).await;
                    }
                    lease_tx.send_replace(0);
                    return;
                }
                _ = tokio::time::sleep(ttl / 3) => {}
            }
            match client.keep_alive(lease).await {
                Ok(Some(_)) => renewed = Instant::now(),
                Ok(None) => {
                    tracing::warn!(key = %name, lease, "lease lost; registering again");
                    break;
                }
                Err(e) => {
                    *last_error.lock().expect("error lock") = Some(e.to_string());
                    tracing::warn!(key = %name, "keepalive failed: {e}");
                    if renewed.elapsed() >= ttl {
                        break;
                    }
                }
            }
        }
        lease_tx.send_replace(0);
    }
}
