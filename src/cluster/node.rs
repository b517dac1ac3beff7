//! A node's life in the cluster. It follows whoever holds the engine's lease; when nobody does,
//! it takes the lease and then the partitions: reads them from JetStream, claims each one with a
//! message after the last it read (so nothing a former owner still sends can follow), rebuilds
//! the state through the same `apply` as every recovery, and starts the engine on it. It renews
//! the lease a third of its TTL at a time, and steps down when it loses the lease, when the
//! lease runs out before a renewal got through, or when JetStream refuses one of its partitions'
//! appends because another node appended first.

use super::date_owner::{DateOwner, DateOwners};
use super::lease::{Held, Holder, Leases, LEASES, MEMBERS};
use super::ownership::Ownership;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::jetstream_log::{ClaimError, JetStreamLog, JetStreamReader, JetStreamSettings};
use crate::persistence::log::EventLog;
use crate::persistence::log::Partition;
use crate::persistence::recovery;
use crate::services::dates::SpreadOver;
use crate::services::ActorThreads;
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
const ADMISSION_KEY: &str = "admission-key";
/// Times a takeover reads its partitions again when a former owner appended meanwhile.
const TAKEOVER_ATTEMPTS: usize = 5;
/// Where the engine says that the catalog has new dates, for the nodes to look at them at once.
pub const DATES_ADDED: &str = "concert.dates.added";
/// How long the engine waits for a date's owner to answer a call. A rush on a few shared cores
/// can keep an owner from answering for two seconds; a fan told UNAVAILABLE only asks again,
/// and a payment so refused is undone, so the wait is long enough not to refuse a busy owner.
const DATE_CALL_WITHIN: Duration = Duration::from_secs(5);
/// How long a starting node tries to read the cluster's shared keys.
const SHARED_KEY_WITHIN: Duration = Duration::from_secs(30);

/// The engine's HTTP server for the other nodes, as the node starts and stops it.
pub trait EngineServer: Send + Sync {
    fn stop(&self) -> BoxFuture<'static, ()>;
}

/// Starts the engine's HTTP server on a node's services.
/// Starts the engine's HTTP server on a node's services for a term, serving only requests that
/// name that term.
pub type StartEngine = Box<dyn Fn(Arc<Services>, String) -> std::io::Result<Box<dyn EngineServer>> + Send + Sync>;

