//! Recovery against a model: a small engine drives the domain types exactly as the actors do,
//! journals through the real writer, snapshots now and then, and is cut short; recovery must give
//! back what was acknowledged.

use super::data_dir::DataDir;
use super::format::{self, HEADER_BYTES, MAGIC_BYTES};
use super::journal::Journal;
use super::recovery::{self, Corruption, CutShort, Limits, RecoveryError, State};
use super::{snapshot, Change, Entry};
use crate::config::FsyncPolicy;
use crate::domain::concert::{ConcertRecord, NewDate};
use crate::domain::idempotency::{AnswerRecord, Endpoint, IdempotencyKey, Scope, StoredResponse};
use crate::domain::seat_map::ReservationStatus;
use crate::domain::user::User;
use crate::domain::waiting_room::{QueueEvent, WaitingRoomLimits};
use crate::domain::wallet::{Payment, WalletLimits};
use crate::domain::{ConcertId, ReservationId, Token, TokenSecret, TransactionId, UserId};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const HOLD_TTL_MINUTES: i64 = 5;

fn limits() -> Limits {
    Limits {
        room: WaitingRoomLimits {
            active_max: 2,
            active_ttl: Duration::minutes(10),
            waiting_idle_ttl: Duration::minutes(5),
            waiting_max: 1_000,
        },
        wallet: WalletLimits {
            charge_max: 10_000,
            balance_max: 50_000,
        },
        answer_retention: Duration::hours(24),
    }
}

fn start_time() -> DateTime<Utc> {
    // Not a whole second, so a snapshot that kept less than the full precision shows.
    "2026-12-24T10:00:00.123456789Z".parse().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

/// A hold the engine made: its fan, reservation and date.
type Hold = (UserId, ReservationId, (ConcertId, NaiveDate));

/// What a fan or an operator does.
#[derive(Debug, Clone)]
enum Command {
    Register,
    CreateConcert { seats: u32 },
    Issue { fan: usize },
    Leave { fan: usize },
    Charge { fan: usize, amount: i64 },
    Hold { fan: usize, date: usize, seat: i64 },
    Pay { fan: usize, hold: usize },
    Cancel { fan: usize, hold: usize },
    Advance { minutes: i64 },
    Snapshot,
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        1 => Just(Command::Register),
        1 => (1u32..6).prop_map(|seats| Command::CreateConcert { seats }),
        3 => (0usize..8).prop_map(|fan| Command::Issue { fan }),
        1 => (0usize..8).prop_map(|fan| Command::Leave { fan }),
        3 => (0usize..8, 1i64..3_000).prop_map(|(fan, amount)| Command::Charge { fan, amount }),
        4 => (0usize..8, 0usize..4, 0i64..7).prop_map(|(fan, date, seat)| Command::Hold { fan, date, seat }),
        3 => (0usize..8, 0usize..16).prop_map(|(fan, hold)| Command::Pay { fan, hold }),
        1 => (0usize..8, 0usize..16).prop_map(|(fan, hold)| Command::Cancel { fan, hold }),
        1 => (1i64..8).prop_map(|minutes| Command::Advance { minutes }),
        1 => Just(Command::Snapshot),
    ]
}

/// The live side: the state as the actors would hold it, journaled through the real writer.
struct Engine {
    dir: Arc<DataDir>,
    journal: Journal,
    state: State,
    now: DateTime<Utc>,
    users: Vec<UserId>,
    tokens: Vec<Option<Token>>,
    dates: Vec<(ConcertId, NaiveDate)>,
    holds: Vec<Hold>,
    runtime: tokio::runtime::Runtime,
}

impl Engine {
    fn start(path: &Path) -> Self {
        let dir = Arc::new(DataDir::open(path).unwrap());
        let journal = Journal::start(dir.clone(), 1, FsyncPolicy::Never, Default::default()).unwrap();
        Self {
            dir,
            journal,
            state: State::empty(&limits()),
            now: start_time(),
            users: Vec::new(),
            tokens: Vec::new(),
            dates: Vec::new(),
            holds: Vec::new(),
            runtime: runtime(),
        }
    }

    /// Journals changes the domain already applied, waiting until they are durable.
    fn journal_applied(&mut self, changes: Vec<Change>) {
        let mut bytes = Vec::new();
        for change in changes {
            let stream = match &change {
                Change::Keyed { work, .. } => work,
                other => other,
            };
            let part_seq = match stream {
                Change::Queue(_) => &mut self.state.room.seq,
                Change::Seat(key, _) => &mut self.state.dates.get_mut(key).unwrap().seq,
                Change::Wallet(_) => &mut self.state.wallet.seq,
                _ => unreachable!("users, concerts and answers go through apply"),
            };
            *part_seq += 1;
            format::encode_entry(Entry { seq: *part_seq, change }, &mut bytes);
        }
        self.wait_for(bytes);
    }

    /// Applies a change through `State::apply`, as recovery will, and journals it.
    fn apply_and_journal(&mut self, change: Change) {
        let seq = 1 + match &change {
            Change::UserRegistered(_) => self.state.users.seq,
            Change::ConcertCreated(_) => self.state.concerts.seq,
            Change::Answered(_) => self.state.answers.seq,
            _ => unreachable!("the domain applies its own events"),
        };
        let entry = Entry { seq, change };
        self.state.apply(entry.clone()).unwrap();
        self.wait_for(encoded(&entry));
    }

