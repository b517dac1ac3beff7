//! The catalog: concerts, their dates and the registry of date actors. Created once by an admin,
//! then only read; every seat change goes through the date's actor.

use crate::actors::concert_date::{ConcertDateHandle, DateContext};
use crate::cluster::date_rpc::RemoteDate;
use crate::domain::concert::{ConcertRecord, DateKey, NewDate};
use crate::domain::seat_map::RecordedPayment;
use crate::domain::seat_map::{SeatCounts, SeatMap};
use crate::domain::waitlist::EntryCode;
use crate::domain::{ConcertId, ReservationId, UserId};
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::log::{Partition, PartitionWriter};
use crate::persistence::{Change, Part};
use crate::services::dates::{DateHandle, Spread};
use crate::services::ActorThreads;
use chrono::NaiveDate;
use dashmap::DashMap;
use futures_util::future::try_join_all;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Concert {
    pub concert_id: ConcertId,
    pub title: String,
    /// Ascending.
    pub dates: Vec<NaiveDate>,
    created_order: usize,
}

#[derive(Debug, Clone)]
pub struct ConcertSummary {
    pub concert_id: ConcertId,
    pub title: String,
    pub date_count: usize,
}

#[derive(Debug, Clone)]
pub struct DateSummary {
    pub date: NaiveDate,
    pub total_seats: u64,
    pub available_seats: u64,
}

impl DateSummary {
    /// A new date: every seat available.
    pub fn untouched(new: &NewDate) -> Self {
        let seats = u64::from(new.seat_count);
        Self {
            date: new.date,
            total_seats: seats,
            available_seats: seats,
        }
    }
}

/// A concert's dates as the operator sees them.
#[derive(Debug, Clone)]
pub struct ConcertFigures {
    pub concert_id: ConcertId,
    pub title: String,
    /// Ascending.
    pub dates: Vec<DateFigures>,
}

#[derive(Debug, Clone)]
pub struct DateFigures {
    pub date: NaiveDate,
    pub total_seats: u64,
    pub seats_held: u64,
    pub seats_sold: u64,
    /// The prices of the sold seats, in won.
    pub revenue: i64,
}

pub struct Catalog {
    concerts: DashMap<ConcertId, Arc<Concert>>,
    dates: DashMap<DateKey, DateHandle>,
    reservations: Arc<DashMap<ReservationId, DateKey>>,
    /// Every concert as created, oldest first, and the catalog's journal stream; held while a
    /// concert is added, so a snapshot sees them agree.
    created: Mutex<(Vec<ConcertRecord>, PartitionWriter)>,
    context: DateContext,
    threads: Arc<ActorThreads>,
    /// Where dates are served apart from the engine, in a cluster; none when their actors run
    /// here.
    spread: Option<Spread>,
}

impl Catalog {
    /// The catalog recovered: its concerts, and one actor per date on the seat map recovered,
    /// which first finishes the payments of its holds the wallet `recorded`.
    pub fn restore(
        concerts: Part<Vec<ConcertRecord>>,
        mut maps: HashMap<DateKey, Part<SeatMap>>,
        mut recorded: HashMap<DateKey, Vec<RecordedPayment>>,
        context: DateContext,
        threads: Arc<ActorThreads>,
        spread: Option<Spread>,
    ) -> Self {
        let stream = PartitionWriter::new(context.log.clone(), Partition::Catalog, concerts.seq);
        let catalog = Self {
            concerts: DashMap::new(),
            dates: DashMap::new(),
            reservations: context.reservations.clone(),
            created: Mutex::new((Vec::new(), stream)),
            context,
            threads,
            spread,
        };
        {
            let mut created = catalog.created.lock();
            for record in concerts.state {
                let recovered = |key| Some((maps.remove(&key)?, recorded.remove(&key).unwrap_or_default()));
                catalog.start(&record, created.0.len(), recovered);
                created.0.push(record);
            }
        }
        assert!(maps.is_empty(), "every recovered seat map belongs to a concert");
        assert!(recorded.is_empty(), "every recorded payment's date was started");
        catalog
    }

