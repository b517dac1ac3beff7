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

use super::data_dir::DataDir;
use super::format::{self, FileKind};
use super::{Change, Entry};
use crate::config::FsyncPolicy;
use crate::error::{Error, ErrorCode};
use std::fs::{self, File};
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Requests taken into one write and one sync at most.
const BATCH_REQUESTS_MAX: usize = 4096;

/// A segment past this size is closed and a new one begun.
const SEGMENT_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// After a segment could not be begun, the writer waits this long before it tries again on its
/// own past the size limit; a snapshot asks again at its next tick anyway.
const ROTATION_RETRY_INTERVAL: Duration = Duration::from_secs(1);

enum Request {
    Append {
        bytes: Vec<u8>,
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

/// The handle every writer of state holds.
#[derive(Clone)]
pub struct Journal {
    requests: Sender<Request>,
    /// Why the journal stopped acknowledging, once it has.
    failure: Arc<OnceLock<String>>,
}

impl Journal {
    /// Starts the writer on a new segment `index` in `dir`.
    pub fn start(dir: Arc<DataDir>, index: u64, fsync: FsyncPolicy) -> io::Result<Self> {
        if fsync == FsyncPolicy::Never {
            tracing::warn!("--fsync never: writes are acknowledged before they are on disk; for benchmarks only");
        }
        let segment = Segment::create(&dir, index).map_err(NotBegun::into_error)?;
        Self::spawn(dir, segment, fsync)
    }

    /// Starts the writer on `segment`.
    fn spawn(dir: Arc<DataDir>, segment: Segment, fsync: FsyncPolicy) -> io::Result<Self> {
        let (requests, receiver) = mpsc::channel();
        let failure = Arc::new(OnceLock::new());
        let writer = Writer {
            dir,
            segment,
            fsync,
            failure: failure.clone(),
            rotation_retry_at: None,
        };
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || writer.run(receiver))?;
        Ok(Self { requests, failure })
    }

    /// Sends framed records; the answer comes once they are durable.
    pub fn append(&self, bytes: Vec<u8>) -> Commit {
        let (durable, answer) = oneshot::channel();
        // A stopped writer drops the request, and the commit reports that.
        let _ = self.requests.send(Request::Append { bytes, durable });
        Commit(Some(answer))
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

    /// Makes every record sent so far durable and ends the writer.
    pub async fn stop(&self) {
        let (stopped, answer) = oneshot::channel();
        if self.requests.send(Request::Stop { stopped }).is_ok() {
            let _ = answer.await;
        }
    }

    /// Why nothing is acknowledged any more, once a write or sync of the journal failed.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// False once a write or sync failed: from then on nothing is acknowledged.
    pub fn is_healthy(&self) -> bool {
        self.failure().is_none()
    }
}

/// The promise that some records will be durable.
#[must_use = "a write is acknowledged only once its commit is durable"]
pub struct Commit(Option<oneshot::Receiver<()>>);

impl Commit {
    /// Nothing to wait for.
    pub fn done() -> Self {
        Self(None)
    }

    /// True when there is nothing to wait for.
    pub fn is_done(&self) -> bool {
        self.0.is_none()
    }

    /// Waits until the records are on disk (or written, under `--fsync never`).
    pub async fn durable(self) -> Result<(), Error> {
        match self.0 {
            None => Ok(()),
            Some(answer) => answer.await.map_err(|_| not_durable()),
        }
    }
}

fn not_durable() -> Error {
    Error {
        retry_after_seconds: Some(1),
        ..Error::new(ErrorCode::Unavailable, "Storage could not make the write durable.")
    }
}

/// The records of one writer of state, numbered so that recovery can tell which of them a
/// snapshot already holds.
pub struct StreamWriter {
    journal: Journal,
    /// The number of the last record sent.
    seq: u64,
}

impl StreamWriter {
    /// Continues a stream whose last record was `seq`.
    pub fn new(journal: Journal, seq: u64) -> Self {
        Self { journal, seq }
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn append(&mut self, changes: impl IntoIterator<Item = Change>) -> Commit {
        let mut bytes = Vec::new();
        for change in changes {
            self.seq += 1;
            format::encode_entry(Entry { seq: self.seq, change }, &mut bytes);
        }
        if bytes.is_empty() {
            return Commit::done();
        }
        self.journal.append(bytes)
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
    failure: Arc<OnceLock<String>>,
    /// When the writer may try again to begin a segment past the size limit, after a failure.
    rotation_retry_at: Option<Instant>,
}

impl Writer {
    fn run(mut self, requests: Receiver<Request>) {
        let mut batch = Vec::new();
        while let Ok(first) = requests.recv() {
            batch.push(first);
            batch.extend(requests.try_iter().take(BATCH_REQUESTS_MAX - 1));
            if let std::ops::ControlFlow::Break(stopped) = self.serve(&mut batch) {
                // The segment is closed and the dir let go of before the stop is confirmed.
                drop(self);
                let _ = stopped.send(());
                return;
            }
        }
    }

    /// Writes a batch in order; a rotation or stop inside it first makes what came before durable.
    fn serve(&mut self, batch: &mut Vec<Request>) -> std::ops::ControlFlow<oneshot::Sender<()>> {
        let mut bytes = Vec::new();
        let mut waiting = Vec::new();
        for request in batch.drain(..) {
            match request {
                Request::Append {
                    bytes: records,
                    durable,
                } => {
                    bytes.extend_from_slice(&records);
                    waiting.push(durable);
                }
                Request::Rotate { began } => {
                    self.commit(&mut bytes, &mut waiting);
                    let _ = began.send(self.rotate());
                }
                Request::Stop { stopped } => {
                    self.commit(&mut bytes, &mut waiting);
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

    /// One write and one sync for everything pending, then every waiter is told. After a failure
    /// nobody is told again: the memory of the actors may be ahead of the disk, so the service
    /// must stop, and a restart recovers exactly what was acknowledged.
    fn commit(&mut self, bytes: &mut Vec<u8>, waiting: &mut Vec<oneshot::Sender<()>>) {
        if bytes.is_empty() && waiting.is_empty() {
            return;
        }
        if self.failure.get().is_some() {
            bytes.clear();
            waiting.clear();
            return;
        }
        match self.write(bytes) {
            Ok(()) => {
                for durable in waiting.drain(..) {
                    let _ = durable.send(());
                }
            }
            Err(error) => {
                let segment = self.segment.index;
                self.fail(format!(
                    "the journal could not write or sync segment {segment}: {error}"
                ));
                waiting.clear();
            }
        }
        bytes.clear();
    }

    fn fail(&self, reason: String) {
        tracing::error!(%reason, "nothing more is acknowledged; restart the server to recover");
        let _ = self.failure.set(reason);
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.segment.file.write_all(bytes)?;
        self.segment.len += bytes.len() as u64;
        if self.fsync == FsyncPolicy::Always {
            self.segment.file.sync_data()?;
        }
        Ok(())
    }

    /// Begins the next segment and returns its index, or says why it did not.
    fn rotate(&mut self) -> Result<u64, String> {
        // After a failure the last segment must stay the last: its tail may be torn, which
        // recovery mends only in the last segment.
        if let Some(reason) = self.failure.get() {
            return Err(reason.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> (tempfile::TempDir, Arc<DataDir>, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = Arc::new(DataDir::open(dir.path()).unwrap());
        let journal = Journal::start(data_dir.clone(), 1, FsyncPolicy::Never).unwrap();
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
        let journal = Journal::spawn(data_dir.clone(), segment, FsyncPolicy::Never).unwrap();
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
