//! The append-only journal: one writer thread owns the open segment. Callers hand it framed
//! records; it takes everything queued, writes it in one `write`, syncs once and then answers all
//! of them (group commit), so under load one sync covers many requests.
//!
//! Records from one caller are written in the order it sent them, and a record is durable only
//! after every record sent before it: an answer that a record is durable vouches for all earlier
//! ones too.
//!
//! Failures are of two kinds. Beginning a segment needs a new file, and so a free descriptor: if
//! it cannot be had, nothing was written, memory and disk still agree, and the journal goes on
//! with the segment it has and tries again later. A failed write or sync of the open segment is
//! another matter. The actors applied those changes in memory before sending them, so memory may
//! now hold changes the disk lacks, and writing on after them would put later records on disk
//! without the earlier ones, a journal that replays into a state nobody saw. A failed sync cannot
//! even be retried: the kernel may have dropped the pages it could not write, and a second sync
//! then reports success for data that is not there. So the journal latches: nothing more is
//! written or acknowledged, [`Journal::failure`] says why, and a restart rebuilds memory from
//! exactly what the disk holds.
//!
//! The queue to the writer is bounded in bytes, not by blocking the sender: an actor has already
//! applied a change when it appends it, so an append is never refused. Instead the journal counts
//! the bytes sent and not yet written, and [`Journal::has_room`] tells a writer of state, before
//! it decides a command, whether the disk is keeping up. Past [`QUEUED_BYTES_MAX`] new commands
//! are refused while what is already under way (deadlines falling due, the second half of a
//! payment) still goes in; those only end what admitted commands began, so they cannot grow the
//! queue without limit.

use super::data_dir::DataDir;
use super::format::{self, FileKind};
use super::log::Partition;
use crate::config::FsyncPolicy;
use crate::error::{Error, ErrorCode};
use futures_util::future::{self as futures, BoxFuture, FutureExt};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Requests taken into one write and one sync at most.
const BATCH_REQUESTS_MAX: usize = 4096;

/// Bytes sent to the writer and not yet written past which new commands are refused. A record
/// is 30 to 600 bytes, most near 100 (a keyed one carries its answer), so this is some 300,000
/// records: about two seconds of them at the rate group commit sustains on a local disk (about
/// 150,000 a second, BENCHMARKS.md). A disk slow for a sync or two never meets it; one that has
/// stalled costs at most this much memory, and the requests waiting on it, before commands get
/// 503 instead of the queue growing.
pub const QUEUED_BYTES_MAX: usize = 32 * 1024 * 1024;

/// A segment past this size is closed and a new one begun.
const SEGMENT_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// After a segment could not be begun, the writer waits this long before it tries again on its
/// own past the size limit; a snapshot asks again at its next tick anyway.
const ROTATION_RETRY_INTERVAL: Duration = Duration::from_secs(1);

enum Request {
    Append {
        bytes: Vec<u8>,
        /// The entries' partition and numbers, checked against the partition's last entry.
        claim: Option<Claim>,
        durable: oneshot::Sender<()>,
    },
    /// Closes the segment and begins the next; answers the new segment's index once every record
    /// sent before is durable, or why no segment was begun.
    Rotate {
        began: oneshot::Sender<Result<u64, String>>,
    },
    /// Makes everything sent before durable and ends the writer.
    Stop { stopped: oneshot::Sender<()> },
}

/// What an append claims: `count` entries of `partition` that follow its entry `after`.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub partition: Partition,
    pub after: u64,
    pub count: u64,
}

/// The handle every writer of state holds.
#[derive(Clone)]
pub struct Journal {
    requests: Sender<Request>,
    shared: Arc<Shared>,
    queued_bytes_max: usize,
}

/// What the handles and the writer both see.
#[derive(Default)]
struct Shared {
    /// Why the journal stopped acknowledging, once it has.
    failure: OnceLock<String>,
    /// Bytes sent to the writer and not yet written (or dropped, after a failure).
    queued_bytes: AtomicUsize,
    /// Syncs of the journal to disk so far.
    syncs: AtomicU64,
}

