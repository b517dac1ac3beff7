//! The crash model run against the engine itself: the actors, the journal, the payment saga and
//! recovery exactly as the server runs them. Commands go through the services; the process dies
//! with the last command's records cut at any byte; a new engine starts on the dir. Everything
//! acknowledged before the crash is there, the command under way is there whole or not at all,
//! no payment is left half done, and money adds up.

use super::{payments, Services};
use crate::actors::queue::Fan;
use crate::clock::ManualClock;
use crate::config::{Config, FsyncPolicy};
use crate::domain::concert::{DateKey, NewDate};
use crate::domain::seat_map::ReservationStatus;
use crate::domain::wallet::WalletEvent;
use crate::domain::{ReservationId, Token, UserId};
use crate::error::ErrorCode;
use crate::persistence::{format, Change};
use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const FANS: usize = 3;
const SEATS: u32 = 4;
const PRICE: i64 = 1_000;

#[derive(Debug, Clone)]
enum Command {
    Issue {
        fan: usize,
    },
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

fn command() -> impl Strategy<Value = Command> {
    let fan = 0..FANS;
    prop_oneof![
        1 => fan.clone().prop_map(|fan| Command::Issue { fan }),
        2 => (fan.clone(), 500i64..4_000).prop_map(|(fan, amount)| Command::Charge { fan, amount }),
        3 => (fan.clone(), 0..2usize, 1..=i64::from(SEATS)).prop_map(|(fan, date, seat)| Command::Hold { fan, date, seat }),
        3 => (0..8usize).prop_map(|hold| Command::Pay { hold }),
        1 => (0..8usize).prop_map(|hold| Command::Cancel { hold }),
        1 => fan.prop_map(|fan| Command::Leave { fan }),
        1 => (1i64..4).prop_map(|minutes| Command::Advance { minutes }),
        1 => Just(Command::Snapshot),
    ]
}

/// What the fans were told: only acknowledged answers are here.
#[derive(Debug, Default, Clone)]
struct Told {
    balances: HashMap<UserId, i64>,
    /// Holds acknowledged, in order: the fan and the date.
    holds: Vec<(usize, ReservationId, DateKey)>,
    /// Reservations paid, and by which token.
    paid: HashMap<ReservationId, Token>,
}

/// The engine on a dir, with the fans and the concert it serves.
struct Engine {
    services: Arc<Services>,
    clock: ManualClock,
    users: Vec<UserId>,
    tokens: Vec<Option<Token>>,
    dates: Vec<DateKey>,
}

fn config(dir: &Path) -> Config {
    let mut config = Config::defaults();
    config.data_dir = dir.to_path_buf();
    config.fsync = FsyncPolicy::Never;
    config.actor_threads = 2;
    config
}

impl Engine {
    /// A fresh engine with `FANS` users and one concert of two dates.
    async fn begin(dir: &Path, clock: ManualClock) -> Self {
        let services = Services::recover(config(dir), Arc::new(clock.clone())).expect("a fresh dir starts");
        let mut users = Vec::new();
        for fan in 0..FANS {
            users.push(services.users.register(&format!("Fan {fan}")).await.unwrap().user_id);
        }
        let days: [NaiveDate; 2] = ["2026-12-24".parse().unwrap(), "2026-12-25".parse().unwrap()];
        let new_dates = days.map(|date| NewDate {
            date,
            seat_count: SEATS,
            price: PRICE,
        });
        let concert = services
            .catalog
            .create("Crash".into(), new_dates.to_vec())
            .await
            .unwrap();
        let dates = days.map(|date| (concert.concert_id, date)).to_vec();
        Self {
            services,
            clock,
            users,
            tokens: vec![None; FANS],
            dates,
        }
    }

    /// The engine a new process starts on `dir` after a crash.
    fn restart(dir: &Path, clock: ManualClock, users: Vec<UserId>, dates: Vec<DateKey>) -> Self {
        let services = Services::recover(config(dir), Arc::new(clock.clone())).expect("the crashed dir recovers");
        Self {
            services,
            clock,
            users,
            tokens: vec![None; FANS],
            dates,
        }
    }

    /// The process dies: whatever was handed to the journal is written, nothing else happens.
    async fn crash(self) -> (ManualClock, Vec<UserId>, Vec<DateKey>) {
        self.services.log.stop().await;
        self.services.threads.stop();
        (self.clock, self.users, self.dates)
    }

