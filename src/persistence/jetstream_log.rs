//! The event log on NATS JetStream, for cluster mode: each partition's entries are messages on
//! a subject of its own in one replicated stream, and each partition's snapshot an object in a
//! replicated object store.
//!
//! - **Fencing.** Every message is published with the stream sequence of its partition's last
//!   message as `Nats-Expected-Last-Subject-Sequence`: a writer that lost its partition to
//!   another (which appended since) is refused by JetStream itself, however long it was paused,
//!   and from then on this log refuses that partition's appends and acknowledges none of them.
//! - **Group commit.** A partition has at most one message in flight; what its writer appends
//!   meanwhile waits and goes in the next message, so under load one round trip carries many
//!   entries. Partitions publish side by side.
//! - **Retries.** A message is published under a message id made of the writer's own random
//!   name, its partition and its first entry, so a retry after a lost acknowledgement is stored
//!   once (JetStream's de-duplication), and the message of another writer is never taken for it.
//! - **Durability.** JetStream acknowledges a message once a quorum of the stream's replicas
//!   stored it; with the server's `sync_interval: always`, once it is on their disks.
//!
//! A message's payload is the partition's entries framed as in a journal segment (`format`), so
//! a message is read with the same code as a file.

use super::format;
use super::journal::Commit;
use super::log::{EventLog, Loaded, LogReader, PartState, Partition, SnapshotMark};
use super::recovery::RecoveryError;
use super::{Change, Entry, Image, Part};
use crate::domain::ConcertId;
use crate::error::{Error, ErrorCode, Result};
use async_nats::jetstream::{self, consumer, context, object_store, stream};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

/// The stream every partition's entries go to.
pub const STREAM: &str = "CONCERT_LOG";
/// The subjects of the stream: `concert.log.<partition>`.
const SUBJECT_PREFIX: &str = "concert.log.";
/// The object store of the partitions' snapshots: `<partition>@<entry>`, the entry zero-padded
/// to 20 digits. A snapshot never replaces another: a writer that lost its partitions and stores
/// an older snapshot late cannot hide a newer one, since readers take the highest entry.
pub const SNAPSHOTS: &str = "concert-snapshots";
/// The metadata key of a snapshot's object: the stream sequence to read the partition from.
const READ_FROM: &str = "read-from";

/// Bytes of entries in one message at most, below the server's default limit of 1 MiB.
const MESSAGE_BYTES_MAX: usize = 768 * 1024;
/// Bytes appended and not yet acknowledged past which new commands are refused, as the file
/// journal's bound.
const QUEUED_BYTES_MAX: usize = super::journal::QUEUED_BYTES_MAX;
/// How long a message is retried before the partition gives up: its entries are applied in
/// memory, so a partition that cannot append must stop acknowledging.
const RETRY_FOR: Duration = Duration::from_secs(10);
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long a reader tries a partition again before it gives up.
const READ_PATIENCE: Duration = Duration::from_secs(15);

/// Where the log is and how it is kept.
#[derive(Debug, Clone)]
pub struct JetStreamSettings {
    /// Copies JetStream keeps of every message and snapshot.
    pub replicas: usize,
}

/// The log on a JetStream connection.
pub struct JetStreamLog {
    js: jetstream::Context,
    /// This writer's name in its messages' ids: random, so no two writers ever share an id.
    writer: String,
    snapshots: object_store::ObjectStore,
    pipes: Mutex<HashMap<Partition, Arc<Pipe>>>,
    queued_bytes: Arc<AtomicUsize>,
    /// Where the publishing tasks run.
    runtime: tokio::runtime::Handle,
    /// Set by the first partition refused: the whole log then stops, as the file journal does
    /// after a failed write, since the state in memory may be ahead of what is stored.
    failure: Arc<OnceLock<String>>,
    /// Until when this writer may act on its partitions (its lease), when it holds them by one:
    /// past it new commands are refused, and appends stored later are not acknowledged.
    valid_until: Arc<Mutex<Option<Instant>>>,
}

/// Why a partition could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Somebody appended after what was read: read the partition again.
    #[error("{0}")]
    Stale(String),
    #[error("{0}")]
    Unreachable(String),
}

/// Where one partition's appends wait for their message.
struct Pipe {
    partition: Partition,
    subject: String,
    state: Mutex<PipeState>,
}