    fn wait_for(&self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.runtime.block_on(self.journal.append(bytes).durable()).unwrap();
        }
    }

    /// Catches up on deadlines as every actor does before a command.
    fn catch_up(&mut self) {
        let now = self.now;
        let expired = self.state.room.state.expire_due(now);
        self.journal_applied(expired.into_iter().map(Change::Queue).collect());
        let keys: Vec<_> = self.state.dates.keys().copied().collect();
        for key in keys {
            let lapsed = self.state.dates.get_mut(&key).unwrap().state.lapse_due(now);
            self.journal_applied(lapsed.into_iter().map(|event| Change::Seat(key, event)).collect());
        }
    }

    fn run(&mut self, command: &Command) {
        self.catch_up();
        match *command {
            Command::Register => self.register(),
            Command::CreateConcert { seats } => self.create_concert(seats),
            Command::Issue { fan } => self.issue(fan),
            Command::Leave { fan } => self.leave(fan),
            Command::Charge { fan, amount } => self.charge(fan, amount),
            Command::Hold { fan, date, seat } => self.hold(fan, date, seat),
            Command::Pay { fan, hold } => self.pay(fan, hold),
            Command::Cancel { fan, hold } => self.cancel(fan, hold),
            Command::Advance { minutes } => self.now += Duration::minutes(minutes),
            Command::Snapshot => self.snapshot(),
        }
    }

    fn register(&mut self) {
        let user = User {
            user_id: UserId::random(),
            name: format!("fan {}", self.users.len()),
        };
        self.users.push(user.user_id);
        self.tokens.push(None);
        self.apply_and_journal(Change::UserRegistered(user));
    }

    fn create_concert(&mut self, seats: u32) {
        let concert_id = ConcertId::random();
        let dates: Vec<NewDate> = (0..2)
            .map(|day| NewDate {
                date: NaiveDate::from_ymd_opt(2026, 12, 24 + day).unwrap(),
                seat_count: seats,
                price: 1_000,
            })
            .collect();
        self.dates.extend(dates.iter().map(|new| (concert_id, new.date)));
        let title = "Winter concert".to_string();
        self.apply_and_journal(Change::ConcertCreated(ConcertRecord {
            concert_id,
            title,
            dates,
        }));
    }

    fn fan(&self, fan: usize) -> Option<(usize, UserId)> {
        let index = fan.checked_rem(self.users.len())?;
        Some((index, self.users[index]))
    }

    fn issue(&mut self, fan: usize) {
        let Some((index, user)) = self.fan(fan) else { return };
        if let Ok((token, events)) = self.state.room.state.issue(user, TokenSecret::random(), self.now) {
            self.tokens[index] = Some(token);
            self.journal_applied(events.into_iter().map(Change::Queue).collect());
        }
    }

    fn leave(&mut self, fan: usize) {
        let Some((index, _)) = self.fan(fan) else { return };
        let Some(token) = self.tokens[index] else { return };
        if let Ok(events) = self.state.room.state.leave(&token, self.now) {
            self.journal_applied(events.into_iter().map(Change::Queue).collect());
        }
    }

    /// A keyed charge, as the wallet actor journals it: a charge made is one entry with its
    /// answer; a charge refused is an answer on its own.
    fn charge(&mut self, fan: usize, amount: i64) {
        let Some((_, user)) = self.fan(fan) else { return };
        let scope = Scope {
            user,
            endpoint: Endpoint::Charges,
            key: IdempotencyKey::parse(&format!("charge-{}", TransactionId::random())).unwrap(),
        };
        let charged = self
            .state
            .wallet
            .state
            .charge(user, amount, TransactionId::random(), self.now);
        let answer = match &charged {
            Ok(_) => StoredResponse::json(200, &self.state.wallet.state.balance(user)),
            Err(refusal) => Err(refusal.clone()),
        };
        let record = AnswerRecord {
            scope,
            fingerprint: "body".into(),
            answer,
            at: self.now,
        };
        match charged {
            Ok(event) => {
                self.state.answers.state.remember_once(&record);
                let work = Box::new(Change::Wallet(event));
                self.journal_applied(vec![Change::Keyed { work, answer: record }]);
            }
            Err(_) => self.apply_and_journal(Change::Answered(record)),
        }
    }

    fn hold(&mut self, fan: usize, date: usize, seat: i64) {
        let Some((_, user)) = self.fan(fan) else { return };
        let Some(&key) = date.checked_rem(self.dates.len()).map(|index| &self.dates[index]) else {
            return;
        };
        let reservation = ReservationId::random();
        let map = &mut self.state.dates.get_mut(&key).unwrap().state;
        let ttl = Duration::minutes(HOLD_TTL_MINUTES);
        if let Ok(event) = map.hold(user, seat, reservation, self.now, ttl, |_| true) {
            self.holds.push((user, reservation, key));
            self.journal_applied(vec![Change::Seat(key, event)]);
        }
    }

    /// The saga as the payment service runs it: mark, debit (the commit point), sell, end the token.
    fn pay(&mut self, fan: usize, hold: usize) {
        let Some((index, _)) = self.fan(fan) else { return };
        let Some(&(user, reservation, key)) = hold.checked_rem(self.holds.len()).map(|i| &self.holds[i]) else {
            return;
        };
        let Some(token) = self.tokens[index].filter(|token| self.state.room.state.user_of(token) == Some(user)) else {
            return;
        };
        let map = &mut self.state.dates.get_mut(&key).unwrap().state;
        let Ok((held, begun)) = map.begin_payment(reservation, user, self.now) else {
            return;
        };
        self.journal_applied(vec![Change::Seat(key, begun)]);
        let payment = Payment::for_hold(&held, self.now);
        let payment_id = payment.payment_id;
        match self.state.wallet.state.pay(payment, TransactionId::random(), token) {
            Ok(paid) => {
                self.journal_applied(vec![Change::Wallet(paid)]);
                let map = &mut self.state.dates.get_mut(&key).unwrap().state;
                let sold = map.complete_payment(reservation, payment_id, self.now);
                self.journal_applied(vec![Change::Seat(key, sold)]);
                let ended = self.state.room.state.end_after_payment(&token, user, self.now);
                self.journal_applied(ended.into_iter().map(Change::Queue).collect());
            }
            Err(_) => {
                let map = &mut self.state.dates.get_mut(&key).unwrap().state;
                let aborted = map.abort_payment(reservation, self.now);
                self.journal_applied(aborted.into_iter().map(|event| Change::Seat(key, event)).collect());
            }
        }
    }

    fn cancel(&mut self, fan: usize, hold: usize) {
        let Some((_, user)) = self.fan(fan) else { return };
        let Some(&(_, reservation, key)) = hold.checked_rem(self.holds.len()).map(|i| &self.holds[i]) else {
            return;
        };
        let map = &mut self.state.dates.get_mut(&key).unwrap().state;
        if let Ok(event) = map.cancel(reservation, user, self.now) {
            self.journal_applied(vec![Change::Seat(key, event)]);
        }
    }

    fn snapshot(&mut self) {
        let index = self.runtime.block_on(self.journal.rotate()).unwrap();
        snapshot::write(&self.dir, index, &self.state.image()).unwrap();
        snapshot::prune(&self.dir).unwrap();
    }

    /// Stops the writer: everything sent is written.
    fn stop(self) -> (State, Vec<Hold>) {
        self.runtime.block_on(self.journal.stop());
        drop(self.dir);
        (self.state, self.holds)
    }
}

