//! Every limit and duration of the service in one struct, read from flags and `CONCERT_*` variables.

use clap::{Parser, ValueEnum};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Whether a write is acknowledged only once it is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FsyncPolicy {
    /// A write is acknowledged only once it is on disk.
    Always,
    /// Never sync: for benchmarks only.
    Never,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people; coloured only when stderr is a terminal.
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// The server's configuration. A flag wins over its environment variable.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version, about = "Concert reservation server")]
pub struct Config {
    /// Listen address; `:0` or `HOST:0` picks a free port.
    #[arg(long, env = "CONCERT_ADDR", default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    pub addr: SocketAddr,
    /// Where snapshots and the journal live; created if missing.
    #[arg(long, env = "CONCERT_DATA_DIR", default_value = "snapshots")]
    pub data_dir: PathBuf,
    /// Enables the admin API with this key (at least 16 characters).
    #[arg(long, env = "CONCERT_ADMIN_KEY", value_parser = parse_admin_key)]
    pub admin_key: Option<String>,
    /// How long a seat hold lasts.
    #[arg(long, env = "CONCERT_HOLD_TTL", default_value = "5m", value_parser = parse_duration)]
    pub hold_ttl: Duration,
    /// Live holds a user may have at once.
    #[arg(long, env = "CONCERT_HOLD_MAX", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub hold_max: u32,
    /// Tokens ACTIVE at once.
    #[arg(long, env = "CONCERT_ACTIVE_MAX", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub active_max: u32,
    /// Life of an ACTIVE token from admission.
    #[arg(long, env = "CONCERT_ACTIVE_TTL", default_value = "10m", value_parser = parse_duration)]
    pub active_ttl: Duration,
    /// A WAITING token unread for this long is dropped.
    #[arg(long, env = "CONCERT_WAITING_IDLE_TTL", default_value = "5m", value_parser = parse_duration)]
    pub waiting_idle_ttl: Duration,
    /// Tokens WAITING at once; past it 503 QUEUE_FULL.
    #[arg(long, env = "CONCERT_WAITING_MAX", default_value_t = 1_000_000)]
    pub waiting_max: u64,
    /// Largest single charge, in won.
    #[arg(long, env = "CONCERT_CHARGE_MAX", default_value_t = 1_000_000_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub charge_max: i64,
    /// Largest balance, in won.
    #[arg(long, env = "CONCERT_BALANCE_MAX", default_value_t = 10_000_000_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub balance_max: i64,
    /// Largest seat map an admin may create.
    #[arg(long, env = "CONCERT_SEATS_PER_DATE_MAX", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub seats_per_date_max: u32,
    /// Largest request body (e.g. `16KiB`); past it 413 PAYLOAD_TOO_LARGE.
    #[arg(long, env = "CONCERT_BODY_LIMIT", default_value = "16KiB", value_parser = parse_bytes)]
    pub body_limit: usize,
    /// How often state is snapshotted to the data dir.
    #[arg(long, env = "CONCERT_SNAPSHOT_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub snapshot_interval: Duration,
    /// `always`: a write is acknowledged only once on disk; `never`: for benchmarks only.
    #[arg(long, env = "CONCERT_FSYNC", value_enum, default_value_t = FsyncPolicy::Always)]
    pub fsync: FsyncPolicy,
    /// Requests a second one user may make to token-authenticated endpoints (0 turns it off).
    #[arg(long, env = "CONCERT_USER_RATE_LIMIT", default_value_t = 50)]
    pub user_rate_limit: u32,
    /// Requests a second one client may make to the endpoints that need no token (0 turns it off).
    #[arg(long, env = "CONCERT_CLIENT_RATE_LIMIT", default_value_t = 20)]
    pub client_rate_limit: u32,
    /// Addresses or CIDRs, comma-separated, whose `X-Forwarded-For` is believed.
    #[arg(long, env = "CONCERT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::http::client::parse_trusted_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Proof of work before a queue token: the `maxnumber` of the ALTCHA challenge, so a client
    /// hashes about half this many times a token (0 turns it off). At most 1,000,000: the crate
    /// that checks solutions looks no further, and a phone would take too long past it.
    #[arg(long, env = "CONCERT_POW_DIFFICULTY", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=POW_DIFFICULTY_MAX))]
    pub pow_difficulty: u64,
    /// Time a client has to send a request's headers and its body; then the connection is closed.
    #[arg(long, env = "CONCERT_CLIENT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub client_timeout: Duration,
    /// Connections open at once in all.
    #[arg(long, env = "CONCERT_MAX_CONNECTIONS", default_value_t = 25_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Connections open at once from one client (IPv6 clients by /64).
    #[arg(long, env = "CONCERT_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_client: u32,
    /// Requests one actor (the queue, the wallet, a concert date) takes in flight; past it
    /// callers get 503 UNAVAILABLE at once instead of a growing wait.
    #[arg(long, env = "CONCERT_ACTOR_REQUESTS_MAX", default_value_t = 16_384, value_parser = clap::value_parser!(u32).range(1..))]
    pub actor_requests_max: u32,
    /// A second listen address serving `/metrics` without the admin key (keep it private).
    #[arg(long, env = "CONCERT_METRICS_ADDR", value_parser = parse_addr)]
    pub metrics_addr: Option<SocketAddr>,
    /// How log lines are written: `text` or `json`.
    #[arg(long, env = "CONCERT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "CONCERT_WORKERS", default_value_t = 0)]
    pub workers: usize,
    /// Threads the actors run on (the queue, the wallet, the concert dates spread over them).
    #[arg(long, env = "CONCERT_ACTOR_THREADS", default_value_t = default_actor_threads(), value_parser = clap::value_parser!(u32).range(1..=i64::from(ACTOR_THREADS_MAX)))]
    pub actor_threads: u32,
    /// Cluster mode: NATS server URLs, comma-separated. The state then lives in JetStream, and
    /// the data dir holds nothing.
    #[arg(long, env = "CONCERT_NATS", value_delimiter = ',', requires = "node_id")]
    pub nats: Vec<String>,
    /// This node's name in the cluster (letters, digits, `-` and `_`); required with `--nats`.
    #[arg(long, env = "CONCERT_NODE_ID", value_parser = parse_node_id, requires = "nats")]
    pub node_id: Option<String>,
    /// How long a node's claim on the partitions it owns lasts unless renewed.
    #[arg(long, env = "CONCERT_LEASE_TTL", default_value = "5s", value_parser = parse_lease_ttl)]
    pub lease_ttl: Duration,
    /// Copies JetStream keeps of every event and snapshot.
    #[arg(long, env = "CONCERT_REPLICAS", default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub replicas: u8,
    /// This node's HTTP address as the other nodes and the fans should see it (default: from
    /// `--addr`).
    #[arg(long, env = "CONCERT_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// Cluster mode: where the node serves the partitions it owns to the other nodes (keep it
    /// private; the other nodes reach it with a key derived from the admin key).
    #[arg(long, env = "CONCERT_PEER_ADDR", default_value = "127.0.0.1:0", value_parser = parse_addr)]
    pub peer_addr: SocketAddr,
}

impl Config {
    /// The defaults of the flag table, as if the server were started with no flags and no
    /// environment; tests adjust the fields they care about.
    pub fn defaults() -> Self {
        Self::try_parse_from(["server"]).expect("the default configuration parses")
    }

    /// Whether the node runs in a cluster, on JetStream.
    pub fn is_cluster(&self) -> bool {
        !self.nats.is_empty()
    }

    /// What a flag alone cannot say: a cluster needs the admin key, which its nodes share.
    pub fn check(&self) -> Result<(), String> {
        if self.is_cluster() && self.admin_key.is_none() {
            return Err("--nats needs --admin-key: the nodes of a cluster share it".into());
        }
        Ok(())
    }
}

fn parse_node_id(text: &str) -> Result<String, String> {
    let fits = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if text.is_empty() || text.len() > 64 || !text.chars().all(fits) {
        return Err("a node id is 1 to 64 letters, digits, '-' or '_'".into());
    }
    Ok(text.to_string())
}

/// A lease shorter than a second would be lost to a slow renewal; one longer than a minute
/// leaves a dead node's partitions unserved for that long.
fn parse_lease_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&ttl) {
        return Err("a lease lasts from 1s to 60s".into());
    }
    Ok(ttl)
}

