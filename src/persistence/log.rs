//! The event log: the partitions of the state, the trait every writer of state appends its
//! partition's events through and recovery reads them back with, and the writer of one
//! partition. The file journal implements the trait here ([`super::file_log`]); a replicated log
//! implements the same trait, and nothing above this module knows which one runs.

use super::journal::{Commit, Settled};
use super::recovery::RecoveryError;
use super::{Change, Entry, Image, Part};
use crate::domain::concert::{ConcertRecord, DateKey};
use crate::domain::idempotency::IdempotencyStore;
use crate::domain::sale::SaleRecord;
use crate::domain::seat_map::SeatMap;
use crate::domain::user::User;
use crate::domain::waiting_room::RoomImage;
use crate::domain::wallet::Wallet;
use crate::domain::ConcertId;
use crate::error::Result;
use futures_util::future::{BoxFuture, FutureExt};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One writer of state and its own ordered log: exactly one writer appends to a partition at a
/// time, and its entries are numbered 1, 2, 3… in that partition alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Partition {
    Users,
    Catalog,
    Room,
    Wallet,
    Answers,
    Date(DateKey),
    /// The sales there are.
    Sales,
    /// The room of a concert's sale.
    Sale(ConcertId),
}

impl Partition {
    /// The partitions there are whatever the catalog holds, in the order recovery reads them:
    /// the catalog before the dates it creates.
    pub const FIXED: [Self; 6] = [
        Self::Users,
        Self::Catalog,
        Self::Room,
        Self::Wallet,
        Self::Answers,
        Self::Sales,
    ];
}

/// The stable name of a partition: `users`, `catalog`, `room`, `wallet`, `answers` or
/// `date.<concert>.<yyyy-mm-dd>`, `sales` or `sale.<concert>`. Only letters, digits, `-` and `.`, so that it can name a
/// subject or a key elsewhere as it is.
impl fmt::Display for Partition {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Users => out.write_str("users"),
            Self::Catalog => out.write_str("catalog"),
            Self::Room => out.write_str("room"),
            Self::Wallet => out.write_str("wallet"),
            Self::Answers => out.write_str("answers"),
            Self::Date((concert, date)) => write!(out, "date.{}.{date}", concert.as_uuid()),
            Self::Sales => out.write_str("sales"),
            Self::Sale(concert) => write!(out, "sale.{}", concert.as_uuid()),
        }
    }
}

impl Change {
    /// The partition whose log holds this change. A record names its partition by its kind (and
    /// a seat's by its date), so the format needs no field for it.
    pub fn partition(&self) -> Partition {
        match self {
            Self::UserRegistered(_) => Partition::Users,
            Self::ConcertCreated(_) => Partition::Catalog,
            Self::Queue(_) => Partition::Room,
            Self::Seat(key, _) => Partition::Date(*key),
            Self::Wallet(_) => Partition::Wallet,
            Self::Answered(_) => Partition::Answers,
            Self::SaleCreated(_) => Partition::Sales,
            Self::Sale(concert, _) => Partition::Sale(*concert),
            // The answer rides along with the work that made it.
            Self::Keyed { work, .. } => work.partition(),
        }
    }
}

/// The state of one partition as a snapshot keeps it.
#[derive(Debug, Clone)]
pub enum PartState {
    Users(Vec<User>),
    Catalog(Vec<ConcertRecord>),
    Room(RoomImage),
    Wallet(Wallet),
    Answers(IdempotencyStore),
    Date(SeatMap),
    Sales(Vec<SaleRecord>),
    SaleRoom(RoomImage),
}

impl Image {
    /// Every partition's part of the image.
    pub fn into_parts(self) -> Vec<(Partition, Part<PartState>)> {
        fn part<T>(part: Part<T>, state: impl FnOnce(T) -> PartState) -> Part<PartState> {
            Part {
                seq: part.seq,
                state: state(part.state),
            }
        }
        let mut parts = vec![
            (Partition::Users, part(self.users, PartState::Users)),
            (Partition::Catalog, part(self.concerts, PartState::Catalog)),
            (Partition::Room, part(self.room, PartState::Room)),
            (Partition::Wallet, part(self.wallet, PartState::Wallet)),
            (Partition::Answers, part(self.answers, PartState::Answers)),
            (Partition::Sales, part(self.sales, PartState::Sales)),
        ];
        for (concert, room) in self.sale_rooms {
            parts.push((Partition::Sale(concert), part(room, PartState::SaleRoom)));
        }
        for (key, date) in self.dates {
            parts.push((Partition::Date(key), part(date, PartState::Date)));
        }
        parts
    }
}

/// Where a snapshot begins: what the log needs to know, at the end, of the moment the parts
/// began to be captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotMark(pub u64);