    /// The journal segment being written now.
    fn last_segment(&self) -> PathBuf {
        let data_dir = self.services.data_dir.as_ref().expect("the engine is on files");
        let last = data_dir.segments().unwrap().pop().expect("the journal has a segment");
        data_dir.segment_path(last)
    }

    fn fan(&self, fan: usize) -> Option<Fan> {
        let fan = self.services.queue.authenticate(&self.tokens[fan]?).ok()?;
        (fan.status == crate::domain::waiting_room::TokenStatus::Active).then_some(fan)
    }

    /// Runs one command as the HTTP layer would, and notes in `told` what a fan was told.
    async fn run(&mut self, command: &Command, told: &mut Told) {
        let services = &self.services;
        match *command {
            Command::Issue { fan } => {
                if let Ok(status) = services.queue.issue(self.users[fan], None).await {
                    self.tokens[fan] = Some(status.token);
                }
            }
            Command::Charge { fan, amount } => {
                if let Ok(balance) = services.wallet.charge(self.users[fan], amount, None).await {
                    told.balances.insert(self.users[fan], balance);
                }
            }
            Command::Hold { fan, date, seat } => {
                if self.fan(fan).is_none() {
                    // A fan who wants a seat takes a token first.
                    if let Ok(status) = services.queue.issue(self.users[fan], None).await {
                        self.tokens[fan] = Some(status.token);
                    }
                }
                let Some(active) = self.fan(fan) else { return };
                let handle = services.catalog.date(self.dates[date].0, self.dates[date].1).unwrap();
                if let Ok(held) = handle.hold(active.user, seat, active.deadline, None).await {
                    told.holds.push((fan, held.reservation_id, self.dates[date]));
                }
            }
            Command::Pay { hold } => {
                let Some(&(fan, reservation, _)) = told.holds.get(hold % told.holds.len().max(1)) else {
                    return;
                };
                let Some(active) = self.fan(fan) else { return };
                if let Ok(receipt) = payments::pay(services.clone(), active, reservation, None).await {
                    told.balances.insert(active.user, receipt.balance);
                    told.paid.insert(reservation, active.token);
                }
            }
            Command::Cancel { hold } => {
                if let Some(&(fan, reservation, key)) = told.holds.get(hold % told.holds.len().max(1)) {
                    let handle = services.catalog.date(key.0, key.1).unwrap();
                    let _ = handle.cancel(reservation, self.users[fan]).await;
                }
            }
            Command::Leave { fan } => {
                if let Some(token) = self.tokens[fan] {
                    if services.queue.leave(token).await.is_ok() {
                        services.catalog.release_holds_of(self.users[fan]).await;
                    }
                }
            }
            Command::Advance { minutes } => self.clock.advance(Duration::minutes(minutes)),
            Command::Snapshot => {
                services.snapshot().await.unwrap();
            }
        }
    }

    /// Everything a fan or the operator can see, in a stable order.
    async fn observe(&self, told: &Told) -> String {
        let services = &self.services;
        let mut seen = BTreeMap::new();
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
            seen.insert(format!("date {}", key.1), format!("{counts:?}"));
        }
        let totals = services.wallet.totals().await.unwrap();
        seen.insert("totals".into(), format!("{totals:?}"));
        format!("{seen:#?}")
    }

