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