/// Everything observable about a state, in a stable order, as of `now`.
fn describe(state: &State, holds: &[Hold], now: DateTime<Utc>) -> String {
    let mut users: Vec<UserId> = state.users.state.iter().map(|user| user.user_id).collect();
    users.sort();
    let mut out = format!("users {users:?}\nconcerts {:?}\n", state.concerts.state);
    let mut keys: Vec<_> = state.dates.keys().copied().collect();
    keys.sort();
    for key in keys {
        out += &format!("date {key:?}: {:?}\n", state.dates[&key].state.seats(now));
    }
    for (user, reservation, key) in holds {
        let view = state
            .dates
            .get(key)
            .map(|date| date.state.reservation(*reservation, *user, now));
        out += &format!(
            "hold {reservation}: {:?}\n",
            view.map(|view| view.map(|view| view.status))
        );
    }
    let mut tokens: Vec<_> = state.room.state.live_tokens().collect();
    tokens.sort_by_key(|(token, ..)| *token);
    out += &format!("room {:?}\ntokens {tokens:?}\n", state.room.state.stats());
    out += &format!("money {:?}\n", state.wallet.state.totals());
    for user in users {
        let wallet = &state.wallet.state;
        out += &format!(
            "wallet {user}: {} {:?} {:?}\n",
            wallet.balance(user),
            wallet.transactions(user, usize::MAX),
            wallet.payments(user)
        );
    }
    out + &format!("answers {}\n", state.answers.state.len())
}

/// A charge made is never on disk without its answer: a retry of it is answered, not repeated.
fn assert_every_charge_is_answered(state: &State) {
    let users = state.users.state.iter().map(|user| user.user_id);
    let charges = users
        .flat_map(|user| state.wallet.state.transactions(user, usize::MAX))
        .filter(|transaction| transaction.kind == crate::domain::wallet::TransactionType::Charge)
        .count();
    let answered = state.answers.state.answers();
    let answered = answered.filter(|(scope, answer)| scope.endpoint == Endpoint::Charges && answer.is_ok());
    assert_eq!(charges, answered.count(), "every charge has its answer");
}

/// One entry as a framed journal record.
fn encoded(entry: &Entry) -> Vec<u8> {
    let mut bytes = Vec::new();
    format::encode_entry(entry.clone(), &mut bytes);
    bytes
}

/// The entries of a whole segment and where each of their records ends.
fn segment_entries(bytes: &[u8]) -> (Vec<Entry>, Vec<usize>) {
    let decoded = format::read_segment(bytes).unwrap();
    assert_eq!(decoded.damage, None, "the segment is whole");
    let ends = (decoded.records.iter())
        .scan(HEADER_BYTES, |end, entry| {
            *end += encoded(entry).len();
            Some(*end)
        })
        .collect();
    (decoded.records, ends)
}

/// The newest journal segment, found without taking the dir's lock.
fn last_segment(path: &Path) -> std::path::PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(path)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
        .collect();
    segments.sort();
    segments.pop().unwrap()
}

