//! The application's shared services: the actor handles, the read-mostly registries, and the
//! work that spans actors.

pub mod catalog;
pub mod hold_ledger;
pub mod idempotency;
pub mod keyed_locks;
pub mod payments;
pub mod users;

use crate::actors::concert_date::DateContext;
use crate::actors::queue::QueueHandle;
use crate::actors::wallet::WalletHandle;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::waiting_room::{WaitingRoom, WaitingRoomLimits};
use crate::domain::wallet::{Wallet, WalletLimits};
use actix::{Arbiter, ArbiterHandle};
use catalog::Catalog;
use chrono::Duration;
use hold_ledger::HoldLedger;
use idempotency::Idempotency;
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
    pub wallet: WalletHandle,
    pub idempotency: Idempotency,
    /// One payment at a time per user.
    pub payment_locks: keyed_locks::KeyedLocks<crate::domain::UserId>,
    /// Tokens whose payment is under way, and their users.
    pub paying_tokens: dashmap::DashMap<crate::domain::Token, crate::domain::UserId>,
    pub threads: Arc<ActorThreads>,
    /// Turns true when the application begins a graceful stop, so long-lived answers (event
    /// streams) end instead of holding the stop up.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

impl Services {
    /// Starts the actors. Must run inside an actix system.
    pub fn start(config: Config, clock: SharedClock) -> Arc<Self> {
        let threads = Arc::new(ActorThreads::new(2));
        let requests_max = config.actor_requests_max as usize;
        let room = WaitingRoom::new(waiting_room_limits(&config));
        let queue = QueueHandle::start(room, clock.clone(), &threads.next(), requests_max);
        let wallet_limits = WalletLimits {
            charge_max: config.charge_max,
            balance_max: config.balance_max,
        };
        let wallet = WalletHandle::start(Wallet::new(wallet_limits), clock.clone(), &threads.next(), requests_max);
        let date_context = DateContext {
            clock: clock.clone(),
            hold_ttl: duration(config.hold_ttl),
            hold_max: config.hold_max,
            ledger: Arc::new(HoldLedger::default()),
            reservations: Arc::default(),
            requests_max,
        };
        Arc::new(Self {
            catalog: Catalog::new(date_context, threads.clone()),
            users: Users::default(),
            idempotency: Idempotency::new(clock.clone()),
            payment_locks: keyed_locks::KeyedLocks::default(),
            paying_tokens: dashmap::DashMap::new(),
            queue,
            wallet,
            clock,
            config,
            threads,
            stopping: tokio::sync::watch::Sender::new(false),
        })
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
