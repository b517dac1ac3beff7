//! The application's shared services: the actor handles, the read-mostly registries, and the
//! work that spans actors.

pub mod admission;
pub mod catalog;
#[cfg(test)]
mod crash_model;
pub mod dates;
#[cfg(test)]
mod disk_damage;
#[cfg(test)]
mod engine_driver;
pub mod idempotency;
pub mod keyed_locks;
#[cfg(test)]
mod on_any_log;
pub mod payments;
pub mod proof_of_work;
pub mod refunds;
pub mod sales;
pub mod snapshots;
pub mod users;
pub mod waitlists;

use crate::actors::concert_date::DateContext;
use crate::actors::hold_ledger::HoldLedger;
use crate::actors::queue::QueueHandle;
use crate::actors::wallet::WalletHandle;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::waiting_room::WaitingRoomLimits;
use crate::domain::wallet::WalletLimits;
use crate::persistence::data_dir::DataDir;
use crate::persistence::file_log::FileLog;
use crate::persistence::log::SharedLog;
use crate::persistence::recovery::{self, Limits, State};
use crate::services::dates::{Spread, SpreadOver, TermOver};
use actix::{Arbiter, ArbiterHandle};
use catalog::Catalog;
use chrono::Duration;
use idempotency::Idempotency;
use proof_of_work::ProofOfWork;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use users::Users;

/// Threads the actors run on, each with its own event loop; dates are spread over them.
pub struct ActorThreads {
    arbiters: Vec<Arbiter>,
    next: AtomicUsize,
}