struct PipeState {
    /// The number of the partition's last entry appended.
    last_entry: u64,
    /// The stream sequence of the partition's last message stored.
    last_message: u64,
    /// Where each message stored since the last snapshot begins: (first entry, stream sequence).
    messages: VecDeque<(u64, u64)>,
    /// Appends waiting for the next message.
    waiting: Vec<Waiting>,
    publishing: bool,
    /// Told once the message in flight is stored: barriers that came while nothing waited.
    behind_in_flight: Vec<oneshot::Sender<()>>,
    /// Why the partition takes no more appends.
    fenced: Option<String>,
}

struct Waiting {
    first_entry: u64,
    bytes: Vec<u8>,
    /// The appender, and the barriers that came after it.
    durable: Vec<oneshot::Sender<()>>,
}

/// Why a message was not stored.
enum NotStored {
    /// Another writer appended to the partition.
    Fenced(String),
    /// JetStream did not answer in time.
    Unreachable(String),
}

impl JetStreamLog {
    /// Connects the log to JetStream on `client`, making its stream and object store if they are
    /// not there yet. Must run inside a tokio runtime, where its publishing tasks will run.
    pub async fn open(client: async_nats::Client, settings: &JetStreamSettings) -> Result<Arc<Self>> {
        let js = jetstream::new(client);
        js.get_or_create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec![format!("{SUBJECT_PREFIX}>")],
            storage: stream::StorageType::File,
            num_replicas: settings.replicas,
            allow_direct: true,
            ..Default::default()
        })
        .await
        .map_err(unreachable_error)?;
        let snapshots = match js.get_object_store(SNAPSHOTS).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: SNAPSHOTS.into(),
                    storage: stream::StorageType::File,
                    num_replicas: settings.replicas,
                    ..Default::default()
                })
                .await
                .map_err(unreachable_error)?,
        };
        Ok(Arc::new(Self {
            js,
            writer: uuid::Uuid::new_v4().simple().to_string(),
            snapshots,
            pipes: Mutex::new(HashMap::new()),
            queued_bytes: Arc::default(),
            runtime: tokio::runtime::Handle::current(),
            failure: Arc::default(),
            valid_until: Arc::default(),
        }))
    }

    /// From now on this writer acts on its partitions only until `valid_until`.
    pub fn hold_until(&self, valid_until: Instant) {
        *self.valid_until.lock() = Some(valid_until);
    }

    fn is_valid(valid_until: &Mutex<Option<Instant>>) -> bool {
        valid_until.lock().is_none_or(|until| Instant::now() < until)
    }

    /// Makes `partition`, as resumed, this writer's: an empty message after its last message,
    /// so that nothing a former writer still sends can follow what was read.
    pub async fn claim(&self, partition: Partition) -> std::result::Result<(), ClaimError> {
        let pipe = self.pipe(partition);
        let expected = pipe.state.lock().last_message;
        let id = format!("{}:{partition}:claim", self.writer);
        match store(&self.js, &pipe, &id, expected, Vec::new()).await {
            Ok(sequence) => {
                pipe.state.lock().last_message = sequence;
                Ok(())
            }
            Err(NotStored::Fenced(reason)) => Err(ClaimError::Stale(reason)),
            Err(NotStored::Unreachable(reason)) => Err(ClaimError::Unreachable(reason)),
        }
    }

    /// The partitions whose appends this writer has given up, and why.
    pub fn fenced_partitions(&self) -> Vec<(Partition, String)> {
        let pipes: Vec<Arc<Pipe>> = self.pipes.lock().values().cloned().collect();
        let fenced = pipes.iter().filter_map(|pipe| {
            let reason = pipe.state.lock().fenced.clone()?;
            Some((pipe.partition, reason))
        });
        fenced.collect()
    }

    /// Each partition's last entry appended, for the operator.
    pub fn last_entries(&self) -> Vec<(Partition, u64)> {
        let pipes: Vec<Arc<Pipe>> = self.pipes.lock().values().cloned().collect();
        let mut last: Vec<(Partition, u64)> = (pipes.iter())
            .map(|pipe| (pipe.partition, pipe.state.lock().last_entry))
            .collect();
        last.sort();
        last
    }

    /// Continues `partition` as `reader` found it: appends follow its last entry and message.
    pub fn resume(&self, partition: Partition, reader: &JetStreamReader) {
        let (last_entry, last_message) = reader.last.get(&partition).copied().unwrap_or_default();
        let from = reader.read_from.get(&partition).copied().unwrap_or_default();
        let pipe = Pipe::new(partition, last_entry, last_message, from);
        self.pipes.lock().insert(partition, Arc::new(pipe));
    }

    /// Continues every partition `reader` loaded.
    pub fn resume_from(&self, reader: &JetStreamReader) {
        let loaded = reader
            .last
            .keys()
            .chain(reader.loaded.entries.keys())
            .chain(reader.loaded.snapshots.keys());
        let mut partitions: Vec<Partition> = loaded.copied().collect();
        partitions.sort();
        partitions.dedup();
        for partition in partitions {
            self.resume(partition, reader);
        }
    }

    /// Puts each of `parts` in the object store as its partition's snapshot, with where to read
    /// the partition from after it, once every entry it holds is durable, then purges the
    /// messages before that: the snapshot of a whole image, or of one partition a node serves
    /// apart from the rest.
    pub fn store_parts(&self, parts: Vec<(Partition, Part<PartState>)>) -> BoxFuture<'static, Result<u64>> {
        let barrier = self.barrier();
        let parts: Vec<(Partition, Part<PartState>, u64)> = (parts.into_iter())
            .map(|(partition, part)| {
                let from = self.read_from(partition, part.seq);
                (partition, part, from)
            })
            .collect();
        let snapshots = self.snapshots.clone();
        let js = self.js.clone();
        let pipes: Vec<Arc<Pipe>> = parts.iter().map(|(partition, ..)| self.pipe(*partition)).collect();
        let (valid_until, failure) = (self.valid_until.clone(), self.failure.clone());
        let serves = move || failure.get().is_none() && Self::is_valid(&valid_until);
        Box::pin(async move {
            barrier.await?;
            let mut bytes = 0;
            for ((partition, part, from), pipe) in parts.into_iter().zip(pipes) {
                // A writer that no longer holds its partitions stores and purges nothing.
                if !serves() {
                    return Err(Error::new(
                        ErrorCode::Unavailable,
                        "This writer no longer holds its partitions.",
                    ));
                }
                bytes += put_snapshot(&snapshots, partition, &part, from).await?;
                if from > 0 && serves() {
                    purge_before(&js, partition, from).await?;
                    pipe.purged_before(from);
                }
            }
            Ok(bytes)
        })
    }

    /// Why `partition` takes no more appends, once that is so.
    pub fn fenced(&self, partition: Partition) -> Option<String> {
        let pipe = self.pipes.lock().get(&partition).cloned()?;
        let fenced = pipe.state.lock().fenced.clone();
        fenced
    }

    fn pipe(&self, partition: Partition) -> Arc<Pipe> {
        let mut pipes = self.pipes.lock();
        let pipe = pipes
            .entry(partition)
            .or_insert_with(|| Arc::new(Pipe::new(partition, 0, 0, 0)));
        pipe.clone()
    }

    /// Publishes what waits in `pipe`, message after message, until nothing waits.
    async fn publish(
        js: jetstream::Context,
        writer: String,
        pipe: Arc<Pipe>,
        queued_bytes: Arc<AtomicUsize>,
        valid_until: Arc<Mutex<Option<Instant>>>,
        failure: Arc<OnceLock<String>>,
    ) {
        while let Some((message, expected)) = pipe.next_message() {
            let bytes: usize = message.iter().map(|waiting| waiting.bytes.len()).sum();
            let first_entry = message[0].first_entry;
            let payload: Vec<u8> = message
                .iter()
                .flat_map(|waiting| waiting.bytes.iter().copied())
                .collect();
            let id = format!("{writer}:{}:{first_entry}", pipe.partition);
            let stored = store(&js, &pipe, &id, expected, payload).await;
            queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            let stored = match stored {
                // Stored, but after the lease may have passed to another: it stays in the log,
                // which the next owner reads, yet nobody is told it was done.
                Ok(_) if !Self::is_valid(&valid_until) => Err(NotStored::Fenced(format!(
                    "partition {}: the lease ran out",
                    pipe.partition
                ))),
                stored => stored,
            };
            match stored {
                Ok(sequence) => {
                    let barriers = pipe.stored(first_entry, sequence);
                    let told = message.into_iter().flat_map(|waiting| waiting.durable);
                    for durable in told.chain(barriers) {
                        let _ = durable.send(());
                    }
                }
                Err(NotStored::Fenced(reason) | NotStored::Unreachable(reason)) => {
                    tracing::error!(partition = %pipe.partition, %reason, "the log takes no more appends");
                    let _ = failure.set(reason.clone());
                    pipe.fence(reason, &queued_bytes);
                    return;
                }
            }
        }
    }

    /// Where to read `partition` from if its snapshot holds its entries up to `entry`: the
    /// message holding the entry after it, or its last message.
    fn read_from(&self, partition: Partition, entry: u64) -> u64 {
        let pipe = self.pipe(partition);
        let state = pipe.state.lock();
        let holding = state.messages.iter().rev().find(|(first, _)| *first <= entry + 1);
        holding.map_or(state.last_message, |(_, sequence)| *sequence)
    }
}