impl Journal {
    /// Starts the writer on a new segment `index` in `dir`, where each partition's last entry is
    /// as `last` says (0 for a partition it does not name).
    pub fn start(dir: Arc<DataDir>, index: u64, fsync: FsyncPolicy, last: HashMap<Partition, u64>) -> io::Result<Self> {
        if fsync == FsyncPolicy::Never {
            tracing::warn!("--fsync never: writes are acknowledged before they are on disk; for benchmarks only");
        }
        let segment = Segment::create(&dir, index).map_err(NotBegun::into_error)?;
        let writer = Writer {
            last,
            ..Writer::new(dir, segment, fsync)
        };
        Self::spawn_writer(writer, QUEUED_BYTES_MAX)
    }

    fn spawn_writer(writer: Writer, queued_bytes_max: usize) -> io::Result<Self> {
        let (requests, receiver) = mpsc::channel();
        let shared = writer.shared.clone();
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || writer.run(receiver))?;
        Ok(Self {
            requests,
            shared,
            queued_bytes_max,
        })
    }

    /// Sends framed records; the answer comes once they are durable. Never refused, however
    /// much is queued: the caller has already applied them.
    pub fn append(&self, bytes: Vec<u8>) -> Commit {
        self.send(bytes, None)
    }

    /// Sends the framed records of the entries `claim` names. Written only if they follow the
    /// partition's last entry; if not, a second writer of the partition is at work, and the
    /// journal stops acknowledging anything (see [`Journal::failure`]).
    pub fn append_claimed(&self, bytes: Vec<u8>, claim: Claim) -> Commit {
        self.send(bytes, Some(claim))
    }

    fn send(&self, bytes: Vec<u8>, claim: Option<Claim>) -> Commit {
        let (durable, answer) = oneshot::channel();
        let len = bytes.len();
        self.shared.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if self.requests.send(Request::Append { bytes, claim, durable }).is_err() {
            // A stopped writer drops the request, and the commit reports that.
            self.shared.queued_bytes.fetch_sub(len, Ordering::Relaxed);
        }
        Commit::waiting_on(answer)
    }

    /// Whether a new command may go ahead: false while more than [`QUEUED_BYTES_MAX`] bytes wait
    /// for the disk. Asked before a command decides anything, never after, since what a command
    /// applied must be appended.
    pub fn has_room(&self) -> bool {
        self.shared.queued_bytes.load(Ordering::Relaxed) < self.queued_bytes_max
    }

    /// Closes the segment; returns the index of the next one. If the next cannot be begun (no
    /// descriptor left, say), the journal goes on with the segment it has and only this call
    /// fails.
    pub async fn rotate(&self) -> Result<u64, Error> {
        let (began, answer) = oneshot::channel();
        let _ = self.requests.send(Request::Rotate { began });
        match answer.await {
            Ok(Ok(index)) => Ok(index),
            Ok(Err(reason)) => Err(Error::new(
                ErrorCode::Unavailable,
                format!("The journal could not begin a new segment: {reason}."),
            )
            .with_retry_after(1)),
            Err(_) => Err(not_durable()),
        }
    }

    /// Waits until every record sent before this call is durable.
    pub async fn barrier(&self) -> Result<(), Error> {
        self.append(Vec::new()).durable().await
    }

    /// How many times the journal has been synced to disk.
    pub fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// Makes every record sent so far durable and ends the writer.
    pub async fn stop(&self) {
        let (stopped, answer) = oneshot::channel();
        if self.requests.send(Request::Stop { stopped }).is_ok() {
            let _ = answer.await;
        }
    }

    /// Why nothing is acknowledged any more, once a write or sync of the journal failed.
    pub fn failure(&self) -> Option<&str> {
        self.shared.failure.get().map(String::as_str)
    }

    /// False once a write or sync failed: from then on nothing is acknowledged.
    pub fn is_healthy(&self) -> bool {
        self.failure().is_none()
    }
}

/// The promise that some records will be durable.
#[must_use = "a write is acknowledged only once its commit is durable"]
pub struct Commit(Pending);

