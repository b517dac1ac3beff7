//! Recovery at start: the newest valid snapshot, then every journal entry after it through the
//! same `apply` that live requests use, and nothing else. A payment a crash cut in half is
//! finished by the actors when they start, as the payment itself would have finished it.
//!
//! Damage in the journal is one of two things. A torn tail is damage at the end of the last
//! segment with no whole record after it: a write the process never finished, cut off at start
//! (its bytes kept beside the segment). Anything else is corruption of bytes written before
//! others: acknowledged writes would be lost by cutting it, so recovery refuses, and it changes
//! the disk only once everything has been read and replayed, so a refused start leaves the data
//! dir exactly as it found it.

use super::data_dir::DataDir;
use super::format::{self, SnapshotError, UnknownVersion};
use super::frame::{self, Damage};
use super::{snapshot, Change, Entry, Image, Part};
use crate::domain::concert::{ConcertRecord, DateKey};
use crate::domain::idempotency::IdempotencyStore;
use crate::domain::seat_map::{RecordedPayment, ReservationStatus, SeatMap};
use crate::domain::user::User;
use crate::domain::waiting_room::{WaitingRoom, WaitingRoomLimits, PAID_TOKEN_MEMORY};
use crate::domain::wallet::{Wallet, WalletLimits};
use crate::domain::{Token, UserId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

/// The limits configured now; replay itself never depends on them.
#[derive(Debug, Clone)]
pub struct Limits {
    pub room: WaitingRoomLimits,
    pub wallet: WalletLimits,
    pub answer_retention: chrono::Duration,
}

/// The whole state, as recovery rebuilds it and the services start from it.
#[derive(Clone)]
pub struct State {
    pub users: Part<Vec<User>>,
    pub concerts: Part<Vec<ConcertRecord>>,
    pub dates: HashMap<DateKey, Part<SeatMap>>,
    pub room: Part<WaitingRoom>,
    pub wallet: Part<Wallet>,
    pub answers: Part<IdempotencyStore>,
}

/// Why the state cannot be recovered; the server refuses to start rather than lose writes.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("reading the data dir: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "the journal segment {} cannot be read past byte {offset} ({damage}), {found}: cutting it there would lose acknowledged writes, so the server refuses to start and has changed nothing on disk (see \"Damage on disk\" in the README)",
        path.display()
    )]
    DamagedSegment {
        segment: u64,
        path: PathBuf,
        /// Where the first damaged record starts.
        offset: u64,
        damage: Damage,
        found: Corruption,
    },
    #[error(
        "{} is of {version}: the server refuses to start and has changed nothing on disk; start it with a build that reads that version",
        path.display()
    )]
    UnknownVersion { path: PathBuf, version: UnknownVersion },
    #[error("journal segment {segment}: {problem}")]
    Inconsistent { segment: u64, problem: String },
    #[error("no snapshot could be read and the journal no longer starts at the beginning (segment {first})")]
    NoStartingPoint { first: u64 },
}

/// What makes damage in the journal corruption rather than a torn tail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("and a whole record follows at byte {0}")]
    RecordFollows(u64),
    #[error("and segment {0} follows it")]
    SegmentFollows(u64),
    #[error("which another version of the server wrote")]
    OtherFormat,
}

/// What recovery did, for the log and the benchmarks.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub snapshot: Option<u64>,
    pub segments: usize,
    pub entries_replayed: u64,
    pub bytes_cut: u64,
    /// Where the bytes cut from a torn tail were kept.
    pub torn_tail_kept: Option<PathBuf>,
    /// The segment the journal continues with.
    pub next_segment: u64,
}

impl State {
    pub fn empty(limits: &Limits) -> Self {
        Self {
            users: Part {
                seq: 0,
                state: Vec::new(),
            },
            concerts: Part {
                seq: 0,
                state: Vec::new(),
            },
            dates: HashMap::new(),
            room: Part {
                seq: 0,
                state: WaitingRoom::new(limits.room.clone()),
            },
            wallet: Part {
                seq: 0,
                state: Wallet::new(limits.wallet),
            },
            answers: Part {
                seq: 0,
                state: IdempotencyStore::new(limits.answer_retention),
            },
        }
    }

    pub fn from_image(image: Image, limits: &Limits) -> Self {
        Self {
            users: image.users,
            concerts: image.concerts,
            dates: image.dates.into_iter().collect(),
            room: Part {
                seq: image.room.seq,
                state: WaitingRoom::restore(limits.room.clone(), image.room.state),
            },
            wallet: Part {
                seq: image.wallet.seq,
                state: image.wallet.state.with_limits(limits.wallet),
            },
            answers: image.answers,
        }
    }