impl Pipe {
    fn new(partition: Partition, last_entry: u64, last_message: u64, read_from: u64) -> Self {
        let mut messages = VecDeque::new();
        if read_from > 0 {
            // What a snapshot does not hold is read from here; it is never purged.
            messages.push_back((0, read_from));
        }
        Self {
            partition,
            subject: format!("{SUBJECT_PREFIX}{partition}"),
            state: Mutex::new(PipeState {
                last_entry,
                last_message,
                messages,
                waiting: Vec::new(),
                publishing: false,
                behind_in_flight: Vec::new(),
                fenced: None,
            }),
        }
    }

    /// The appends that go in the next message and the stream sequence it must follow; none
    /// once nothing waits (and the pipe stops publishing).
    fn next_message(&self) -> Option<(Vec<Waiting>, u64)> {
        let mut state = self.state.lock();
        // A barrier that came while nothing waited was told when the message before was stored.
        debug_assert!(state.behind_in_flight.is_empty());
        if state.waiting.is_empty() || state.fenced.is_some() {
            state.publishing = false;
            return None;
        }
        let mut bytes = 0;
        let fits = state
            .waiting
            .iter()
            .take_while(|waiting| {
                bytes += waiting.bytes.len();
                bytes <= MESSAGE_BYTES_MAX
            })
            .count()
            .max(1);
        let message: Vec<Waiting> = state.waiting.drain(..fits).collect();
        Some((message, state.last_message))
    }