    /// What must hold after any crash: every acknowledged answer stands, and no payment is half
    /// done.
    async fn assert_consistent(&self, told: &Told, under_way: Option<&Command>) {
        let services = &self.services;
        for (user, balance) in &told.balances {
            let now = services.wallet.balance(*user).await.unwrap();
            let touched_by_crash = match under_way {
                Some(Command::Charge { fan, .. }) => self.users[*fan] == *user,
                Some(Command::Pay { .. }) => true,
                _ => false,
            };
            assert!(
                now == *balance || touched_by_crash,
                "an acknowledged balance changed: {balance} → {now}"
            );
        }
        let mut sold = 0;
        for key in &self.dates {
            sold += services
                .catalog
                .date(key.0, key.1)
                .unwrap()
                .counts()
                .await
                .unwrap()
                .sold;
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
}

fn length(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Runs `commands`, then `under_way`, and dies with the records written after the last
/// acknowledged command cut at `kept_per_mille` of their length; checks the engine that starts.
async fn crash_and_restart(commands: &[Command], under_way: &Command, kept_per_mille: u64) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_at("2026-12-01T10:00:00Z".parse().unwrap());
    let mut engine = Engine::begin(dir.path(), clock).await;
    let mut told = Told::default();
    for command in commands {
        engine.run(command, &mut told).await;
    }
    let segment = engine.last_segment();
    let acknowledged = length(&segment);
    engine.run(under_way, &mut Told::default()).await;
    let (clock, users, dates) = engine.crash().await;
    let written = length(&segment);
    let cut = acknowledged + (written - acknowledged) * kept_per_mille / 1000;
    let file = std::fs::OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len(cut).unwrap();
    drop(file);

    let engine = Engine::restart(dir.path(), clock, users, dates);
    engine.assert_consistent(&told, Some(under_way)).await;
    let seen = engine.observe(&told).await;
    let (clock, users, dates) = engine.crash().await;
    let again = Engine::restart(dir.path(), clock, users, dates);
    assert_eq!(again.observe(&told).await, seen, "a second start sees the same");
    again.crash().await;
}

fn run_in_system(test: impl std::future::Future<Output = ()>) {
    actix_rt::System::new().block_on(test);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn after_a_crash_at_any_moment_the_engine_keeps_every_acknowledged_answer(
        commands in proptest::collection::vec(command(), 1..60),
        under_way in command(),
        kept_per_mille in 0u64..=1000,
    ) {
        run_in_system(crash_and_restart(&commands, &under_way, kept_per_mille));
    }
}

#[test]
fn a_payment_cut_short_after_the_wallets_record_is_finished_when_the_engine_starts() {
    use Command::*;
    let day = [
        Charge { fan: 0, amount: 2_000 },
        Hold {
            fan: 0,
            date: 0,
            seat: 2,
        },
    ];
    run_in_system(async {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::starting_at("2026-12-01T10:00:00Z".parse().unwrap());
        let mut engine = Engine::begin(dir.path(), clock).await;
        let mut told = Told::default();
        for command in &day {
            engine.run(command, &mut told).await;
        }
        let segment = engine.last_segment();
        let before = std::fs::read(&segment).unwrap().len();
        engine.run(&Pay { hold: 0 }, &mut told).await;
        assert_eq!(told.paid.len(), 1, "the payment was acknowledged");
        let (mut clock, users, dates) = engine.crash().await;
        let written = std::fs::read(&segment).unwrap();
        let ends = record_ends_from_payment(&written, before);
        // What the fan's answer did not wait for (the sale, the token remembered, the token
        // ended), lost at every record boundary in turn.
        assert!(ends.len() >= 4, "the payment wrote its records: {ends:?}");
        for &kept in &ends {
            let crashed = tempfile::tempdir().unwrap();
            for entry in std::fs::read_dir(dir.path()).unwrap() {
                let path = entry.unwrap().path();
                if path
                    .extension()
                    .is_some_and(|extension| extension == "log" || extension == "snap")
                {
                    std::fs::copy(&path, crashed.path().join(path.file_name().unwrap())).unwrap();
                }
            }
            std::fs::write(crashed.path().join(segment.file_name().unwrap()), &written[..kept]).unwrap();
            let engine = Engine::restart(crashed.path(), clock, users.clone(), dates.clone());
            engine.assert_consistent(&told, None).await;
            let (_, reservation, key) = told.holds[0];
            let handle = engine.services.catalog.date(key.0, key.1).unwrap();
            let view = handle.reservation(reservation, engine.users[0]).await.unwrap();
            assert_eq!(view.status, ReservationStatus::Confirmed, "kept {kept} bytes");
            (clock, _, _) = engine.crash().await;
        }
    });
}

/// The ends of the records written from `from`, starting with the wallet's record of the
/// payment: every place a crash may cut what the payment wrote after it.
fn record_ends_from_payment(bytes: &[u8], from: usize) -> Vec<usize> {
    let written = format::decode_records(&bytes[from..]).records;
    let mut end = from;
    let mut ends = Vec::new();
    for entry in written {
        let paid = matches!(entry.change, Change::Wallet(WalletEvent::PaymentCompleted { .. }));
        let mut encoded = Vec::new();
        format::encode_entry(entry, &mut encoded);
        end += encoded.len();
        if paid || !ends.is_empty() {
            ends.push(end);
        }
    }
    ends
}
