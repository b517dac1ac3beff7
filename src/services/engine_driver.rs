//! The engine the crash and damage tests drive: the services on a data dir with a manual clock,
//! the commands fans and the operator send, run as the HTTP layer runs them, what anyone can see
//! afterwards, and what must hold after any crash.

use super::{payments, Services};
use crate::actors::queue::Fan;
use crate::clock::ManualClock;
use crate::config::{Config, FsyncPolicy};
use crate::domain::concert::{DateKey, NewDate};
use crate::domain::idempotency::{Endpoint, IdempotencyKey, Scope, StoredResponse};
use crate::domain::seat_map::ReservationStatus;
use crate::domain::waiting_room::TokenStatus;
use crate::domain::wallet::{TransactionType, WalletEvent};
use crate::domain::{ReservationId, Token, UserId};
use crate::error::{ErrorCode, Result};
use crate::persistence::data_dir::DataDir;
use crate::persistence::recovery::{self, Limits, RecoveryError, Report, State};
use crate::persistence::{format, Change};
use chrono::{Duration, NaiveDate};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The fans `Engine::begin` registers.
pub(super) const FANS: usize = 3;
pub(super) const SEATS: u32 = 4;
pub(super) const PRICE: i64 = 1_000;

/// What a fan or the operator does. Fans, dates and holds are picked by index, modulo those
/// there are, so any number picks one.
#[derive(Debug, Clone)]
pub(super) enum Command {
    Register,
    CreateConcert {
        seats: u32,
    },
    Issue {
        fan: usize,
    },
    /// A charge with an Idempotency-Key, as a client that retries safely sends it.
    Charge {
        fan: usize,
        amount: i64,
    },
    Hold {
        fan: usize,
        date: usize,
        seat: i64,
    },
    /// Pays a hold made earlier, as the fan who made it.
    Pay {
        hold: usize,
    },
    /// Pays holds made earlier in one order, as the fan who made the first: those of the three
    /// that are that fan's, each once.
    PayOrder {
        holds: [usize; 3],
    },
    /// Gives back a hold made earlier, as the fan who made it.
    Cancel {
        hold: usize,
    },
    Leave {
        fan: usize,
    },
    Advance {
        minutes: i64,
    },
    Snapshot,
}

/// What the fans were told: only acknowledged answers are here.
#[derive(Debug, Default, Clone)]
pub(super) struct Told {
    pub(super) balances: HashMap<UserId, i64>,
    /// Holds acknowledged, in order: the fan's index, the reservation and the date.
    pub(super) holds: Vec<(usize, ReservationId, DateKey)>,
    /// Reservations paid, and by which token.
    pub(super) paid: HashMap<ReservationId, Token>,
}

/// The engine on a dir, with the fans and the dates it serves.
pub(super) struct Engine {
    pub(super) services: Arc<Services>,
    pub(super) clock: ManualClock,
    pub(super) users: Vec<UserId>,
    tokens: Vec<Option<Token>>,
    pub(super) dates: Vec<DateKey>,
}

/// What outlives the process besides the dir: how it was configured, the time, and whom it
/// served.
#[derive(Clone)]
pub(super) struct Crashed {
    pub(super) config: Config,
    pub(super) clock: ManualClock,
    users: Vec<UserId>,
    tokens: Vec<Option<Token>>,
    dates: Vec<DateKey>,
}

/// The server's defaults on `dir`, with two actor threads and no syncing: a crash here is the
/// process dying, which loses nothing handed to the file.
pub(super) fn config(dir: &Path) -> Config {
    let mut config = Config::defaults();
    config.data_dir = dir.to_path_buf();
    config.fsync = FsyncPolicy::Never;
    config.actor_threads = 2;
    config
}

/// Runs `test` in an actix system of its own, as the services need, and gives back its result.
pub(super) fn run_in_system<T>(test: impl std::future::Future<Output = T>) -> T {
    actix_rt::System::new().block_on(test)
}

/// The limits recovery runs under when these tests call it themselves.
pub(super) fn limits() -> Limits {
    super::recovery_limits(&Config::defaults())
}

/// What recovery rebuilds from the dir at `path`, without starting an engine on it.
pub(super) fn recover(path: &Path) -> std::result::Result<(State, Report), RecoveryError> {
    recovery::recover(&DataDir::open(path)?, &limits())
}

impl Engine {
    /// A fresh engine with `FANS` users and one concert of two dates of `SEATS` seats.
    pub(super) async fn begin(config: Config, clock: ManualClock) -> Self {
        let services = Services::recover(config, Arc::new(clock.clone())).expect("a fresh dir starts");
        let mut engine = Self {
            services,
            clock,
            users: Vec::new(),
            tokens: Vec::new(),
            dates: Vec::new(),
        };
        for _ in 0..FANS {
            engine.register().await;
        }
        engine.create_concert(SEATS).await;
        assert_eq!(engine.users.len(), FANS, "the fans are registered");
        engine
    }

