//! Recovery against crashes and damage on disk, on what the engine itself wrote: the journal of
//! a scripted day of the services is cut at every byte, has bytes flipped and lengths that lie,
//! loses a payment's tail; snapshots are damaged, taken mid-payment or of another version; and
//! the engine starts on what is left with exactly what the whole records hold, or refuses to and
//! changes nothing.

use super::engine_driver::{
    config, cut_copy, is_payment_recorded, limits, record_ends_from, recover, run_in_system, Command, Crashed, Engine,
    Told,
};
use super::payments::{self, PaymentReceipt, ReceiptAnswer};
use super::Services;
use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::domain::concert::DateKey;
use crate::domain::idempotency::{Answer, Endpoint, IdempotencyKey, Scope, StoredResponse};
use crate::domain::seat_map::{ReservationStatus, SeatEvent};
use crate::domain::{ReservationId, UserId};
use crate::persistence::data_dir::DataDir;
use crate::persistence::format::{self, FileKind, HEADER_BYTES, MAGIC_BYTES};
use crate::persistence::recovery::{Corruption, CutShort, RecoveryError, State};
use crate::persistence::{frame, snapshot, Change, Entry};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;

fn start_time() -> ManualClock {
    // Not a whole second, so a snapshot that kept less than the full precision shows.
    ManualClock::starting_at("2026-12-01T10:00:00.123456789Z".parse().unwrap())
}

/// Two tokens ACTIVE at once, so the third fan waits until a slot frees.
fn damage_config(dir: &Path) -> Config {
    let mut config = config(dir);
    config.active_max = 2;
    config
}

fn scripted_day() -> Vec<Command> {
    use Command::*;
    vec![
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
        // Paid; then refused for want of money, so that hold goes back as it was.
        Pay { hold: 0 },
        Pay { hold: 1 },
        Cancel { hold: 2 },
        // Past every hold and every token.
        Advance { minutes: 11 },
        Issue { fan: 0 },
        Hold {
            fan: 0,
            date: 1,
            seat: 3,
        },
    ]
}

/// The steps of the scripted day up to the second charge.
const CHARGED: usize = 5;
/// The steps up to the first hold, fan 0's.
const FIRST_HELD: usize = 6;
/// The steps up to the third hold.
const ALL_HELD: usize = 8;

/// The first segment of a journal, the only one a scratch dir holds.
const FIRST_SEGMENT: &str = "journal-00000001.log";

/// An engine in a temporary dir that has run the first `steps` commands of the scripted day.
async fn engine_after(steps: usize) -> (TempDir, Engine, Told) {
    let live = tempfile::tempdir().unwrap();
    let mut engine = Engine::begin(damage_config(live.path()), start_time()).await;
    let mut told = Told::default();
    for command in &scripted_day()[..steps] {
        engine.run(command, &mut told).await;
    }
    (live, engine, told)
}

/// A hold as `describe` shows it: its fan, reservation and date.
type Hold = (UserId, ReservationId, DateKey);

/// The holds the engine acknowledged, with their fans' users.
fn holds(engine: &Engine, told: &Told) -> Vec<Hold> {
    (told.holds.iter())
        .map(|&(fan, reservation, key)| (engine.users[fan], reservation, key))
        .collect()
}

/// The scripted day, run to its end and crashed.
struct Day {
    live: TempDir,
    crashed: Crashed,
    told: Told,
    holds: Vec<Hold>,
    /// What the engine showed last.
    seen: String,
}

impl Day {
    /// Its journal, a single segment.
    fn journal(&self) -> Vec<u8> {
        let dir = DataDir::open(self.live.path()).unwrap();
        assert_eq!(dir.segments().unwrap(), [1], "the day fits one segment");
        std::fs::read(dir.segment_path(1)).unwrap()
    }
}

fn scripted_crash() -> Day {
    run_in_system(async {
        let (live, engine, told) = engine_after(scripted_day().len()).await;
        let holds = holds(&engine, &told);
        let seen = engine.observe(&told).await;
        let crashed = engine.crash().await;
        Day {
            live,
            crashed,
            told,
            holds,
            seen,
        }
    })
}

/// The scripted day's journal, its entries and where each record ends.
fn scripted_journal() -> (Vec<u8>, Vec<Entry>, Vec<usize>) {
    let bytes = scripted_crash().journal();
    let (entries, ends) = segment_entries(&bytes);
    (bytes, entries, ends)
}