    /// Notes the message stored; returns the barriers that waited for it.
    fn stored(&self, first_entry: u64, sequence: u64) -> Vec<oneshot::Sender<()>> {
        let mut state = self.state.lock();
        state.last_message = sequence;
        state.messages.push_back((first_entry, sequence));
        std::mem::take(&mut state.behind_in_flight)
    }

    /// Forgets where the messages before stream sequence `from` began: they are purged.
    fn purged_before(&self, from: u64) {
        let mut state = self.state.lock();
        while state.messages.len() > 1 && state.messages[1].1 <= from {
            state.messages.pop_front();
        }
    }

    /// A commit told once everything appended before it is stored. It sends nothing itself.
    fn barrier(&self) -> Commit {
        let mut state = self.state.lock();
        if state.fenced.is_some() {
            return Commit::refused();
        }
        let (durable, answer) = oneshot::channel();
        if let Some(last) = state.waiting.last_mut() {
            last.durable.push(durable);
        } else if state.publishing {
            state.behind_in_flight.push(durable);
        } else {
            return Commit::done();
        }
        Commit::waiting_on(answer)
    }

    /// Refuses every append from now on, and those waiting.
    fn fence(&self, reason: String, queued_bytes: &AtomicUsize) {
        let mut state = self.state.lock();
        let dropped: usize = state.waiting.iter().map(|waiting| waiting.bytes.len()).sum();
        queued_bytes.fetch_sub(dropped, Ordering::Relaxed);
        state.waiting.clear();
        state.behind_in_flight.clear();
        state.publishing = false;
        state.fenced.get_or_insert(reason);
    }
}