/// What a node serves while it holds the engine's lease.
struct Term {
    held: Held,
    /// The lease's value for this term.
    holder: Holder,
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
    /// Set by a graceful stop: the node takes nothing over any more.
    stopping: AtomicBool,
    start_engine: StartEngine,
    /// The dates this node serves apart from the engine, and its leases on them.
    dates: Arc<DateOwners>,
    date_ownership: Ownership,
    /// When the dates served here were last snapshotted.
    dates_snapshotted: parking_lot::Mutex<Instant>,
    /// Where the dates served here run; kept for as long as the node.
    _date_threads: ActorThreads,
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
            term: String::new(),
        };
        let date_threads = ActorThreads::new(1);
        let date_owner = DateOwner::new(client.clone(), &config, clock.clone(), date_threads.next());
        let date_ownership = Ownership::new(leases.clone(), members.clone(), me.clone());
        Ok(Arc::new(Self {
            dates: Arc::new(DateOwners::new(date_owner)),
            date_ownership,
            dates_snapshotted: parking_lot::Mutex::new(Instant::now()),
            _date_threads: date_threads,
            config,
            clock,
            client,
            leases,
            members,
            me,
            leader: RwLock::new(None),
            term: tokio::sync::Mutex::new(None),
            reachable: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
            start_engine,
        }))
    }

    /// Who serves the partitions now, as last seen.
    pub fn leader(&self) -> Option<Holder> {
        self.leader.read().clone()
    }

    /// Reads who holds the engine's lease now, without waiting for the next look: for a gateway
    /// whose last known holder stopped answering.
    pub async fn look_again(&self) -> Option<Holder> {
        let holder = self.leases.holder(ENGINE_LEASE).await.ok().flatten()?;
        let mut leader = self.leader.write();
        // While this node serves, its own term is the truth.
        if leader.as_ref().is_none_or(|known| known.node_id != self.me.node_id) {
            *leader = Some(holder.clone());
        }
        Some(holder)
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
        // The dates' leases on their own: taking a date over must not hold up the engine's
        // renewals.
        let dates = self.clone();
        actix_web::rt::spawn(async move {
            use futures_util::StreamExt;
            // A new concert's dates are looked at as soon as the engine has stored it.
            let mut added = dates.client.subscribe(DATES_ADDED).await.ok();
            while !dates.stopping.load(Ordering::Relaxed) {
                dates.look_after_dates().await;
                let poked = async {
                    match added.as_mut() {
                        Some(added) => drop(added.next().await),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(period) => {}
                    () = poked => {}
                }
            }
        });
        while !self.stopping.load(Ordering::Relaxed) {
            self.tick().await;
            tokio::time::sleep(period).await;
        }
    }

    async fn tick(&self) {
        {
            let mut term = self.term.lock().await;
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            match term.take() {
                Some(current) => *term = self.keep(current).await,
                None => *term = self.follow().await,
            }
        }
        // After the lease, which must not wait behind it.
        let announced = self.members.announce(&self.me.node_id, &self.me);
        if tokio::time::timeout(self.leases.ttl() / 3, announced).await.is_err() {
            tracing::debug!("this node could not say where it is in time");
        }
    }

    /// Keeps, gives back and takes the leases of the catalog's dates as placement says, and
    /// snapshots the dates served here every `--snapshot-interval`.
    async fn look_after_dates(&self) {
        if self.stopping.load(Ordering::Relaxed) {
            return;
        }
        match self.dates.dates_in_catalog().await {
            Ok(dates) => {
                if let Err(error) = self.date_ownership.look(&dates, &*self.dates).await {
                    tracing::warn!(%error, "the dates' leases could not be looked at");
                }
            }
            Err(error) => tracing::warn!(%error, "the catalog's dates could not be read"),
        }
        let due = self.dates_snapshotted.lock().elapsed() >= self.config.snapshot_interval;
        if due {
            *self.dates_snapshotted.lock() = Instant::now();
            let dates = self.dates.clone();
            actix_web::rt::spawn(async move { dates.snapshot_served().await });
        }
    }

    /// Renews the lease of the term; ends the term when it cannot go on.
    async fn keep(&self, mut current: Term) -> Option<Term> {
        if let Some(reason) = current.log.failure() {
            tracing::warn!(%reason, "the log stopped; stepping down");
            self.step_down(current, true).await;
            return None;
        }
        match self.leases.renew(ENGINE_LEASE, &current.holder, current.held).await {
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
            *self.leader.write() = Some(holder);
            return None;
        }
        *self.leader.write() = None;
        let holder = Holder {
            term: uuid::Uuid::new_v4().simple().to_string(),
            ..self.me.clone()
        };
        let held = match self.leases.acquire(ENGINE_LEASE, &holder).await {
            Ok(Some(held)) => held,
            Ok(None) => return None,
            Err(error) => {
                tracing::warn!(%error, "the engine's lease could not be taken");
                return None;
            }
        };
        let started = Instant::now();
        // Reading a long log may take longer than the lease: it is kept meanwhile.
        let (keeping, kept) = self.keep_while_taking_over(held, holder.clone());
        let taken = self.take_over().await;
        let _ = keeping.send(true);
        let held = kept.await.ok().flatten();
        match (taken, held) {
            (Ok((services, log)), Some(held)) => match self.begin_term(held, holder.clone(), services.clone(), log) {
                Ok(term) => {
                    let elapsed_ms = started.elapsed().as_millis() as u64;
                    tracing::info!(elapsed_ms, "this node serves every partition");
                    *self.leader.write() = Some(holder);
                    Some(term)
                }
                Err(error) => {
                    tracing::error!(%error, "the engine could not start; giving the lease back");
                    services.threads.stop();
                    let _ = self.leases.release(ENGINE_LEASE, held).await;
                    None
                }
            },
            (Ok((services, _)), None) => {
                tracing::warn!("the lease was lost during the takeover");
                services.threads.stop();
                None
            }
            (Err(error), held) => {
                tracing::error!(%error, "the takeover failed; giving the lease back");
                if let Some(held) = held {
                    let _ = self.leases.release(ENGINE_LEASE, held).await;
                }
                None
            }
        }
    }

    /// Renews `held` every third of the TTL until told to stop; answers the lease as last
    /// renewed, or nothing if it was lost.
    fn keep_while_taking_over(
        &self,
        held: Held,
        me: Holder,
    ) -> (
        tokio::sync::watch::Sender<bool>,
        actix_web::rt::task::JoinHandle<Option<Held>>,
    ) {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let leases = self.leases.clone();
        let keeping = actix_web::rt::spawn(async move {
            let mut held = held;
            loop {
                tokio::select! {
                    _ = stopped.changed() => return Some(held),
                    () = tokio::time::sleep(leases.ttl() / 3) => {}
                }
                match leases.renew(ENGINE_LEASE, &me, held).await {
                    Ok(Some(renewed)) => held = renewed,
                    Ok(None) => return None,
                    Err(_) if Instant::now() >= held.valid_until => return None,
                    Err(_) => {}
                }
            }
        });
        (stop, keeping)
    }

    /// Starts the engine on services taken over, for as long as `held` lasts and is renewed.
    fn begin_term(&self, held: Held, holder: Holder, services: Arc<Services>, log: Arc<JetStreamLog>) -> Result<Term> {
        log.hold_until(held.valid_until);
        let engine = (self.start_engine)(services.clone(), holder.term.clone()).map_err(Error::internal)?;
        let snapshotting = services.clone();
        let snapshots = actix_web::rt::spawn(async move { snapshotting.snapshot_periodically().await });
        Ok(Term {
            held,
            holder,
            services,
            log,
            engine,
            snapshots,
        })
    }

    /// Reads every partition, claims it, and starts its actors. Nothing is acknowledged yet:
    /// the lease's validity is set on the log once the term begins.
    async fn take_over(&self) -> Result<(Arc<Services>, Arc<JetStreamLog>)> {
        for _ in 0..TAKEOVER_ATTEMPTS {
            let log = self.open_log().await?;
            let mut reader = JetStreamReader::load_all(&log).await.map_err(unavailable)?;
            log.resume_from(&reader);
            let limits = recovery_limits(&self.config);
            let mut state = recovery::rebuild(&mut reader, &limits).map_err(unavailable)?;
            match claim_engines(&log, &state).await {
                Ok(()) => {}
                Err(ClaimError::Stale(reason)) => {
                    tracing::info!(%reason, "a former owner appended during the takeover; reading again");
                    continue;
                }
                Err(ClaimError::Unreachable(reason)) => return Err(unavailable(reason)),
            }
            state.room.state.renew_idle_deadlines(self.clock.now());
            for room in state.sale_rooms.values_mut() {
                room.state.renew_idle_deadlines(self.clock.now());
            }
            let spread = SpreadOver {
                client: self.client.clone(),
                within: DATE_CALL_WITHIN,
            };
            let services = Services::start_spread(self.config.clone(), self.clock.clone(), state, log.clone(), spread);
            return Ok((services, log));
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
        // Held to the end: no tick takes the partitions over while the node stops.
        let mut term = self.term.lock().await;
        self.stopping.store(true, Ordering::Relaxed);
        self.dates.snapshot_served().await;
        self.date_ownership.leave(&*self.dates).await;
        let Some(term) = term.take() else {
            return;
        };
        if let Err(error) = term.services.snapshot().await {
            tracing::warn!(%error, "the last snapshot failed; JetStream holds every event anyway");
        }
        term.services.log.stop().await;
        self.step_down(term, true).await;
    }

    /// The partitions this node serves and each one's last entry: the engine's while it leads,
    /// and the dates it serves apart.
    pub async fn partitions(&self) -> Vec<(String, u64)> {
        let mut partitions = self.dates.served_with_last_entries();
        if let Some(term) = self.term.lock().await.as_ref() {
            let engines = (term.log.last_entries().into_iter())
                .filter(|(partition, _)| !matches!(partition, Partition::Date(_)))
                .map(|(partition, last)| (partition.to_string(), last));
            partitions.extend(engines);
        }
        partitions.sort();
        partitions
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

/// Claims every partition `state` holds but the dates, which are served apart.
async fn claim_engines(log: &JetStreamLog, state: &recovery::State) -> std::result::Result<(), ClaimError> {
    let mut partitions: Vec<_> = (state.seqs().into_keys())
        .filter(|partition| !matches!(partition, Partition::Date(_)))
        .collect();
    partitions.sort();
    // Side by side: each claim is a round trip to a quorum, and a sale has many dates.
    use futures_util::StreamExt;
    let claims = futures_util::stream::iter(partitions)
        .map(|partition| log.claim(partition))
        .buffer_unordered(CLAIMS_AT_ONCE);
    futures_util::TryStreamExt::try_collect::<Vec<()>>(claims).await?;
    Ok(())
}

/// How many partitions a takeover claims at once.
const CLAIMS_AT_ONCE: usize = 16;

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
            Err(error) if error.code == ErrorCode::Unavailable && started.elapsed() < READY_WITHIN => {
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
    let key: [u8; 16] = shared_key(&bucket, TOKEN_KEY).await?;
    if !crate::domain::ids::install_token_key(key) {
        tracing::debug!("this process keeps the token key it had before");
    }
    let admission: [u8; 32] = shared_key(&bucket, ADMISSION_KEY).await?;
    if !crate::services::admission::install_admission_key(admission) {
        tracing::debug!("this process keeps the admission key it had before");
    }
    Ok(())
}

/// The cluster's `N`-byte key `name`: the first node to ask makes it, every node reads the same.
/// Nodes starting together race to make it, and a replica may answer a read before it has the
/// winner's write: a key not read yet is asked for again, a while, before the start fails.
async fn shared_key<const N: usize>(bucket: &kv::Store, name: &str) -> Result<[u8; N]> {
    let fresh: [u8; N] = std::array::from_fn(|_| rand::random());
    let started = std::time::Instant::now();
    loop {
        let _ = bucket.create(name, fresh.to_vec().into()).await;
        match bucket.get(name).await {
            Ok(Some(stored)) => {
                return (stored.as_ref().try_into())
                    .map_err(|_| Error::internal(format!("the cluster's {name} is not {N} bytes")))
            }
            Ok(None) | Err(_) if started.elapsed() < SHARED_KEY_WITHIN => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(None) => return Err(unavailable(format!("the cluster's {name} could not be made"))),
            Err(error) => return Err(unavailable(error)),
        }
    }
}

fn unavailable(error: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Unavailable, format!("{error}")).with_retry_after(1)
}
