//! A node's life in the cluster. It follows whoever holds the engine's lease; when nobody does,
//! it takes the lease and then the partitions: reads them from JetStream, claims each one with a
//! message after the last it read (so nothing a former owner still sends can follow), rebuilds
//! the state through the same `apply` as every recovery, and starts the engine on it. It renews
//! the lease a third of its TTL at a time, and steps down when it loses the lease, when the
//! lease runs out before a renewal got through, or when JetStream refuses one of its partitions'
//! appends because another node appended first.

use super::lease::{Held, Holder, Leases, LEASES, MEMBERS};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::jetstream_log::{ClaimError, JetStreamLog, JetStreamReader, JetStreamSettings};
use crate::persistence::recovery;
use crate::services::{recovery_limits, Services};
use async_nats::jetstream::{self, kv};
use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lease whose holder serves every partition.
pub const ENGINE_LEASE: &str = "engine";
/// The bucket of what every node must agree on.
const SHARED: &str = "concert-shared";
const TOKEN_KEY: &str = "token-key";
/// Times a takeover reads its partitions again when a former owner appended meanwhile.
const TAKEOVER_ATTEMPTS: usize = 5;

/// The engine's HTTP server for the other nodes, as the node starts and stops it.
pub trait EngineServer: Send + Sync {
    fn stop(&self) -> BoxFuture<'static, ()>;
}

/// Starts the engine's HTTP server on a node's services.
pub type StartEngine = Box<dyn Fn(Arc<Services>) -> std::io::Result<Box<dyn EngineServer>> + Send + Sync>;

/// What a node serves while it holds the engine's lease.
struct Term {
    held: Held,
    services: Arc<Services>,
    log: Arc<JetStreamLog>,
    engine: Box<dyn EngineServer>,
    snapshots: actix_web::rt::task::JoinHandle<()>,
}

pub struct Node {
    config: Config,
    clock: SharedClock,
    client: async_nats::Client,
    leases: Leases,
    members: Leases,
    me: Holder,
    /// Who serves the partitions, as last seen; this node while it does.
    leader: RwLock<Option<Holder>>,
    term: tokio::sync::Mutex<Option<Term>>,
    /// JetStream answered the last time the node asked it.
    reachable: AtomicBool,
    start_engine: StartEngine,
}