/// Publishes one message, retrying under its message id until JetStream stores it, refuses it
/// as out of order, or [`RETRY_FOR`] passes.
async fn store(
    js: &jetstream::Context,
    pipe: &Pipe,
    id: &str,
    expected: u64,
    payload: Vec<u8>,
) -> std::result::Result<u64, NotStored> {
    let payload = bytes::Bytes::from(payload);
    let started = Instant::now();
    loop {
        let message = jetstream::message::PublishMessage::build()
            .payload(payload.clone())
            .message_id(id)
            .expected_last_subject_sequence(expected);
        let answer = match js.send_publish(pipe.subject.clone(), message).await {
            Ok(acknowledgement) => acknowledgement.await,
            Err(error) => Err(error),
        };
        match answer {
            Ok(ack) => return Ok(ack.sequence),
            Err(error) if error.kind() == context::PublishErrorKind::WrongLastSequence => {
                return Err(NotStored::Fenced(format!(
                    "partition {} was appended to by another writer after its message {expected}",
                    pipe.partition
                )));
            }
            Err(error) if started.elapsed() >= RETRY_FOR => {
                return Err(NotStored::Unreachable(format!(
                    "partition {}: JetStream did not store a message for {RETRY_FOR:?}: {error}",
                    pipe.partition
                )));
            }
            Err(error) => {
                tracing::warn!(partition = %pipe.partition, %error, "a message was not stored; retrying it");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

impl EventLog for JetStreamLog {
    fn append(&self, partition: Partition, after: u64, changes: Vec<Change>) -> Commit {
        let pipe = self.pipe(partition);
        let mut state = pipe.state.lock();
        if state.fenced.is_some() || self.failure.get().is_some() {
            return Commit::refused();
        }
        if state.last_entry != after {
            let reason = format!(
                "partition {partition} was appended to after entry {after} while its last is {}: it has a second writer",
                state.last_entry
            );
            let _ = self.failure.set(reason.clone());
            state.fenced = Some(reason);
            return Commit::refused();
        }
        let count = changes.len() as u64;
        let mut bytes = Vec::new();
        for (seq, change) in (after + 1..).zip(changes) {
            format::encode_entry(Entry { seq, change }, &mut bytes);
        }
        state.last_entry += count;
        self.queued_bytes.fetch_add(bytes.len(), Ordering::Relaxed);
        let (durable, answer) = oneshot::channel();
        state.waiting.push(Waiting {
            first_entry: after + 1,
            bytes,
            durable: vec![durable],
        });
        if !state.publishing {
            state.publishing = true;
            let task = Self::publish(
                self.js.clone(),
                self.writer.clone(),
                pipe.clone(),
                self.queued_bytes.clone(),
                self.valid_until.clone(),
                self.failure.clone(),
            );
            self.runtime.spawn(task);
        }
        Commit::waiting_on(answer)
    }

    fn has_room(&self) -> bool {
        self.queued_bytes.load(Ordering::Relaxed) < QUEUED_BYTES_MAX && self.serves()
    }

    /// Every partition's appends so far, stored.
    fn barrier(&self) -> BoxFuture<'static, Result<()>> {
        let pipes: Vec<Arc<Pipe>> = self.pipes.lock().values().cloned().collect();
        let commits: Vec<Commit> = pipes.iter().map(|pipe| pipe.barrier()).collect();
        Box::pin(async move {
            for commit in commits {
                commit.durable().await?;
            }
            Ok(())
        })
    }

    fn begin_snapshot(&self) -> BoxFuture<'static, Result<SnapshotMark>> {
        Box::pin(async { Ok(SnapshotMark(0)) })
    }

    /// Puts each partition's part in the object store with where to read the partition from
    /// after it, then purges the messages before that.
    fn store_snapshot(&self, _: SnapshotMark, image: Image) -> BoxFuture<'static, Result<u64>> {
        self.store_parts(image.into_parts())
    }

    fn stop(&self) -> BoxFuture<'static, ()> {
        let barrier = self.barrier();
        Box::pin(async move {
            let _ = barrier.await;
        })
    }

    fn failure(&self) -> Option<String> {
        self.failure.get().cloned()
    }

    fn serves(&self) -> bool {
        self.failure.get().is_none() && Self::is_valid(&self.valid_until)
    }
}

async fn put_snapshot(
    snapshots: &object_store::ObjectStore,
    partition: Partition,
    part: &Part<PartState>,
    read_from: u64,
) -> Result<u64> {
    let bytes = format::encode_part_snapshot(partition, part).map_err(Error::internal)?;
    let meta = object_store::ObjectMetadata {
        name: snapshot_name(partition, part.seq),
        metadata: HashMap::from([(READ_FROM.to_string(), read_from.to_string())]),
        ..Default::default()
    };
    snapshots
        .put(meta, &mut bytes.as_slice())
        .await
        .map_err(unreachable_error)?;
    // The older ones are of no more use once this one is stored.
    let stored = latest_snapshots(snapshots, |name| name.starts_with(&format!("{partition}@")))
        .await
        .map_err(unreachable_error)?;
    for (name, entry) in stored.into_values().flatten() {
        if entry < part.seq {
            let _ = snapshots.delete(&name).await;
        }
    }
    Ok(bytes.len() as u64)
}

fn snapshot_name(partition: Partition, entry: u64) -> String {
    format!("{partition}@{entry:020}")
}