    /// The state as a snapshot keeps it.
    pub fn image(&self) -> Image {
        Image {
            users: self.users.clone(),
            concerts: self.concerts.clone(),
            dates: self.dates.iter().map(|(key, part)| (*key, part.clone())).collect(),
            room: Part {
                seq: self.room.seq,
                state: self.room.state.image(),
            },
            wallet: self.wallet.clone(),
            answers: self.answers.clone(),
        }
    }

    /// Applies one journal entry unless this state already holds it. An entry must follow the
    /// last one of its stream: a gap means a lost record.
    pub fn apply(&mut self, entry: Entry) -> Result<(), String> {
        let Entry { seq, change } = entry;
        match change {
            Change::UserRegistered(user) => follow(&mut self.users, seq, |users| users.push(user)),
            Change::ConcertCreated(concert) => {
                let dates = &mut self.dates;
                follow(&mut self.concerts, seq, |concerts| {
                    add_dates(dates, &concert);
                    concerts.push(concert)
                })
            }
            Change::Queue(event) => follow(&mut self.room, seq, |room| room.apply(&event)),
            Change::Seat(key, event) => {
                let part = self.dates.get_mut(&key).ok_or_else(|| format!("no date {key:?}"))?;
                follow(part, seq, |map| map.apply(&event))
            }
            Change::Wallet(event) => follow(&mut self.wallet, seq, |wallet| wallet.apply(&event)),
            Change::Answered(record) => follow(&mut self.answers, seq, |answers| answers.apply(&record)),
            Change::Keyed { work, answer } => {
                self.apply(Entry { seq, change: *work })?;
                self.answers.state.remember_once(&answer);
                Ok(())
            }
        }
    }
}

/// What a crash cut short between the wallet's record of a payment and its end: found in the
/// recovered state, finished by the actors as they start.
pub struct CutShort {
    /// Per date, the payments the wallet recorded whose seats are not sold yet.
    pub seats: HashMap<DateKey, Vec<RecordedPayment>>,
    /// The tokens of recent payments the waiting room does not know as paid: (token, user).
    pub tokens: Vec<(Token, UserId)>,
}

impl CutShort {
    /// What the recovered `state` leaves unfinished, as of `now`.
    pub fn of(state: &State, now: DateTime<Utc>) -> Self {
        let mut cut_short = Self {
            seats: HashMap::new(),
            tokens: Vec::new(),
        };
        for (payment, token) in state.wallet.state.payments_with_tokens() {
            let key = (payment.concert_id, payment.date);
            let map = &state.dates.get(&key).expect("a payment's date exists").state;
            if map.recorded_status(payment.reservation_id) == Some(ReservationStatus::Held) {
                cut_short.seats.entry(key).or_default().push(RecordedPayment {
                    reservation: payment.reservation_id,
                    payment: payment.payment_id,
                    paid_at: payment.paid_at,
                });
            }
            // The room remembers the token and ends it in two records; a crash may keep the first.
            let room = &state.room.state;
            // A payment a version 2 snapshot kept does not name its token; that token ended then.
            let Some(token) = token else { continue };
            let unremembered = payment.paid_at + PAID_TOKEN_MEMORY > now && room.paid_by(&token).is_none();
            let alive = room.deadline(&token).is_some();
            if unremembered || alive {
                cut_short.tokens.push((token, payment.user_id));
            }
        }
        cut_short
    }
}

/// Applies the entry numbered `seq` to `part` if it is the next one; skips it if `part` has it.
fn follow<T>(part: &mut Part<T>, seq: u64, apply: impl FnOnce(&mut T)) -> Result<(), String> {
    if seq <= part.seq {
        return Ok(());
    }
    if seq != part.seq + 1 {
        return Err(format!("entry {seq} follows entry {}: records are missing", part.seq));
    }
    apply(&mut part.state);
    part.seq = seq;
    Ok(())
}

fn add_dates(dates: &mut HashMap<DateKey, Part<SeatMap>>, concert: &ConcertRecord) {
    for new in &concert.dates {
        // A snapshot may hold a date whose concert came after the catalog's part was taken.
        dates.entry((concert.concert_id, new.date)).or_insert_with(|| Part {
            seq: 0,
            state: SeatMap::new(concert.concert_id, new.date, new.seat_count, new.price),
        });
    }
}

/// Rebuilds the state from `dir`: the newest readable snapshot, then the journal after it. A
/// torn tail is cut off with a warning once everything else has replayed; corruption refuses.
pub fn recover(dir: &DataDir, limits: &Limits) -> Result<(State, Report), RecoveryError> {
    let segments = dir.segments()?;
    let (mut state, start, snapshot) = starting_point(dir, limits, &segments)?;
    let mut report = Report {
        snapshot,
        next_segment: segments.last().map_or(start, |last| (last + 1).max(start)),
        ..Report::default()
    };
    let replayed: Vec<u64> = segments.into_iter().filter(|index| *index >= start).collect();
    let mut torn = None;
    for (position, &segment) in replayed.iter().enumerate() {
        let next = replayed.get(position + 1).copied();
        torn = replay_segment(dir, segment, next, &mut state, &mut report)?;
    }
    report.segments = replayed.len();
    if let Some(torn) = torn {
        cut_torn_tail(dir, torn, &mut report)?;
    }
    snapshot::remove_temporaries(dir)?;
    Ok((state, report))
}