/// What every writer of state appends through and every snapshot is stored through.
pub trait EventLog: Send + Sync + 'static {
    /// Appends `changes`, every one of `partition`, as its entries `after + 1`, `after + 2`…:
    /// refused (the commit reports it, and nothing more is acknowledged for the partition) unless
    /// `after` is the partition's last entry, so a writer that lost its partition to another can
    /// never append behind the other's back. The commit resolves once the entries are durable.
    fn append(&self, partition: Partition, after: u64, changes: Vec<Change>) -> Commit;

    /// Whether a new command may go ahead: false while the log is too far behind to take more.
    /// Asked before a command decides anything, since what a command applied must be appended.
    fn has_room(&self) -> bool;

    /// Resolves once every entry appended before it is durable.
    fn barrier(&self) -> BoxFuture<'static, Result<()>>;

    /// Begins a snapshot, before any part is captured.
    fn begin_snapshot(&self) -> BoxFuture<'static, Result<SnapshotMark>>;

    /// Keeps every partition's part of `image` as its snapshot at the sequence the part names,
    /// once every entry the parts hold is durable, and lets go of the entries no kept snapshot
    /// needs. Returns the bytes stored.
    fn store_snapshot(&self, mark: SnapshotMark, image: Image) -> BoxFuture<'static, Result<u64>>;

    /// Makes everything appended so far durable and stops taking appends.
    fn stop(&self) -> BoxFuture<'static, ()>;

    /// Why nothing is acknowledged any more, once that is so.
    fn failure(&self) -> Option<String>;

    /// Whether this writer still holds its partitions, so that what it holds in memory is the
    /// truth and may be read. A local log always does; a replicated log's writer does only while
    /// its lease lasts, and after it, another writer may have moved on.
    fn serves(&self) -> bool {
        true
    }
}

/// The log every writer of state shares.
pub type SharedLog = Arc<dyn EventLog>;

/// What recovery reads a log with.
pub trait LogReader {
    /// Every partition the log holds a snapshot or entries of.
    fn partitions(&self) -> Vec<Partition>;

    /// The newest snapshot of `partition`, if it has one; taken out, as recovery needs it once.
    fn take_snapshot(&mut self, partition: Partition) -> Option<Part<PartState>>;

    /// Gives `apply` every entry of `partition` numbered after `after`, in order; `apply` says
    /// why an entry cannot follow.
    fn read(
        &mut self,
        partition: Partition,
        after: u64,
        apply: &mut dyn FnMut(Entry) -> std::result::Result<(), String>,
    ) -> std::result::Result<(), RecoveryError>;
}

/// A log read into memory for recovery: each partition's newest snapshot and its entries after
/// it. Every implementation loads one and recovery reads it through [`LogReader`].
#[derive(Debug, Default)]
pub struct Loaded {
    pub snapshots: HashMap<Partition, Part<PartState>>,
    pub entries: HashMap<Partition, Vec<Entry>>,
    /// Entries given to recovery so far.
    pub replayed: u64,
}

impl Loaded {
    /// The entries no partition read: of a partition nothing created.
    pub fn unread(&self) -> Option<(Partition, usize)> {
        let unread = self.entries.iter().find(|(_, entries)| !entries.is_empty());
        unread.map(|(partition, entries)| (*partition, entries.len()))
    }
}

impl LogReader for Loaded {
    fn partitions(&self) -> Vec<Partition> {
        let mut partitions: Vec<Partition> = self.snapshots.keys().chain(self.entries.keys()).copied().collect();
        partitions.sort();
        partitions.dedup();
        partitions
    }

    fn take_snapshot(&mut self, partition: Partition) -> Option<Part<PartState>> {
        self.snapshots.remove(&partition)
    }

    fn read(
        &mut self,
        partition: Partition,
        after: u64,
        apply: &mut dyn FnMut(Entry) -> std::result::Result<(), String>,
    ) -> std::result::Result<(), RecoveryError> {
        let entries = self.entries.remove(&partition).unwrap_or_default();
        for entry in entries.into_iter().filter(|entry| entry.seq > after) {
            apply(entry).map_err(|problem| RecoveryError::Inconsistent {
                partition: partition.to_string(),
                problem,
            })?;
            self.replayed += 1;
        }
        Ok(())
    }
}

/// The writer of one partition: numbers its entries and appends them after the last, and tells
/// readers when all of them are durable.
pub struct PartitionWriter {
    log: SharedLog,
    partition: Partition,
    /// The number of the last entry sent.
    seq: u64,
    /// The last append's outcome while it may still be pending: entries become durable in order,
    /// so it stands for every entry before it too.
    last: Option<Settled>,
    /// Where readers that cannot wait on the writer learn how far its entries are durable.
    durable_through: Option<Arc<AtomicU64>>,
    /// Whether the next append holds something readers of `durable_through` wait for.
    vouch_next: bool,
    /// The last such append and its outcome, until it is seen durable.
    vouched: Option<(u64, Settled)>,
}