enum Pending {
    Nothing,
    Answer(oneshot::Receiver<()>),
    Shared(Settled),
}

/// Whether some records became durable (true) or never will (false), for as many waiters as ask.
pub type Settled = futures::Shared<BoxFuture<'static, bool>>;

impl Commit {
    /// Nothing to wait for.
    pub fn done() -> Self {
        Self(Pending::Nothing)
    }

    /// Durable once `answer` is told so; never if its sender goes untold.
    pub fn waiting_on(answer: oneshot::Receiver<()>) -> Self {
        Self(Pending::Answer(answer))
    }

    /// Never durable: the log refused the records.
    pub fn refused() -> Self {
        let (_, answer) = oneshot::channel();
        Self::waiting_on(answer)
    }

    /// True when there is nothing to wait for.
    pub fn is_done(&self) -> bool {
        matches!(self.0, Pending::Nothing)
    }

    /// The same promise, for any number of waiters.
    pub fn shared(self) -> Settled {
        match self.0 {
            Pending::Nothing => futures::ready(true).boxed().shared(),
            Pending::Answer(answer) => answer.map(|told| told.is_ok()).boxed().shared(),
            Pending::Shared(settled) => settled,
        }
    }

    /// Waits on a promise shared with others.
    pub fn settled(settled: Settled) -> Self {
        Self(Pending::Shared(settled))
    }

    /// Waits until the records are on disk (or written, under `--fsync never`).
    pub async fn durable(self) -> Result<(), Error> {
        let durable = match self.0 {
            Pending::Nothing => true,
            Pending::Answer(answer) => answer.await.is_ok(),
            Pending::Shared(settled) => settled.await,
        };
        durable.then_some(()).ok_or_else(not_durable)
    }
}

fn not_durable() -> Error {
    Error {
        retry_after_seconds: Some(1),
        ..Error::new(ErrorCode::Unavailable, "Storage could not make the write durable.")
    }
}

struct Segment {
    index: u64,
    file: File,
    len: u64,
}

/// Why a segment was not begun.
enum NotBegun {
    /// Nothing is left on disk: the journal can go on with the segment it has.
    Nothing(io::Error),
    /// The new file is left behind: its name could not be made durable, nor the file removed.
    LeftBehind(io::Error),
}

impl NotBegun {
    fn into_error(self) -> io::Error {
        match self {
            Self::Nothing(error) | Self::LeftBehind(error) => error,
        }
    }
}

impl Segment {
    /// Creates segment `index` and makes its header and its name durable before any record in
    /// it can be acknowledged: a segment that is not the last never ends inside its header. If
    /// that fails the file goes again: an empty segment after the one in use would leave that one
    /// no longer the last, and a torn tail at its end refused at start.
    fn create(dir: &DataDir, index: u64) -> Result<Self, NotBegun> {
        let path = dir.segment_path(index);
        let mut file = File::options()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(NotBegun::Nothing)?;
        let header = format::header(FileKind::Journal);
        let durable = (file.write_all(&header))
            .and_then(|()| file.sync_data())
            .and_then(|()| dir.sync());
        if let Err(error) = durable {
            drop(file);
            return Err(match fs::remove_file(&path) {
                Ok(()) => NotBegun::Nothing(error),
                Err(_) => NotBegun::LeftBehind(error),
            });
        }
        Ok(Self {
            index,
            file,
            len: header.len() as u64,
        })
    }
}

struct Writer {
    dir: Arc<DataDir>,
    segment: Segment,
    fsync: FsyncPolicy,
    shared: Arc<Shared>,
    /// When the writer may try again to begin a segment past the size limit, after a failure.
    rotation_retry_at: Option<Instant>,
    /// Records are written but not yet synced: nobody waited for them.
    unsynced: bool,
    /// The number of each partition's last entry taken; 0 for a partition not named.
    last: HashMap<Partition, u64>,
    /// Holds the writer before each batch until opened.
    #[cfg(test)]
    gate: Option<Gate>,
}