fn recover(path: &Path) -> Result<State, RecoveryError> {
    recovery::recover(&DataDir::open(path).unwrap(), &limits()).map(|(state, _)| state)
}

fn scripted_day() -> Vec<Command> {
    use Command::*;
    vec![
        Register,
        Register,
        Register,
        CreateConcert { seats: 4 },
        Issue { fan: 0 },
        Issue { fan: 1 },
        Issue { fan: 2 },
        Charge { fan: 0, amount: 2_500 },
        Charge { fan: 1, amount: 500 },
        Hold {
            fan: 0,
            date: 0,
            seat: 1,
        },
        Hold {
            fan: 1,
            date: 0,
            seat: 2,
        },
        Hold {
            fan: 1,
            date: 1,
            seat: 1,
        },
        Pay { fan: 0, hold: 0 },
        Pay { fan: 1, hold: 1 },
        Cancel { fan: 1, hold: 2 },
        Advance { minutes: 11 },
        Issue { fan: 0 },
        Hold {
            fan: 0,
            date: 1,
            seat: 3,
        },
    ]
}

/// An engine in a temporary dir that has run the first `steps` commands of the scripted day.
fn engine_after(steps: usize) -> (tempfile::TempDir, Engine) {
    let live = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(live.path());
    for command in &scripted_day()[..steps] {
        engine.run(command);
    }
    (live, engine)
}

/// The state a clean prefix of `entries` gives: recovery is replay and nothing else.
fn replay_prefix(entries: &[Entry]) -> State {
    let mut state = State::empty(&limits());
    for entry in entries {
        state.apply(entry.clone()).unwrap();
    }
    state
}

/// What the actors do first when they start on a recovered state, through the same domain
/// calls: finish the payments a crash cut short.
fn started(mut state: State, now: DateTime<Utc>) -> State {
    let cut_short = CutShort::of(&state, now);
    for (key, part) in state.dates.iter_mut() {
        let recorded = cut_short.seats.get(key).map_or(&[][..], Vec::as_slice);
        part.state.finish_payments(recorded, now);
    }
    state.room.state.finish_payments(&cut_short.tokens, now);
    state
}

/// Every payment the wallet recorded has its seat SOLD, and no payment is left under way.
fn assert_every_payment_is_finished(state: &State) {
    for payment in state.wallet.state.all_payments() {
        let map = &state.dates[&(payment.concert_id, payment.date)].state;
        assert_eq!(
            map.recorded_status(payment.reservation_id),
            Some(ReservationStatus::Confirmed),
            "a recorded payment's seat is sold"
        );
    }
    for part in state.dates.values() {
        assert_eq!(part.state.payments_under_way().count(), 0, "a payment left under way");
    }
}

#[test]
fn recovery_gives_back_exactly_what_the_live_side_holds() {
    let (live, engine) = engine_after(scripted_day().len());
    let now = engine.now;
    let expected = describe(&engine.state, &engine.holds, now);
    let (_, holds) = engine.stop();
    let recovered = recover(live.path()).unwrap();
    assert_eq!(describe(&recovered, &holds, now), expected);
    assert!(expected.contains("Confirmed") && expected.contains("Cancelled") && expected.contains("Sold"));
}

#[test]
fn a_journal_cut_at_any_byte_recovers_exactly_the_whole_records_before_the_cut() {
    let live = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(live.path());
    for command in scripted_day() {
        engine.run(&command);
    }
    let now = engine.now;
    let (_, holds) = engine.stop();
    let segment = last_segment(live.path());
    let bytes = std::fs::read(&segment).unwrap();
    let (entries, ends) = segment_entries(&bytes);
    assert_eq!(ends.last(), Some(&bytes.len()));
    for cut in 0..=bytes.len() {
        let crashed = tempfile::tempdir().unwrap();
        let path = crashed.path().join(segment.file_name().unwrap());
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let state = recover(crashed.path()).unwrap();
        assert_every_charge_is_answered(&state);
        let whole = ends.iter().filter(|end| **end <= cut).count();
        let expected = replay_prefix(&entries[..whole]);
        assert_eq!(
            describe(&state, &holds, now),
            describe(&expected, &holds, now),
            "cut at {cut}"
        );
        // A segment cut inside its header holds nothing: all of it goes.
        let kept = match whole {
            0 if cut < HEADER_BYTES => 0,
            0 => HEADER_BYTES,
            _ => ends[whole - 1],
        };
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            kept,
            "the torn tail is cut off at {cut}"
        );
    }
}