impl ActorThreads {
    pub fn new(count: usize) -> Self {
        assert!(count >= 1, "actors need a thread");
        Self {
            arbiters: (0..count).map(|_| Arbiter::new()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next thread, round robin.
    pub fn next(&self) -> ArbiterHandle {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.arbiters.len();
        self.arbiters[index].handle()
    }

    pub fn stop(&self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

pub struct Services {
    pub config: Config,
    pub clock: SharedClock,
    pub users: Users,
    pub catalog: Catalog,
    pub queue: QueueHandle,
    /// The concerts' own sales and their rooms.
    pub sales: sales::Sales,
    pub wallet: WalletHandle,
    pub idempotency: Idempotency,
    /// The challenges a client solves before a queue token, when `--pow-difficulty` is set.
    pub proof_of_work: ProofOfWork,
    /// One payment at a time per user.
    pub payment_locks: keyed_locks::KeyedLocks<crate::domain::UserId>,
    pub threads: Arc<ActorThreads>,
    /// Turns true when the application begins a graceful stop, so long-lived answers (event
    /// streams) end instead of holding the stop up.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Where every partition's events go.
    pub log: SharedLog,
    /// The data dir, when the log is on local files.
    pub data_dir: Option<Arc<DataDir>>,
    /// One snapshot at a time.
    snapshotting: tokio::sync::Mutex<()>,
}

impl Services {
    /// Takes the data dir, recovers what it holds and starts the actors on it. Must run inside
    /// an actix system.
    pub fn recover(config: Config, clock: SharedClock) -> std::io::Result<Arc<Self>> {
        let data_dir = Arc::new(DataDir::open(&config.data_dir)?);
        // Before recovery, which makes the tickets' codes with it.
        if !crate::domain::ids::install_token_key(data_dir.token_key()?) {
            // Only where one process serves several data dirs (the tests): tokens still work,
            // read with the first dir's key.
            tracing::debug!("this process keeps the token key of the first data dir it opened");
        }
        if !admission::install_admission_key(data_dir.admission_key()?) {
            tracing::debug!("this process keeps the admission key of the first data dir it opened");
        }
        let started = std::time::Instant::now();
        let (mut state, report) =
            recovery::recover(&data_dir, &recovery_limits(&config)).map_err(std::io::Error::other)?;
        state.room.state.renew_idle_deadlines(clock.now());
        for room in state.sale_rooms.values_mut() {
            room.state.renew_idle_deadlines(clock.now());
        }
        tracing::info!(
            snapshot = ?report.snapshot,
            segments = report.segments,
            entries = report.entries_replayed,
            bytes_cut = report.bytes_cut,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "state recovered"
        );
        let log = FileLog::start(data_dir.clone(), report.next_segment, config.fsync, state.seqs())?;
        Ok(Self::start(config, clock, state, log, Some(data_dir), None))
    }

    /// Starts the actors on a recovered `state`, appending to `log`, which holds everything
    /// `state` does. Must run inside an actix system.
    pub fn start_on(config: Config, clock: SharedClock, state: State, log: SharedLog) -> Arc<Self> {
        Self::start(config, clock, state, log, None, None)
    }

    /// Starts the engine of a cluster on a recovered `state`: the dates are served apart from it
    /// (`spread` says where), their maps in `state` only telling the engine of their holds; the
    /// rest of the partitions append to `log`. Must run inside an actix system.
    pub fn start_spread(
        config: Config,
        clock: SharedClock,
        state: State,
        log: SharedLog,
        spread: SpreadOver,
    ) -> Arc<Self> {
        Self::start(config, clock, state, log, None, Some(spread))
    }

    /// Whether this engine's term is over (in one process, once it stops).
    pub fn term_over(&self) -> TermOver {
        TermOver::new(self.stopping.subscribe(), self.log.clone())
    }

    fn start(
        config: Config,
        clock: SharedClock,
        state: State,
        log: SharedLog,
        data_dir: Option<Arc<DataDir>>,
        spread: Option<SpreadOver>,
    ) -> Arc<Self> {
        let threads = Arc::new(ActorThreads::new(config.actor_threads as usize));
        let requests_max = config.actor_requests_max as usize;
        let stopping = tokio::sync::watch::Sender::new(false);
        let spread = spread.map(|SpreadOver { client, within }| Spread {
            client,
            within,
            over: TermOver::new(stopping.subscribe(), log.clone()),
        });
        let cut_short = recovery::CutShort::of(&state, clock.now());
        let queue = QueueHandle::start(
            state.room,
            cut_short.tokens,
            log.clone(),
            clock.clone(),
            &threads.next(),
            requests_max,
        );
        let wallet = WalletHandle::start(state.wallet, log.clone(), clock.clone(), &threads.next(), requests_max);
        let sales = sales::Sales::restore(
            sales::RecoveredSales {
                records: state.sales,
                rooms: state.sale_rooms,
                unfinished_payments: cut_short.sale_tokens,
            },
            sales::SaleStart {
                log: log.clone(),
                clock: clock.clone(),
                threads: threads.clone(),
                requests_max,
                room_limits: waiting_room_limits(&config),
            },
        );
        let date_context = DateContext {
            clock: clock.clone(),
            hold_ttl: duration(config.hold_ttl),
            hold_max: config.hold_max,
            ledger: Arc::new(HoldLedger::default()),
            reservations: Arc::default(),
            waitlists: Arc::default(),
            requests_max,
            log: log.clone(),
        };
        let services = Arc::new(Self {
            catalog: Catalog::restore(
                state.concerts,
                state.dates,
                cut_short.seats,
                date_context,
                threads.clone(),
                spread,
            ),
            users: Users::restore(state.users, log.clone()),
            idempotency: Idempotency::restore(state.answers, log.clone(), clock.clone()),
            proof_of_work: ProofOfWork::new(config.pow_difficulty, clock.clone()),
            payment_locks: keyed_locks::KeyedLocks::default(),
            queue,
            sales,
            wallet,
            clock,
            config,
            threads,
            stopping,
            log,
            data_dir,
            snapshotting: tokio::sync::Mutex::new(()),
        });
        if !cut_short.refunded_seats.is_empty() {
            tracing::info!(
                seats = cut_short.refunded_seats.len(),
                "freeing the seats of tickets refunded before a crash"
            );
            actix::spawn(refunds::finish_cut_short(services.clone(), cut_short.refunded_seats));
        }
        services
    }
}

/// The room a token was issued in: the site-wide room, or a concert's sale's.
pub enum Room<'a> {
    SiteWide(&'a QueueHandle),
    Sale(sales::Sale),
}

impl std::ops::Deref for Room<'_> {
    type Target = QueueHandle;

    fn deref(&self) -> &QueueHandle {
        match self {
            Self::SiteWide(queue) => queue,
            Self::Sale(sale) => &sale.room,
        }
    }
}

impl Room<'_> {
    /// The sale whose room it is, or none for the site-wide room.
    pub fn sale(&self) -> Option<&sales::Sale> {
        match self {
            Self::SiteWide(_) => None,
            Self::Sale(sale) => Some(sale),
        }
    }
}

impl Services {
    /// The room that issued `token`, told by its number: TOKEN_INVALID if no room has its band.
    pub fn room_of(&self, token: &crate::domain::Token) -> crate::error::Result<Room<'_>> {
        if crate::domain::sale::room_number_of(token.seq()) == 0 {
            return Ok(Room::SiteWide(&self.queue));
        }
        let sale = self.sales.of_token(token).ok_or_else(|| {
            crate::error::Error::new(
                crate::error::ErrorCode::TokenInvalid,
                "The token is unknown, expired or ended.",
            )
        })?;
        Ok(Room::Sale(sale))
    }

    /// Gives back the unpaid holds `user` made with `token`, which died: those on concerts of
    /// the token's room only.
    pub async fn release_holds_made_with(&self, token: &crate::domain::Token, user: crate::domain::UserId) {
        let room = crate::domain::sale::room_number_of(token.seq());
        let in_room = |concert| self.sales.room_number_of_concert(concert) == room;
        self.catalog.release_holds_of(user, in_room).await;
    }
}

/// The limits recovery restores state under.
pub fn recovery_limits(config: &Config) -> Limits {
    Limits {
        room: waiting_room_limits(config),
        wallet: WalletLimits {
            charge_max: config.charge_max,
            balance_max: config.balance_max,
        },
        answer_retention: idempotency::RETENTION,
    }
}

fn waiting_room_limits(config: &Config) -> WaitingRoomLimits {
    WaitingRoomLimits {
        active_max: config.active_max,
        active_ttl: duration(config.active_ttl),
        waiting_idle_ttl: duration(config.waiting_idle_ttl),
        waiting_max: config.waiting_max,
    }
}

fn duration(std: std::time::Duration) -> Duration {
    Duration::from_std(std).expect("configured durations fit in a chrono duration")
}
