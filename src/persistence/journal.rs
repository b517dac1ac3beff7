//! The append-only journal: one writer thread owns the open segment. Callers hand it framed
//! records; it takes everything queued, writes it in one `write`, syncs once and then answers all
//! of them (group commit), so under load one sync covers many requests.
//!
//! Records from one caller are written in the order it sent them, and a record is durable only
//! after every record sent before it: an answer that a record is durable vouches for all earlier
//! ones too.

use super::data_dir::DataDir;
use super::frame;
use super::{Change, Entry};
use crate::config::FsyncPolicy;
use crate::error::{Error, ErrorCode};
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Requests taken into one write and one sync at most.
const BATCH_REQUESTS_MAX: usize = 4096;

/// A segment past this size is closed and a new one begun.
const SEGMENT_BYTES_MAX: u64 = 256 * 1024 * 1024;

enum Request {
    Append {
        bytes: Vec<u8>,
        durable: oneshot::Sender<()>,
    },
    /// Closes the segment and begins the next; answers the new segment's index once every record
    /// sent before is durable.
    Rotate { began: oneshot::Sender<u64> },
    /// Makes everything sent before durable and ends the writer.
    Stop { stopped: oneshot::Sender<()> },
}

/// The handle every writer of state holds.
#[derive(Clone)]
pub struct Journal {
    requests: Sender<Request>,
    failed: Arc<AtomicBool>,
}

impl Journal {
    /// Starts the writer on a new segment `index` in `dir`.
    pub fn start(dir: Arc<DataDir>, index: u64, fsync: FsyncPolicy) -> io::Result<Self> {
        if fsync == FsyncPolicy::Never {
            tracing::warn!("--fsync never: writes are acknowledged before they are on disk; for benchmarks only");
        }
        let segment = Segment::create(&dir, index)?;
        let (requests, receiver) = mpsc::channel();
        let failed = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            dir,
            segment,
            fsync,
            failed: failed.clone(),
        };
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || writer.run(receiver))?;
        Ok(Self { requests, failed })
    }

    /// Sends framed records; the answer comes once they are durable.
    pub fn append(&self, bytes: Vec<u8>) -> Commit {
        let (durable, answer) = oneshot::channel();
        // A stopped writer drops the request, and the commit reports that.
        let _ = self.requests.send(Request::Append { bytes, durable });
        Commit(Some(answer))
    }

    /// Closes the segment; returns the index of the next one.
    pub async fn rotate(&self) -> Result<u64, Error> {
        let (began, answer) = oneshot::channel();
        let _ = self.requests.send(Request::Rotate { began });
        let index = answer.await.map_err(|_| not_durable())?;
        if !self.is_healthy() {
            return Err(not_durable());
        }
        Ok(index)
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

    /// False once a write or sync failed: from then on nothing is acknowledged.
    pub fn is_healthy(&self) -> bool {
        !self.failed.load(Ordering::Relaxed)
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
            frame::encode_into(&Entry { seq: self.seq, change }, &mut bytes);
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

impl Segment {
    fn create(dir: &DataDir, index: u64) -> io::Result<Self> {
        let file = File::options()
            .create_new(true)
            .append(true)
            .open(dir.segment_path(index))?;
        dir.sync()?;
        Ok(Self { index, file, len: 0 })
    }
}

struct Writer {
    dir: Arc<DataDir>,
    segment: Segment,
    fsync: FsyncPolicy,
    failed: Arc<AtomicBool>,
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
        if self.segment.len >= SEGMENT_BYTES_MAX {
            self.rotate();
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
        if self.failed.load(Ordering::Relaxed) {
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
                tracing::error!(%error, segment = self.segment.index, "the journal could not write or sync; nothing more is acknowledged, restart the server to recover");
                self.failed.store(true, Ordering::Relaxed);
                waiting.clear();
            }
        }
        bytes.clear();
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.segment.file.write_all(bytes)?;
        self.segment.len += bytes.len() as u64;
        if self.fsync == FsyncPolicy::Always {
            self.segment.file.sync_data()?;
        }
        Ok(())
    }

    /// Begins the next segment and returns its index.
    fn rotate(&mut self) -> u64 {
        // After a failure the last segment must stay the last: its tail may be torn, which
        // recovery mends only in the last segment.
        if self.failed.load(Ordering::Relaxed) {
            return self.segment.index;
        }
        let next = self.segment.index + 1;
        match Segment::create(&self.dir, next) {
            Ok(segment) => self.segment = segment,
            Err(error) => {
                tracing::error!(%error, "the journal could not begin a new segment; nothing more is acknowledged");
                self.failed.store(true, Ordering::Relaxed);
            }
        }
        self.segment.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn after_a_failure_nothing_more_is_acknowledged_or_written() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = Arc::new(DataDir::open(dir.path()).unwrap());
        let journal = Journal::start(data_dir.clone(), 1, FsyncPolicy::Never).unwrap();
        journal.append(vec![1, 2, 3]).durable().await.unwrap();
        assert!(journal.is_healthy());

        // The next segment's name is taken by a directory, so the journal cannot move on.
        std::fs::create_dir(data_dir.segment_path(2)).unwrap();
        assert!(journal.rotate().await.is_err());
        assert!(!journal.is_healthy());
        let refused = journal.append(vec![4, 5]).durable().await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Unavailable);
        assert!(journal.barrier().await.is_err());
        journal.stop().await;
        assert_eq!(
            std::fs::read(data_dir.segment_path(1)).unwrap(),
            [1, 2, 3],
            "nothing after the failure"
        );
    }
}