/// A crash at a random moment: every command before it was acknowledged; the one under way was
/// written in part.
fn crash_and_recover(commands: &[Command], in_flight: &Command, kept_per_mille: usize) {
    let live = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(live.path());
    for command in commands {
        engine.run(command);
    }
    let acknowledged = engine.state.clone();
    let segment = last_segment(live.path());
    let acknowledged_len = std::fs::metadata(&segment).unwrap().len() as usize;
    engine.run(in_flight);
    let now = engine.now;
    let (_, holds) = engine.stop();
    let bytes = std::fs::read(&segment).unwrap();
    let cut = acknowledged_len + (bytes.len() - acknowledged_len) * kept_per_mille / 1000;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(cut as u64)
        .unwrap();

    let recovered = recover(live.path()).unwrap();
    assert_every_charge_is_answered(&recovered);
    let mut expected = acknowledged;
    for entry in format::decode_records(&bytes[acknowledged_len..cut]).records {
        expected.apply(entry).unwrap();
    }
    assert_eq!(describe(&recovered, &holds, now), describe(&expected, &holds, now));
    assert_every_payment_is_finished(&started(recovered, now));
    let again = recover(live.path()).unwrap();
    assert_eq!(
        describe(&again, &holds, now),
        describe(&expected, &holds, now),
        "a second recovery agrees"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn after_a_crash_at_any_moment_every_acknowledged_write_is_recovered(
        commands in proptest::collection::vec(command(), 1..50),
        in_flight in command(),
        kept_per_mille in 0usize..=1000,
    ) {
        // A snapshot is not a write a fan waits for; the command under way is one that is.
        let in_flight = match in_flight {
            Command::Snapshot => Command::Charge { fan: 0, amount: 100 },
            other => other,
        };
        crash_and_recover(&commands, &in_flight, kept_per_mille);
    }
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_one_before() {
    let live = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(live.path());
    let day = scripted_day();
    for (step, command) in day.iter().enumerate() {
        engine.run(command);
        if step % 5 == 4 {
            engine.run(&Command::Snapshot);
        }
    }
    let now = engine.now;
    let expected = describe(&engine.state, &engine.holds, now);
    let (_, holds) = engine.stop();
    let dir = DataDir::open(live.path()).unwrap();
    let snapshots = dir.snapshots().unwrap();
    assert_eq!(snapshots.len(), 2, "two snapshots are kept");
    assert!(
        dir.segments().unwrap()[0] >= snapshots[0],
        "segments before the older snapshot are gone"
    );
    let newest = dir.snapshot_path(snapshots[1]);
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();
    drop(dir);
    let (state, report) = recovery::recover(&DataDir::open(live.path()).unwrap(), &limits()).unwrap();
    assert_eq!(report.snapshot, Some(snapshots[0]));
    assert_eq!(describe(&state, &holds, now), expected);
}

/// Every file of the dir and its bytes.
fn contents(path: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(path)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap_or_default())
        })
        .collect()
}

/// A dir holding the scripted day as one segment of `bytes`, its lock file already made.
fn dir_with_segment(bytes: &[u8]) -> tempfile::TempDir {
    let crashed = tempfile::tempdir().unwrap();
    let dir = DataDir::open(crashed.path()).unwrap();
    std::fs::write(dir.segment_path(1), bytes).unwrap();
    crashed
}

/// The scripted day's journal, its entries and where each record ends.
fn scripted_journal() -> (Vec<u8>, Vec<Entry>, Vec<usize>) {
    let (live, engine) = engine_after(scripted_day().len());
    engine.stop();
    let bytes = std::fs::read(last_segment(live.path())).unwrap();
    let (entries, ends) = segment_entries(&bytes);
    (bytes, entries, ends)
}

/// Recovery of a segment damaged in the record starting at `start`, which is not the last one,
/// refuses, names the record and changes nothing.
fn assert_refused_unchanged(damaged: &[u8], start: usize, what: &str) -> RecoveryError {
    let crashed = dir_with_segment(damaged);
    assert_refused_in(crashed.path(), start, what)
}

/// Recovery of the dir at `path` refuses, names the record at `start` of segment 1 and changes
/// nothing.
fn assert_refused_in(path: &Path, start: usize, what: &str) -> RecoveryError {
    let before = contents(path);
    let refused = recover(path)
        .err()
        .unwrap_or_else(|| panic!("{what}: recovery refuses"));
    let RecoveryError::DamagedSegment { segment, offset, .. } = &refused else {
        panic!("{what}: {refused}");
    };
    assert_eq!((*segment, *offset), (1, start as u64), "{what}: {refused}");
    assert!(contents(path) == before, "{what}: the refusal changed the dir");
    refused
}

/// Recovery of a segment whose tail from `start` is damaged cuts it, keeps it and gives back
/// the entries before it.
fn assert_cut_and_kept(damaged: &[u8], start: usize, kept_entries: &[Entry], what: &str) {
    let crashed = dir_with_segment(damaged);
    let state = recover(crashed.path()).unwrap_or_else(|error| panic!("{what}: {error}"));
    let dir = DataDir::open(crashed.path()).unwrap();
    let (now, holds) = (start_time(), []);
    let expected = describe(&replay_prefix(kept_entries), &holds, now);
    assert_eq!(describe(&state, &holds, now), expected, "{what}");
    assert_eq!(
        std::fs::read(dir.segment_path(1)).unwrap(),
        damaged[..start],
        "{what}: cut"
    );
    let kept = std::fs::read(dir.torn_tail_path(1, start as u64)).unwrap();
    assert_eq!(kept, damaged[start..], "{what}: the cut bytes are kept");
}

