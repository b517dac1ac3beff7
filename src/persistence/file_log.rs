//! The event log on local files: the entries of every partition in one journal, so that one
//! write and one sync (group commit) cover all of them; snapshots as whole files of every
//! partition's part; and the reader recovery reads the files with, partition by partition.
//!
//! Damage in the journal is one of two things. A torn tail is damage at the end of the last
//! segment with no whole record after it: a write the process never finished, cut off once
//! recovery is done (its bytes kept beside the segment). Anything else is corruption of bytes
//! written before others: acknowledged writes would be lost by cutting it, so the reader
//! refuses, and it changes the disk only in [`FileReader::finish`], once everything has been
//! read and replayed, so a refused start leaves the data dir exactly as it found it.

use super::data_dir::DataDir;
use super::format::{self, SnapshotError};
use super::frame::{self, Damage};
use super::journal::{Claim, Commit, Journal};
use super::log::{EventLog, Loaded, LogReader, PartState, Partition, SnapshotMark};
use super::recovery::{Corruption, RecoveryError};
use super::{snapshot, Change, Entry, Image, Part};
use crate::config::FsyncPolicy;
use crate::error::{Error, ErrorCode, Result};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// The local event log.
pub struct FileLog {
    journal: Journal,
    /// Let go of at the stop, so that the dir's lock goes with the last of the journal even
    /// while the writers of state, who hold the log, are still being dropped.
    dir: parking_lot::Mutex<Option<Arc<DataDir>>>,
}

impl FileLog {
    /// Starts the journal on segment `next_segment` of `dir`, where each partition's last entry
    /// is as `last` says.
    pub fn start(
        dir: Arc<DataDir>,
        next_segment: u64,
        fsync: FsyncPolicy,
        last: HashMap<Partition, u64>,
    ) -> io::Result<Arc<Self>> {
        let journal = Journal::start(dir.clone(), next_segment, fsync, last)?;
        Ok(Arc::new(Self::new(journal, dir)))
    }

    fn new(journal: Journal, dir: Arc<DataDir>) -> Self {
        Self {
            journal,
            dir: parking_lot::Mutex::new(Some(dir)),
        }
    }

    /// The journal underneath, for what only files have (syncs counted, rotation).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }
}

impl EventLog for FileLog {
    fn append(&self, partition: Partition, after: u64, changes: Vec<Change>) -> Commit {
        let count = changes.len() as u64;
        let mut bytes = Vec::new();
        for (seq, change) in (after + 1..).zip(changes) {
            format::encode_entry(Entry { seq, change }, &mut bytes);
        }
        let claim = Claim {
            partition,
            after,
            count,
        };
        self.journal.append_claimed(bytes, claim)
    }

    fn has_room(&self) -> bool {
        self.journal.has_room()
    }

    fn barrier(&self) -> BoxFuture<'static, Result<()>> {
        let journal = self.journal.clone();
        Box::pin(async move { journal.barrier().await })
    }

    /// The journal moves to a new segment: the snapshot will hold everything before it.
    fn begin_snapshot(&self) -> BoxFuture<'static, Result<SnapshotMark>> {
        let journal = self.journal.clone();
        Box::pin(async move { journal.rotate().await.map(SnapshotMark) })
    }

    fn store_snapshot(&self, mark: SnapshotMark, image: Image) -> BoxFuture<'static, Result<u64>> {
        let journal = self.journal.clone();
        let dir = self.dir.lock().clone();
        Box::pin(async move {
            let dir = dir.ok_or_else(|| Error::new(ErrorCode::Unavailable, "The log is stopped."))?;
            // The parts may hold changes whose records are sent but not yet on disk. A snapshot
            // must never hold a change the journal lost: one that was never acknowledged would
            // become permanent, and a fallback to the snapshot before would find a gap.
            journal.barrier().await?;
            let written = tokio::task::spawn_blocking(move || {
                let bytes = snapshot::write(&dir, mark.0, &image)?;
                snapshot::prune(&dir)?;
                Ok::<u64, io::Error>(bytes)
            });
            written.await.map_err(Error::internal)?.map_err(Error::internal)
        })
    }

    fn stop(&self) -> BoxFuture<'static, ()> {
        let journal = self.journal.clone();
        self.dir.lock().take();
        Box::pin(async move { journal.stop().await })
    }

    fn failure(&self) -> Option<String> {
        self.journal.failure().map(str::to_owned)
    }
}