    /// Creates a concert and starts one actor per date. Input is already validated.
    pub async fn create(&self, title: String, new_dates: Vec<NewDate>) -> Result<Arc<Concert>> {
        let record = ConcertRecord {
            concert_id: ConcertId::random(),
            title,
            dates: new_dates,
        };
        let (concert, commit) = {
            let mut created = self.created.lock();
            let (records, stream) = &mut *created;
            // Refused before anything is applied while the journal is behind the disk.
            if !stream.has_room() {
                return Err(Error::unavailable());
            }
            let commit = stream.append([Change::ConcertCreated(record.clone())]);
            let concert = self.start(&record, records.len(), |_| None);
            records.push(record);
            (concert, commit)
        };
        commit.durable().await?;
        if let Some(spread) = &self.spread {
            // Its dates are served once the nodes that should own them have read them: the
            // concert is told created then, so that a fan sent to it finds its seats.
            spread.dates_added().await;
            let dates: Vec<DateHandle> = (concert.dates.iter())
                .filter_map(|date| self.date(concert.concert_id, *date).ok())
                .collect();
            spread.until_served(&dates).await?;
        }
        Ok(concert)
    }

    /// Starts the concert's date actors, on the seat maps `recovered` gives or new ones.
    fn start(
        &self,
        record: &ConcertRecord,
        created_order: usize,
        mut recovered: impl FnMut(DateKey) -> Option<(Part<SeatMap>, Vec<RecordedPayment>)>,
    ) -> Arc<Concert> {
        let concert_id = record.concert_id;
        for new_date in &record.dates {
            let key = (concert_id, new_date.date);
            let (map, recorded) = recovered(key).unwrap_or_else(|| {
                let map = SeatMap::new(concert_id, new_date.date, new_date.seat_count, new_date.price);
                (Part { seq: 0, state: map }, Vec::new())
            });
            let handle = match &self.spread {
                None => DateHandle::Local(ConcertDateHandle::start(
                    map,
                    recorded,
                    self.context.clone(),
                    &self.threads.next(),
                )),
                Some(spread) => {
                    let remote =
                        RemoteDate::new(spread.client.clone(), &Partition::Date(key).to_string(), spread.within);
                    DateHandle::remote(remote, &map.state, self.context.clone(), recorded, spread.over.clone())
                }
            };
            self.dates.insert(key, handle);
        }
        let mut dates: Vec<NaiveDate> = record.dates.iter().map(|d| d.date).collect();
        dates.sort_unstable();
        let concert = Arc::new(Concert {
            concert_id,
            title: record.title.clone(),
            dates,
            created_order,
        });
        self.concerts.insert(concert_id, concert.clone());
        concert
    }

    /// The concerts as created and every date's actor, for a snapshot.
    pub fn image(&self) -> (Part<Vec<ConcertRecord>>, Vec<(DateKey, DateHandle)>) {
        let created = self.created.lock();
        let dates = self
            .dates
            .iter()
            .map(|entry| (*entry.key(), entry.value().clone()))
            .collect();
        let part = Part {
            seq: created.1.seq(),
            state: created.0.clone(),
        };
        (part, dates)
    }

    /// Every concert, oldest first.
    pub fn list(&self) -> Vec<ConcertSummary> {
        let mut concerts: Vec<Arc<Concert>> = self.concerts.iter().map(|entry| entry.value().clone()).collect();
        concerts.sort_by_key(|concert| concert.created_order);
        concerts
            .into_iter()
            .map(|c| ConcertSummary {
                concert_id: c.concert_id,
                title: c.title.clone(),
                date_count: c.dates.len(),
            })
            .collect()
    }

    pub fn concert(&self, concert_id: ConcertId) -> Result<Arc<Concert>> {
        self.concerts
            .get(&concert_id)
            .map(|entry| entry.value().clone())
            .ok_or_else(|| Error::new(ErrorCode::ConcertNotFound, format!("No concert {concert_id}.")))
    }

    pub fn date(&self, concert_id: ConcertId, date: NaiveDate) -> Result<DateHandle> {
        self.concert(concert_id)?;
        self.dates
            .get(&(concert_id, date))
            .map(|entry| entry.value().clone())
            .ok_or_else(|| Error::new(ErrorCode::DateNotFound, format!("The concert has no seats on {date}.")))
    }