#[test]
fn a_flipped_byte_anywhere_but_in_the_last_record_refuses_to_start_and_changes_nothing() {
    let (bytes, entries, ends) = scripted_journal();
    let last_start = ends[ends.len() - 2];
    for position in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[position] ^= 0x24;
        let what = format!("a byte flipped at {position}");
        if position >= last_start {
            assert_cut_and_kept(&damaged, last_start, &entries[..entries.len() - 1], &what);
            continue;
        }
        if (MAGIC_BYTES..HEADER_BYTES).contains(&position) {
            assert_refused_as_another_version(&damaged, &what);
            continue;
        }
        // Without its magic the header is read as the start of a record, which is damaged.
        let (start, next) = match ends.iter().position(|end| *end > position) {
            _ if position < HEADER_BYTES => (0, HEADER_BYTES),
            Some(0) => (HEADER_BYTES, ends[0]),
            Some(record) => (ends[record - 1], ends[record]),
            None => unreachable!("the position is inside the segment"),
        };
        let refused = assert_refused_unchanged(&damaged, start, &what);
        let RecoveryError::DamagedSegment { found, .. } = refused else {
            unreachable!()
        };
        assert_eq!(found, Corruption::RecordFollows(next as u64), "{what}");
    }
}

/// Recovery of a segment whose header names another version refuses, names the file and both
/// versions, and changes nothing.
fn assert_refused_as_another_version(damaged: &[u8], what: &str) {
    let crashed = dir_with_segment(damaged);
    let before = contents(crashed.path());
    let refused = recover(crashed.path())
        .err()
        .unwrap_or_else(|| panic!("{what}: recovery refuses"));
    let RecoveryError::UnknownVersion { path, version } = &refused else {
        panic!("{what}: {refused}");
    };
    assert!(path.ends_with("journal-00000001.log"), "{what}: {refused}");
    assert_ne!(version.found, format::FORMAT_VERSION, "{what}");
    let message = refused.to_string();
    for named in [
        format!("version {}", version.found),
        format!("version {}", format::FORMAT_VERSION),
    ] {
        assert!(message.contains(&named), "{what}: {message}");
    }
    assert!(
        contents(crashed.path()) == before,
        "{what}: the refusal changed the dir"
    );
}

#[test]
fn a_length_that_claims_more_than_the_segment_holds_is_corruption_unless_it_is_the_last() {
    let (bytes, entries, ends) = scripted_journal();
    for claimed in [u32::MAX, bytes.len() as u32] {
        let middle = ends[ends.len() / 2];
        let mut damaged = bytes.clone();
        damaged[middle..middle + 4].copy_from_slice(&claimed.to_le_bytes());
        assert_refused_unchanged(&damaged, middle, &format!("{claimed} bytes in the middle"));

        let last_start = ends[ends.len() - 2];
        let mut damaged = bytes.clone();
        damaged[last_start..last_start + 4].copy_from_slice(&claimed.to_le_bytes());
        let what = format!("{claimed} bytes in the last record");
        assert_cut_and_kept(&damaged, last_start, &entries[..entries.len() - 1], &what);
    }
}

#[test]
fn zeroes_after_the_last_record_are_a_torn_tail() {
    let (bytes, entries, _) = scripted_journal();
    let mut preallocated = bytes.clone();
    preallocated.extend_from_slice(&[0; 8192]);
    assert_cut_and_kept(&preallocated, bytes.len(), &entries, "zeroes after the end");
}

#[test]
fn damage_before_the_last_segment_refuses_to_start_rather_than_lose_writes() {
    let live = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(live.path());
    for command in scripted_day() {
        engine.run(&command);
    }
    engine.runtime.block_on(engine.journal.rotate()).unwrap();
    engine.run(&Command::Charge { fan: 0, amount: 10 });
    engine.stop();
    let first = DataDir::open(live.path()).unwrap().segment_path(1);
    let bytes = std::fs::read(&first).unwrap();
    let (_, ends) = segment_entries(&bytes);
    // The last record of a segment that is not the last is damage too, torn or not.
    for (start, position) in [(HEADER_BYTES, 20), (ends[ends.len() - 2], bytes.len() - 3)] {
        let mut damaged = bytes.clone();
        damaged[position] ^= 0x01;
        std::fs::write(&first, damaged).unwrap();
        let before = contents(live.path());
        let refused = recover(live.path()).err().expect("recovery refuses");
        let RecoveryError::DamagedSegment {
            segment, offset, found, ..
        } = &refused
        else {
            panic!("{refused}");
        };
        assert_eq!(
            (*segment, *offset, found),
            (1, start as u64, &Corruption::SegmentFollows(2))
        );
        assert!(contents(live.path()) == before, "the refusal changed the dir");
    }
}

/// The user's live token, if any.
fn engine_token_of(state: &State, user: UserId) -> Option<Token> {
    let mut tokens = state.room.state.live_tokens();
    tokens.find(|(_, holder, ..)| *holder == user).map(|(token, ..)| token)
}

