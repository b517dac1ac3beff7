//! An event log in memory: every partition's entries and snapshots in one shared store, behind
//! handles that each fence themselves as a replicated log's owners do. It keeps nothing across
//! a process, so it serves tests of what runs above the [`EventLog`] trait (the engine on a log
//! that is not files, a second owner taking a partition over), never a sale.

use super::journal::Commit;
use super::log::{EventLog, Loaded, PartState, Partition, SnapshotMark};
use super::{Change, Entry, Image, Part};
use crate::error::Result;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// What every handle shares.
#[derive(Default)]
struct Store {
    /// Each partition's entries after its snapshot.
    entries: HashMap<Partition, Vec<Entry>>,
    /// Each partition's number of its last entry, whether kept or covered by its snapshot.
    last: HashMap<Partition, u64>,
    snapshots: HashMap<Partition, Part<PartState>>,
}

/// One process's handle on the shared store.
pub struct MemoryLog {
    store: Arc<Mutex<Store>>,
    /// Why this handle acknowledges nothing more: another took one of its partitions over.
    failure: OnceLock<String>,
}

impl MemoryLog {
    /// An empty store and a first handle on it.
    pub fn new() -> Arc<Self> {
        Self::on(Arc::default())
    }

    fn on(store: Arc<Mutex<Store>>) -> Arc<Self> {
        Arc::new(Self {
            store,
            failure: OnceLock::new(),
        })
    }

    /// Another handle on the same store, as a second process would have.
    pub fn handle(&self) -> Arc<Self> {
        Self::on(self.store.clone())
    }

    /// What recovery reads: a copy of the store as it is now.
    pub fn reader(&self) -> Loaded {
        let store = self.store.lock();
        Loaded {
            entries: store.entries.clone(),
            snapshots: store.snapshots.clone(),
            replayed: 0,
        }
    }

    /// Every entry the store keeps of `partition`, for tests to look at.
    pub fn entries(&self, partition: Partition) -> Vec<Entry> {
        self.store.lock().entries.get(&partition).cloned().unwrap_or_default()
    }
}

impl EventLog for MemoryLog {
    fn append(&self, partition: Partition, after: u64, changes: Vec<Change>) -> Commit {
        if self.failure.get().is_some() {
            return Commit::refused();
        }
        let mut store = self.store.lock();
        let last = store.last.entry(partition).or_insert(0);
        if *last != after {
            let reason = format!("partition {partition} is at entry {last}, not {after}: another writer took it over");
            let _ = self.failure.set(reason);
            return Commit::refused();
        }
        *last += changes.len() as u64;
        let entries = (after + 1..).zip(changes).map(|(seq, change)| Entry { seq, change });
        store.entries.entry(partition).or_default().extend(entries);
        Commit::done()
    }

    fn has_room(&self) -> bool {
        true
    }

    fn barrier(&self) -> BoxFuture<'static, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn begin_snapshot(&self) -> BoxFuture<'static, Result<SnapshotMark>> {
        Box::pin(async { Ok(SnapshotMark(0)) })
    }

    /// Keeps each part and lets go of the entries it covers.
    fn store_snapshot(&self, _: SnapshotMark, image: Image) -> BoxFuture<'static, Result<u64>> {
        let mut store = self.store.lock();
        for (partition, part) in image.into_parts() {
            if let Some(entries) = store.entries.get_mut(&partition) {
                entries.retain(|entry| entry.seq > part.seq);
            }
            store.snapshots.insert(partition, part);
        }
        Box::pin(async { Ok(0) })
    }

    fn stop(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    fn failure(&self) -> Option<String> {
        self.failure.get().cloned()
    }
}
