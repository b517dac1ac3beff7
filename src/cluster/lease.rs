//! Leases in a replicated JetStream key-value bucket whose entries expire `--lease-ttl` after
//! their last write: a node takes a lease by creating its key (which succeeds only while nobody
//! holds it), keeps it by compare-and-swap on the revision it last wrote, and loses it when it
//! stops renewing in time, or when another took it meanwhile.

use crate::error::{Error, ErrorCode, Result};
use async_nats::jetstream::{self, kv};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The bucket of leases.
pub const LEASES: &str = "concert-leases";
/// The bucket where every live node says where it is.
pub const MEMBERS: &str = "concert-nodes";

/// Who holds a lease, and where the others reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    pub node_id: String,
    /// Where the holder serves what it owns to the other nodes.
    pub peer_url: String,
    /// The holder's public HTTP address.
    pub url: String,
    /// The holder's term: random for each time it takes the lease, so that a request meant for
    /// one term is never served by a later one of the same node.
    #[serde(default)]
    pub term: String,
}

/// A lease this node holds: the revision it last wrote and until when it may act on it.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    pub revision: u64,
    /// The last write began before this instant minus the TTL, so by now nobody else can have
    /// taken the lease; after it, somebody may have.
    pub valid_until: Instant,
}

/// The leases of one cluster.
#[derive(Clone)]
pub struct Leases {
    bucket: kv::Store,
    ttl: Duration,
}

impl Leases {
    /// The bucket `name`, made if it is not there yet, with entries that expire after `ttl`.
    pub async fn open(js: &jetstream::Context, name: &str, ttl: Duration, replicas: usize) -> Result<Self> {
        let bucket = match js.get_key_value(name).await {
            Ok(bucket) => {
                // A node believing a longer lease than the bucket keeps would act on a lease
                // another node may already hold.
                let kept = bucket.status().await.map_err(unavailable)?.max_age();
                if kept != ttl {
                    return Err(Error::invalid_request(format!(
                        "the cluster keeps leases for {}, and this node was started with --lease-ttl {}: start every node with the same",
                        humantime::format_duration(kept),
                        humantime::format_duration(ttl)
                    )));
                }
                bucket
            }
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: name.into(),
                    history: 1,
                    max_age: ttl,
                    num_replicas: replicas,
                    storage: jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(unavailable)?,
        };
        Ok(Self { bucket, ttl })
    }

    /// Takes lease `key` for `holder` if nobody holds it; `None` if somebody does.
    pub async fn acquire(&self, key: &str, holder: &Holder) -> Result<Option<Held>> {
        let started = Instant::now();
        match self.bucket.create(key, encode(holder)).await {
            Ok(revision) => Ok(Some(self.held(revision, started))),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            // Two nodes creating a key at once: the one refused finds the other's.
            Err(error) => match self.holder(key).await {
                Ok(Some(_)) => Ok(None),
                _ => Err(unavailable(error)),
            },
        }
    }

    /// Keeps lease `key`, last written at `held`'s revision; `None` if it was lost: it expired,
    /// and somebody else may have taken it.
    pub async fn renew(&self, key: &str, holder: &Holder, held: Held) -> Result<Option<Held>> {
        let started = Instant::now();
        match self.bucket.update(key, encode(holder), held.revision).await {
            Ok(revision) => Ok(Some(self.held(revision, started))),
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                self.renew_after_a_lost_answer(key, holder, started).await
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    /// The lease moved on from the revision this node knew: an earlier renewal of its own may
    /// have been stored with its answer lost (a timeout while JetStream elected a leader). The
    /// entry is still this node's if it names this very term (random for each taking, written by
    /// nobody else) and has not expired; then it is renewed from the revision found. Otherwise
    /// the lease is lost.
    async fn renew_after_a_lost_answer(&self, key: &str, holder: &Holder, started: Instant) -> Result<Option<Held>> {
        let entry = self.bucket.entry(key).await.map_err(unavailable)?;
        let Some(entry) = entry.filter(|entry| entry.operation == kv::Operation::Put) else {
            return Ok(None);
        };
        if serde_json::from_slice::<Holder>(&entry.value).ok().as_ref() != Some(holder) {
            return Ok(None);
        }
        match self.bucket.update(key, encode(holder), entry.revision).await {
            Ok(revision) => Ok(Some(self.held(revision, started))),
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Writes `holder` under `key` whoever held it: for the members, each under its own key.
    pub async fn announce(&self, key: &str, holder: &Holder) -> Result<()> {
        self.bucket.put(key, encode(holder)).await.map_err(unavailable)?;
        Ok(())
    }

    /// Removes `key` whoever wrote it: for a member that leaves.
    pub async fn withdraw(&self, key: &str) -> Result<()> {
        self.bucket.purge(key).await.map_err(unavailable)
    }

    /// Gives lease `key` up at once, so another node need not wait for it to expire.
    pub async fn release(&self, key: &str, held: Held) -> Result<()> {
        self.bucket
            .purge_expect_revision(key, Some(held.revision))
            .await
            .map_err(unavailable)
    }

    /// Who holds lease `key` now, if anybody.
    pub async fn holder(&self, key: &str) -> Result<Option<Holder>> {
        let value = self.bucket.get(key).await.map_err(unavailable)?;
        Ok(value.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Every lease and its holder.
    pub async fn all(&self) -> Result<Vec<(String, Holder)>> {
        use futures_util::TryStreamExt;
        let keys: Vec<String> = match self.bucket.keys().await {
            Ok(keys) => keys.try_collect().await.map_err(unavailable)?,
            Err(error) => return Err(unavailable(error)),
        };
        let mut held = Vec::new();
        for key in keys {
            if let Some(holder) = self.holder(&key).await? {
                held.push((key, holder));
            }
        }
        Ok(held)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn held(&self, revision: u64, written_from: Instant) -> Held {
        Held {
            revision,
            valid_until: written_from + self.ttl,
        }
    }
}

fn encode(holder: &Holder) -> bytes::Bytes {
    serde_json::to_vec(holder).expect("a holder encodes").into()
}

fn unavailable(error: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Unavailable, format!("JetStream: {error}")).with_retry_after(1)
}
