//! NATS servers for the cluster tests: the pinned nats-server (installed by
//! `scripts/install-nats` on first use, or `NATS_SERVER_BIN`) with JetStream syncing every
//! write, on loopback ports of their own, alone or three in a cluster.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a server may take to listen and to have JetStream ready.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The nats-server binary, installed once per test process.
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
                return PathBuf::from(path);
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-nats");
            let output = Command::new(&script).output().expect("scripts/install-nats runs");
            assert!(
                output.status.success(),
                "scripts/install-nats failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
        })
        .clone()
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// One nats-server process with its own JetStream store.
pub struct NatsServer {
    pub name: String,
    pub port: u16,
    config: PathBuf,
    child: Option<Child>,
    _store: tempfile::TempDir,
}

impl NatsServer {
    /// A server alone.
    pub fn start() -> Self {
        let mut servers = Self::start_on_free_ports(1);
        servers.pop().expect("one server")
    }

    /// `count` servers, on ports found free; on others if a port was taken between the finding
    /// and the server's start (tests start servers side by side).
    fn start_on_free_ports(count: usize) -> Vec<Self> {
        (0..ATTEMPTS)
            .find_map(|_| Self::configure(count))
            .expect("nats-server starts on free ports")
    }

    /// `count` servers in one cluster, each routed to the others; started, not yet ready. `None`
    /// if one of them did not start.
    fn configure(count: usize) -> Option<Vec<Self>> {
        let ports: Vec<(u16, u16)> = (0..count).map(|_| (free_port(), free_port())).collect();
        (0..count)
            .map(|index| {
                let store = tempfile::tempdir().expect("a store dir");
                let name = format!("nats-{}", index + 1);
                let (port, cluster_port) = ports[index];
                let routes: Vec<String> = (ports.iter().enumerate())
                    .filter(|(other, _)| *other != index)
                    .map(|(_, (_, route))| format!("\"nats-route://127.0.0.1:{route}\""))
                    .collect();
                let cluster = if count > 1 {
                    format!(
                        "cluster {{ name: concert-test, listen: \"127.0.0.1:{cluster_port}\", routes: [{}] }}",
                        routes.join(", ")
                    )
                } else {
                    String::new()
                };
                let config = store.path().join("nats.conf");
                let text = format!(
                    "server_name: {name}\nlisten: \"127.0.0.1:{port}\"\njetstream {{ store_dir: \"{}\", sync_interval: always }}\n{cluster}\n",
                    store.path().join("js").display()
                );
                std::fs::write(&config, text).expect("the config is written");
                let mut server = Self {
                    name,
                    port,
                    config,
                    child: None,
                    _store: store,
                };
                server.spawn().then_some(server)
            })
            .collect()
    }

    /// Starts the server; false if it stopped before it listened (its port was taken).
    fn spawn(&mut self) -> bool {
        let child = Command::new(binary())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let child = self.child.insert(child);
        listens(self.port, child)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once, as a machine dying would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on its store, after a kill.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is stopped first");
        assert!(self.spawn(), "nats-server starts again on its port");
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `child` listens on `port` before it stops or the time is up.
fn listens(port: u16, child: &mut Child) -> bool {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let stopped = child.try_wait().ok().flatten().is_some();
        if stopped || started.elapsed() > READY_WITHIN {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// How many sets of ports a start tries.
const ATTEMPTS: usize = 5;

/// Three servers in one cluster.
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    pub fn start() -> Self {
        Self {
            servers: NatsServer::start_on_free_ports(3),
        }
    }

    /// Every server's URL, comma-separated, as `--nats` takes them.
    pub fn urls(&self) -> String {
        let urls: Vec<String> = self.servers.iter().map(NatsServer::url).collect();
        urls.join(",")
    }
}

/// Connects to `urls` (comma-separated) and waits until JetStream answers: a cluster first
/// elects its meta leader.
pub async fn connect(urls: &str) -> async_nats::Client {
    let addresses: Vec<async_nats::ServerAddr> =
        (urls.split(',')).map(|url| url.parse().expect("a NATS URL")).collect();
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(addresses)
        .await
        .expect("NATS connects");
    let js = async_nats::jetstream::new(client.clone());
    let started = Instant::now();
    while js.query_account().await.is_err() {
        assert!(started.elapsed() < READY_WITHIN, "JetStream is ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client
}
