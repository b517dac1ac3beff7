//! A sale's JSON and its draw's, as a crowd reads them: every fan's page reads its sale, and a
//! hundred thousand of them at an opening must not each queue a message behind the admissions
//! in the room's actor. A sale is read from its actor once per change of its room, and again
//! when its state turns or its room's next deadline falls due; its draw, which never changes
//! once made, is written out once.

use crate::actors::queue::{QueueHandle, SaleState};
use crate::domain::ConcertId;
use crate::error::Result;
use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use parking_lot::RwLock;
use std::future::Future;
use std::sync::Arc;

/// One sale's JSON, and until when it is current.
#[derive(Clone)]
struct Kept {
    /// The room's change count when it was read ([`QueueHandle::changes`]).
    changes: u64,
    /// The next moment the sale may change with no request: its state turns (its pre-queue
    /// opens, it opens) or its room's next deadline falls due.
    until: DateTime<Utc>,
    json: Bytes,
}

/// A sale's kept JSON, and the lock a refresh holds so that a crowd that finds it stale makes
/// one read of the actor, not one each.
#[derive(Default)]
struct SaleSlot {
    kept: RwLock<Option<Kept>>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
pub struct SaleReads {
    sales: DashMap<ConcertId, Arc<SaleSlot>>,
    draws: DashMap<ConcertId, Bytes>,
}

impl SaleReads {
    /// The sale's JSON at `now`: kept while its room has not changed, else `render`ed from a
    /// fresh read of the room.
    pub async fn sale(
        &self,
        concert: ConcertId,
        room: &QueueHandle,
        now: DateTime<Utc>,
        render: impl Fn(&SaleState) -> Result<Bytes>,
    ) -> Result<Bytes> {
        let slot = self.slot(concert);
        if let Some(json) = current(&slot, room, now) {
            return Ok(json);
        }
        let _refreshing = slot.refreshing.lock().await;
        if let Some(json) = current(&slot, room, now) {
            return Ok(json);
        }
        // The count is taken before the read: a change made meanwhile makes the next read fresh.
        let changes = room.changes();
        let state = room.sale().await?;
        let json = render(&state)?;
        let turns = [state.gate.next_turn(now), state.next_deadline];
        let until = turns.into_iter().flatten().min().unwrap_or(DateTime::<Utc>::MAX_UTC);
        *slot.kept.write() = Some(Kept {
            changes,
            until,
            json: json.clone(),
        });
        Ok(json)
    }

    /// The sale's slot: a shard's read lock on every read, its write lock only the first time.
    fn slot(&self, concert: ConcertId) -> Arc<SaleSlot> {
        if let Some(slot) = self.sales.get(&concert) {
            return slot.clone();
        }
        self.sales.entry(concert).or_default().clone()
    }

    /// Forgets the sale's JSON: the operator changed it, and the next read must show the change.
    pub fn forget(&self, concert: ConcertId) {
        if let Some(slot) = self.sales.get(&concert) {
            *slot.kept.write() = None;
        }
    }

    /// The draw's JSON, written once: `render` answers it, or refuses while it is not made.
    pub async fn draw<F: Future<Output = Result<Bytes>>>(
        &self,
        concert: ConcertId,
        render: impl FnOnce() -> F,
    ) -> Result<Bytes> {
        if let Some(json) = self.draws.get(&concert) {
            return Ok(json.clone());
        }
        let json = render().await?;
        self.draws.insert(concert, json.clone());
        Ok(json)
    }
}

fn current(slot: &SaleSlot, room: &QueueHandle, now: DateTime<Utc>) -> Option<Bytes> {
    let kept = slot.kept.read();
    let kept = kept.as_ref()?;
    (kept.changes == room.changes() && now < kept.until).then(|| kept.json.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, SharedClock};
    use crate::domain::draw::DrawSeed;
    use crate::domain::sale::{SaleRecord, SaleSchedule};
    use crate::domain::waiting_room::WaitingRoomLimits;
    use crate::domain::UserId;
    use crate::persistence::memory_log::MemoryLog;
    use crate::persistence::Part;
    use chrono::Duration;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a time")
    }

    /// A sale whose pre-queue is open at `now`, opening an hour later, in its own running room.
    fn sale_room(concert: ConcertId, clock: &SharedClock) -> QueueHandle {
        let now = clock.now();
        let record = SaleRecord {
            concert_id: concert,
            number: 1,
            schedule: SaleSchedule {
                prequeue_opens_at: now,
                opens_at: now + Duration::hours(1),
                active_max: 10,
                admissions_per_minute: None,
                refund_policy: Default::default(),
            },
            seed: DrawSeed::from_bytes([7; 32]),
            at: now,
        };
        let room = record.room(WaitingRoomLimits {
            active_max: 10,
            active_ttl: Duration::minutes(10),
            waiting_idle_ttl: Duration::minutes(5),
            waiting_max: 1_000,
        });
        let room = Part { seq: 0, state: room };
        let arbiter = actix::Arbiter::current();
        QueueHandle::start_sale(concert, room, Vec::new(), MemoryLog::new(), clock.clone(), &arbiter, 64)
    }

    #[actix_rt::test]
    async fn a_crowd_reads_a_sale_from_its_room_once_per_change_turn_or_operators_edit() {
        let clock: SharedClock = Arc::new(ManualClock::starting_at(at("2026-12-01T19:00:00Z")));
        let concert = ConcertId::random();
        let room = sale_room(concert, &clock);
        let reads = SaleReads::default();
        let rendered = AtomicUsize::new(0);
        let render = |_: &SaleState| {
            rendered.fetch_add(1, Ordering::Relaxed);
            Ok(Bytes::from_static(b"{}"))
        };
        let now = clock.now();
        let crowd = (0..1_000).map(|_| reads.sale(concert, &room, now, &render));
        let answers = futures_util::future::join_all(crowd).await;
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(rendered.load(Ordering::Relaxed), 1, "a thousand reads, one of the room");

        room.issue(UserId::random(), None)
            .await
            .expect("a fan joins the pre-queue");
        for _ in 0..3 {
            reads.sale(concert, &room, now, &render).await.unwrap();
        }
        assert_eq!(rendered.load(Ordering::Relaxed), 2, "the room changed: read once more");

        let opening = now + Duration::hours(1);
        reads.sale(concert, &room, opening, &render).await.unwrap();
        assert_eq!(rendered.load(Ordering::Relaxed), 3, "the sale turns at its opening");

        let before = rendered.load(Ordering::Relaxed);
        reads.forget(concert);
        reads.sale(concert, &room, now, &render).await.unwrap();
        assert_eq!(
            rendered.load(Ordering::Relaxed),
            before + 1,
            "the operator's change is read"
        );
    }
}
