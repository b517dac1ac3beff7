//! The concerts' own sales: the record of each, and the room each one runs, found by concert or
//! by the band a token's number is in.

use super::ActorThreads;
use crate::actors::queue::{QueueHandle, SaleState};
use crate::clock::SharedClock;
use crate::domain::draw::DrawSeed;
use crate::domain::sale::{room_number_of, SaleRecord, SaleSchedule};
use crate::domain::waiting_room::{RoomImage, WaitingRoom, WaitingRoomLimits};
use crate::domain::{ConcertId, Token, UserId};
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::log::{Partition, PartitionWriter, SharedLog};
use crate::persistence::{Change, Part};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use futures_util::future::try_join_all;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// One concert's sale as the services reach it.
#[derive(Clone)]
pub struct Sale {
    pub concert_id: ConcertId,
    pub number: u32,
    pub room: QueueHandle,
    /// When the sale opens, as last set: what a pre-queued fan is told.
    opens_at: Arc<RwLock<DateTime<Utc>>>,
}

impl Sale {
    pub fn opens_at(&self) -> DateTime<Utc> {
        *self.opens_at.read()
    }
}

/// What a sale's actors start with.
pub struct SaleStart {
    pub log: SharedLog,
    pub clock: SharedClock,
    pub threads: Arc<ActorThreads>,
    pub requests_max: usize,
    pub room_limits: WaitingRoomLimits,
}

/// The sales as recovery found them.
pub struct RecoveredSales {
    pub records: Part<Vec<SaleRecord>>,
    pub rooms: HashMap<ConcertId, Part<WaitingRoom>>,
    /// Per sale, the tokens of payments a crash cut short before they were ended.
    pub unfinished_payments: HashMap<ConcertId, Vec<(Token, UserId)>>,
}

pub struct Sales {
    /// Whether any concert has a sale: read on every seat map and hold, where a map's emptiness
    /// would take each of its shards' locks.
    any: std::sync::atomic::AtomicBool,
    by_concert: DashMap<ConcertId, Sale>,
    by_number: DashMap<u32, Sale>,
    /// The records of the sales there are, and their stream: held while a sale is made, so that
    /// two first settings of one concert's sale make one sale, and a snapshot sees the records
    /// and their stream number agree.
    records: tokio::sync::Mutex<(Vec<SaleRecord>, PartitionWriter)>,
    start: SaleStart,
}

impl Sales {
    /// The sales recovered, each room's actor started on its recovered room.
    pub fn restore(recovered: RecoveredSales, start: SaleStart) -> Self {
        let RecoveredSales {
            records,
            mut rooms,
            mut unfinished_payments,
        } = recovered;
        let sales = Self {
            any: std::sync::atomic::AtomicBool::new(false),
            by_concert: DashMap::new(),
            by_number: DashMap::new(),
            records: tokio::sync::Mutex::new((
                Vec::new(),
                PartitionWriter::new(start.log.clone(), Partition::Sales, records.seq),
            )),
            start,
        };
        for record in &records.state {
            let room = (rooms.remove(&record.concert_id)).unwrap_or_else(|| Part {
                seq: 0,
                state: record.room(sales.start.room_limits.clone()),
            });
            let unfinished = unfinished_payments.remove(&record.concert_id).unwrap_or_default();
            sales.run(record, room, unfinished);
        }
        sales.records.try_lock().expect("nobody else has the sales yet").0 = records.state;
        sales
    }

    /// Starts the room of `record` and makes it reachable.
    fn run(&self, record: &SaleRecord, room: Part<WaitingRoom>, unfinished_payments: Vec<(Token, UserId)>) -> Sale {
        let start = &self.start;
        let opens_at = (room.state.sale()).map_or(record.schedule.opens_at, |gate| gate.schedule.opens_at);
        let sale = Sale {
            opens_at: Arc::new(RwLock::new(opens_at)),
            concert_id: record.concert_id,
            number: record.number,
            room: QueueHandle::start_sale(
                record.concert_id,
                room,
                unfinished_payments,
                start.log.clone(),
                start.clock.clone(),
                &start.threads.next(),
                start.requests_max,
            ),
        };
        self.by_number.insert(record.number, sale.clone());
        self.by_concert.insert(record.concert_id, sale.clone());
        self.any.store(true, std::sync::atomic::Ordering::Release);
        sale
    }

    /// The concert's sale, if it has one.
    pub fn of_concert(&self, concert: ConcertId) -> Option<Sale> {
        self.by_concert.get(&concert).map(|sale| sale.clone())
    }

    /// The number of the concert's room: its sale's, or 0 (the site-wide room's) if it has none.
    pub fn room_number_of_concert(&self, concert: ConcertId) -> u32 {
        if !self.any.load(std::sync::atomic::Ordering::Acquire) {
            return 0;
        }
        self.by_concert.get(&concert).map_or(0, |sale| sale.number)
    }

    /// The concert's sale, or SALE_NOT_FOUND.
    pub fn find(&self, concert: ConcertId) -> Result<Sale> {
        self.of_concert(concert)
            .ok_or_else(|| Error::new(ErrorCode::SaleNotFound, "This concert has no sale of its own."))
    }

    /// The sale whose room issued `token`, or none for the site-wide room's.
    pub fn of_token(&self, token: &Token) -> Option<Sale> {
        match room_number_of(token.seq()) {
            0 => None,
            number => self.by_number.get(&number).map(|sale| sale.clone()),
        }
    }

    /// Sets the concert's sale: made with a fresh seed the first time, changed after.
    pub async fn set(&self, concert: ConcertId, schedule: SaleSchedule) -> Result<SaleState> {
        schedule.validate()?;
        if let Some(sale) = self.of_concert(concert) {
            return Self::change(&sale, schedule).await;
        }
        let sale = {
            let mut records = self.records.lock().await;
            // Another first setting may have made it while this one waited.
            if let Some(sale) = self.of_concert(concert) {
                drop(records);
                return Self::change(&sale, schedule).await;
            }
            let (made, stream) = &mut *records;
            if !stream.has_room() {
                return Err(Error::unavailable());
            }
            let record = SaleRecord {
                concert_id: concert,
                number: u32::try_from(made.len() + 1).map_err(Error::internal)?,
                schedule,
                seed: DrawSeed::random(),
                at: self.start.clock.now(),
            };
            // The room runs only once its record is durable: a sale is never heard of before.
            stream.append([Change::SaleCreated(record.clone())]).durable().await?;
            made.push(record.clone());
            let room = Part {
                seq: 0,
                state: record.room(self.start.room_limits.clone()),
            };
            self.run(&record, room, Vec::new())
        };
        sale.room.sale().await
    }

    async fn change(sale: &Sale, schedule: SaleSchedule) -> Result<SaleState> {
        let changed = sale.room.change_sale(schedule).await?;
        *sale.opens_at.write() = changed.gate.schedule.opens_at;
        Ok(changed)
    }

    /// The records and every room, for a snapshot: the records first, so that a room made after
    /// them is made again by replaying its record.
    pub async fn image(&self) -> Result<(Part<Vec<SaleRecord>>, Vec<(ConcertId, Part<RoomImage>)>)> {
        let records = {
            let records = self.records.lock().await;
            Part {
                seq: records.1.seq(),
                state: records.0.clone(),
            }
        };
        let sales: Vec<Sale> = self.by_concert.iter().map(|sale| sale.clone()).collect();
        let rooms = try_join_all(
            sales
                .iter()
                .map(|sale| async move { Ok::<_, Error>((sale.concert_id, sale.room.image().await?)) }),
        );
        Ok((records, rooms.await?))
    }
}
