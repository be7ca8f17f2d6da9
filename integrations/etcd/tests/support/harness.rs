//! Starts real etcd servers (Debian's `etcd-server`) on free loopback ports
//! in a temporary directory, and a TCP proxy that can cut a client off.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub fn etcd_bin() -> String {
    if let Ok(b) = std::env::var("ETCD_BIN") {
        return b;
    }
    for c in ["/usr/bin/etcd", "/usr/local/bin/etcd"] {
        if Path::new(c).exists() {
            return c.to_string();
        }
    }
    panic!("etcd not found: run scripts/test-etcd (installs Debian's etcd-server) or set ETCD_BIN")
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// TLS files for a server started with TLS.
#[derive(Clone)]
pub struct ServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Etcd {
    pub name: String,
    pub client_port: u16,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    https: bool,
}

impl Etcd {
    /// One member; `cluster` is the `--initial-cluster` value.
    fn new(
        dir: &Path,
        name: &str,
        client_port: u16,
        peer_port: u16,
        cluster: &str,
        tls: Option<&ServerTls>,
    ) -> Etcd {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let data = dir.join(format!("{name}.data"));
        let mut args: Vec<String> = vec![
            "--name".into(),
            name.into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--listen-client-urls".into(),
            client.clone(),
            "--advertise-client-urls".into(),
            client,
            "--listen-peer-urls".into(),
            peer.clone(),
            "--initial-advertise-peer-urls".into(),
            peer,
            "--initial-cluster".into(),
            cluster.into(),
            "--initial-cluster-token".into(),
            "ringroute-test".into(),
            "--unsafe-no-fsync".into(),
            "--heartbeat-interval".into(),
            "50".into(),
            "--election-timeout".into(),
            "500".into(),
            "--logger".into(),
            "zap".into(),
            "--log-level".into(),
            "error".into(),
        ];
        if let Some(t) = tls {
            args.extend([
                "--cert-file".into(),
                t.cert.display().to_string(),
                "--key-file".into(),
                t.key.display().to_string(),
                "--trusted-ca-file".into(),
                t.ca.display().to_string(),
                "--client-cert-auth".into(),
            ]);
        }
        let mut e = Etcd {
            name: name.into(),
            client_port,
            dir: dir.to_path_buf(),
            args,
            child: None,
            https: tls.is_some(),
        };
        e.spawn();
        e
    }

    /// A single-member etcd, ready to serve.
    pub async fn single(dir: &Path) -> Etcd {
        Self::single_on(dir, free_port(), None).await
    }

    pub async fn single_on(dir: &Path, client_port: u16, tls: Option<&ServerTls>) -> Etcd {
        let peer = free_port();
        let e = Etcd::new(
            dir,
            "solo",
            client_port,
            peer,
            &format!("solo=http://127.0.0.1:{peer}"),
            tls,
        );
        if tls.is_none() {
            e.ready().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        e
    }

    /// A cluster of `n` members on loopback, ready.
    pub async fn cluster(dir: &Path, n: usize) -> Vec<Etcd> {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let members: Vec<Etcd> = ports
            .iter()
            .enumerate()
            .map(|(i, (c, p))| Etcd::new(dir, &format!("m{i}"), *c, *p, &cluster, None))
            .collect();
        for m in &members {
            m.ready().await;
        }
        members
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join(format!("{}.log", self.name))).unwrap();
        let child = Command::new(etcd_bin())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// Waits until a write succeeds (the cluster has a leader).
    pub async fn ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = http
                .post(format!("{}/v3/kv/range", self.url()))
                .body(r#"{"key":"cmVhZHk="}"#)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if let Ok(r) = r {
                if r.status().is_success() {
                    return;
                }
            }
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.dir.join(format!("{}.log", self.name)));
                panic!(
                    "etcd {} did not start: {}",
                    self.name,
                    log.unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and wait for the process to end.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same ports and data.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.ready().await;
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy in front of etcd that can cut every connection and refuse
/// new ones, as a network partition would.
pub struct Proxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (c2, conns2) = (cut.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut down, _)) = listener.accept().await else {
                    return;
                };
                if c2.load(Ordering::SeqCst) {
                    drop(down);
                    continue;
                }
                let h = tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                conns2.lock().await.push(h);
            }
        });
        Proxy {
            port,
            cut,
            conns,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for h in self.conns.lock().await.drain(..) {
            h.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Test CA, server and client certificates made with `openssl`, plus a
/// second, unrelated CA.
pub struct Certs {
    pub server: ServerTls,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub wrong_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn make_certs(dir: &Path) -> Certs {
    let ext = dir.join("san.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    for ca in ["ca", "wrongca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-subj",
                &format!("/CN={ca}"),
            ],
        );
    }
    for leaf in ["server", "client"] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{leaf}.key"),
                "-out",
                &format!("{leaf}.csr"),
                "-subj",
                &format!("/CN={leaf}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{leaf}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &format!("{leaf}.pem"),
                "-extfile",
                "san.ext",
            ],
        );
    }
    Certs {
        server: ServerTls {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        },
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        wrong_ca: dir.join("wrongca.pem"),
    }
}

/// Polls `f` until it holds or `within` passes.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