/// The snapshots stored whose names `wanted` accepts: by partition, every (name, entry).
async fn latest_snapshots(
    snapshots: &object_store::ObjectStore,
    wanted: impl Fn(&str) -> bool,
) -> std::result::Result<HashMap<Partition, Vec<(String, u64)>>, String> {
    let mut list = snapshots.list().await.map_err(|error| error.to_string())?;
    let mut stored: HashMap<Partition, Vec<(String, u64)>> = HashMap::new();
    while let Some(info) = list.next().await {
        let info = info.map_err(|error| error.to_string())?;
        if info.deleted || !wanted(&info.name) {
            continue;
        }
        let Some((partition, entry)) = info.name.rsplit_once('@') else {
            continue;
        };
        let (Ok(partition), Ok(entry)) = (Partition::from_str(partition), entry.parse::<u64>()) else {
            continue;
        };
        stored.entry(partition).or_default().push((info.name.clone(), entry));
    }
    Ok(stored)
}

/// Purges `partition`'s messages before stream sequence `from`.
async fn purge_before(js: &jetstream::Context, partition: Partition, from: u64) -> Result<()> {
    let stream = js.get_stream(STREAM).await.map_err(unreachable_error)?;
    stream
        .purge()
        .filter(format!("{SUBJECT_PREFIX}{partition}"))
        .sequence(from)
        .await
        .map_err(unreachable_error)?;
    Ok(())
}

fn unreachable_error(error: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Unavailable, format!("JetStream: {error}")).with_retry_after(1)
}

impl FromStr for Partition {
    type Err = String;

    /// A partition by its name ([`Partition`]'s `Display`).
    fn from_str(name: &str) -> std::result::Result<Self, String> {
        Ok(match name {
            "users" => Self::Users,
            "catalog" => Self::Catalog,
            "room" => Self::Room,
            "wallet" => Self::Wallet,
            "answers" => Self::Answers,
            "sales" => Self::Sales,
            _ if name.starts_with("sale.") => {
                let concert =
                    ConcertId::from_str(&name["sale.".len()..]).map_err(|_| format!("no partition {name}"))?;
                Self::Sale(concert)
            }
            _ => {
                let date = name
                    .strip_prefix("date.")
                    .ok_or_else(|| format!("no partition {name}"))?;
                let (concert, day) = date.split_once('.').ok_or_else(|| format!("no partition {name}"))?;
                let concert = ConcertId::from_str(concert).map_err(|_| format!("no partition {name}"))?;
                let day = day.parse().map_err(|_| format!("no partition {name}"))?;
                Self::Date((concert, day))
            }
        })
    }
}

/// What recovery reads from JetStream: the partitions asked for, loaded at once.
pub struct JetStreamReader {
    loaded: Loaded,
    /// Each partition's last entry and the stream sequence of its last message.
    last: HashMap<Partition, (u64, u64)>,
    /// Where each partition's snapshot says to read it from.
    read_from: HashMap<Partition, u64>,
}

impl JetStreamReader {
    /// Loads every partition the stream holds.
    pub async fn load_all(log: &JetStreamLog) -> std::result::Result<Self, RecoveryError> {
        let partitions = stored_partitions(log).await?;
        Self::load(log, &partitions).await
    }

    /// Loads `partitions`: each one's snapshot, then its messages after it. The snapshots are
    /// listed once, and partitions are read side by side: a takeover of a sale with many dates
    /// waits for the slowest partition, not for the sum of them.
    pub async fn load(log: &JetStreamLog, partitions: &[Partition]) -> std::result::Result<Self, RecoveryError> {
        let snapshots = Arc::new(list_snapshots_patiently(log).await?);
        let reads = futures_util::stream::iter(partitions.iter().copied())
            .map(|partition| load_partition_patiently(log, partition, snapshots.clone()))
            .buffer_unordered(PARTITIONS_READ_AT_ONCE);
        let reads: Vec<PartitionRead> = futures_util::TryStreamExt::try_collect(reads).await?;
        let mut reader = Self {
            loaded: Loaded::default(),
            last: HashMap::new(),
            read_from: HashMap::new(),
        };
        for read in reads {
            reader.take_in(read);
        }
        Ok(reader)
    }

    fn take_in(&mut self, read: PartitionRead) {
        let partition = read.partition;
        if let Some((part, from)) = read.snapshot {
            self.last.insert(partition, (part.seq, 0));
            self.loaded.snapshots.insert(partition, part);
            self.read_from.insert(partition, from);
        }
        if let Some(last) = read.last {
            self.last.insert(partition, last);
        }
        self.loaded.entries.insert(partition, read.entries);
    }
}

/// How many partitions a takeover reads at once.
const PARTITIONS_READ_AT_ONCE: usize = 16;