#[cfg(test)]
impl FileLog {
    /// A log in a temporary dir that lives as long as the returned guard, whose journal has room
    /// for `queued_bytes_max` bytes and whose writer waits at the gate (closed at first) until
    /// the test opens it.
    pub(crate) fn held_up(queued_bytes_max: usize) -> (Arc<Self>, super::journal::Gate, tempfile::TempDir) {
        let (journal, gate, dir, data_dir) = Journal::held_up(queued_bytes_max);
        (Arc::new(Self::new(journal, data_dir)), gate, dir)
    }
}

/// What reading the files found, for the log and the benchmarks.
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

/// The files of a data dir, read once: the newest snapshot that reads, and every entry of the
/// segments after it, by partition.
pub struct FileReader {
    loaded: Loaded,
    torn: Option<TornTail>,
    report: Report,
}

impl FileReader {
    /// Reads `dir`; refuses corruption and versions this build does not read. Changes nothing.
    pub fn open(dir: &DataDir) -> std::result::Result<Self, RecoveryError> {
        let segments = dir.segments()?;
        let (start, image) = starting_point(dir, &segments)?;
        let mut reader = Self {
            report: Report {
                snapshot: image.is_some().then_some(start),
                next_segment: segments.last().map_or(start, |last| (last + 1).max(start)),
                ..Report::default()
            },
            loaded: Loaded {
                snapshots: image.map(Image::into_parts).unwrap_or_default().into_iter().collect(),
                ..Loaded::default()
            },
            torn: None,
        };
        let replayed: Vec<u64> = segments.into_iter().filter(|index| *index >= start).collect();
        for (position, &segment) in replayed.iter().enumerate() {
            let next = replayed.get(position + 1).copied();
            reader.torn = reader.read_segment(dir, segment, next)?;
        }
        reader.report.segments = replayed.len();
        Ok(reader)
    }

    /// Reads the whole records of `segment`, which segment `next` follows unless it is the last;
    /// returns its torn tail, if it has one.
    fn read_segment(
        &mut self,
        dir: &DataDir,
        segment: u64,
        next: Option<u64>,
    ) -> std::result::Result<Option<TornTail>, RecoveryError> {
        let path = dir.segment_path(segment);
        let bytes = fs::read(&path)?;
        let decoded =
            format::read_segment(&bytes).map_err(|version| RecoveryError::UnknownVersion { path, version })?;
        let torn = match decoded.damage {
            None => None,
            Some(damage) => Some(torn_tail(dir, segment, next, &bytes, decoded.valid_len, damage)?),
        };
        for entry in decoded.records {
            self.loaded
                .entries
                .entry(entry.change.partition())
                .or_default()
                .push(entry);
        }
        Ok(torn)
    }

    /// After every partition was read: refuses entries no partition took, then cuts a torn
    /// tail off (keeping its bytes) and removes what a crashed snapshot write left.
    pub fn finish(self, dir: &DataDir) -> std::result::Result<Report, RecoveryError> {
        if let Some((partition, count)) = self.loaded.unread() {
            return Err(RecoveryError::Inconsistent {
                partition: partition.to_string(),
                problem: format!("{count} entries of a partition nothing created"),
            });
        }
        let mut report = self.report;
        report.entries_replayed = self.loaded.replayed;
        if let Some(torn) = self.torn {
            cut_torn_tail(dir, torn, &mut report)?;
        }
        snapshot::remove_temporaries(dir)?;
        Ok(report)
    }
}

impl LogReader for FileReader {
    fn partitions(&self) -> Vec<Partition> {
        self.loaded.partitions()
    }

    fn take_snapshot(&mut self, partition: Partition) -> Option<Part<PartState>> {
        self.loaded.take_snapshot(partition)
    }

    fn read(
        &mut self,
        partition: Partition,
        after: u64,
        apply: &mut dyn FnMut(Entry) -> std::result::Result<(), String>,
    ) -> std::result::Result<(), RecoveryError> {
        self.loaded.read(partition, after, apply)
    }
}