    /// The engine a new process starts on `dir` after a crash. A registration or a concert the
    /// crash cut off is not there, so it is not looked at.
    pub(super) fn restart(dir: &Path, crashed: &Crashed) -> Self {
        let mut config = crashed.config.clone();
        config.data_dir = dir.to_path_buf();
        let clock = crashed.clock.clone();
        let services = Services::recover(config, Arc::new(clock.clone())).expect("the crashed dir recovers");
        let (users, tokens) = (crashed.users.iter().zip(&crashed.tokens))
            .filter(|(user, _)| services.users.get(**user).is_ok())
            .unzip();
        let dates = (crashed.dates.iter().copied())
            .filter(|(concert, date)| services.catalog.date(*concert, *date).is_ok())
            .collect();
        Self {
            services,
            clock,
            users,
            tokens,
            dates,
        }
    }

    /// The process dies: whatever was handed to the journal is written, nothing else happens.
    pub(super) async fn crash(self) -> Crashed {
        self.services.log.stop().await;
        self.services.threads.stop();
        Crashed {
            config: self.services.config.clone(),
            clock: self.clock,
            users: self.users,
            tokens: self.tokens,
            dates: self.dates,
        }
    }

    /// The journal segment being written now.
    pub(super) fn last_segment(&self) -> PathBuf {
        let data_dir = self.services.data_dir.as_ref().expect("the engine is on files");
        let last = data_dir.segments().unwrap().pop().expect("the journal has a segment");
        data_dir.segment_path(last)
    }

    /// The fan's index and user.
    fn fan_at(&self, fan: usize) -> (usize, UserId) {
        let index = fan % self.users.len();
        (index, self.users[index])
    }

    /// The fan's token while it is ACTIVE, as the HTTP layer authenticates it.
    pub(super) fn fan(&self, fan: usize) -> Option<Fan> {
        let fan = self
            .services
            .queue
            .authenticate(&self.tokens[fan % self.users.len()]?)
            .ok()?;
        (fan.status == TokenStatus::Active).then_some(fan)
    }

    /// Runs one command as the HTTP layer would, and notes in `told` what a fan was told.
    pub(super) async fn run(&mut self, command: &Command, told: &mut Told) {
        match *command {
            Command::Register => self.register().await,
            Command::CreateConcert { seats } => self.create_concert(seats).await,
            Command::Issue { fan } => self.issue(fan).await,
            Command::Charge { fan, amount } => {
                let user = self.fan_at(fan).1;
                if let Ok(balance) = self.charge(user, amount).await {
                    told.balances.insert(user, balance);
                }
            }
            Command::Hold { fan, date, seat } => self.hold(fan, date, seat, told).await,
            Command::Pay { hold } => self.pay(hold, told).await,
            Command::PayOrder { holds } => self.pay_order(holds, told).await,
            Command::Cancel { hold } => self.cancel(hold, told).await,
            Command::Leave { fan } => self.leave(fan).await,
            Command::Advance { minutes } => self.clock.advance(Duration::minutes(minutes)),
            Command::Snapshot => {
                self.services.snapshot().await.unwrap();
            }
        }
    }

    async fn register(&mut self) {
        let name = format!("Fan {}", self.users.len());
        if let Ok(user) = self.services.users.register(&name).await {
            self.users.push(user.user_id);
            self.tokens.push(None);
        }
    }

    /// A concert of two dates, the 24th and the 25th of December.
    async fn create_concert(&mut self, seats: u32) {
        let days: [NaiveDate; 2] = ["2026-12-24".parse().unwrap(), "2026-12-25".parse().unwrap()];
        let new_dates = days.map(|date| NewDate {
            date,
            seat_count: seats,
            price: PRICE,
        });
        let created = self.services.catalog.create("Crash".into(), new_dates.to_vec()).await;
        if let Ok(concert) = created {
            self.dates.extend(days.map(|date| (concert.concert_id, date)));
        }
    }

    async fn issue(&mut self, fan: usize) {
        let (index, user) = self.fan_at(fan);
        if let Ok(status) = self.services.queue.issue(user, None).await {
            self.tokens[index] = Some(status.token);
        }
    }