/// One actor thread per core: an actor decides in memory and never waits on the disk (the
/// journal's own thread does), so more threads than cores only take turns on them, and fewer
/// leave cores idle while busy dates queue behind one another. At least one, and no more than
/// the flag allows, whatever the machine reports.
fn default_actor_threads() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    u32::try_from(cores)
        .unwrap_or(ACTOR_THREADS_MAX)
        .clamp(1, ACTOR_THREADS_MAX)
}

/// The most `--actor-threads`: each is an OS thread with its own event loop, and past the cores
/// of any machine this serves on they only cost memory and switches.
pub const ACTOR_THREADS_MAX: u32 = 1024;

/// The largest `--pow-difficulty`.
pub const POW_DIFFICULTY_MAX: u64 = 1_000_000;

/// The longest duration any flag takes: deadlines are wall-clock times, and far ones would
/// overflow them.
const DURATION_MAX: Duration = Duration::from_secs(366 * 24 * 60 * 60);

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() || duration > DURATION_MAX {
        return Err("a duration must be longer than zero and at most 366 days".into());
    }
    Ok(duration)
}

/// Characters an admin key must have at least: a short key can be guessed over the network.
pub const ADMIN_KEY_CHARS_MIN: usize = 16;

fn parse_admin_key(text: &str) -> Result<String, String> {
    if text.chars().count() < ADMIN_KEY_CHARS_MIN {
        return Err(format!(
            "an admin key must be at least {ADMIN_KEY_CHARS_MIN} characters; leave the flag out to disable the admin API"
        ));
    }
    Ok(text.to_string())
}