/// Everything recovery rebuilt, in a stable order, as of `now`: more than the engine shows (every
/// token with its deadline, every transaction), to the nanosecond.
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
        let view = (state.dates.get(key)).map(|date| date.state.reservation(*reservation, *user, now));
        let status = view.map(|view| view.map(|view| view.status));
        out += &format!("hold {reservation}: {status:?}\n");
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

/// The state a clean prefix of `entries` gives: recovery is replay and nothing else.
fn replay_prefix(entries: &[Entry]) -> State {
    let mut state = State::empty(&limits());
    for entry in entries {
        state.apply(entry.clone()).unwrap();
    }
    state
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

/// The names of the files in the dir.
fn names(path: &Path) -> impl Iterator<Item = String> {
    let entries = std::fs::read_dir(path).unwrap();
    entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
}

/// Every file of the dir and its bytes.
fn contents(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let with_bytes = |name: String| {
        let bytes = std::fs::read(path.join(&name)).unwrap_or_default();
        (name, bytes)
    };
    names(path).map(with_bytes).collect()
}

/// Names in the dir that a snapshot write uses only while it is under way.
fn temporaries(path: &Path) -> Vec<String> {
    names(path).filter(|name| name.ends_with(".tmp")).collect()
}

/// An empty dir with its lock file already made, so that a recovery in it changes nothing else.
fn scratch_dir() -> TempDir {
    let scratch = tempfile::tempdir().unwrap();
    DataDir::open(scratch.path()).unwrap();
    scratch
}

/// Makes `bytes` the one segment of the dir at `path`, removing the torn tails that recoveries
/// before kept there.
fn holding<'a>(path: &'a Path, bytes: &[u8]) -> &'a Path {
    for name in names(path).filter(|name| name.contains(".torn-")) {
        std::fs::remove_file(path.join(name)).unwrap();
    }
    std::fs::write(path.join(FIRST_SEGMENT), bytes).unwrap();
    path
}

/// A dir holding `bytes` as its one segment, its lock file already made.
fn dir_with_segment(bytes: &[u8]) -> TempDir {
    let crashed = scratch_dir();
    holding(crashed.path(), bytes);
    crashed
}

/// Runs `check` for every number below `count` on two threads, each with a scratch dir of its
/// own: the checks are independent, and much of each is the disk syncing a kept tail.
fn on_two_threads(count: usize, check: impl Fn(&Path, usize) + Sync) {
    std::thread::scope(|scope| {
        for first in 0..2 {
            let check = &check;
            scope.spawn(move || {
                let scratch = scratch_dir();
                for number in (first..count).step_by(2) {
                    check(scratch.path(), number);
                }
            });
        }
    });
}

/// A copy of the journal segments of the dir at `path`, without its snapshots.
fn journal_only(path: &Path) -> TempDir {
    let copy = tempfile::tempdir().unwrap();
    for (name, bytes) in contents(path) {
        if name.ends_with(".log") {
            std::fs::write(copy.path().join(name), bytes).unwrap();
        }
    }
    copy
}

#[test]
fn the_engine_starts_again_with_exactly_what_it_showed() {
    let day = scripted_crash();
    for status in ["Confirmed", "Cancelled", "Expired", "sold: 1"] {
        assert!(day.seen.contains(status), "the day ends with {status}: {}", day.seen);
    }
    run_in_system(async {
        let engine = Engine::restart(day.live.path(), &day.crashed);
        assert_eq!(engine.observe(&day.told).await, day.seen);
        engine.assert_consistent(&day.told, None).await;
        engine.crash().await;
    });
}

/// What recovery keeps of a segment cut at `cut`: nothing of a cut header, else up to the last
/// whole record.
fn kept_of(ends: &[usize], cut: usize) -> usize {
    match ends.iter().rev().find(|end| **end <= cut) {
        Some(end) => *end,
        None if cut < HEADER_BYTES => 0,
        None => HEADER_BYTES,
    }
}

