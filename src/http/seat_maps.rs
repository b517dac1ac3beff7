//! The seat maps' JSON, rendered from what each date's actor publishes and kept with the version
//! it was rendered of: a hot date's seat map is served from the same bytes, without asking its
//! actor, until the actor publishes anew.

use super::concerts::{SeatMapView, SeatView};
use crate::actors::concert_date::PublishedSeatMap;
use crate::domain::concert::DateKey;
use crate::error::{Error, Result};
use crate::services::dates::DateHandle;
use actix_web::web::Bytes;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

/// The newest rendering of each date's seat map that was asked for.
#[derive(Default)]
pub struct SeatMaps {
    rendered: DashMap<DateKey, Rendered>,
}

struct Rendered {
    version: u64,
    body: Bytes,
}

impl SeatMaps {
    /// The seat map of the date `key`, whose actor `date` is, as JSON.
    pub async fn json(&self, key: DateKey, date: &DateHandle) -> Result<Bytes> {
        // A date served apart numbers its publications afresh with every owner it moves to:
        // a version seen before may be of another map.
        if let DateHandle::Remote(_) = date {
            return render(key, &date.seat_map().await?);
        }
        if let Some(body) = date
            .published_version()
            .and_then(|version| self.rendered_of(key, version))
        {
            return Ok(body);
        }
        let seat_map = date.seat_map().await?;
        // Readers that found the rendering outdated together waited for the same publication:
        // the first back renders it, the others take that.
        if let Some(body) = self.rendered_of(key, seat_map.version) {
            return Ok(body);
        }
        let body = render(key, &seat_map)?;
        self.keep(key, seat_map.version, body.clone());
        Ok(body)
    }

    /// The rendering of `version`, if that is the one kept: a read lock and a reference count,
    /// nothing allocated.
    fn rendered_of(&self, key: DateKey, version: u64) -> Option<Bytes> {
        let rendered = self.rendered.get(&key)?;
        (rendered.version == version).then(|| rendered.body.clone())
    }

    /// Keeps `body` unless a newer version's rendering is kept already: readers on other threads
    /// may render at once, and the slower one may have the older publication.
    fn keep(&self, key: DateKey, version: u64, body: Bytes) {
        match self.rendered.entry(key) {
            Entry::Occupied(kept) if kept.get().version > version => {}
            entry => {
                entry.insert(Rendered { version, body });
            }
        }
    }
}

fn render((concert_id, date): DateKey, seat_map: &PublishedSeatMap) -> Result<Bytes> {
    let view = SeatMapView {
        concert_id,
        date,
        available_seats: seat_map.counts.available(),
        seats: seat_map.seats.iter().map(SeatView::from).collect(),
    };
    let body = serde_json::to_vec(&view).map_err(Error::internal)?;
    Ok(Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::concert_date::{ConcertDateHandle, DateContext};
    use crate::clock::{Clock, ManualClock};
    use crate::domain::seat_map::SeatMap;
    use crate::domain::{ConcertId, UserId};
    use crate::persistence::Part;
    use chrono::Duration;
    use futures_util::FutureExt;
    use std::sync::Arc;

    /// A date of `seats` seats with its actor, journaling into a temporary dir that lives as long
    /// as the returned guard.
    fn start_date(clock: &ManualClock, seats: u32) -> (DateKey, DateHandle, tempfile::TempDir) {
        let (log, dir) = crate::persistence::scratch_log();
        let context = DateContext {
            clock: Arc::new(clock.clone()),
            hold_ttl: Duration::minutes(5),
            hold_max: 4,
            ledger: Arc::default(),
            reservations: Arc::default(),
            waitlists: Arc::default(),
            requests_max: 64,
            log,
        };
        let key = (ConcertId::random(), "2026-12-24".parse().unwrap());
        let map = Part {
            seq: 0,
            state: SeatMap::new(key.0, key.1, seats, 1_000),
        };
        let date = ConcertDateHandle::start(map, Vec::new(), context, &actix::Arbiter::current());
        (key, DateHandle::Local(date), dir)
    }

    fn statuses(body: &Bytes) -> Vec<String> {
        let view: serde_json::Value = serde_json::from_slice(body).unwrap();
        let seats = view["seats"].as_array().unwrap().iter();
        seats.map(|seat| seat["status"].as_str().unwrap().to_string()).collect()
    }

    #[actix_rt::test]
    async fn an_unchanged_seat_map_is_served_from_the_bytes_already_rendered() {
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let (key, date, _dir) = start_date(&clock, 2);
        let seat_maps = SeatMaps::default();
        let first = seat_maps.json(key, &date).await.unwrap();
        let view: serde_json::Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(view["concertId"], key.0.to_string());
        assert_eq!(view["date"], "2026-12-24");
        assert_eq!(view["availableSeats"], 2);
        let again = seat_maps
            .json(key, &date)
            .now_or_never()
            .expect("ready without asking the actor");
        assert_eq!(
            again.unwrap().as_ptr(),
            first.as_ptr(),
            "the same bytes, not a new rendering"
        );

        let user = UserId::random();
        let held = date
            .hold(user, 2, clock.now() + Duration::hours(1), None)
            .await
            .unwrap();
        let after_hold = seat_maps.json(key, &date).await.unwrap();
        assert_eq!(statuses(&after_hold), ["AVAILABLE", "HELD"]);
        date.cancel(held.reservation_id, user).await.unwrap();
        assert_eq!(
            statuses(&seat_maps.json(key, &date).await.unwrap()),
            ["AVAILABLE", "AVAILABLE"]
        );
    }

    #[actix_rt::test]
    async fn a_lapsed_hold_is_not_served_from_an_older_rendering() {
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let (key, date, _dir) = start_date(&clock, 2);
        let seat_maps = SeatMaps::default();
        date.hold(UserId::random(), 1, clock.now() + Duration::hours(1), None)
            .await
            .unwrap();
        assert_eq!(
            statuses(&seat_maps.json(key, &date).await.unwrap()),
            ["HELD", "AVAILABLE"]
        );
        clock.advance(Duration::minutes(5));
        assert_eq!(
            statuses(&seat_maps.json(key, &date).await.unwrap()),
            ["AVAILABLE", "AVAILABLE"]
        );
    }

    #[actix_rt::test]
    async fn readers_who_find_the_rendering_outdated_together_share_one_rendering() {
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let (key, date, _dir) = start_date(&clock, 3);
        let seat_maps = SeatMaps::default();
        seat_maps.json(key, &date).await.unwrap();
        date.hold(UserId::random(), 3, clock.now() + Duration::hours(1), None)
            .await
            .unwrap();
        let readers = (0..8).map(|_| seat_maps.json(key, &date));
        let bodies = futures_util::future::try_join_all(readers).await.unwrap();
        assert_eq!(statuses(&bodies[0]), ["AVAILABLE", "AVAILABLE", "HELD"]);
        assert!(
            bodies.iter().all(|body| body.as_ptr() == bodies[0].as_ptr()),
            "each reader rendered its own"
        );
    }
}