fn parse_bytes(text: &str) -> Result<usize, String> {
    let size: bytesize::ByteSize = text.parse()?;
    usize::try_from(size.as_u64())
        .ok()
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("{text} is not a usable body limit"))
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    // `:0` means "loopback, any free port", as the contract allows.
    let text = if text.starts_with(':') {
        format!("127.0.0.1{text}")
    } else {
        text.to_string()
    };
    text.to_socket_addrs()
        .map_err(|e| format!("{text}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_flag_table() {
        let config = Config::defaults();
        assert_eq!(config.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.hold_ttl, Duration::from_secs(300));
        assert_eq!(config.hold_max, 4);
        assert_eq!(config.active_max, 100);
        assert_eq!(config.active_ttl, Duration::from_secs(600));
        assert_eq!(config.waiting_idle_ttl, Duration::from_secs(300));
        assert_eq!(config.waiting_max, 1_000_000);
        assert_eq!(config.charge_max, 1_000_000_000);
        assert_eq!(config.balance_max, 10_000_000_000);
        assert_eq!(config.seats_per_date_max, 1000);
        assert_eq!(config.body_limit, 16 * 1024);
        assert_eq!(config.snapshot_interval, Duration::from_secs(60));
        assert_eq!(config.fsync, FsyncPolicy::Always);
        assert!(config.admin_key.is_none());
        assert_eq!(config.user_rate_limit, 50);
        assert_eq!(config.actor_requests_max, 16_384);
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.metrics_addr.is_none());
        assert_eq!(config.client_rate_limit, 20);
        assert_eq!(config.client_timeout, Duration::from_secs(10));
        assert_eq!(config.max_connections, 25_000);
        assert_eq!(config.max_connections_per_client, 256);
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.pow_difficulty, 0);
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(config.actor_threads as usize, cores.min(ACTOR_THREADS_MAX as usize));
        assert!(!config.is_cluster());
        assert_eq!(config.lease_ttl, Duration::from_secs(5));
        assert_eq!(config.replicas, 3);
        assert!(config.advertise_url.is_none());
    }

    #[test]
    fn cluster_mode_needs_a_node_id_and_the_admin_key() {
        assert!(Config::try_parse_from(["server", "--nats", "nats://127.0.0.1:4222"]).is_err());
        assert!(Config::try_parse_from(["server", "--node-id", "a"]).is_err());
        let key = ["--admin-key", "sixteen-chars!!!"];
        let cluster =
            Config::try_parse_from(["server", "--nats", "nats://a:4222,nats://b:4222", "--node-id", "node-1"]).unwrap();
        assert_eq!(cluster.nats, ["nats://a:4222", "nats://b:4222"]);
        assert!(cluster.is_cluster());
        assert!(cluster.check().is_err(), "no admin key");
        let keyed = Config::try_parse_from(
            [
                ["server", "--nats", "nats://a:4222", "--node-id", "n1"].as_slice(),
                &key,
            ]
            .concat(),
        )
        .unwrap();
        assert!(keyed.check().is_ok());
        assert!(Config::try_parse_from(["server", "--nats", "nats://a:4222", "--node-id", "no spaces"]).is_err());
        assert!(Config::try_parse_from(["server", "--lease-ttl", "500ms"]).is_err());
        assert!(Config::try_parse_from(["server", "--lease-ttl", "2m"]).is_err());
        assert!(Config::try_parse_from(["server", "--replicas", "0"]).is_err());
    }

    #[test]
    fn actor_threads_are_at_least_one_and_read_from_the_flag_or_the_environment() {
        let config = Config::try_parse_from(["server", "--actor-threads", "3"]).unwrap();
        assert_eq!(config.actor_threads, 3);
        assert!(Config::try_parse_from(["server", "--actor-threads", "0"]).is_err());
        assert!(Config::try_parse_from(["server", "--actor-threads", "1025"]).is_err());
        let command = <Config as clap::CommandFactory>::command();
        let flag = command
            .get_arguments()
            .find(|arg| arg.get_long() == Some("actor-threads"));
        let variable = flag.and_then(clap::Arg::get_env);
        assert_eq!(variable, Some(std::ffi::OsStr::new("CONCERT_ACTOR_THREADS")));
    }

    #[test]
    fn flags_accept_human_durations_sizes_and_a_bare_port() {
        let config = Config::try_parse_from([
            "server",
            "--hold-ttl",
            "300ms",
            "--addr",
            ":0",
            "--body-limit",
            "1MiB",
            "--fsync",
            "never",
        ])
        .unwrap();
        assert_eq!(config.hold_ttl, Duration::from_millis(300));
        assert_eq!(config.addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.body_limit, 1024 * 1024);
        assert_eq!(config.fsync, FsyncPolicy::Never);
    }

    #[test]
    fn nonsense_values_are_refused() {
        assert!(Config::try_parse_from(["server", "--hold-ttl", "soon"]).is_err());
        assert!(Config::try_parse_from(["server", "--hold-ttl", "0s"]).is_err());
        assert!(Config::try_parse_from(["server", "--active-ttl", "367days"]).is_err());
        assert!(Config::try_parse_from(["server", "--active-ttl", "366days"]).is_ok());
        assert!(Config::try_parse_from(["server", "--active-max", "0"]).is_err());
        assert!(Config::try_parse_from(["server", "--body-limit", "lots"]).is_err());
        assert!(Config::try_parse_from(["server", "--admin-key", ""]).is_err());
        assert!(Config::try_parse_from(["server", "--trusted-proxies", "10.0.0.0/8,nonsense"]).is_err());
        let proxies = Config::try_parse_from(["server", "--trusted-proxies", "10.0.0.0/8, 192.0.2.7"]).unwrap();
        assert_eq!(proxies.trusted_proxies.len(), 2);
        assert!(Config::try_parse_from(["server", "--pow-difficulty", "1000001"]).is_err());
        assert!(Config::try_parse_from(["server", "--pow-difficulty", "-1"]).is_err());
        assert!(Config::try_parse_from(["server", "--admin-key", "fifteen-chars!!"]).is_err());
        assert!(Config::try_parse_from(["server", "--admin-key", "sixteen-chars!!!"]).is_ok());
    }
}
