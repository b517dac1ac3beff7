//! A concert date served by a node on its own, apart from the engine: read from JetStream (the
//! catalog, which says what the date is, and the date's partition), claimed so that a former
//! owner can append to it no more, served over NATS ([`date_rpc`](super::date_rpc)), and given
//! up when the node's lease on it ends. The payments under way on the date are left as they are,
//! for the saga that began each one to finish.

use super::date_rpc;
use super::ownership::Owner;
use crate::actors::concert_date::{ConcertDateHandle, DateContext};
use crate::actors::hold_ledger::HoldLedger;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::concert::DateKey;
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::jetstream_log::{ClaimError, JetStreamLog, JetStreamReader, JetStreamSettings};
use crate::persistence::log::{EventLog, PartState, Partition, SharedLog};
use crate::persistence::recovery::{self, Limits};
use crate::persistence::Part;
use actix::ArbiterHandle;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Times a takeover reads the date again when its former owner appended meanwhile.
const TAKEOVER_ATTEMPTS: usize = 5;

/// What a node needs to serve dates of its own.
pub struct DateOwner {
    client: async_nats::Client,
    settings: JetStreamSettings,
    limits: Limits,
    clock: SharedClock,
    hold_ttl: chrono::Duration,
    hold_max: u32,
    requests_max: usize,
    arbiter: ArbiterHandle,
}

/// A date this node serves, until [`ServedDate::stop`].
pub struct ServedDate {
    log: Arc<JetStreamLog>,
    date: ConcertDateHandle,
    serving: actix_web::rt::task::JoinHandle<()>,
}

impl DateOwner {
    /// Dates served with `config`'s limits, their actors on `arbiter`.
    pub fn new(client: async_nats::Client, config: &Config, clock: SharedClock, arbiter: ArbiterHandle) -> Self {
        Self {
            client,
            settings: JetStreamSettings {
                replicas: usize::from(config.replicas),
            },
            limits: crate::services::recovery_limits(config),
            clock,
            hold_ttl: chrono::Duration::from_std(config.hold_ttl).expect("a hold's time fits in a chrono duration"),
            hold_max: config.hold_max,
            requests_max: config.actor_requests_max as usize,
            arbiter,
        }
    }

    /// Reads the date, claims its partition, and serves it under a lease valid until
    /// `valid_until`.
    pub async fn take_over(&self, key: DateKey, valid_until: Instant) -> Result<ServedDate> {
        let partition = Partition::Date(key);
        for _ in 0..TAKEOVER_ATTEMPTS {
            let log = JetStreamLog::open(self.client.clone(), &self.settings).await?;
            let mut reader =
                (JetStreamReader::load(&log, &[Partition::Catalog, partition]).await).map_err(unavailable)?;
            log.resume(partition, &reader);
            let mut state = recovery::rebuild(&mut reader, &self.limits).map_err(unavailable)?;
            let Some(map) = state.dates.remove(&key) else {
                return Err(Error::new(
                    ErrorCode::DateNotFound,
                    format!("No date {partition} in the catalog."),
                ));
            };
            match log.claim(partition).await {
                Ok(()) => {}
                Err(ClaimError::Stale(reason)) => {
                    tracing::info!(%partition, %reason, "the date's former owner appended during the takeover; reading again");
                    continue;
                }
                Err(ClaimError::Unreachable(reason)) => return Err(unavailable(reason)),
            }
            log.hold_until(valid_until);
            let date = ConcertDateHandle::start_leaving_payments(map, self.context(log.clone()), &self.arbiter);
            let subject = date_rpc::subject_of(&partition.to_string());
            let serving = date_rpc::serve(self.client.clone(), subject, date.clone(), log.clone()).await?;
            return Ok(ServedDate { log, date, serving });
        }
        Err(unavailable(format!("{partition} kept changing under the takeover")))
    }

    /// The date's own indexes: the engine keeps the fans' holds across dates.
    fn context(&self, log: Arc<JetStreamLog>) -> DateContext {
        DateContext {
            clock: self.clock.clone(),
            hold_ttl: self.hold_ttl,
            hold_max: self.hold_max,
            ledger: Arc::new(HoldLedger::default()),
            reservations: Arc::default(),
            waitlists: Arc::default(),
            requests_max: self.requests_max,
            log: log as SharedLog,
        }
    }
}

impl ServedDate {
    /// The lease was renewed: appends stored until `valid_until` are acknowledged.
    pub fn renewed(&self, valid_until: Instant) {
        self.log.hold_until(valid_until);
    }

    /// Why the date takes no more appends (another node appended to it), once that is so.
    pub fn failure(&self) -> Option<String> {
        self.log.failure()
    }