#[test]
fn a_payment_cut_short_by_a_crash_is_finished_when_the_actors_start() {
    let live = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(live.path());
    let mut day = scripted_day();
    day.truncate(13);
    for command in &day {
        engine.run(command);
    }
    let now = engine.now;
    let (_, holds) = engine.stop();
    // Drop the sale and the token's end that followed the payment of the last command.
    let segment = last_segment(live.path());
    let bytes = std::fs::read(&segment).unwrap();
    let (entries, ends) = segment_entries(&bytes);
    let paid = entries
        .iter()
        .rposition(|entry| {
            matches!(
                entry.change,
                Change::Wallet(crate::domain::wallet::WalletEvent::PaymentCompleted { .. })
            )
        })
        .unwrap();
    std::fs::write(&segment, &bytes[..ends[paid]]).unwrap();

    let recovered = recover(live.path()).unwrap();
    let (user, reservation, key) = holds[0];
    let paying = engine_token_of(&recovered, user).expect("replay alone leaves the token alive");
    let cut_short = CutShort::of(&recovered, now);
    assert_eq!(cut_short.seats[&key].len(), 1, "the seat is to be sold");
    assert_eq!(cut_short.tokens, [(paying, user)], "the token is to be ended");

    let state = started(recovered, now);
    let view = state.dates[&key].state.reservation(reservation, user, now).unwrap();
    assert_eq!(view.status, ReservationStatus::Confirmed);
    assert!(engine_token_of(&state, user).is_none(), "the paying token ended");
    assert_eq!(state.room.state.paid_by(&paying), Some(user));
    assert!(CutShort::of(&state, now).tokens.is_empty(), "nothing is left to finish");
}

#[test]
fn a_snapshot_gives_back_exactly_the_state_it_was_taken_of() {
    let (_live, mut engine) = engine_after(12);
    engine.now += Duration::nanoseconds(987_654_321);
    engine.run(&Command::Issue { fan: 2 });
    let now = engine.now;
    let (state, holds) = engine.stop();
    let bytes = format::encode_snapshot(&state.image()).unwrap();
    let restored = State::from_image(format::decode_snapshot(&bytes).unwrap(), &limits());
    assert!(state.room.state.live_tokens().count() > 0);
    assert_eq!(describe(&restored, &holds, now), describe(&state, &holds, now));
}

#[test]
fn a_hold_snapshotted_mid_payment_is_an_ordinary_hold_once_the_actors_start() {
    let (live, mut engine) = engine_after(10);
    let (user, reservation, key) = engine.holds[0];
    let map = &mut engine.state.dates.get_mut(&key).unwrap().state;
    let (_, begun) = map.begin_payment(reservation, user, engine.now).unwrap();
    engine.journal_applied(vec![Change::Seat(key, begun)]);
    engine.run(&Command::Snapshot);
    let now = engine.now;
    engine.stop();

    let recovered = recover(live.path()).unwrap();
    let under_way: Vec<_> = recovered.dates[&key].state.payments_under_way().collect();
    assert_eq!(under_way, [reservation], "the snapshot keeps the payment under way");
    let mut recovered = started(recovered, now);
    let map = &mut recovered.dates.get_mut(&key).unwrap().state;
    assert_eq!(
        map.payments_under_way().count(),
        0,
        "the wallet never recorded it: aborted"
    );
    let held_until = map.reservation(reservation, user, now).unwrap().held_until;
    let lapsed = map.lapse_due(held_until);
    assert!(lapsed.contains(&crate::domain::seat_map::SeatEvent::HoldLapsed {
        reservation,
        at: held_until
    }));
    assert!(map.live_holds().all(|(held, ..)| held != reservation));
}

#[test]
fn recovery_ends_only_the_token_that_paid() {
    let (live, mut engine) = engine_after(10);
    let (user, reservation, key) = engine.holds[0];
    let paying = engine.tokens[0].unwrap();
    // The payment begins with token A; A ends (the fan left) and the fan takes token B before
    // the wallet commits; then the process dies before the sale.
    let map = &mut engine.state.dates.get_mut(&key).unwrap().state;
    let (held, begun) = map.begin_payment(reservation, user, engine.now).unwrap();
    engine.journal_applied(vec![Change::Seat(key, begun)]);
    engine.run(&Command::Leave { fan: 0 });
    engine.run(&Command::Issue { fan: 0 });
    let later = engine.tokens[0].unwrap();
    assert_ne!(later, paying);
    let payment = Payment::for_hold(&held, engine.now);
    let paid = engine
        .state
        .wallet
        .state
        .pay(payment, TransactionId::random(), paying)
        .unwrap();
    engine.journal_applied(vec![Change::Wallet(paid)]);
    let now = engine.now;
    engine.stop();

    let state = started(recover(live.path()).unwrap(), now);
    let view = state.dates[&key].state.reservation(reservation, user, now).unwrap();
    assert_eq!(view.status, ReservationStatus::Confirmed);
    assert_eq!(
        engine_token_of(&state, user),
        Some(later),
        "the fan's new token lives on"
    );
    assert_eq!(
        state.room.state.paid_by(&paying),
        Some(user),
        "the paying token is remembered"
    );
}

/// Names in the dir that a snapshot write uses only while it is under way.
fn temporaries(path: &Path) -> Vec<String> {
    let names = contents(path).into_keys();
    names.filter(|name| name.ends_with(".tmp")).collect()
}

#[test]
fn a_failed_snapshot_write_leaves_no_temporary_file() {
    let live = tempfile::tempdir().unwrap();
    let dir = DataDir::open(live.path()).unwrap();
    // A dir where the snapshot belongs: the temporary file is written, but cannot be renamed.
    std::fs::create_dir(dir.snapshot_path(3)).unwrap();
    let image = State::empty(&limits()).image();
    assert!(snapshot::write(&dir, 3, &image).is_err());
    assert_eq!(temporaries(live.path()), Vec::<String>::new());
    snapshot::write(&dir, 4, &image).unwrap();
    assert!(snapshot::read(&dir, 4).is_ok(), "the next write is whole");
}

