//! Durability: every change is an [`Entry`] in its partition's log before its request is
//! acknowledged; snapshots hold each partition's state at one of its entries; recovery rebuilds
//! each partition from its newest snapshot and its own entries after it, through the same
//! `apply` code that live requests use.
//!
//! Each writer of state (the users, the catalog, the queue, each concert date, the wallet, the
//! idempotency answers) is a [`log::Partition`] and numbers its own entries. A snapshot part
//! records the last number it holds, so replay skips exactly what the snapshot already has,
//! even though the parts of one snapshot are taken at slightly different moments.
//!
//! - [`mod@format`]: the disk format: its own types, versioned files, the conversions.
//! - [`frame`]: the checksummed record framing.
//! - [`log`]: the partitions, and the event log trait every writer of state appends through.
//! - [`file_log`]: that trait on local files, and the reader recovery reads them with.
//! - [`memory_log`]: that trait in memory, for tests of what runs above it.
//! - [`jetstream_log`]: that trait on NATS JetStream, replicated, for cluster mode.
//! - [`journal`]: the writer thread and its group commit.
//! - [`snapshot`]: writing, reading and pruning snapshots.
//! - [`recovery`]: the state rebuilt at start.
//! - [`data_dir`]: the files and the lock.

pub mod data_dir;
pub mod file_log;
pub mod format;
pub mod frame;
pub mod jetstream_log;
pub mod journal;
pub mod log;
pub mod memory_log;
pub mod recovery;
pub mod snapshot;

use crate::domain::concert::{ConcertRecord, DateKey};
use crate::domain::idempotency::{AnswerRecord, IdempotencyStore};
use crate::domain::sale::SaleRecord;
use crate::domain::seat_map::{SeatEvent, SeatMap};
use crate::domain::user::User;
use crate::domain::waiting_room::{QueueEvent, RoomImage};
use crate::domain::wallet::{Wallet, WalletEvent};
use crate::domain::ConcertId;

/// One journal record: a change and its number in its writer's stream. Written as
/// [`format::records::Record`].
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub change: Change,
}

/// Every kind of change the service makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    UserRegistered(User),
    ConcertCreated(ConcertRecord),
    Queue(QueueEvent),
    Seat(DateKey, SeatEvent),
    Wallet(WalletEvent),
    Answered(AnswerRecord),
    /// An operator set a concert's sale for the first time.
    SaleCreated(SaleRecord),
    /// A change in the room of a concert's sale.
    Sale(ConcertId, QueueEvent),
    /// A change and the remembered answer to the keyed request that made it, written as one
    /// record so that neither is ever on disk without the other. It belongs to the change's
    /// stream.
    Keyed {
        work: Box<Change>,
        answer: AnswerRecord,
    },
}

/// A piece of state with the number of the last entry of its stream it includes.
#[derive(Debug, Clone)]
pub struct Part<T> {
    pub seq: u64,
    pub state: T,
}

/// Everything the service holds, as a snapshot keeps it. Written as
/// [`format::snapshot::Snapshot`].
#[derive(Debug, Clone)]
pub struct Image {
    pub users: Part<Vec<User>>,
    pub concerts: Part<Vec<ConcertRecord>>,
    pub dates: Vec<(DateKey, Part<SeatMap>)>,
    pub room: Part<RoomImage>,
    pub wallet: Part<Wallet>,
    pub answers: Part<IdempotencyStore>,
    pub sales: Part<Vec<SaleRecord>>,
    pub sale_rooms: Vec<(ConcertId, Part<RoomImage>)>,
}

#[cfg(test)]
mod tests;

/// A log in a temporary dir that lives as long as the returned guard, for unit tests.
#[cfg(test)]
pub(crate) fn scratch_log() -> (log::SharedLog, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary dir");
    let data_dir = std::sync::Arc::new(data_dir::DataDir::open(dir.path()).expect("a fresh dir opens"));
    let never = crate::config::FsyncPolicy::Never;
    let log = file_log::FileLog::start(data_dir, 1, never, Default::default()).expect("the log starts");
    (log, dir)
}