    /// Keeps the date's map as its partition's snapshot once every entry it holds is durable,
    /// so that its next owner reads from there instead of from the date's first message.
    /// Returns the bytes stored.
    pub async fn snapshot(&self) -> Result<u64> {
        snapshot_of((self.date.clone(), self.log.clone())).await
    }

    /// The date's actor, as this node serves it.
    pub fn date(&self) -> &ConcertDateHandle {
        &self.date
    }

    /// Stops serving: no call is answered any more, and appends under way are stored before
    /// the lease is given back.
    pub async fn stop(self) {
        self.serving.abort();
        let _ = self.serving.await;
        self.log.stop().await;
    }
}

/// Every date this node serves, as its leases come and go: the dates' [`Owner`] for the node's
/// [`Ownership`](super::ownership::Ownership) of them.
pub struct DateOwners {
    owner: DateOwner,
    served: parking_lot::Mutex<HashMap<String, ServedDate>>,
}

impl DateOwners {
    pub fn new(owner: DateOwner) -> Self {
        Self {
            owner,
            served: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// Every date of the catalog, by its partition's name: the groups the nodes share out.
    pub async fn dates_in_catalog(&self) -> Result<Vec<String>> {
        let log = JetStreamLog::open(self.owner.client.clone(), &self.owner.settings).await?;
        let mut reader = (JetStreamReader::load(&log, &[Partition::Catalog]).await).map_err(unavailable)?;
        let state = recovery::rebuild(&mut reader, &self.owner.limits).map_err(unavailable)?;
        let mut dates: Vec<String> = (state.dates.keys())
            .map(|key| Partition::Date(*key).to_string())
            .collect();
        dates.sort();
        Ok(dates)
    }

    /// Snapshots every date served here, one after another; a failure is logged, since the
    /// date's messages still hold everything.
    pub async fn snapshot_served(&self) {
        for group in self.served() {
            let snapshot = {
                let served = self.served.lock();
                let Some(date) = served.get(&group) else { continue };
                (date.date.clone(), date.log.clone())
            };
            if let Err(error) = snapshot_of(snapshot).await {
                tracing::warn!(%group, %error, "the date's snapshot failed; its messages hold everything");
            }
        }
    }

    /// The dates served here now and each one's last entry.
    pub fn served_with_last_entries(&self) -> Vec<(String, u64)> {
        let served = self.served.lock();
        let mut listed: Vec<(String, u64)> = (served.iter())
            .map(|(name, date)| {
                let last = date.log.last_entries().into_iter().map(|(_, last)| last).max();
                (name.clone(), last.unwrap_or(0))
            })
            .collect();
        listed.sort();
        listed
    }

    /// The dates served here now, by partition name.
    pub fn served(&self) -> Vec<String> {
        let mut served: Vec<String> = self.served.lock().keys().cloned().collect();
        served.sort();
        served
    }
}

impl Owner for DateOwners {
    fn gained(&self, group: &str, _term: &str, valid_until: Instant) -> BoxFuture<'_, Result<()>> {
        let group = group.to_string();
        Box::pin(async move {
            let Ok(Partition::Date(key)) = group.parse::<Partition>() else {
                return Err(Error::internal(format!("{group} is not a date's partition")));
            };
            let started = Instant::now();
            let served = self.owner.take_over(key, valid_until).await?;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            tracing::info!(date = %group, elapsed_ms, "this node serves the date");
            self.served.lock().insert(group, served);
            Ok(())
        })
    }

    fn renewed(&self, group: &str, valid_until: Instant) {
        if let Some(served) = self.served.lock().get(group) {
            served.renewed(valid_until);
        }
    }

    fn lost(&self, group: &str) -> BoxFuture<'_, ()> {
        let served = self.served.lock().remove(group);
        let group = group.to_string();
        Box::pin(async move {
            if let Some(served) = served {
                served.stop().await;
                tracing::info!(date = %group, "this node no longer serves the date");
            }
        })
    }

    fn serves(&self, group: &str) -> bool {
        (self.served.lock().get(group)).is_some_and(|served| served.failure().is_none())
    }
}

/// Keeps a date's map, captured by its actor, as its partition's snapshot.
async fn snapshot_of((date, log): (ConcertDateHandle, Arc<JetStreamLog>)) -> Result<u64> {
    let Part { seq, state: map } = date.image().await?;
    let partition = Partition::Date((map.concert(), map.date()));
    let part = Part {
        seq,
        state: PartState::Date(map),
    };
    log.store_parts(vec![(partition, part)]).await
}

fn unavailable(error: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Unavailable, format!("{error}")).with_retry_after(1)
}