impl Node {
    /// Connects to NATS and joins the cluster as a follower. `peer_url` is where this node's
    /// engine will serve the others once it leads.
    pub async fn join(
        config: Config,
        clock: SharedClock,
        peer_url: String,
        start_engine: StartEngine,
    ) -> Result<Arc<Self>> {
        let client = connect(&config).await?;
        let js = jetstream::new(client.clone());
        let replicas = usize::from(config.replicas);
        let ttl = config.lease_ttl;
        // A cluster of NATS servers starting with the node elects its leaders first.
        let leases = until_ready(|| Leases::open(&js, LEASES, ttl, replicas)).await?;
        let members = until_ready(|| Leases::open(&js, MEMBERS, ttl, replicas)).await?;
        until_ready(|| install_shared_token_key(&js, replicas)).await?;
        let me = Holder {
            node_id: config.node_id.clone().expect("a cluster node has an id"),
            peer_url,
            url: config
                .advertise_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.addr)),
        };
        Ok(Arc::new(Self {
            config,
            clock,
            client,
            leases,
            members,
            me,
            leader: RwLock::new(None),
            term: tokio::sync::Mutex::new(None),
            reachable: AtomicBool::new(true),
            start_engine,
        }))
    }

    /// Who serves the partitions now, as last seen.
    pub fn leader(&self) -> Option<Holder> {
        self.leader.read().clone()
    }

    pub fn me(&self) -> &Holder {
        &self.me
    }

    /// Whether JetStream answered the last time the node asked it.
    pub fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// Follows, takes over and renews, a third of the lease's TTL at a time, for as long as the
    /// node runs.
    pub async fn run(self: Arc<Self>) {
        let period = self.leases.ttl() / 3;
        loop {
            self.tick().await;
            tokio::time::sleep(period).await;
        }
    }

    async fn tick(&self) {
        if let Err(error) = self.members.announce(&self.me.node_id, &self.me).await {
            tracing::debug!(%error, "this node could not say where it is");
        }
        let mut term = self.term.lock().await;
        match term.take() {
            Some(current) => *term = self.keep(current).await,
            None => *term = self.follow().await,
        }
    }

    /// Renews the lease of the term; ends the term when it cannot go on.
    async fn keep(&self, mut current: Term) -> Option<Term> {
        if let Some((partition, reason)) = current.log.fenced_partitions().into_iter().next() {
            tracing::warn!(%partition, %reason, "a partition was taken from this node; stepping down");
            self.step_down(current, true).await;
            return None;
        }
        match self.leases.renew(ENGINE_LEASE, &self.me, current.held).await {
            Ok(Some(held)) => {
                self.reachable.store(true, Ordering::Relaxed);
                current.held = held;
                current.log.hold_until(held.valid_until);
                Some(current)
            }
            Ok(None) => {
                tracing::warn!("the engine's lease was lost; stepping down");
                self.step_down(current, false).await;
                None
            }
            Err(error) if Instant::now() >= current.held.valid_until => {
                self.reachable.store(false, Ordering::Relaxed);
                tracing::warn!(%error, "the engine's lease ran out unrenewed; stepping down");
                self.step_down(current, false).await;
                None
            }
            Err(error) => {
                self.reachable.store(false, Ordering::Relaxed);
                tracing::warn!(%error, "the engine's lease could not be renewed yet");
                Some(current)
            }
        }
    }

    /// Notes who leads; takes the lease and the partitions when nobody does.
    async fn follow(&self) -> Option<Term> {
        let holder = match self.leases.holder(ENGINE_LEASE).await {
            Ok(holder) => holder,
            Err(error) => {
                self.reachable.store(false, Ordering::Relaxed);
                tracing::warn!(%error, "JetStream does not answer");
                return None;
            }
        };
        self.reachable.store(true, Ordering::Relaxed);
        if let Some(holder) = holder {
            *self.leader.write() = (holder != self.me).then_some(holder);
            return None;
        }
        *self.leader.write() = None;
        let held = match self.leases.acquire(ENGINE_LEASE, &self.me).await {
            Ok(Some(held)) => held,
            Ok(None) => return None,
            Err(error) => {
                tracing::warn!(%error, "the engine's lease could not be taken");
                return None;
            }
        };
        let started = Instant::now();
        match self.take_over(held).await {
            Ok(term) => {
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "this node serves every partition"
                );
                *self.leader.write() = Some(self.me.clone());
                Some(term)
            }
            Err(error) => {
                tracing::error!(%error, "the takeover failed; giving the lease back");
                let _ = self.leases.release(ENGINE_LEASE, held).await;
                None
            }
        }
    }

    /// Reads every partition, claims it, and starts the engine on it.
    async fn take_over(&self, held: Held) -> Result<Term> {
        for _ in 0..TAKEOVER_ATTEMPTS {
            let log = self.open_log().await?;
            log.hold_until(held.valid_until);
            let mut reader = JetStreamReader::load_all(&log).await.map_err(unavailable)?;
            log.resume_from(&reader);
            let limits = recovery_limits(&self.config);
            let mut state = recovery::rebuild(&mut reader, &limits).map_err(unavailable)?;
            match claim_all(&log, &state).await {
                Ok(()) => {}
                Err(ClaimError::Stale(reason)) => {
                    tracing::info!(%reason, "a former owner appended during the takeover; reading again");
                    continue;
                }
                Err(ClaimError::Unreachable(reason)) => return Err(unavailable(reason)),
            }
            state.room.state.renew_idle_deadlines(self.clock.now());
            let services = Services::start_on(self.config.clone(), self.clock.clone(), state, log.clone());
            let engine = (self.start_engine)(services.clone()).map_err(Error::internal)?;
            let snapshotting = services.clone();
            let snapshots = actix_web::rt::spawn(async move { snapshotting.snapshot_periodically().await });
            return Ok(Term {
                held,
                services,
                log,
                engine,
                snapshots,
            });
        }
        Err(Error::new(
            ErrorCode::Unavailable,
            "The partitions kept changing under the takeover.",
        ))
    }

    async fn open_log(&self) -> Result<Arc<JetStreamLog>> {
        let settings = JetStreamSettings {
            replicas: usize::from(self.config.replicas),
        };
        JetStreamLog::open(self.client.clone(), &settings).await
    }

    /// Ends a term: the engine stops serving and its actors stop. With `release`, the lease is
    /// given back at once so that another node need not wait for it to expire.
    async fn step_down(&self, term: Term, release: bool) {
        *self.leader.write() = None;
        term.snapshots.abort();
        // Event streams end instead of holding the engine's stop up.
        term.services.stopping.send_replace(true);
        term.engine.stop().await;
        term.services.threads.stop();
        if release {
            let _ = self.leases.release(ENGINE_LEASE, term.held).await;
        }
    }

    /// A graceful stop: the last snapshot, every append stored, the lease given back, so another
    /// node takes over at its next look instead of after the TTL.
    pub async fn stop(&self) {
        let Some(term) = self.term.lock().await.take() else {
            return;
        };
        if let Err(error) = term.services.snapshot().await {
            tracing::warn!(%error, "the last snapshot failed; JetStream holds every event anyway");
        }
        term.services.log.stop().await;
        self.step_down(term, true).await;
    }

    /// The partitions this node serves and each one's last entry, while it leads.
    pub async fn partitions(&self) -> Vec<(String, u64)> {
        let term = self.term.lock().await;
        let Some(term) = term.as_ref() else {
            return Vec::new();
        };
        (term.log.last_entries().into_iter())
            .map(|(partition, last)| (partition.to_string(), last))
            .collect()
    }

    /// Every node that said where it is within the lease's TTL.
    pub async fn members(&self) -> Vec<Holder> {
        let members = self.members.all().await.unwrap_or_default();
        let mut members: Vec<Holder> = members.into_iter().map(|(_, holder)| holder).collect();
        members.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        members
    }

    /// The services of the term, while this node leads.
    pub async fn services(&self) -> Option<Arc<Services>> {
        self.term.lock().await.as_ref().map(|term| term.services.clone())
    }

    pub fn lease_ttl(&self) -> Duration {
        self.leases.ttl()
    }
}