    /// The date whose waiting list has the entry `code`.
    pub fn date_of_entry(&self, code: EntryCode) -> Result<DateHandle> {
        let key = self.context.waitlists.get(&code).map(|entry| *entry.value());
        key.and_then(|key| self.dates.get(&key).map(|entry| entry.value().clone()))
            .ok_or_else(super::waitlists::entry_not_found)
    }

    /// The date actor that holds `reservation`.
    pub fn date_of_reservation(&self, reservation: ReservationId) -> Result<DateHandle> {
        let key = self.reservations.get(&reservation).map(|entry| *entry.value());
        key.and_then(|key| self.dates.get(&key).map(|entry| entry.value().clone()))
            .ok_or_else(|| Error::new(ErrorCode::ReservationNotFound, "No such reservation for this user."))
    }

    /// Gives back every unpaid hold of `user` on a concert `in_room` accepts, whose token there
    /// died: a hold lives no longer than the token that made it, and a fan's token in another
    /// room (a concert's sale beside the site-wide one) keeps its own. A hold being paid is left
    /// to its payment.
    pub async fn release_holds_of(&self, user: UserId, in_room: impl Fn(ConcertId) -> bool) {
        for reservation in self.context.ledger.holds_of(user) {
            let key = self.reservations.get(&reservation).map(|entry| *entry.value());
            if !key.is_some_and(|(concert, _)| in_room(concert)) {
                continue;
            }
            if let Ok(date) = self.date_of_reservation(reservation) {
                // Refused only when the hold is being paid or is already gone: nothing to do.
                let _ = date.cancel(reservation, user).await;
            }
        }
    }

    /// Every date of a concert with its seat counts, ascending.
    pub async fn date_summaries(&self, concert_id: ConcertId) -> Result<Vec<DateSummary>> {
        let concert = self.concert(concert_id)?;
        let handles: Vec<_> = concert
            .dates
            .iter()
            .map(|date| self.date(concert_id, *date))
            .collect::<Result<_>>()?;
        let counts = try_join_all(handles.iter().map(|handle| handle.counts_to_show())).await?;
        Ok(concert
            .dates
            .iter()
            .zip(counts)
            .map(|(date, counts)| DateSummary {
                date: *date,
                total_seats: counts.total,
                available_seats: counts.available(),
            })
            .collect())
    }

    /// Seat counts summed over every date of every concert.
    pub async fn seat_totals(&self) -> Result<SeatCounts> {
        let handles: Vec<DateHandle> = self.dates.iter().map(|entry| entry.value().clone()).collect();
        let counts = try_join_all(handles.iter().map(|handle| handle.counts())).await?;
        Ok(counts.into_iter().fold(SeatCounts::default(), |sum, c| SeatCounts {
            total: sum.total + c.total,
            held: sum.held + c.held,
            sold: sum.sold + c.sold,
            revenue: sum.revenue + c.revenue,
        }))
    }

    /// Every concert, oldest first, with each date's seats held and sold and its revenue: what
    /// the operator watches during a sale.
    pub async fn figures(&self) -> Result<Vec<ConcertFigures>> {
        let concerts = self.list();
        try_join_all(concerts.into_iter().map(|summary| self.concert_figures(summary))).await
    }

    async fn concert_figures(&self, summary: ConcertSummary) -> Result<ConcertFigures> {
        let concert = self.concert(summary.concert_id)?;
        let handles: Vec<_> = (concert.dates.iter())
            .map(|date| self.date(concert.concert_id, *date))
            .collect::<Result<_>>()?;
        let counts = try_join_all(handles.iter().map(|handle| handle.counts())).await?;
        let dates = (concert.dates.iter().zip(counts))
            .map(|(date, counts)| DateFigures {
                date: *date,
                total_seats: counts.total,
                seats_held: counts.held,
                seats_sold: counts.sold,
                revenue: counts.revenue,
            })
            .collect();
        Ok(ConcertFigures {
            concert_id: summary.concert_id,
            title: summary.title,
            dates,
        })
    }
}