#[test]
fn temporary_snapshot_files_left_behind_go_at_a_start_that_recovers() {
    let (bytes, _, ends) = scripted_journal();
    let stale = ["snapshot-00000001.snap.tmp", "snapshot-00000007.snap.tmp"];
    let crashed = dir_with_segment(&bytes);
    for name in stale {
        std::fs::write(crashed.path().join(name), b"half a snapshot").unwrap();
    }
    recover(crashed.path()).unwrap();
    assert_eq!(temporaries(crashed.path()), Vec::<String>::new());

    // A start that is refused leaves them, like everything else.
    let mut damaged = bytes.clone();
    damaged[ends[0] + 10] ^= 0x01;
    let refused = dir_with_segment(&damaged);
    std::fs::write(refused.path().join(stale[0]), b"half a snapshot").unwrap();
    assert_refused_in(refused.path(), ends[0], "a stale temporary file");
}

#[test]
fn the_operators_active_max_outlives_a_restart_by_journal_and_by_snapshot() {
    let changed = Entry {
        seq: 1,
        change: Change::Queue(QueueEvent::ActiveMaxChanged {
            active_max: 7,
            at: start_time(),
        }),
    };
    let segment = [&format::header(format::FileKind::Journal)[..], &encoded(&changed)].concat();
    let journaled = dir_with_segment(&segment);
    let state = recover(journaled.path()).unwrap();
    assert_eq!(state.room.state.stats().active_max, 7, "replayed from the journal");

    let snapshotted = tempfile::tempdir().unwrap();
    let dir = DataDir::open(snapshotted.path()).unwrap();
    snapshot::write(&dir, 1, &state.image()).unwrap();
    drop(dir);
    let state = recover(snapshotted.path()).unwrap();
    assert_eq!(state.room.state.stats().active_max, 7, "kept by the snapshot");
    assert_ne!(limits().room.active_max, 7, "the configured limit differs");
}

/// The same file as a build before the header wrote it (format version 2): no header, and the
/// version byte at the start of every payload.
fn as_version_2(bytes: &[u8]) -> Vec<u8> {
    let mut old = Vec::new();
    let mut offset = HEADER_BYTES;
    while offset < bytes.len() {
        let length = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        let payload = &bytes[offset + 8..offset + 8 + length];
        old.extend(super::frame::frame_payload(&[&[2], payload].concat()));
        offset += 8 + length;
    }
    old
}

#[test]
fn a_data_dir_from_before_the_header_recovers_and_goes_on_in_version_3() {
    // Version 2 snapshots, laid out otherwise, are read in the golden tests (format/golden.rs).
    let (live, engine) = engine_after(scripted_day().len());
    let now = engine.now;
    let expected = describe(&engine.state, &engine.holds, now);
    let (_, holds) = engine.stop();
    for (name, bytes) in contents(live.path()) {
        if name.ends_with(".log") {
            std::fs::write(live.path().join(name), as_version_2(&bytes)).unwrap();
        }
    }
    let old = contents(live.path());

    let dir = Arc::new(DataDir::open(live.path()).unwrap());
    let (mut state, report) = recovery::recover(&dir, &limits()).unwrap();
    assert_eq!(report.snapshot, None);
    assert_eq!(describe(&state, &holds, now), expected);
    let journal = Journal::start(dir.clone(), report.next_segment, FsyncPolicy::Never, Default::default()).unwrap();
    let user = User {
        user_id: UserId::random(),
        name: "after the upgrade".into(),
    };
    let entry = Entry {
        seq: state.users.seq + 1,
        change: Change::UserRegistered(user),
    };
    state.apply(entry.clone()).unwrap();
    runtime().block_on(async {
        journal.append(encoded(&entry)).durable().await.unwrap();
        journal.stop().await;
    });
    drop(dir);

    let new = std::fs::read(live.path().join("journal-00000002.log")).unwrap();
    assert_eq!(new[..HEADER_BYTES], format::header(format::FileKind::Journal));
    let recovered = recover(live.path()).unwrap();
    assert_eq!(describe(&recovered, &holds, now), describe(&state, &holds, now));
    for (name, bytes) in old {
        assert!(contents(live.path())[&name] == bytes, "{name} is left as it was");
    }
}

#[test]
fn a_snapshot_of_another_version_refuses_the_start_rather_than_fall_back() {
    let (live, mut engine) = engine_after(9);
    engine.run(&Command::Snapshot);
    engine.run(&Command::Charge { fan: 0, amount: 10 });
    engine.stop();
    let path = DataDir::open(live.path()).unwrap().snapshot_path(2);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[MAGIC_BYTES..HEADER_BYTES].copy_from_slice(&7u32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let before = contents(live.path());

    let refused = recover(live.path()).err().expect("recovery refuses");
    let RecoveryError::UnknownVersion { path: named, version } = &refused else {
        panic!("{refused}");
    };
    assert_eq!((named, version.found), (&path, 7));
    let message = refused.to_string();
    assert!(message.contains("snapshot-00000002.snap"), "{message}");
    assert!(
        message.contains("version 7") && message.contains("version 3"),
        "{message}"
    );
    assert!(contents(live.path()) == before, "the refusal changed the dir");
}