impl Writer {
    fn new(dir: Arc<DataDir>, segment: Segment, fsync: FsyncPolicy) -> Self {
        Self {
            dir,
            segment,
            fsync,
            shared: Arc::default(),
            rotation_retry_at: None,
            unsynced: false,
            last: HashMap::new(),
            #[cfg(test)]
            gate: None,
        }
    }

    fn run(mut self, requests: Receiver<Request>) {
        let mut batch = Vec::new();
        while let Ok(first) = requests.recv() {
            #[cfg(test)]
            if let Some(gate) = &self.gate {
                gate.pass();
            }
            batch.push(first);
            batch.extend(requests.try_iter().take(BATCH_REQUESTS_MAX - 1));
            if let std::ops::ControlFlow::Break(stopped) = self.serve(&mut batch) {
                // The segment is closed and the dir let go of before the stop is confirmed.
                drop(self);
                let _ = stopped.send(());
                return;
            }
        }
        // Every handle is gone without a stop: what nobody waited for is still made durable.
        self.commit_synced(&mut Vec::new(), &mut Vec::new());
    }

    /// Writes a batch in order; a rotation or stop inside it first makes what came before durable.
    fn serve(&mut self, batch: &mut Vec<Request>) -> std::ops::ControlFlow<oneshot::Sender<()>> {
        let mut bytes = Vec::new();
        let mut waiting = Vec::new();
        for request in batch.drain(..) {
            match request {
                Request::Append {
                    bytes: records,
                    claim,
                    durable,
                } => {
                    if let Some(claim) = claim {
                        if let Err(reason) = self.take_claim(claim) {
                            // What came before is another writer's, and stands.
                            self.commit_synced(&mut bytes, &mut waiting);
                            self.shared.queued_bytes.fetch_sub(records.len(), Ordering::Relaxed);
                            self.fail(reason);
                            continue;
                        }
                    }
                    bytes.extend_from_slice(&records);
                    waiting.push(durable);
                }
                Request::Rotate { began } => {
                    // A later sync of the next segment would not cover this one.
                    self.commit_synced(&mut bytes, &mut waiting);
                    let _ = began.send(self.rotate());
                }
                Request::Stop { stopped } => {
                    self.commit_synced(&mut bytes, &mut waiting);
                    return std::ops::ControlFlow::Break(stopped);
                }
            }
        }
        self.commit(&mut bytes, &mut waiting);
        let full = self.segment.len >= SEGMENT_BYTES_MAX;
        if full && self.rotation_retry_at.is_none_or(|at| at <= Instant::now()) {
            // A segment that cannot be begun now only makes this one grow past the limit.
            let _ = self.rotate();
        }
        std::ops::ControlFlow::Continue(())
    }

    /// Notes the entries `claim` names as their partition's last, if they follow its last.
    fn take_claim(&mut self, claim: Claim) -> Result<(), String> {
        let last = self.last.entry(claim.partition).or_insert(0);
        if *last != claim.after {
            return Err(format!(
                "partition {} was appended to after entry {} while its last is {}: it has a second writer",
                claim.partition, claim.after, last
            ));
        }
        *last += claim.count;
        Ok(())
    }

    /// One write and one sync for everything pending, then every waiter is told. After a failure
    /// nobody is told again: the memory of the actors may be ahead of the disk, so the service
    /// must stop, and a restart recovers exactly what was acknowledged.
    ///
    /// Records nobody waits for (a lapse, the steps of a payment around the wallet's record) are
    /// written at once but synced only with the next record somebody waits for: the file keeps
    /// order, so that sync makes them durable too, and a crash that loses them loses only what
    /// the engine derives again at start. So a payment's fan waits for one sync, not one per step.
    fn commit(&mut self, bytes: &mut Vec<u8>, waiting: &mut Vec<oneshot::Sender<()>>) {
        let awaited = waiting.iter().any(|durable| !durable.is_closed());
        self.commit_with(bytes, waiting, awaited);
    }

    /// `commit`, synced whether or not anybody waits.
    fn commit_synced(&mut self, bytes: &mut Vec<u8>, waiting: &mut Vec<oneshot::Sender<()>>) {
        self.commit_with(bytes, waiting, true);
    }