    /// A charge whose answer the wallet journals in the charge's own record, under a key of its
    /// own.
    async fn charge(&self, user: UserId, amount: i64) -> Result<i64> {
        let key = IdempotencyKey::parse(&format!("charge-{}", uuid::Uuid::new_v4())).unwrap();
        let scope = Scope {
            user,
            endpoint: Endpoint::Charges,
            key,
        };
        let wallet = self.services.wallet.clone();
        let work = move |slot: Option<super::idempotency::AnswerSlot>| async move {
            let keyed = slot.map(|slot| slot.keyed(|balance: &i64| StoredResponse::json(200, balance)));
            StoredResponse::json(200, &wallet.charge(user, amount, keyed).await?)
        };
        let answer = self.services.idempotency.run(scope, amount.to_string(), work).await?;
        Ok(answer.body.parse().expect("a balance"))
    }

    async fn hold(&mut self, fan: usize, date: usize, seat: i64, told: &mut Told) {
        if self.fan(fan).is_none() {
            // A fan who wants a seat takes a token first.
            self.issue(fan).await;
        }
        let Some(active) = self.fan(fan) else { return };
        let key = self.dates[date % self.dates.len()];
        let handle = self.services.catalog.date(key.0, key.1).unwrap();
        if let Ok(held) = handle.hold(active.user, seat, active.deadline, None).await {
            told.holds.push((self.fan_at(fan).0, held.reservation_id, key));
        }
    }

    async fn pay(&mut self, hold: usize, told: &mut Told) {
        let Some(&(fan, reservation, _)) = told.holds.get(hold % told.holds.len().max(1)) else {
            return;
        };
        let Some(active) = self.fan(fan) else { return };
        if let Ok(receipt) = payments::pay(self.services.clone(), active, reservation, None).await {
            told.balances.insert(active.user, receipt.balance);
            told.paid.insert(reservation, active.token);
        }
    }

    async fn pay_order(&mut self, holds: [usize; 3], told: &mut Told) {
        let Some(&(fan, _, _)) = told.holds.get(holds[0] % told.holds.len().max(1)) else {
            return;
        };
        let mut order = Vec::new();
        for index in holds {
            let (owner, reservation, _) = told.holds[index % told.holds.len()];
            if owner == fan && !order.contains(&reservation) {
                order.push(reservation);
            }
        }
        let Some(active) = self.fan(fan) else { return };
        if let Ok(receipt) = payments::pay_order(self.services.clone(), active, order.clone(), None).await {
            told.balances.insert(active.user, receipt.balance);
            for reservation in order {
                told.paid.insert(reservation, active.token);
            }
        }
    }

    async fn cancel(&mut self, hold: usize, told: &Told) {
        if let Some(&(fan, reservation, key)) = told.holds.get(hold % told.holds.len().max(1)) {
            let handle = self.services.catalog.date(key.0, key.1).unwrap();
            let _ = handle.cancel(reservation, self.users[fan]).await;
        }
    }

    /// As the HTTP layer leaves: the token ends, then its holds are given back one by one.
    async fn leave(&mut self, fan: usize) {
        let (index, user) = self.fan_at(fan);
        if let Some(token) = self.tokens[index] {
            if self.services.queue.leave(token).await.is_ok() {
                self.services.release_holds_made_with(&token, user).await;
            }
        }
    }

    /// Everything a fan or the operator can see, in a stable order.
    pub(super) async fn observe(&self, told: &Told) -> String {
        let services = &self.services;
        let mut seen = BTreeMap::new();
        seen.insert("users".into(), services.users.count().to_string());
        for user in &self.users {
            let balance = services.wallet.balance(*user).await.unwrap();
            let mut payments: Vec<String> = (services.wallet.payments(*user).await.unwrap().iter())
                .map(|payment| payment.reservation_id.to_string())
                .collect();
            payments.sort();
            seen.insert(format!("user {user}"), format!("{balance} {payments:?}"));
        }
        for (fan, reservation, key) in &told.holds {
            let handle = services.catalog.date(key.0, key.1).unwrap();
            let status = handle.reservation(*reservation, self.users[*fan]).await.unwrap().status;
            seen.insert(format!("hold {reservation}"), format!("{status:?}"));
        }
        for key in &self.dates {
            let counts = services.catalog.date(key.0, key.1).unwrap().counts().await.unwrap();
            seen.insert(format!("date {} {}", key.0, key.1), format!("{counts:?}"));
        }
        let totals = services.wallet.totals().await.unwrap();
        seen.insert("totals".into(), format!("{totals:?}"));
        format!("{seen:#?}")
    }

    /// What must hold after any crash: every acknowledged answer stands, no payment is half
    /// done, money adds up and no charge is on disk without its answer.
    pub(super) async fn assert_consistent(&self, told: &Told, under_way: Option<&Command>) {
        self.assert_acknowledged_balances(told, under_way).await;
        self.assert_payments_finished(told).await;
        self.assert_charges_answered().await;
    }

