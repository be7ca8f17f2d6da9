//! A small etcd v3 client over etcd's JSON gateway (`/v3/...` over HTTP/1.1
//! or HTTPS): range, put, delete, compaction, leases and a prefix watch.
//!
//! Keys and values travel base64-encoded and 64-bit integers as JSON
//! strings, as the gateway's protobuf-JSON mapping prescribes.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// TLS settings: PEM files.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// CA certificate(s) that sign the servers' certificates.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate chain and private key, for etcd's
    /// `--client-cert-auth`.
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsConfig {
    /// Reads the CA and, if both are given, the client certificate and key.
    pub fn from_files(
        ca: Option<&std::path::Path>,
        cert: Option<&std::path::Path>,
        key: Option<&std::path::Path>,
    ) -> Result<Self> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))
        };
        let ca_pem = ca.map(read).transpose()?;
        let identity_pem = match (cert, key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            (None, None) => None,
            _ => {
                return Err(Error::Config(
                    "a client certificate needs both the certificate and its key".into(),
                ));
            }
        };
        Ok(TlsConfig {
            ca_pem,
            identity_pem,
        })
    }
}

/// How to reach etcd.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Endpoints, e.g. `http://127.0.0.1:2379` (or `https://...` with TLS).
    /// Several members of one cluster may be listed: a failed call moves to
    /// the next one.
    pub endpoints: Vec<String>,
    /// TLS settings for `https://` endpoints.
    pub tls: Option<TlsConfig>,
    /// Username and password, when etcd has authentication enabled.
    pub auth: Option<(String, String)>,
    /// Time limit of one unary call (not of a watch stream).
    pub request_timeout: Duration,
    /// Time limit to open a connection.
    pub connect_timeout: Duration,
}

impl ClientConfig {
    /// One or more endpoints, comma-separated, default timeouts, no TLS, no auth.
    pub fn new(endpoints: &str) -> Self {
        ClientConfig {
            endpoints: endpoints
                .split(',')
                .map(|s| s.trim().trim_end_matches('/').to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            tls: None,
            auth: None,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// One key-value pair as etcd stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// The revision of its last modification.
    pub mod_revision: i64,
    /// The lease it is attached to (0: none).
    pub lease: i64,
}

/// One watch event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `true` for a delete, `false` for a put.
    pub delete: bool,
    /// The key and (for a put) its new value; `mod_revision` is the event's
    /// revision.
    pub kv: KeyValue,
}

/// A client of etcd's JSON gateway. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    current: AtomicUsize,
    token: Mutex<Option<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.inner.config.endpoints)
            .finish_non_exhaustive()
    }
}

/// The exclusive end of the range of keys starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0] // every key
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn unb64(s: &str) -> Result<Vec<u8>> {
    B64.decode(s)
        .map_err(|e| Error::Protocol(format!("bad base64 {s:?}: {e}")))
}

/// Reads an int64 the gateway wrote as a string (or, leniently, a number).
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn parse_kv(v: &Value) -> Result<KeyValue> {
    let key = unb64(v["key"].as_str().unwrap_or(""))?;
    let value = unb64(v["value"].as_str().unwrap_or(""))?;
    Ok(KeyValue {
        key,
        value,
        mod_revision: int(&v["mod_revision"]),
        lease: int(&v["lease"]),
    })
}

#[derive(Deserialize)]
struct GatewayError {
    #[serde(default)]
    error: Value,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
}

/// Makes a readable error of a reqwest failure, telling TLS failures apart.
fn transport_error(endpoint: &str, e: &reqwest::Error) -> Error {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        Error::Tls(format!(
            "{endpoint}: {text} (check the CA certificate and the client certificate)"
        ))
    } else {
        Error::Unreachable(format!("{endpoint}: {text}"))
    }
}