/// The newest snapshot that reads, or the empty state if the journal still starts at its first
/// segment.
fn starting_point(
    dir: &DataDir,
    limits: &Limits,
    segments: &[u64],
) -> Result<(State, u64, Option<u64>), RecoveryError> {
    for index in dir.snapshots()?.into_iter().rev() {
        match snapshot::read(dir, index) {
            Ok(image) => return Ok((State::from_image(image, limits), index, Some(index))),
            // A newer build's snapshot is not passed over: the journal after it is of that
            // build too, and a fallback would let this one prune what that one can read.
            Err(SnapshotError::UnknownVersion(version)) => {
                let path = dir.snapshot_path(index);
                return Err(RecoveryError::UnknownVersion { path, version });
            }
            Err(SnapshotError::Damaged(damage)) => tracing::warn!(
                snapshot = index,
                ?damage,
                "a snapshot is damaged; trying the one before"
            ),
        }
    }
    match segments.first() {
        None | Some(1) => Ok((State::empty(limits), 1, None)),
        Some(&first) => Err(RecoveryError::NoStartingPoint { first }),
    }
}

/// Replays the whole records of `segment`, which segment `next` follows unless it is the last;
/// returns its torn tail, if it has one.
fn replay_segment(
    dir: &DataDir,
    segment: u64,
    next: Option<u64>,
    state: &mut State,
    report: &mut Report,
) -> Result<Option<TornTail>, RecoveryError> {
    let path = dir.segment_path(segment);
    let bytes = fs::read(&path)?;
    let decoded = format::read_segment(&bytes).map_err(|version| RecoveryError::UnknownVersion { path, version })?;
    let torn = match decoded.damage {
        None => None,
        Some(damage) => Some(torn_tail(dir, segment, next, &bytes, decoded.valid_len, damage)?),
    };
    for entry in decoded.records {
        state
            .apply(entry)
            .map_err(|problem| RecoveryError::Inconsistent { segment, problem })?;
        report.entries_replayed += 1;
    }
    Ok(torn)
}

/// The bytes at the end of the last segment that a write the process never finished left: damage
/// with no whole record after it.
#[derive(Debug)]
struct TornTail {
    segment: u64,
    offset: u64,
    bytes: Vec<u8>,
    damage: Damage,
}

/// Damage at `offset` of `segment` as a torn tail, or the corruption it is.
fn torn_tail(
    dir: &DataDir,
    segment: u64,
    next: Option<u64>,
    bytes: &[u8],
    offset: usize,
    damage: Damage,
) -> Result<TornTail, RecoveryError> {
    let found = match (next, &damage) {
        (Some(next), _) => Some(Corruption::SegmentFollows(next)),
        // A record of another format, or one whose checksum holds but whose body this build
        // cannot read, is whole, not torn: cutting it would drop an acknowledged write.
        (None, Damage::UnknownVersion(_) | Damage::Undecodable(_)) => Some(Corruption::OtherFormat),
        (None, _) => frame::next_whole_record(bytes, offset).map(|at| Corruption::RecordFollows(at as u64)),
    };
    match found {
        Some(found) => Err(RecoveryError::DamagedSegment {
            segment,
            path: dir.segment_path(segment),
            offset: offset as u64,
            damage,
            found,
        }),
        None => Ok(TornTail {
            segment,
            offset: offset as u64,
            bytes: bytes[offset..].to_vec(),
            damage,
        }),
    }
}

/// Keeps a torn tail's bytes beside its segment, durably, and only then cuts them off: a crash in
/// between loses nothing, as the next start finds the same tail and keeps it again.
fn cut_torn_tail(dir: &DataDir, torn: TornTail, report: &mut Report) -> io::Result<()> {
    let kept = dir.torn_tail_path(torn.segment, torn.offset);
    let mut file = File::create(&kept)?;
    file.write_all(&torn.bytes)?;
    file.sync_all()?;
    dir.sync()?;
    let segment = OpenOptions::new().write(true).open(dir.segment_path(torn.segment))?;
    segment.set_len(torn.offset)?;
    segment.sync_all()?;
    tracing::warn!(
        segment = torn.segment,
        offset = torn.offset,
        bytes_cut = torn.bytes.len(),
        damage = %torn.damage,
        kept = %kept.display(),
        "the journal ends in a write that never finished (a torn tail); it is cut off and its bytes kept"
    );
    report.bytes_cut += torn.bytes.len() as u64;
    report.torn_tail_kept = Some(kept);
    Ok(())
}