/// Claims every partition `state` holds.
async fn claim_all(log: &JetStreamLog, state: &recovery::State) -> std::result::Result<(), ClaimError> {
    let mut partitions: Vec<_> = state.seqs().into_keys().collect();
    partitions.sort();
    for partition in partitions {
        log.claim(partition).await?;
    }
    Ok(())
}

/// How long a node waits at its start for JetStream to answer.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// `step` once it succeeds, tried again every half second while JetStream is not ready yet.
async fn until_ready<T, F, Fut>(mut step: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let started = Instant::now();
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(error) if started.elapsed() < READY_WITHIN => {
                tracing::info!(%error, "JetStream is not ready yet");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

async fn connect(config: &Config) -> Result<async_nats::Client> {
    let addresses: Vec<async_nats::ServerAddr> = (config.nats.iter())
        .map(|url| {
            url.parse()
                .map_err(|error| Error::invalid_request(format!("--nats {url}: {error}")))
        })
        .collect::<Result<_>>()?;
    async_nats::ConnectOptions::new()
        .name(config.node_id.clone().unwrap_or_default())
        .retry_on_initial_connect()
        .connect(addresses)
        .await
        .map_err(unavailable)
}

/// The key tokens are printed and read with, the same on every node: the first node makes it.
async fn install_shared_token_key(js: &jetstream::Context, replicas: usize) -> Result<()> {
    let bucket = match js.get_key_value(SHARED).await {
        Ok(bucket) => bucket,
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: SHARED.into(),
                history: 1,
                num_replicas: replicas,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(unavailable)?,
    };
    let fresh: [u8; 16] = rand::random();
    let _ = bucket.create(TOKEN_KEY, fresh.to_vec().into()).await;
    let stored = bucket.get(TOKEN_KEY).await.map_err(unavailable)?;
    let key: [u8; 16] = (stored.as_deref())
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| Error::internal("the cluster's token key is not 16 bytes"))?;
    if !crate::domain::ids::install_token_key(key) {
        tracing::debug!("this process keeps the token key it had before");
    }
    Ok(())
}

fn unavailable(error: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Unavailable, format!("{error}")).with_retry_after(1)
}