/// The newest snapshot that reads and the segment it starts at, or segment 1 and nothing if the
/// journal still starts at its first segment.
fn starting_point(dir: &DataDir, segments: &[u64]) -> std::result::Result<(u64, Option<Image>), RecoveryError> {
    for index in dir.snapshots()?.into_iter().rev() {
        match snapshot::read(dir, index) {
            Ok(image) => return Ok((index, Some(image))),
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
        None | Some(1) => Ok((1, None)),
        Some(&first) => Err(RecoveryError::NoStartingPoint { first }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::idempotency::{AnswerRecord, Endpoint, IdempotencyKey, Recall, Scope, StoredResponse};
    use crate::domain::seat_map::SeatEvent;
    use crate::domain::waiting_room::WaitingRoomLimits;
    use crate::domain::wallet::{WalletEvent, WalletLimits};
    use crate::domain::{ConcertId, ReservationId, TransactionId, UserId};
    use crate::persistence::recovery::{self, Limits};
    use chrono::{DateTime, Duration, Utc};
    use std::collections::BTreeMap;

    fn limits() -> Limits {
        Limits {
            room: WaitingRoomLimits {
                active_max: 2,
                active_ttl: Duration::minutes(10),
                waiting_idle_ttl: Duration::minutes(5),
                waiting_max: 100,
            },
            wallet: WalletLimits {
                charge_max: 10_000,
                balance_max: 50_000,
            },
            answer_retention: Duration::hours(24),
        }
    }

    fn at(hours: i64) -> DateTime<Utc> {
        "2026-12-24T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(hours)
    }

    /// A dir whose only segment holds `entries`.
    fn dir_with(entries: Vec<Entry>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = DataDir::open(dir.path()).unwrap();
        let mut bytes = format::header(format::FileKind::Journal).to_vec();
        for entry in entries {
            format::encode_entry(entry, &mut bytes);
        }
        fs::write(data_dir.segment_path(1), bytes).unwrap();
        dir
    }

    fn contents(path: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
        (fs::read_dir(path).unwrap())
            .map(|entry| entry.unwrap())
            .map(|entry| {
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    fs::read(entry.path()).unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_of_a_date_nothing_created_refuse_the_start_and_change_nothing() {
        let key = (ConcertId::random(), "2026-12-24".parse().unwrap());
        let lapsed = SeatEvent::HoldLapsed {
            reservation: ReservationId::random(),
            at: at(0),
        };
        let dir = dir_with(vec![Entry {
            seq: 1,
            change: Change::Seat(key, lapsed),
        }]);
        let before = contents(dir.path());
        let refused = recovery::recover(&DataDir::open(dir.path()).unwrap(), &limits())
            .err()
            .expect("refused");
        let RecoveryError::Inconsistent { partition, .. } = &refused else {
            panic!("{refused}")
        };
        assert_eq!(*partition, Partition::Date(key).to_string());
        assert_eq!(contents(dir.path()), before, "the refusal changed nothing");
    }

    /// The answers to one key, the second after the first's retention: one written on its own,
    /// the other with the charge it answers.
    fn a_key_answered_twice(charge_first: bool) -> (Vec<Entry>, Scope) {
        let user = UserId::random();
        let scope = Scope {
            user,
            endpoint: Endpoint::Charges,
            key: IdempotencyKey::parse("reused-key").unwrap(),
        };
        let (charged_at, refused_at) = if charge_first { (at(0), at(25)) } else { (at(25), at(0)) };
        let record = |fingerprint: &str, at| AnswerRecord {
            scope: scope.clone(),
            fingerprint: fingerprint.into(),
            answer: StoredResponse::json(200, &1_000),
            at,
        };
        let charged = WalletEvent::Charged {
            transaction: TransactionId::random(),
            user,
            amount: 1_000,
            at: charged_at,
        };
        let keyed = Change::Keyed {
            work: Box::new(Change::Wallet(charged)),
            answer: record("charged", charged_at),
        };
        let answered = Change::Answered(record("answered", refused_at));
        let mut entries = vec![
            Entry { seq: 1, change: keyed },
            Entry {
                seq: 1,
                change: answered,
            },
        ];
        if !charge_first {
            entries.reverse();
        }
        (entries, scope)
    }

    #[test]
    fn a_key_reused_after_its_retention_keeps_its_later_answer_whichever_partition_holds_it() {
        for (charge_first, later) in [(true, "answered"), (false, "charged")] {
            let (entries, scope) = a_key_answered_twice(charge_first);
            let dir = dir_with(entries);
            let (state, _) = recovery::recover(&DataDir::open(dir.path()).unwrap(), &limits()).unwrap();
            let answers = &state.answers.state;
            assert!(
                matches!(answers.recall(&scope, later), Recall::Replay(_)),
                "the later answer ({later}) is kept"
            );
            assert_eq!(answers.len(), 1, "the earlier answer is forgotten");
        }
    }
}