/// One partition as JetStream holds it: its newest snapshot and where to read from after it,
/// its entries after that, and its last entry with the stream sequence of its last message.
struct PartitionRead {
    partition: Partition,
    snapshot: Option<(Part<PartState>, u64)>,
    entries: Vec<Entry>,
    last: Option<(u64, u64)>,
}

/// The stored snapshots by partition, tried again for a while (see `load_partition_patiently`).
async fn list_snapshots_patiently(
    log: &JetStreamLog,
) -> std::result::Result<HashMap<Partition, Vec<(String, u64)>>, RecoveryError> {
    let started = Instant::now();
    loop {
        match latest_snapshots(&log.snapshots, |_| true).await {
            Err(error) if started.elapsed() < READ_PATIENCE => {
                tracing::info!(%error, "listing the snapshots again");
                tokio::time::sleep(RETRY_PAUSE * 5).await;
            }
            listed => {
                return listed.map_err(|error| inconsistent(Partition::Catalog, format!("snapshots: {error}")));
            }
        }
    }
}

/// A partition's snapshot and messages, fetched, then decoded. Fetching is tried again for a
/// while: a stream or store whose server just died answers once its replicas elect a new leader.
/// A damaged message is not: reading it again changes nothing, so the refusal comes at once.
async fn load_partition_patiently(
    log: &JetStreamLog,
    partition: Partition,
    snapshots: Arc<HashMap<Partition, Vec<(String, u64)>>>,
) -> std::result::Result<PartitionRead, RecoveryError> {
    let started = Instant::now();
    loop {
        match fetch_partition(log, partition, &snapshots).await {
            Err(error) if started.elapsed() < READ_PATIENCE => {
                tracing::info!(%partition, %error, "reading the partition again");
                tokio::time::sleep(RETRY_PAUSE * 5).await;
            }
            Err(error) => return Err(error),
            Ok((snapshot, messages)) => return decode_partition(partition, snapshot, messages),
        }
    }
}

type Fetched = (Option<(Part<PartState>, u64)>, BTreeMap<u64, bytes::Bytes>);

async fn fetch_partition(
    log: &JetStreamLog,
    partition: Partition,
    snapshots: &HashMap<Partition, Vec<(String, u64)>>,
) -> std::result::Result<Fetched, RecoveryError> {
    let snapshot = get_snapshot(&log.snapshots, partition, snapshots).await?;
    let from = snapshot.as_ref().map_or(1, |(_, from)| *from);
    let messages = read_messages(&log.js, partition, from).await?;
    Ok((snapshot, messages))
}

fn decode_partition(
    partition: Partition,
    snapshot: Option<(Part<PartState>, u64)>,
    messages: BTreeMap<u64, bytes::Bytes>,
) -> std::result::Result<PartitionRead, RecoveryError> {
    let mut last = snapshot.as_ref().map(|(part, _)| (part.seq, 0));
    let mut entries = Vec::new();
    for (sequence, payload) in messages {
        let decoded = format::decode_records(&payload);
        if let Some(damage) = decoded.damage {
            return Err(inconsistent(
                partition,
                format!("message {sequence} is damaged: {damage}"),
            ));
        }
        let (entry, _) = last.unwrap_or_default();
        let entry = decoded.records.last().map_or(entry, |record| record.seq);
        last = Some((entry, sequence));
        entries.extend(decoded.records);
    }
    Ok(PartitionRead {
        partition,
        snapshot,
        entries,
        last,
    })
}

fn inconsistent(partition: Partition, problem: String) -> RecoveryError {
    RecoveryError::Inconsistent {
        partition: partition.to_string(),
        problem,
    }
}

fn reading_error(partition: Partition, error: impl std::fmt::Display) -> RecoveryError {
    inconsistent(partition, format!("JetStream could not be read: {error}"))
}

/// Every partition with a message in the stream.
async fn stored_partitions(log: &JetStreamLog) -> std::result::Result<Vec<Partition>, RecoveryError> {
    let reading = |error: &dyn std::fmt::Display| RecoveryError::Inconsistent {
        partition: "*".into(),
        problem: format!("JetStream could not be read: {error}"),
    };
    let stream = log.js.get_stream(STREAM).await.map_err(|error| reading(&error))?;
    let mut subjects = stream
        .info_with_subjects(format!("{SUBJECT_PREFIX}>"))
        .await
        .map_err(|error| reading(&error))?;
    let mut partitions = Vec::new();
    while let Some(subject) = subjects.next().await {
        let (subject, _) = subject.map_err(|error| reading(&error))?;
        let name = subject.strip_prefix(SUBJECT_PREFIX).unwrap_or(&subject);
        partitions.push(Partition::from_str(name).map_err(|problem| reading(&problem))?);
    }
    partitions.sort();
    Ok(partitions)
}