impl PartitionWriter {
    /// Continues `partition`, whose last entry was `seq`.
    pub fn new(log: SharedLog, partition: Partition, seq: u64) -> Self {
        Self {
            log,
            partition,
            seq,
            last: None,
            durable_through: None,
            vouch_next: false,
            vouched: None,
        }
    }

    /// Keeps `durable_through` at the number of the last entry known durable, as far as this
    /// writer has seen: everything before its first append, then the appends marked with
    /// [`Self::vouch_for_next_append`] once seen durable at a later append or read, and every
    /// entry when a read finds the last one durable. Nothing is allocated per append for it.
    pub fn keeping_durable_through(mut self, durable_through: Arc<AtomicU64>) -> Self {
        durable_through.fetch_max(self.seq, Ordering::Release);
        self.durable_through = Some(durable_through);
        self
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Marks the next append as one whose durability readers of `durable_through` wait for.
    pub fn vouch_for_next_append(&mut self) {
        self.vouch_next = self.durable_through.is_some();
    }

    /// Moves `durable_through` past the marked append once it is durable: one poll, and only
    /// while such an append is pending.
    fn note_vouched(&mut self) {
        let Some((through, settled)) = &self.vouched else {
            return;
        };
        if settled.clone().now_or_never() == Some(true) {
            self.note_durable(*through);
            self.vouched = None;
        }
    }

    fn note_durable(&self, through: u64) {
        if let Some(durable_through) = &self.durable_through {
            durable_through.fetch_max(through, Ordering::Release);
        }
    }

    /// Whether a new command may go ahead; see [`EventLog::has_room`].
    pub fn has_room(&self) -> bool {
        self.log.has_room()
    }

    pub fn append(&mut self, changes: impl IntoIterator<Item = Change>) -> Commit {
        let changes: Vec<Change> = changes.into_iter().collect();
        if changes.is_empty() {
            return Commit::done();
        }
        debug_assert!(
            changes.iter().all(|change| change.partition() == self.partition),
            "a writer appends only its own partition's changes"
        );
        self.note_vouched();
        let after = self.seq;
        self.seq += changes.len() as u64;
        let settled = self.log.append(self.partition, after, changes).shared();
        if std::mem::take(&mut self.vouch_next) {
            self.vouched = Some((self.seq, settled.clone()));
        }
        self.last = Some(settled.clone());
        Commit::settled(settled)
    }

    /// What a read must wait for before it answers from the state this writer's entries made:
    /// nothing once every entry is durable. A read never shows a change that a crash could still
    /// take back (a hold or a charge nobody was told of yet).
    pub fn settled(&mut self) -> Commit {
        let Some(last) = self.last.clone() else {
            return Commit::done();
        };
        // Asking costs one poll: appends nobody waited for (a lapse) are found durable here.
        if last.clone().now_or_never() == Some(true) {
            self.last = None;
            self.vouched = None;
            self.note_durable(self.seq);
            return Commit::done();
        }
        self.note_vouched();
        Commit::settled(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::format::golden_values;

    #[test]
    fn a_partition_has_a_stable_name_fit_for_a_subject() {
        let key = (
            crate::domain::ConcertId::from_uuid(uuid::Uuid::from_u128(7)),
            "2026-12-24".parse().unwrap(),
        );
        let names: Vec<String> = (Partition::FIXED.into_iter().chain([Partition::Date(key)]))
            .map(|partition| partition.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "users",
                "catalog",
                "room",
                "wallet",
                "answers",
                "sales",
                "date.00000000-0000-0000-0000-000000000007.2026-12-24"
            ]
        );
    }

    #[test]
    fn every_change_names_its_partition_and_a_keyed_one_its_works() {
        let partitions: Vec<(&str, String)> = golden_values::records()
            .into_iter()
            .map(|(name, entry)| (name, entry.change.partition().to_string()))
            .collect();
        for (name, partition) in &partitions {
            let expected = match name.split('-').next() {
                Some("user") => "users",
                Some("concert") => "catalog",
                Some("queue") => "room",
                Some("seat") => "date",
                Some("wallet") => "wallet",
                Some("answered") => "answers",
                Some("sale") if *name == "sale-created" => "sales",
                Some("sale") => "sale.",
                Some("keyed") => continue,
                _ => panic!("a record kind this test does not know: {name}"),
            };
            assert!(partition.starts_with(expected), "{name} is in {partition}");
        }
        let keyed: Vec<&str> = (partitions.iter())
            .filter(|(name, _)| name.starts_with("keyed"))
            .map(|(_, partition)| partition.split('.').next().unwrap_or_default())
            .collect();
        assert_eq!(keyed, ["wallet", "date"], "a keyed record is in its work's partition");
    }
}