impl Client {
    /// A client; no connection is made until the first call.
    pub fn new(config: ClientConfig) -> Result<Self> {
        if config.endpoints.is_empty() {
            return Err(Error::Config("no etcd endpoint given".into()));
        }
        for e in &config.endpoints {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(Error::Config(format!(
                    "endpoint {e:?} must start with http:// or https://"
                )));
            }
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            // A watch is idle for long stretches: TCP keepalive notices a
            // peer that vanished without closing (a partition, a dead host)
            // within about 10 + 3 x 3 s, and the watcher reconnects.
            .tcp_keepalive(Duration::from_secs(10))
            .tcp_keepalive_interval(Duration::from_secs(3))
            .tcp_keepalive_retries(3)
            .use_rustls_tls();
        if let Some(tls) = &config.tls {
            if let Some(ca) = &tls.ca_pem {
                let certs = reqwest::Certificate::from_pem_bundle(ca)
                    .map_err(|e| Error::Config(format!("bad CA certificate: {e}")))?;
                if certs.is_empty() {
                    return Err(Error::Config("the CA file holds no certificate".into()));
                }
                for c in certs {
                    builder = builder.add_root_certificate(c);
                }
            }
            if let Some((cert, key)) = &tls.identity_pem {
                let mut pem = cert.clone();
                pem.push(b'\n');
                pem.extend_from_slice(key);
                let id = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| Error::Config(format!("bad client certificate or key: {e}")))?;
                builder = builder.identity(id);
            }
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                config,
                current: AtomicUsize::new(0),
                token: Mutex::new(None),
            }),
        })
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.config.endpoints
    }

    fn endpoint(&self, offset: usize) -> (usize, &str) {
        let eps = &self.inner.config.endpoints;
        let i = (self.inner.current.load(Ordering::Relaxed) + offset) % eps.len();
        (i, &eps[i])
    }

    async fn authenticate(&self, endpoint: &str) -> Result<Option<String>> {
        let Some((user, pass)) = &self.inner.config.auth else {
            return Ok(None);
        };
        if let Some(t) = self.inner.token.lock().expect("token lock").clone() {
            return Ok(Some(t));
        }
        let body = json!({"name": user, "password": pass});
        let v = self
            .send(endpoint, "/v3/auth/authenticate", &body, None, true)
            .await?;
        let token = v["token"]
            .as_str()
            .ok_or_else(|| Error::Protocol("authenticate returned no token".into()))?
            .to_string();
        *self.inner.token.lock().expect("token lock") = Some(token.clone());
        Ok(Some(token))
    }

    async fn send(
        &self,
        endpoint: &str,
        path: &str,
        body: &Value,
        token: Option<&str>,
        unary: bool,
    ) -> Result<Value> {
        let mut req = self.inner.http.post(format!("{endpoint}{path}")).json(body);
        if unary {
            req = req.timeout(self.inner.config.request_timeout);
        }
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(endpoint, &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error(endpoint, &e))?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Protocol(format!(
                "{path}: HTTP {status}: {e}: {}",
                String::from_utf8_lossy(&bytes)
            ))
        })?;
        if !status.is_success() || v.get("error").is_some_and(|e| !e.is_null()) {
            return Err(gateway_error(&v));
        }
        Ok(v)
    }

    /// One unary call, tried on each endpoint in turn until one answers.
    async fn call(&self, path: &str, body: Value) -> Result<Value> {
        let n = self.inner.config.endpoints.len();
        let mut last = None;
        for offset in 0..n {
            let (i, endpoint) = self.endpoint(offset);
            let endpoint = endpoint.to_string();
            let result = async {
                let token = self.authenticate(&endpoint).await?;
                self.send(&endpoint, path, &body, token.as_deref(), true)
                    .await
            }
            .await;
            match result {
                Ok(v) => {
                    self.inner.current.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(Error::Etcd { message, .. }) if is_token_error(&message) => {
                    // Simple tokens expire: authenticate again, once.
                    *self.inner.token.lock().expect("token lock") = None;
                    let token = self.authenticate(&endpoint).await?;
                    return self
                        .send(&endpoint, path, &body, token.as_deref(), true)
                        .await;
                }
                Err(e @ (Error::Unreachable(_) | Error::Tls(_))) => last = Some(e),
                Err(Error::Etcd { message, .. }) if is_unavailable(&message) => {
                    last = Some(Error::Unreachable(format!("{endpoint}: {message}")))
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Unreachable("no endpoint".into())))
    }

    /// Every key under `prefix` at one revision: `(revision, pairs)`, in key
    /// order. Large prefixes are read in pages at that same revision.
    pub async fn range_prefix(&self, prefix: &[u8]) -> Result<(i64, Vec<KeyValue>)> {
        const PAGE: usize = 1000;
        let end = prefix_end(prefix);
        let mut from = prefix.to_vec();
        let mut revision = 0i64;
        let mut out = Vec::new();
        loop {
            let mut body = json!({
                "key": b64(&from),
                "range_end": b64(&end),
                "limit": PAGE.to_string(),
            });
            if revision > 0 {
                body["revision"] = json!(revision.to_string());
            }
            let v = self.call("/v3/kv/range", body).await?;
            if revision == 0 {
                revision = int(&v["header"]["revision"]);
            }
            let kvs = v["kvs"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            for kv in kvs {
                out.push(parse_kv(kv)?);
            }
            if v["more"].as_bool() != Some(true) || kvs.is_empty() {
                break;
            }
            from = out.last().map(|kv| kv.key.clone()).unwrap_or_default();
            from.push(0);
        }
        Ok((revision, out))
    }

    /// Puts `key = value`, attached to `lease` unless it is 0. Returns the
    /// revision of the put.
    pub async fn put(&self, key: &[u8], value: &[u8], lease: i64) -> Result<i64> {
        let mut body = json!({"key": b64(key), "value": b64(value)});
        if lease != 0 {
            body["lease"] = json!(lease.to_string());
        }
        let v = self.call("/v3/kv/put", body).await?;
        Ok(int(&v["header"]["revision"]))
    }

    /// Deletes `key`. Returns the revision after the call.
    pub async fn delete(&self, key: &[u8]) -> Result<i64> {
        let v = self
            .call("/v3/kv/deleterange", json!({"key": b64(key)}))
            .await?;
        Ok(int(&v["header"]["revision"]))
    }

    /// Deletes every key under `prefix` in one revision; returns it.
    pub async fn delete_prefix(&self, prefix: &[u8]) -> Result<i64> {
        let body = json!({"key": b64(prefix), "range_end": b64(&prefix_end(prefix))});
        let v = self.call("/v3/kv/deleterange", body).await?;
        Ok(int(&v["header"]["revision"]))
    }

    /// Puts and deletes in one transaction, hence one revision; returns it.
    pub async fn txn(&self, puts: &[(&[u8], &[u8])], deletes: &[&[u8]]) -> Result<i64> {
        let mut ops = Vec::new();
        for (k, v) in puts {
            ops.push(json!({"request_put": {"key": b64(k), "value": b64(v)}}));
        }
        for k in deletes {
            ops.push(json!({"request_delete_range": {"key": b64(k)}}));
        }
        let v = self.call("/v3/kv/txn", json!({"success": ops})).await?;
        Ok(int(&v["header"]["revision"]))
    }

    /// Compacts the history up to `revision`.
    pub async fn compact(&self, revision: i64) -> Result<()> {
        let body = json!({"revision": revision.to_string(), "physical": true});
        self.call("/v3/kv/compaction", body).await.map(|_| ())
    }

    /// Grants a lease of `ttl` (whole seconds, at least 1); returns its id.
    pub async fn grant(&self, ttl: Duration) -> Result<i64> {
        let secs = ttl.as_secs().max(1);
        let v = self
            .call("/v3/lease/grant", json!({"TTL": secs.to_string()}))
            .await?;
        let id = int(&v["ID"]);
        if id == 0 {
            return Err(Error::Protocol(format!("lease grant returned no ID: {v}")));
        }
        Ok(id)
    }

    /// Renews `lease` once. `Ok(None)` if the lease no longer exists.
    pub async fn keep_alive(&self, lease: i64) -> Result<Option<Duration>> {
        let v = self
            .call("/v3/lease/keepalive", json!({"ID": lease.to_string()}))
            .await;
        let v = match v {
            Ok(v) => v,
            Err(Error::Etcd { message, .. }) if message.contains("lease not found") => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let ttl = int(&v["result"]["TTL"]);
        Ok((ttl > 0).then(|| Duration::from_secs(ttl as u64)))
    }

    /// Revokes `lease`, deleting every key attached to it.
    pub async fn revoke(&self, lease: i64) -> Result<()> {
        match self
            .call("/v3/lease/revoke", json!({"ID": lease.to_string()}))
            .await
        {
            Ok(_) => Ok(()),
            Err(Error::Etcd { message, .. }) if message.contains("lease not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Opens a watch on every key under `prefix`, from `start_revision`.
    /// Tries each endpoint in turn.
    pub async fn watch(&self, prefix: &[u8], start_revision: i64) -> Result<WatchStream> {
        let body = json!({"create_request": {
            "key": b64(prefix),
            "range_end": b64(&prefix_end(prefix)),
            "start_revision": start_revision.to_string(),
        }});
        let n = self.inner.config.endpoints.len();
        let mut last = None;
        for offset in 0..n {
            let (i, endpoint) = self.endpoint(offset);
            let endpoint = endpoint.to_string();
            let token = match self.authenticate(&endpoint).await {
                Ok(t) => t,
                Err(e @ (Error::Unreachable(_) | Error::Tls(_))) => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut req = self
                .inner
                .http
                .post(format!("{endpoint}/v3/watch"))
                .json(&body);
            if let Some(t) = &token {
                req = req.header("Authorization", t.as_str());
            }
            match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    self.inner.current.store(i, Ordering::Relaxed);
                    return Ok(WatchStream {
                        resp,
                        buf: Vec::new(),
                        endpoint,
                    });
                }
                Ok(resp) => {
                    let text = resp.text().await.unwrap_or_default();
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    last = Some(gateway_error(&v));
                }
                Err(e) => last = Some(transport_error(&endpoint, &e)),
            }
        }
        Err(last.unwrap_or_else(|| Error::Unreachable("no endpoint".into())))
    }

    /// Moves to the next endpoint (after a watch on the current one failed).
    pub fn rotate(&self) {
        self.inner.current.fetch_add(1, Ordering::Relaxed);
    }
}

fn is_token_error(message: &str) -> bool {
    message.contains("invalid auth token") || message.contains("auth token")
}

fn is_unavailable(message: &str) -> bool {
    message.contains("no leader")
        || message.contains("leader changed")
        || message.contains("timed out")
        || message.contains("unavailable")
}

fn gateway_error(v: &Value) -> Error {
    let parsed: Option<GatewayError> = serde_json::from_value(v.clone()).ok();
    let (code, message) = match parsed {
        Some(GatewayError {
            error,
            message,
            code,
        }) => {
            // Unary errors: {"error","message","code"}; stream errors:
            // {"error": {"grpc_code","http_code","message"}}.
            let message = message
                .or_else(|| error["message"].as_str().map(str::to_string))
                .or_else(|| error.as_str().map(str::to_string))
                .unwrap_or_else(|| v.to_string());
            let code = code.unwrap_or_else(|| int(&error["grpc_code"]));
            (code, message)
        }
        None => (0, v.to_string()),
    };
    Error::Etcd { code, message }
}

/// What a watch stream delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMessage {
    /// The watch was created; `revision` is the store's current revision.
    Created {
        /// The header revision.
        revision: i64,
    },
    /// Events, in revision order (one or more revisions).
    Events(Vec<Event>),
    /// The start revision was compacted: re-list.
    Compacted(i64),
    /// A progress notification or other message without events.
    Progress(i64),
}

/// An open watch: a stream of newline-delimited JSON messages.
pub struct WatchStream {
    resp: reqwest::Response,
    buf: Vec<u8>,
    endpoint: String,
}

impl WatchStream {
    fn take_line(&mut self) -> Option<Vec<u8>> {
        let pos = self.buf.iter().position(|&b| b == b'\n')?;
        let line: Vec<u8> = self.buf.drain(..=pos).collect();
        Some(line)
    }

    /// Waits for at least one message, then returns it together with every
    /// further message that has already arrived (revisions that arrive
    /// together are applied together). `Ok(vec![])` never happens: the end
    /// of the stream is an error.
    pub async fn next_batch(&mut self) -> Result<Vec<WatchMessage>> {
        let mut out = Vec::new();
        loop {
            while let Some(line) = self.take_line() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                out.push(parse_watch_line(&line)?);
            }
            if !out.is_empty() {
                // Already-received data only: poll once without waiting.
                match tokio::time::timeout(Duration::ZERO, self.resp.chunk()).await {
                    Ok(Ok(Some(chunk))) => {
                        self.buf.extend_from_slice(&chunk);
                        continue;
                    }
                    _ => return Ok(out),
                }
            }
            match self.resp.chunk().await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                Ok(None) => {
                    return Err(Error::Unreachable(format!(
                        "{}: the watch stream ended",
                        self.endpoint
                    )));
                }
                Err(e) => return Err(transport_error(&self.endpoint, &e)),
            }
        }
    }
}

fn parse_watch_line(line: &[u8]) -> Result<WatchMessage> {
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        Error::Protocol(format!(
            "watch message: {e}: {}",
            String::from_utf8_lossy(line)
        ))
    })?;
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return Err(gateway_error(&v));
    }
    let r = &v["result"];
    let revision = int(&r["header"]["revision"]);
    let compact = int(&r["compact_revision"]);
    if compact > 0 {
        return Ok(WatchMessage::Compacted(compact));
    }
    if r["canceled"].as_bool() == Some(true) {
        let reason = r["cancel_reason"].as_str().unwrap_or("watch canceled");
        return Err(Error::Etcd {
            code: 0,
            message: reason.to_string(),
        });
    }
    if r["created"].as_bool() == Some(true) {
        return Ok(WatchMessage::Created { revision });
    }
    let Some(events) = r["events"].as_array() else {
        return Ok(WatchMessage::Progress(revision));
    };
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        out.push(Event {
            delete: e["type"].as_str() == Some("DELETE") || int(&e["type"]) == 1,
            kv: parse_kv(&e["kv"])?,
        });
    }
    Ok(WatchMessage::Events(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end(b"svc/"), b"svc0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn watch_lines_parse() {
        let line = br#"{"result":{"header":{"revision":"7"},"events":[{"kv":{"key":"c3ZjL2E=","value":"e30=","mod_revision":"7"}},{"type":"DELETE","kv":{"key":"c3ZjL2I=","mod_revision":"7"}}]}}"#;
        let WatchMessage::Events(ev) = parse_watch_line(line).unwrap() else {
            panic!("events expected")
        };
        assert_eq!(ev.len(), 2);
        assert!(!ev[0].delete && ev[1].delete);
        assert_eq!(ev[0].kv.key, b"svc/a");
        assert_eq!(ev[0].kv.value, b"{}");
        assert_eq!(ev[1].kv.mod_revision, 7);
        let compacted =
            br#"{"result":{"header":{"revision":"9"},"compact_revision":"5","canceled":true}}"#;
        assert_eq!(
            parse_watch_line(compacted).unwrap(),
            WatchMessage::Compacted(5)
        );
        let created = br#"{"result":{"header":{"revision":"9"},"created":true}}"#;
        assert_eq!(
            parse_watch_line(created).unwrap(),
            WatchMessage::Created { revision: 9 }
        );
    }
}