/// The newest snapshot of `partition` of those `stored`, and where to read it from after it.
async fn get_snapshot(
    snapshots: &object_store::ObjectStore,
    partition: Partition,
    stored: &HashMap<Partition, Vec<(String, u64)>>,
) -> std::result::Result<Option<(Part<PartState>, u64)>, RecoveryError> {
    let newest = |stored: &HashMap<Partition, Vec<(String, u64)>>| {
        let all = stored.get(&partition)?;
        all.iter().max_by_key(|(_, entry)| *entry).map(|(name, _)| name.clone())
    };
    let Some(name) = newest(stored) else {
        return Ok(None);
    };
    let mut object = match snapshots.get(&name).await {
        Ok(object) => object,
        // A newer one replaced it since the listing (its stream may be purged up to the newer
        // one): the partition's snapshots are listed again, and the read tried again.
        Err(error) if error.kind() == object_store::GetErrorKind::NotFound => {
            let prefix = format!("{partition}@");
            let listed = latest_snapshots(snapshots, |name| name.starts_with(&prefix)).await;
            let listed = listed.map_err(|error| reading_error(partition, error))?;
            if newest(&listed).is_none_or(|newer| newer == name) {
                return Err(inconsistent(partition, format!("its snapshot {name} is gone")));
            }
            return Box::pin(get_snapshot(snapshots, partition, &listed)).await;
        }
        Err(error) => return Err(reading_error(partition, error)),
    };
    let from = (object.info().metadata.get(READ_FROM))
        .and_then(|from| from.parse().ok())
        .ok_or_else(|| inconsistent(partition, "its snapshot does not say where to read from".into()))?;
    let mut bytes = Vec::new();
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|error| reading_error(partition, error))?;
    let (named, part) = format::decode_part_snapshot(&bytes)
        .map_err(|error| inconsistent(partition, format!("its snapshot cannot be read: {error}")))?;
    if named != partition {
        return Err(inconsistent(partition, format!("its snapshot is of partition {named}")));
    }
    Ok(Some((part, from)))
}

/// The payloads of `partition`'s messages from stream sequence `from`, with their sequences,
/// up to its last message as of now. Read through an ordered consumer, which streams them in
/// batches: a takeover after a long rush reads tens of thousands of messages, and one request
/// each would add a round trip per message to the failover.
async fn read_messages(
    js: &jetstream::Context,
    partition: Partition,
    from: u64,
) -> std::result::Result<BTreeMap<u64, bytes::Bytes>, RecoveryError> {
    let subject = format!("{SUBJECT_PREFIX}{partition}");
    let failed = |error: &dyn std::fmt::Display| reading_error(partition, error);
    let stream = js.get_stream(STREAM).await.map_err(|error| failed(&error))?;
    let mut read = BTreeMap::new();
    let last = match stream.direct_get_last_for_subject(&subject).await {
        Ok(message) => message.sequence,
        Err(error) if error.kind() == stream::DirectGetErrorKind::NotFound => return Ok(read),
        Err(error) => return Err(failed(&error)),
    };
    let from = from.max(1);
    if last < from {
        return Ok(read);
    }
    let ordered = consumer::pull::OrderedConfig {
        filter_subject: subject,
        deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from },
        ..Default::default()
    };
    let consumer = stream.create_consumer(ordered).await.map_err(|error| failed(&error))?;
    let name = consumer.cached_info().name.clone();
    let mut messages = consumer.messages().await.map_err(|error| failed(&error))?;
    let mut read_all = Err(failed(&"the stream of messages ended early"));
    while let Some(message) = messages.next().await {
        let message = message.map_err(|error| failed(&error))?;
        let sequence = message.info().map_err(|error| failed(&error))?.stream_sequence;
        read.insert(sequence, message.payload.clone());
        if sequence >= last {
            read_all = Ok(read);
            break;
        }
    }
    // The server would keep the consumer for half a minute after its last pull, and a server
    // keeps only so many: a takeover of many dates, done twice, would find no room left.
    drop(messages);
    tokio::spawn(async move {
        if let Err(error) = stream.delete_consumer(&name).await {
            tracing::debug!(%error, "a reading consumer is left to expire");
        }
    });
    read_all
}

impl LogReader for JetStreamReader {
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
