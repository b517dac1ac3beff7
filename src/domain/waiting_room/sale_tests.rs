//! A sale's room: the pre-queue, the draw at the opening, the arrivals after it, the rate, and
//! replay and snapshots of each.

use super::*;
use crate::domain::draw::DrawSeed;
use crate::domain::line_view::PlaceInLine;
use crate::domain::refund::RefundPolicy;
use crate::domain::sale::{entry_of, SaleRecord, SEQ_BAND};
use crate::domain::{ConcertId, TokenSecret};
use proptest::prelude::*;

fn limits() -> WaitingRoomLimits {
    WaitingRoomLimits {
        active_max: 100,
        active_ttl: Duration::minutes(10),
        waiting_idle_ttl: Duration::minutes(5),
        waiting_max: 1_000,
    }
}

/// The pre-queue opens at 19:00, the sale at 20:00.
fn prequeue_opens() -> DateTime<Utc> {
    "2026-12-24T19:00:00Z".parse().unwrap()
}

fn opens() -> DateTime<Utc> {
    prequeue_opens() + Duration::hours(1)
}

fn schedule(active_max: u32, admissions_per_minute: Option<u32>) -> SaleSchedule {
    SaleSchedule {
        prequeue_opens_at: prequeue_opens(),
        opens_at: opens(),
        active_max,
        admissions_per_minute,
        refund_policy: RefundPolicy::default(),
    }
}

fn record(seed: [u8; 32], active_max: u32, admissions_per_minute: Option<u32>) -> SaleRecord {
    SaleRecord {
        concert_id: ConcertId::random(),
        number: 3,
        schedule: schedule(active_max, admissions_per_minute),
        seed: DrawSeed::from_bytes(seed),
        at: prequeue_opens() - Duration::days(1),
    }
}

/// A room and every event it made, as the actor keeps them: deadlines first, then the command.
struct Sale {
    room: WaitingRoom,
    events: Vec<QueueEvent>,
    record: SaleRecord,
}

impl Sale {
    fn new(seed: [u8; 32], active_max: u32, admissions_per_minute: Option<u32>) -> Self {
        let record = record(seed, active_max, admissions_per_minute);
        Self {
            room: record.room(limits()),
            events: Vec::new(),
            record,
        }
    }

    fn at(&mut self, now: DateTime<Utc>) {
        let due = self.room.expire_due(now);
        self.events.extend(due);
    }

    fn issue(&mut self, now: DateTime<Utc>) -> Result<Token> {
        self.at(now);
        let (token, events) = self.room.issue(UserId::random(), TokenSecret::random(), now)?;
        self.events.extend(events);
        Ok(token)
    }

    fn status(&mut self, token: &Token, now: DateTime<Utc>) -> QueueStatus {
        self.at(now);
        self.room.status(token, now).unwrap()
    }

    fn admitted(&self) -> Vec<Token> {
        (self.events.iter())
            .filter_map(|event| match event {
                QueueEvent::TokenAdmitted { token, .. } => Some(*token),
                _ => None,
            })
            .collect()
    }

    fn replayed(&self) -> WaitingRoom {
        let mut room = self.record.room(limits());
        for event in &self.events {
            room.apply(event);
        }
        room
    }
}

fn prequeue(sale: &mut Sale, count: usize) -> Vec<Token> {
    (0..count)
        .map(|i| sale.issue(prequeue_opens() + Duration::seconds(i as i64)).unwrap())
        .collect()
}

#[test]
fn nobody_joins_before_the_pre_queue_opens() {
    let mut sale = Sale::new([1; 32], 10, None);
    let refused = sale.issue(prequeue_opens() - Duration::seconds(1)).unwrap_err();
    assert_eq!(refused.code, ErrorCode::SaleNotOpen);
    let fields = refused.fields.as_deref().cloned().unwrap_or_default();
    assert_eq!(fields["prequeueOpensAt"], "2026-12-24T19:00:00Z");
    assert_eq!(sale.room.stats().prequeued, 0, "a refusal changes nothing");
    assert!(sale.events.is_empty());
}