    fn commit_with(&mut self, bytes: &mut Vec<u8>, waiting: &mut Vec<oneshot::Sender<()>>, sync: bool) {
        if bytes.is_empty() && waiting.is_empty() && !(sync && self.unsynced) {
            return;
        }
        let written = self.shared.failure.get().is_none() && self.write_or_fail(bytes, sync);
        // Counted out before anyone is told, so whoever learns a record is durable also sees the
        // room it left.
        self.shared.queued_bytes.fetch_sub(bytes.len(), Ordering::Relaxed);
        bytes.clear();
        if written {
            for durable in waiting.drain(..) {
                let _ = durable.send(());
            }
        } else {
            waiting.clear();
        }
    }

    /// Writes (and syncs, when `sync`) `bytes`; on failure latches the journal and returns false.
    fn write_or_fail(&mut self, bytes: &[u8], sync: bool) -> bool {
        let Err(error) = self.write(bytes, sync) else {
            return true;
        };
        let segment = self.segment.index;
        self.fail(format!(
            "the journal could not write or sync segment {segment}: {error}"
        ));
        false
    }

    fn fail(&self, reason: String) {
        tracing::error!(%reason, "nothing more is acknowledged; restart the server to recover");
        let _ = self.shared.failure.set(reason);
    }

    fn write(&mut self, bytes: &[u8], sync: bool) -> io::Result<()> {
        self.segment.file.write_all(bytes)?;
        self.segment.len += bytes.len() as u64;
        self.unsynced |= !bytes.is_empty();
        if sync && self.unsynced && self.fsync == FsyncPolicy::Always {
            self.segment.file.sync_data()?;
            self.unsynced = false;
            self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Begins the next segment and returns its index, or says why it did not.
    fn rotate(&mut self) -> Result<u64, String> {
        // After a failure the last segment must stay the last: its tail may be torn, which
        // recovery mends only in the last segment.
        if let Some(reason) = self.shared.failure.get() {
            return Err(reason.clone());
        }
        // A sync of the next segment would not cover what this one holds unsynced.
        if !self.write_or_fail(&[], true) {
            return Err(self.shared.failure.get().cloned().unwrap_or_default());
        }
        let next = self.segment.index + 1;
        match Segment::create(&self.dir, next) {
            Ok(segment) => {
                self.segment = segment;
                self.rotation_retry_at = None;
                Ok(next)
            }
            Err(NotBegun::Nothing(error)) => {
                tracing::warn!(%error, segment = self.segment.index, "the journal could not begin a new segment; it goes on with the one it has and tries again later");
                self.rotation_retry_at = Some(Instant::now() + ROTATION_RETRY_INTERVAL);
                Err(error.to_string())
            }
            Err(NotBegun::LeftBehind(error)) => {
                let reason = format!("the journal could neither make segment {next} durable nor remove it: {error}");
                self.fail(reason.clone());
                Err(reason)
            }
        }
    }
}

/// A latch a test holds the writer at, so that records stay queued for as long as it likes.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Gate(Arc<(parking_lot::Mutex<bool>, parking_lot::Condvar)>);

#[cfg(test)]
impl Gate {
    /// Lets the writer through, now and until the gate is closed again.
    pub(crate) fn open(&self) {
        let (open, opened) = &*self.0;
        *open.lock() = true;
        opened.notify_all();
    }

    /// Holds the writer again from the next request it takes.
    pub(crate) fn close(&self) {
        let (open, _) = &*self.0;
        *open.lock() = false;
    }

    fn pass(&self) {
        let (open, opened) = &*self.0;
        let mut open = open.lock();
        while !*open {
            opened.wait(&mut open);
        }
    }
}

#[cfg(test)]
impl Journal {
    /// Sends records that nobody will wait for: their answer is let go of before the writer
    /// can see them.
    pub(crate) fn append_unawaited(&self, bytes: Vec<u8>) {
        let (durable, answer) = oneshot::channel();
        drop(answer);
        self.shared.queued_bytes.fetch_add(bytes.len(), Ordering::Relaxed);
        let request = Request::Append {
            bytes,
            claim: None,
            durable,
        };
        self.requests.send(request).expect("the writer runs");
    }

    /// A journal in a temporary dir that lives as long as the returned guard, with room for
    /// `queued_bytes_max` bytes, whose writer takes a request and then waits at the gate (closed
    /// at first) until the test opens it.
    pub(crate) fn held_up(queued_bytes_max: usize) -> (Self, Gate, tempfile::TempDir, Arc<DataDir>) {
        let dir = tempfile::tempdir().expect("a temporary dir");
        let data_dir = Arc::new(DataDir::open(dir.path()).expect("a fresh dir opens"));
        let segment = Segment::create(&data_dir, 1)
            .map_err(NotBegun::into_error)
            .expect("segment 1 is begun");
        let gate = Gate::default();
        let writer = Writer {
            gate: Some(gate.clone()),
            ..Writer::new(data_dir.clone(), segment, FsyncPolicy::Never)
        };
        let journal = Self::spawn_writer(writer, queued_bytes_max).expect("the writer starts");
        (journal, gate, dir, data_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::format::HEADER_BYTES;

    #[tokio::test]
    async fn there_is_no_room_while_the_writer_is_behind_and_room_again_once_it_catches_up() {
        let (journal, gate, dir, _) = Journal::held_up(8);
        assert!(journal.has_room());
        let first = journal.append(vec![1; 5]);
        assert!(journal.has_room(), "5 bytes of 8 queued");
        let second = journal.append(vec![2; 5]);
        assert!(!journal.has_room(), "10 bytes of 8 queued");
        // Past the bound an append still goes in: whoever sends it has applied it already.
        let third = journal.append(vec![3; 2]);
        assert!(!journal.has_room());

        gate.open();
        first.durable().await.unwrap();
        second.durable().await.unwrap();
        third.durable().await.unwrap();
        assert!(journal.has_room(), "nothing is queued once all of it is durable");
        journal.stop().await;
        let written = std::fs::read(dir.path().join("journal-00000001.log")).unwrap();
        assert_eq!(written[HEADER_BYTES..], [[1; 5].as_slice(), &[2; 5], &[3; 2]].concat());
    }

    #[tokio::test]
    async fn records_nobody_waits_for_are_synced_with_the_next_one_somebody_does() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = Arc::new(DataDir::open(dir.path()).unwrap());
        let journal = Journal::start(data_dir, 1, FsyncPolicy::Always, HashMap::new()).unwrap();
        let segment = dir.path().join("journal-00000001.log");
        journal.append_unawaited(vec![1; 4]);
        journal.append_unawaited(vec![2; 4]);
        // Written in batches of their own before the next record is sent.
        while std::fs::metadata(&segment).unwrap().len() < (HEADER_BYTES + 8) as u64 {
            tokio::task::yield_now().await;
        }
        journal.append(vec![3; 4]).durable().await.unwrap();
        assert_eq!(
            journal.syncs(),
            1,
            "one sync for the record waited for and those before it"
        );
        journal.barrier().await.unwrap();
        assert_eq!(journal.syncs(), 1, "nothing new to sync");
        journal.append_unawaited(vec![4; 4]);
        journal.stop().await;
        assert_eq!(journal.syncs(), 2, "a stop syncs what nobody waited for");
        let written = std::fs::read(&segment).unwrap();
        assert_eq!(written[HEADER_BYTES..], [[1; 4], [2; 4], [3; 4], [4; 4]].concat());
    }

    #[tokio::test]
    async fn an_append_that_does_not_follow_its_partitions_last_entry_is_refused_and_ends_acknowledging() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = Arc::new(DataDir::open(dir.path()).unwrap());
        let recovered = HashMap::from([(Partition::Wallet, 4)]);
        let journal = Journal::start(data_dir.clone(), 1, FsyncPolicy::Never, recovered).unwrap();
        let claim = |partition, after, count| Claim {
            partition,
            after,
            count,
        };
        journal
            .append_claimed(vec![1], claim(Partition::Wallet, 4, 2))
            .durable()
            .await
            .unwrap();
        journal
            .append_claimed(vec![2], claim(Partition::Room, 0, 1))
            .durable()
            .await
            .unwrap();
        journal
            .append_claimed(vec![3], claim(Partition::Wallet, 6, 1))
            .durable()
            .await
            .unwrap();
        assert!(journal.is_healthy());

        // A second writer of the wallet that still believes its last entry is 6.
        let refused = journal.append_claimed(vec![4], claim(Partition::Wallet, 6, 1));
        assert_eq!(refused.durable().await.unwrap_err().code, ErrorCode::Unavailable);
        let reason = journal.failure().expect("the journal says why").to_string();
        assert!(
            reason.contains("partition wallet") && reason.contains("after entry 6 while its last is 7"),
            "{reason}"
        );
        let next = journal.append_claimed(vec![5], claim(Partition::Room, 1, 1));
        assert!(next.durable().await.is_err(), "nothing more is acknowledged");
        journal.stop().await;
        let written = std::fs::read(data_dir.segment_path(1)).unwrap();
        assert_eq!(
            written[HEADER_BYTES..],
            [1, 2, 3],
            "what followed its partition's last entry stands"
        );
    }

    fn started() -> (tempfile::TempDir, Arc<DataDir>, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = Arc::new(DataDir::open(dir.path()).unwrap());
        let journal = Journal::start(data_dir.clone(), 1, FsyncPolicy::Never, HashMap::new()).unwrap();
        (dir, data_dir, journal)
    }

    #[tokio::test]
    async fn a_segment_that_cannot_be_begun_postpones_the_rotation_and_fails_nothing() {
        let (_dir, data_dir, journal) = started();
        // The next segment's name is taken by a directory, so the journal cannot move on.
        std::fs::create_dir(data_dir.segment_path(2)).unwrap();
        let refused = journal.rotate().await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Unavailable);
        assert!(journal.is_healthy());
        journal.append(vec![1, 2, 3]).durable().await.unwrap();
        let records = |index| std::fs::read(data_dir.segment_path(index)).unwrap()[format::HEADER_BYTES..].to_vec();
        assert_eq!(records(1), [1, 2, 3]);

        std::fs::remove_dir(data_dir.segment_path(2)).unwrap();
        assert_eq!(journal.rotate().await.unwrap(), 2);
        journal.append(vec![4, 5]).durable().await.unwrap();
        journal.stop().await;
        assert_eq!(records(1), [1, 2, 3]);
        assert_eq!(records(2), [4, 5]);
        let header = std::fs::read(data_dir.segment_path(2)).unwrap()[..format::HEADER_BYTES].to_vec();
        assert_eq!(
            header,
            format::header(FileKind::Journal),
            "a segment begins with its header"
        );
    }

    #[tokio::test]
    async fn after_a_failed_write_nothing_more_is_acknowledged_or_begun() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = Arc::new(DataDir::open(dir.path()).unwrap());
        // A device that refuses every write as a full disk would.
        let full = File::options().append(true).open("/dev/full").unwrap();
        let segment = Segment {
            index: 1,
            file: full,
            len: 0,
        };
        let journal = Journal::spawn_writer(
            Writer::new(data_dir.clone(), segment, FsyncPolicy::Never),
            QUEUED_BYTES_MAX,
        )
        .unwrap();
        assert!(journal.is_healthy());
        let refused = journal.append(vec![1, 2, 3]).durable().await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Unavailable);
        let reason = journal.failure().expect("the journal says why it failed").to_string();
        assert!(reason.contains("segment 1"), "{reason}");

        assert!(journal.append(vec![4, 5]).durable().await.is_err());
        assert!(journal.barrier().await.is_err());
        assert!(journal.rotate().await.is_err());
        journal.stop().await;
        assert_eq!(data_dir.segments().unwrap(), Vec::<u64>::new(), "no segment was begun");
        assert_eq!(journal.failure(), Some(reason.as_str()), "the failure stays");
    }
}