#[test]
fn a_journal_cut_at_any_byte_recovers_exactly_the_whole_records_before_the_cut() {
    let day = scripted_crash();
    let bytes = day.journal();
    let (entries, ends) = segment_entries(&bytes);
    let now = day.crashed.clock.now();
    assert_eq!(ends.last(), Some(&bytes.len()));
    let whole = |cut: usize| ends.iter().filter(|end| **end <= cut).count();
    let expected: Vec<String> = (0..=entries.len())
        .map(|whole| describe(&replay_prefix(&entries[..whole]), &day.holds, now))
        .collect();
    on_two_threads(bytes.len() + 1, |scratch, cut| {
        let (state, _) = recover(holding(scratch, &bytes[..cut])).unwrap();
        assert_eq!(describe(&state, &day.holds, now), expected[whole(cut)], "cut at {cut}");
        let length = std::fs::metadata(scratch.join(FIRST_SEGMENT)).unwrap().len();
        assert_eq!(
            length as usize,
            kept_of(&ends, cut),
            "the torn tail is cut off at {cut}"
        );
    });
    // Starting an engine per byte would take long; a cut inside a record recovers as the cut at
    // its start, so the engine starts on every record boundary.
    run_in_system(async {
        for kept in std::iter::once(HEADER_BYTES).chain(ends.iter().copied()) {
            let crashed = dir_with_segment(&bytes[..kept]);
            let engine = Engine::restart(crashed.path(), &day.crashed);
            engine.assert_consistent(&Told::default(), None).await;
            let money = engine.services.wallet.totals().await.unwrap();
            let expected = replay_prefix(&entries[..whole(kept)]);
            assert_eq!(money, expected.wallet.state.totals(), "kept {kept} bytes");
            engine.crash().await;
        }
    });
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_one_before() {
    let (live, crashed, told, seen) = run_in_system(async {
        let live = tempfile::tempdir().unwrap();
        let mut engine = Engine::begin(damage_config(live.path()), start_time()).await;
        let mut told = Told::default();
        for (step, command) in scripted_day().iter().enumerate() {
            engine.run(command, &mut told).await;
            if step % 4 == 3 {
                engine.run(&Command::Snapshot, &mut told).await;
            }
        }
        let seen = engine.observe(&told).await;
        (live, engine.crash().await, told, seen)
    });
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
    let (_, report) = recover(live.path()).unwrap();
    assert_eq!(report.snapshot, Some(snapshots[0]));
    run_in_system(async {
        let engine = Engine::restart(live.path(), &crashed);
        assert_eq!(engine.observe(&told).await, seen);
        engine.crash().await;
    });
}

/// Recovery of a segment damaged in the record starting at `start`, which is not the last one,
/// refuses, names the record and changes nothing.
fn assert_refused_unchanged(scratch: &Path, damaged: &[u8], start: usize, what: &str) -> RecoveryError {
    assert_refused_in(holding(scratch, damaged), start, what)
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
fn assert_cut_and_kept(scratch: &Path, damaged: &[u8], start: usize, kept_entries: &[Entry], what: &str) {
    let (state, _) = recover(holding(scratch, damaged)).unwrap_or_else(|error| panic!("{what}: {error}"));
    let dir = DataDir::open(scratch).unwrap();
    let (now, holds) = (start_time().now(), []);
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

/// Recovery of a segment whose header names another version refuses, names the file and both
/// versions, and changes nothing.
fn assert_refused_as_another_version(scratch: &Path, damaged: &[u8], what: &str) {
    let before = contents(holding(scratch, damaged));
    let refused = recover(scratch)
        .err()
        .unwrap_or_else(|| panic!("{what}: recovery refuses"));
    let RecoveryError::UnknownVersion { path, version } = &refused else {
        panic!("{what}: {refused}");
    };
    assert!(path.ends_with(FIRST_SEGMENT), "{what}: {refused}");
    assert_ne!(version.found, format::FORMAT_VERSION, "{what}");
    let message = refused.to_string();
    for named in [
        format!("version {}", version.found),
        format!("versions {} to {}", format::PREVIOUS_VERSION, format::FORMAT_VERSION),
    ] {
        assert!(message.contains(&named), "{what}: {message}");
    }
    assert!(contents(scratch) == before, "{what}: the refusal changed the dir");
}

#[test]
fn a_flipped_byte_anywhere_but_in_the_last_record_refuses_to_start_and_changes_nothing() {
    let (bytes, entries, ends) = scripted_journal();
    let last_start = ends[ends.len() - 2];
    on_two_threads(bytes.len(), |scratch, position| {
        let mut damaged = bytes.clone();
        damaged[position] ^= 0x24;
        let what = format!("a byte flipped at {position}");
        if position >= last_start {
            let kept = &entries[..entries.len() - 1];
            return assert_cut_and_kept(scratch, &damaged, last_start, kept, &what);
        }
        if (MAGIC_BYTES..HEADER_BYTES).contains(&position) {
            return assert_refused_as_another_version(scratch, &damaged, &what);
        }
        // Without its magic the header is read as the start of a record, which is damaged.
        let (start, next) = match ends.iter().position(|end| *end > position) {
            _ if position < HEADER_BYTES => (0, HEADER_BYTES),
            Some(0) => (HEADER_BYTES, ends[0]),
            Some(record) => (ends[record - 1], ends[record]),
            None => unreachable!("the position is inside the segment"),
        };
        let refused = assert_refused_unchanged(scratch, &damaged, start, &what);
        let RecoveryError::DamagedSegment { found, .. } = refused else {
            unreachable!()
        };
        assert_eq!(found, Corruption::RecordFollows(next as u64), "{what}");
    });
}

#[test]
fn a_length_that_claims_more_than_the_segment_holds_is_corruption_unless_it_is_the_last() {
    let (bytes, entries, ends) = scripted_journal();
    for claimed in [u32::MAX, bytes.len() as u32] {
        let middle = ends[ends.len() / 2];
        let mut damaged = bytes.clone();
        damaged[middle..middle + 4].copy_from_slice(&claimed.to_le_bytes());
        let what = format!("{claimed} bytes in the middle");
        assert_refused_unchanged(scratch_dir().path(), &damaged, middle, &what);

        let last_start = ends[ends.len() - 2];
        let mut damaged = bytes.clone();
        damaged[last_start..last_start + 4].copy_from_slice(&claimed.to_le_bytes());
        let what = format!("{claimed} bytes in the last record");
        let kept = &entries[..entries.len() - 1];
        assert_cut_and_kept(scratch_dir().path(), &damaged, last_start, kept, &what);
    }
}

#[test]
fn zeroes_after_the_last_record_are_a_torn_tail() {
    let (bytes, entries, _) = scripted_journal();
    let mut preallocated = bytes.clone();
    preallocated.extend_from_slice(&[0; 8192]);
    let what = "zeroes after the end";
    assert_cut_and_kept(scratch_dir().path(), &preallocated, bytes.len(), &entries, what);
}

#[test]
fn damage_before_the_last_segment_refuses_to_start_rather_than_lose_writes() {
    let live = run_in_system(async {
        let (live, mut engine, mut told) = engine_after(scripted_day().len()).await;
        engine.services.log.begin_snapshot().await.unwrap();
        engine.run(&Command::Charge { fan: 0, amount: 10 }, &mut told).await;
        engine.crash().await;
        live
    });
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

#[test]
fn a_snapshot_gives_back_exactly_the_state_it_was_taken_of() {
    let (live, crashed, told, seen, holds) = run_in_system(async {
        let (live, mut engine, mut told) = engine_after(ALL_HELD).await;
        engine.clock.advance(Duration::nanoseconds(987_654_321));
        engine.run(&Command::Charge { fan: 2, amount: 300 }, &mut told).await;
        engine.run(&Command::Snapshot, &mut told).await;
        let seen = engine.observe(&told).await;
        let holds = holds(&engine, &told);
        (live, engine.crash().await, told, seen, holds)
    });
    let (from_snapshot, report) = recover(live.path()).unwrap();
    assert!(report.snapshot.is_some(), "recovery starts from the snapshot");
    assert!(from_snapshot.room.state.live_tokens().count() > 0);
    // The journal holds the same changes: replayed from the start, they give the live state.
    let (from_journal, report) = recover(journal_only(live.path()).path()).unwrap();
    assert_eq!(report.snapshot, None);
    let now = crashed.clock.now();
    assert_eq!(
        describe(&from_snapshot, &holds, now),
        describe(&from_journal, &holds, now)
    );
    run_in_system(async {
        let engine = Engine::restart(live.path(), &crashed);
        assert_eq!(engine.observe(&told).await, seen);
        engine.crash().await;
    });
}

fn is_payment_begun(change: &Change) -> bool {
    matches!(change, Change::Seat(_, SeatEvent::PaymentBegun { .. }))
}

#[test]
fn a_hold_snapshotted_mid_payment_is_an_ordinary_hold_once_the_engine_starts() {
    let (live, crashed, told, before) = run_in_system(async {
        let (live, mut engine, mut told) = engine_after(FIRST_HELD).await;
        let before = std::fs::metadata(engine.last_segment()).unwrap().len() as usize;
        engine.run(&Command::Pay { hold: 0 }, &mut told).await;
        (live, engine.crash().await, told, before)
    });
    // The process died just after the seat was marked as being paid.
    let segment = DataDir::open(live.path()).unwrap().segment_path(1);
    let written = std::fs::read(&segment).unwrap();
    let begun = record_ends_from(&written, before, is_payment_begun)[0];
    std::fs::write(&segment, &written[..begun]).unwrap();
    let (state, report) = recover(live.path()).unwrap();
    let (_, reservation, key) = told.holds[0];
    let under_way: Vec<_> = state.dates[&key].state.payments_under_way().collect();
    assert_eq!(under_way, [reservation], "the journal keeps the payment under way");
    // The snapshot a snapshot taken at that moment writes: the state the journal holds.
    let index = report.next_segment;
    snapshot::write(&DataDir::open(live.path()).unwrap(), index, &state.image()).unwrap();
    let (state, report) = recover(live.path()).unwrap();
    assert_eq!(report.snapshot, Some(index));
    let under_way: Vec<_> = state.dates[&key].state.payments_under_way().collect();
    assert_eq!(under_way, [reservation], "the snapshot keeps the payment under way");

    run_in_system(async {
        let engine = Engine::restart(live.path(), &crashed);
        assert_an_ordinary_hold(&engine, reservation, key).await;
        engine.crash().await;
    });
}

/// Fan 0's hold is held and not being paid (the wallet never recorded its payment, so the start
/// aborted it), and it lapses at its time.
async fn assert_an_ordinary_hold(engine: &Engine, reservation: ReservationId, key: DateKey) {
    let handle = engine.services.catalog.date(key.0, key.1).unwrap();
    let map = handle.image().await.unwrap().expect("the date runs here").state;
    assert_eq!(map.payments_under_way().count(), 0, "the payment was aborted");
    let user = engine.users[0];
    let held = handle.reservation(reservation, user).await.unwrap();
    assert_eq!(held.status, ReservationStatus::Held);
    engine.clock.advance(held.held_until - engine.clock.now());
    let lapsed = handle.reservation(reservation, user).await.unwrap();
    assert_eq!(lapsed.status, ReservationStatus::Expired, "it lapses at its time");
    assert_eq!(handle.counts().await.unwrap().held, 0);
}

/// Holds the wallet inside its decision on a payment, where it has applied the payment and not
/// yet handed its record to the journal, until the test lets it go: what other requests do
/// meanwhile is journaled before the payment. One test uses it, once.
struct WalletHold {
    entered: std::sync::atomic::AtomicBool,
    released: std::sync::Mutex<bool>,
    release: std::sync::Condvar,
}

static WALLET_HOLD: WalletHold = WalletHold {
    entered: std::sync::atomic::AtomicBool::new(false),
    released: std::sync::Mutex::new(false),
    release: std::sync::Condvar::new(),
};

/// How long the test waits on the engine while the wallet is held, before it fails rather than
/// hangs.
const HELD_MAX: std::time::Duration = std::time::Duration::from_secs(10);

impl WalletHold {
    /// A keyed payment's answer, which the wallet makes while it decides: the wallet waits
    /// there until let go.
    fn answer(receipt: &PaymentReceipt) -> Answer {
        let hold = &WALLET_HOLD;
        hold.entered.store(true, std::sync::atomic::Ordering::SeqCst);
        let released = hold.released.lock().unwrap();
        let waited = hold
            .release
            .wait_timeout_while(released, HELD_MAX, |released| !*released);
        drop(waited.unwrap());
        StoredResponse::json(201, &receipt.amount)
    }

    /// Waits until the wallet is held.
    async fn entered(&self) {
        let started = std::time::Instant::now();
        while !self.entered.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(started.elapsed() < HELD_MAX, "the wallet never decided the payment");
            actix_rt::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    fn let_go(&self) {
        *self.released.lock().unwrap() = true;
        self.release.notify_all();
    }
}

/// Pays `reservation` with `fan`'s token and an Idempotency-Key, as the HTTP layer pays; `answer`
/// makes the answer, in the wallet's record and for the fan.
async fn pay_keyed(
    services: Arc<Services>,
    fan: crate::actors::queue::Fan,
    reservation: ReservationId,
    answer: ReceiptAnswer,
) -> Answer {
    let scope = Scope {
        user: fan.user,
        endpoint: Endpoint::Payments,
        key: IdempotencyKey::parse("pay-the-first-hold").unwrap(),
    };
    let saga = services.clone();
    let work = move |slot: Option<super::idempotency::AnswerSlot>| async move {
        let receipt = payments::pay(saga, fan, reservation, slot.map(|slot| (slot, answer))).await?;
        answer(&receipt)
    };
    services.idempotency.run(scope, "body".into(), work).await
}

#[test]
fn recovery_ends_only_the_token_that_paid() {
    let (live, crashed, told, paying, later, before) = run_in_system(async {
        let (live, engine, told) = engine_after(FIRST_HELD).await;
        let fan = engine.fan(0).expect("the fan's token is ACTIVE");
        let (_, reservation, _) = told.holds[0];
        let before = std::fs::metadata(engine.last_segment()).unwrap().len() as usize;
        let payment = actix_rt::spawn(pay_keyed(engine.services.clone(), fan, reservation, WalletHold::answer));
        // The payment began with token A; A ends (the fan left) and the fan takes token B before
        // the wallet's record, as requests running beside the payment can. The queue actor runs
        // on another actor thread than the wallet, so it answers meanwhile; were it held too,
        // the timeouts would fail the test rather than hang it.
        WALLET_HOLD.entered().await;
        let queue = &engine.services.queue;
        let left = actix_rt::time::timeout(HELD_MAX, queue.leave(fan.token)).await;
        left.expect("the queue answers while the wallet decides").unwrap();
        let issued = actix_rt::time::timeout(HELD_MAX, queue.issue(fan.user, None)).await;
        let later = issued
            .expect("the queue answers while the wallet decides")
            .unwrap()
            .token;
        WALLET_HOLD.let_go();
        payment.await.unwrap().expect("the payment went through");
        (live, engine.crash().await, told, fan.token, later, before)
    });
    let segment = DataDir::open(live.path()).unwrap().segment_path(1);
    let written = std::fs::read(&segment).unwrap();
    let ends = record_ends_from(&written, before, is_payment_recorded);
    let (_, reservation, key) = told.holds[0];
    // Then the process dies before the sale and the token's end, or between them.
    for &kept in &ends {
        let cut = cut_copy(live.path(), &segment, &written[..kept]);
        if kept == ends[0] {
            let (recovered, _) = recover(cut.path()).unwrap();
            assert_eq!(recovered.room.state.deadline(&paying), None, "A ended first");
            let user = recovered.room.state.user_of(&later).expect("B was issued first");
            let cut_short = CutShort::of(&recovered, crashed.clock.now());
            assert_eq!(cut_short.tokens, [(paying, user)], "A is to be ended");
        }
        run_in_system(async {
            let engine = Engine::restart(cut.path(), &crashed);
            let user = engine.users[0];
            let handle = engine.services.catalog.date(key.0, key.1).unwrap();
            let view = handle.reservation(reservation, user).await.unwrap();
            assert_eq!(view.status, ReservationStatus::Confirmed, "kept {kept} bytes");
            let fan = engine.services.queue.authenticate(&later);
            assert_eq!(fan.map(|fan| fan.user).ok(), Some(user), "the fan's new token lives on");
            assert_eq!(
                engine.services.queue.paid_by(&paying),
                Some(user),
                "the paying token is remembered"
            );
            engine.crash().await;
        });
    }
}

#[test]
fn temporary_snapshot_files_left_behind_go_at_a_start_that_recovers() {
    let day = scripted_crash();
    let bytes = day.journal();
    let stale = ["snapshot-00000001.snap.tmp", "snapshot-00000007.snap.tmp"];
    for name in stale {
        std::fs::write(day.live.path().join(name), b"half a snapshot").unwrap();
    }
    run_in_system(async {
        Engine::restart(day.live.path(), &day.crashed).crash().await;
    });
    assert_eq!(temporaries(day.live.path()), Vec::<String>::new());

    // A start that is refused leaves them, like everything else.
    let (_, ends) = segment_entries(&bytes);
    let mut damaged = bytes.clone();
    damaged[ends[0] + 10] ^= 0x01;
    let refused = dir_with_segment(&damaged);
    std::fs::write(refused.path().join(stale[0]), b"half a snapshot").unwrap();
    assert_refused_in(refused.path(), ends[0], "a stale temporary file");
}

#[test]
fn the_operators_active_max_outlives_a_restart_by_journal_and_by_snapshot() {
    run_in_system(async {
        let live = tempfile::tempdir().unwrap();
        let engine = Engine::begin(damage_config(live.path()), start_time()).await;
        engine.services.queue.set_active_max(7).await.unwrap();
        let crashed = engine.crash().await;
        assert_ne!(crashed.config.active_max, 7, "the configured limit differs");

        let engine = Engine::restart(live.path(), &crashed);
        let stats = engine.services.queue.stats().await.unwrap();
        assert_eq!(stats.active_max, 7, "replayed from the journal");
        // Two snapshots, so the segment with the change is pruned and only a snapshot has it.
        engine.services.snapshot().await.unwrap();
        engine.services.snapshot().await.unwrap();
        let crashed = engine.crash().await;
        let dir = DataDir::open(live.path()).unwrap();
        assert!(!dir.segments().unwrap().contains(&1), "the change's segment is gone");
        drop(dir);

        let engine = Engine::restart(live.path(), &crashed);
        let stats = engine.services.queue.stats().await.unwrap();
        assert_eq!(stats.active_max, 7, "kept by the snapshot");
        engine.crash().await;
    });
}

/// The same file as a build before the header wrote it (format version 2): no header, and the
/// version byte at the start of every payload.
fn as_version_2(bytes: &[u8]) -> Vec<u8> {
    let mut old = Vec::new();
    let mut offset = HEADER_BYTES;
    while offset < bytes.len() {
        let length = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        let payload = &bytes[offset + 8..offset + 8 + length];
        old.extend(frame::frame_payload(&[&[2], payload].concat()));
        offset += 8 + length;
    }
    old
}

#[test]
fn a_data_dir_from_before_the_header_recovers_and_goes_on_in_version_3() {
    // Version 2 snapshots, laid out otherwise, are read in the golden tests (format/golden.rs).
    let day = scripted_crash();
    let live = day.live.path();
    for (name, bytes) in contents(live) {
        if name.ends_with(".log") {
            std::fs::write(live.join(name), as_version_2(&bytes)).unwrap();
        }
    }
    let old = contents(live);
    run_in_system(async {
        let mut engine = Engine::restart(live, &day.crashed);
        assert_eq!(engine.observe(&day.told).await, day.seen, "the version 2 dir recovers");
        let mut told = day.told.clone();
        engine.run(&Command::Register, &mut told).await;
        engine.run(&Command::Charge { fan: 3, amount: 700 }, &mut told).await;
        let seen = engine.observe(&told).await;
        let crashed = engine.crash().await;
        let new = std::fs::read(live.join("journal-00000002.log")).unwrap();
        assert_eq!(new[..HEADER_BYTES], format::header(FileKind::Journal));
        let engine = Engine::restart(live, &crashed);
        assert_eq!(engine.observe(&told).await, seen, "and goes on in version 3");
        engine.crash().await;
    });
    for (name, bytes) in old {
        assert!(contents(live)[&name] == bytes, "{name} is left as it was");
    }
}

#[test]
fn a_snapshot_of_another_version_refuses_the_start_rather_than_fall_back() {
    let live = run_in_system(async {
        let (live, mut engine, mut told) = engine_after(CHARGED).await;
        engine.run(&Command::Snapshot, &mut told).await;
        engine.run(&Command::Charge { fan: 0, amount: 10 }, &mut told).await;
        engine.crash().await;
        live
    });
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
        message.contains("version 7") && message.contains("versions 3 to 5"),
        "{message}"
    );
    let config = damage_config(live.path());
    let started = run_in_system(async { Services::recover(config, Arc::new(start_time())).err() });
    let refused = started.expect("the engine refuses to start");
    assert!(refused.to_string().contains("version 7"), "{refused}");
    assert!(contents(live.path()) == before, "the refusal changed the dir");
}