#[test]
fn a_pre_queued_token_has_no_place_and_no_deadline_until_the_draw() {
    let mut sale = Sale::new([1; 32], 10, None);
    let token = sale.issue(prequeue_opens()).unwrap();
    assert_eq!(token.seq(), 3 * SEQ_BAND, "numbered in the sale's band");
    let seen = sale.status(&token, prequeue_opens() + Duration::minutes(59));
    assert_eq!(seen.status, TokenStatus::Prequeued);
    assert_eq!((seen.position, seen.active_until), (0, None));
    assert_eq!(sale.room.stats().prequeued, 1);
    // Not read for far longer than the idle TTL, it is still there for the draw.
    assert_eq!(
        sale.room.next_deadline(),
        Some(opens()),
        "the draw is the only deadline"
    );
}

#[test]
fn the_draw_orders_the_pre_queue_as_the_seed_says_and_later_fans_queue_behind() {
    let mut sale = Sale::new([7; 32], 2, None);
    let early = prequeue(&mut sale, 8);
    let drawn_order = DrawSeed::from_bytes([7; 32]).order(early.clone());
    assert_ne!(drawn_order, early, "this seed does not keep the arrival order");
    let late = sale.issue(opens() + Duration::seconds(1)).unwrap();
    // The first two drawn are admitted at the opening; the rest wait in the drawn order.
    assert_eq!(sale.admitted(), drawn_order[..2]);
    for (at, token) in drawn_order.iter().enumerate().skip(2) {
        let seen = sale.status(token, opens() + Duration::seconds(1));
        assert_eq!(seen.status, TokenStatus::Waiting);
        assert_eq!(seen.position, at as u64 - 1, "token drawn {at}th");
    }
    assert_eq!(
        sale.status(&late, opens() + Duration::seconds(1)).position,
        7,
        "behind every drawn fan"
    );
    let drawn = sale.room.sale().unwrap().drawn.clone().unwrap();
    let entries: Vec<_> = early.iter().map(|token| entry_of(&token.secret())).collect();
    assert_eq!(
        drawn.entries(),
        entries,
        "the published entries are the drawn tokens in issue order"
    );
}

#[test]
fn a_fan_who_left_the_pre_queue_is_not_drawn() {
    let mut sale = Sale::new([7; 32], 1, None);
    let early = prequeue(&mut sale, 5);
    sale.at(prequeue_opens() + Duration::minutes(1));
    let left = sale
        .room
        .leave(&early[1], prequeue_opens() + Duration::minutes(1))
        .unwrap();
    sale.events.extend(left);
    assert_eq!(sale.room.stats().prequeued, 4);
    sale.at(opens());
    let stayed: Vec<Token> = early.iter().copied().filter(|token| *token != early[1]).collect();
    let drawn_order = DrawSeed::from_bytes([7; 32]).order(stayed.clone());
    assert_eq!(sale.admitted(), drawn_order[..1]);
    assert_eq!(sale.room.stats().waiting, 3);
    let drawn = sale.room.sale().unwrap().drawn.clone().unwrap();
    assert_eq!(drawn.entries().len(), 4);
    assert!(
        sale.room.peek(&early[1], opens()).is_err(),
        "the leaver is gone for good"
    );
}