    async fn assert_acknowledged_balances(&self, told: &Told, under_way: Option<&Command>) {
        for (user, balance) in &told.balances {
            let now = self.services.wallet.balance(*user).await.unwrap();
            let touched_by_crash = match under_way {
                Some(Command::Charge { fan, .. }) => self.fan_at(*fan).1 == *user,
                Some(Command::Pay { .. } | Command::PayOrder { .. }) => true,
                _ => false,
            };
            assert!(
                now == *balance || touched_by_crash,
                "an acknowledged balance changed: {balance} → {now}"
            );
        }
    }

    /// Every payment has its seat sold and no more, none is left under way, the tokens that
    /// paid ended and name their payer, and the money adds up.
    async fn assert_payments_finished(&self, told: &Told) {
        let services = &self.services;
        let mut sold = 0;
        for key in &self.dates {
            let handle = services.catalog.date(key.0, key.1).unwrap();
            sold += handle.counts().await.unwrap().sold;
            let under_way = handle
                .image()
                .await
                .unwrap()
                .expect("the date runs here")
                .state
                .payments_under_way()
                .count();
            assert_eq!(under_way, 0, "a payment is left under way on {key:?}");
        }
        let mut payments = Vec::new();
        for user in &self.users {
            payments.extend(services.wallet.payments(*user).await.unwrap());
        }
        assert_eq!(
            sold,
            payments.len() as u64,
            "every payment has its seat sold and no more"
        );
        for payment in &payments {
            let handle = services.catalog.date(payment.concert_id, payment.date).unwrap();
            let view = handle
                .reservation(payment.reservation_id, payment.user_id)
                .await
                .unwrap();
            assert_eq!(view.status, ReservationStatus::Confirmed, "a paid seat is sold");
        }
        for (reservation, token) in &told.paid {
            assert!(payments.iter().any(|payment| payment.reservation_id == *reservation));
            let refused = services.queue.authenticate(token).unwrap_err();
            assert_eq!(refused.code, ErrorCode::TokenInvalid, "a paying token ended");
            assert!(
                services.queue.paid_by(token).is_some(),
                "a paying token names its payer"
            );
        }
        let totals = services.wallet.totals().await.unwrap();
        assert_eq!(totals.charged, totals.balances + totals.revenue);
        assert_eq!(
            totals.revenue,
            payments.iter().map(|payment| payment.amount).sum::<i64>()
        );
    }

    /// A charge made is never on disk without its answer: a retry of it is answered, not
    /// repeated. Every charge here is keyed.
    async fn assert_charges_answered(&self) {
        let mut charges = 0;
        for user in &self.users {
            let transactions = self.services.wallet.transactions(*user, usize::MAX).await.unwrap();
            charges += transactions
                .iter()
                .filter(|transaction| transaction.kind == TransactionType::Charge)
                .count();
        }
        let answers = self.services.idempotency.image().state;
        let answered = (answers.answers())
            .filter(|(scope, answer)| scope.endpoint == Endpoint::Charges && answer.is_ok())
            .count();
        assert_eq!(charges, answered, "every charge has its answer");
    }
}

/// A dir holding what the crash at `dir` left, with `segment` cut to `kept`: the journal's
/// segments and the snapshots, as a new process finds them.
pub(super) fn cut_copy(dir: &Path, segment: &Path, kept: &[u8]) -> tempfile::TempDir {
    let crashed = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let journaled = path
            .extension()
            .is_some_and(|extension| extension == "log" || extension == "snap");
        if journaled {
            std::fs::copy(&path, crashed.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(crashed.path().join(segment.file_name().unwrap()), kept).unwrap();
    crashed
}

/// The ends of the records of `bytes` written from `from`, starting with the first whose change
/// `first` picks: every place a crash may cut what was written from there on.
pub(super) fn record_ends_from(bytes: &[u8], from: usize, first: impl Fn(&Change) -> bool) -> Vec<usize> {
    let written = format::decode_records(&bytes[from..]).records;
    let mut end = from;
    let mut ends = Vec::new();
    for entry in written {
        let picked = first(&entry.change);
        let mut encoded = Vec::new();
        format::encode_entry(entry, &mut encoded);
        end += encoded.len();
        if picked || !ends.is_empty() {
            ends.push(end);
        }
    }
    ends
}

/// The wallet's record of a payment, keyed or not: the payment's commit point.
pub(super) fn is_payment_recorded(change: &Change) -> bool {
    match change {
        Change::Wallet(WalletEvent::PaymentCompleted { .. } | WalletEvent::OrderPaid { .. }) => true,
        Change::Keyed { work, .. } => is_payment_recorded(work),
        _ => false,
    }
}