#[test]
fn the_rate_spreads_admissions_evenly_however_many_slots_are_free() {
    // 120 a minute: one each half second, though 100 slots are free at the opening.
    let mut sale = Sale::new([2; 32], 100, Some(120));
    let early = prequeue(&mut sale, 10);
    sale.at(opens());
    assert_eq!(sale.admitted().len(), 1, "one at the opening, not a burst");
    assert_eq!(sale.room.next_deadline(), Some(opens() + Duration::milliseconds(500)));
    sale.at(opens() + Duration::milliseconds(499));
    assert_eq!(sale.admitted().len(), 1);
    // A late sweep admits one, not the ones it missed: the rate is a ceiling.
    sale.at(opens() + Duration::seconds(3));
    assert_eq!(sale.admitted().len(), 2);
    let times: Vec<DateTime<Utc>> = (sale.events.iter())
        .filter_map(|event| match event {
            QueueEvent::TokenAdmitted { at, .. } => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(times, [opens(), opens() + Duration::seconds(3)]);
    let mut now = opens() + Duration::seconds(3);
    while sale.admitted().len() < early.len() {
        now = sale.room.next_deadline().unwrap();
        sale.at(now);
    }
    assert_eq!(now, opens() + Duration::seconds(7), "then one every half second");
}

#[test]
fn the_times_are_fixed_once_the_pre_queue_opens_but_the_limits_are_not() {
    let mut sale = Sale::new([2; 32], 1, None);
    let moved = SaleSchedule {
        opens_at: opens() + Duration::minutes(30),
        ..schedule(1, None)
    };
    let before = prequeue_opens() - Duration::minutes(1);
    sale.at(before);
    assert!(
        sale.room.change_sale(moved.clone(), before).is_ok(),
        "movable while scheduled"
    );
    sale.at(prequeue_opens());
    let refused = sale.room.change_sale(schedule(1, None), prequeue_opens()).unwrap_err();
    assert_eq!(refused.code, ErrorCode::SaleAlreadyOpen);
    let raised = SaleSchedule {
        active_max: 5,
        admissions_per_minute: Some(60),
        ..moved
    };
    assert!(sale.room.change_sale(raised, prequeue_opens()).is_ok());
    assert_eq!(sale.room.stats().active_max, 5);
}

#[test]
fn raising_a_sales_active_max_admits_at_once_within_its_rate() {
    let mut sale = Sale::new([2; 32], 1, None);
    prequeue(&mut sale, 4);
    sale.at(opens());
    assert_eq!(sale.admitted().len(), 1);
    let later = opens() + Duration::seconds(10);
    sale.at(later);
    let events = sale.room.change_sale(schedule(3, None), later).unwrap();
    sale.events.extend(events);
    assert_eq!(sale.admitted().len(), 3);
}

#[test]
fn replay_and_a_snapshot_rebuild_the_room_before_and_after_the_draw() {
    let mut sale = Sale::new([9; 32], 2, Some(60));
    let early = prequeue(&mut sale, 6);
    let mid_prequeue = sale.room.image();
    let late = sale.issue(opens() + Duration::seconds(2)).unwrap();
    let now = opens() + Duration::seconds(2);
    for restored in [sale.replayed(), WaitingRoom::restore(limits(), sale.room.image()), {
        // A snapshot taken in the pre-queue, and the entries after it.
        let mut room = WaitingRoom::restore(limits(), mid_prequeue.clone());
        for event in sale.events.iter().skip(6) {
            room.apply(event);
        }
        room
    }] {
        let mut restored = restored;
        assert_eq!(restored.stats(), sale.room.stats());
        assert_eq!(restored.sale(), sale.room.sale());
        for token in early.iter().chain([&late]) {
            assert_eq!(restored.peek(token, now).unwrap(), sale.room.peek(token, now).unwrap());
        }
        assert_eq!(restored.line_view(now), sale.room.line_view(now));
    }
}

#[test]
fn a_view_places_drawn_tokens_where_the_room_does() {
    let mut sale = Sale::new([4; 32], 1, None);
    let mut tokens = prequeue(&mut sale, 6);
    tokens.push(sale.issue(opens() + Duration::seconds(1)).unwrap());
    let now = opens() + Duration::seconds(1);
    sale.at(now);
    let view = sale.room.line_view(now);
    for token in &tokens {
        let expected = match sale.room.peek(token, now).unwrap() {
            seen if seen.status == TokenStatus::Waiting => PlaceInLine::Waiting {
                position: seen.position,
                estimated_wait_seconds: seen.estimated_wait_seconds,
            },
            _ => PlaceInLine::Out,
        };
        assert_eq!(view.place(token.seq()), expected);
    }
}

proptest! {
    #[test]
    fn whoever_joins_or_leaves_the_pre_queue_the_order_is_the_seeds_over_those_left(
        seed in any::<[u8; 32]>(),
        arrivals in 1usize..40,
        leavers in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut sale = Sale::new(seed, 1, None);
        let early = prequeue(&mut sale, arrivals);
        let mut left = Vec::new();
        for leaver in leavers {
            let token = early[leaver % early.len()];
            let now = prequeue_opens() + Duration::minutes(30);
            sale.at(now);
            if let Ok(events) = sale.room.leave(&token, now) {
                sale.events.extend(events);
                left.push(token);
            }
        }
        let stayed: Vec<Token> = early.iter().copied().filter(|token| !left.contains(token)).collect();
        let drawn_order = DrawSeed::from_bytes(seed).order(stayed.clone());
        // Admit them all, one by one, as slots free.
        let mut now = opens();
        sale.at(now);
        for token in &drawn_order {
            now += Duration::seconds(1);
            sale.at(now);
            if let Ok(events) = sale.room.leave(token, now) {
                sale.events.extend(events);
            }
        }
        prop_assert_eq!(sale.admitted(), drawn_order);
        let replayed = sale.replayed();
        prop_assert_eq!(replayed.sale(), sale.room.sale());
    }
}
