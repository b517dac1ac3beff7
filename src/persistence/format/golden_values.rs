//! The values the golden files hold: fixed ids, times and secrets, so that their bytes never
//! vary.

use crate::domain::concert::{ConcertRecord, NewDate};
use crate::domain::draw::DrawSeed;
use crate::domain::idempotency::{AnswerRecord, Endpoint, IdempotencyKey, Scope, StoredResponse};
use crate::domain::refund::{RefundPolicy, RefundStep};
use crate::domain::sale::{SaleRecord, SaleSchedule, SEQ_BAND};
use crate::domain::seat_map::SeatEvent;
use crate::domain::user::User;
use crate::domain::waiting_room::{QueueEvent, TokenEnd, WaitingRoomLimits};
use crate::domain::waitlist::EntryCode;
use crate::domain::wallet::{Payment, WalletEvent, WalletLimits};
use crate::domain::{ConcertId, PaymentId, ReservationId, Token, TokenSecret, TransactionId, UserId};
use crate::error::{Error, ErrorCode};
use crate::persistence::recovery::{Limits, State};
use crate::persistence::{Change, Entry};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

fn limits() -> Limits {
    Limits {
        room: WaitingRoomLimits {
            active_max: 1,
            active_ttl: Duration::minutes(10),
            waiting_idle_ttl: Duration::minutes(5),
            waiting_max: 1_000,
        },
        wallet: WalletLimits {
            charge_max: 10_000,
            balance_max: 50_000,
        },
        answer_retention: Duration::hours(24),
    }
}

/// Token `seq`, its secret the 24 bytes counting up from `fill`.
fn token(seq: u64, fill: u8) -> Token {
    let secret = std::array::from_fn(|i| fill.wrapping_add(i as u8));
    Token::new(seq, TokenSecret::from_bytes(secret))
}

/// `seconds` after the start of the golden day, a time with nanoseconds in it.
fn t(seconds: i64) -> DateTime<Utc> {
    let start: DateTime<Utc> = "2026-12-24T10:00:00.123456789Z".parse().unwrap();
    start + Duration::seconds(seconds)
}

/// Fan `n`; the other ids likewise, each kind in a range of its own.
fn fan(n: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(0x0f0f_0000_0000_4000_8000_0000_0000_0000 + n))
}

fn concert() -> ConcertId {
    ConcertId::from_uuid(Uuid::from_u128(0xc0c0_0000_0000_4000_8000_0000_0000_0001))
}

/// The concert's date `n`, from Christmas Eve.
fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 24 + n).unwrap()
}

fn reservation(n: u128) -> ReservationId {
    ReservationId::from_uuid(Uuid::from_u128(0x4e4e_0000_0000_4000_8000_0000_0000_0000 + n))
}

fn payment(n: u128) -> PaymentId {
    PaymentId::from_uuid(Uuid::from_u128(0x9a9a_0000_0000_4000_8000_0000_0000_0000 + n))
}

fn transaction(n: u128) -> TransactionId {
    TransactionId::from_uuid(Uuid::from_u128(0x7171_0000_0000_4000_8000_0000_0000_0000 + n))
}

fn scope(user: UserId, endpoint: Endpoint, key: &str) -> Scope {
    Scope {
        user,
        endpoint,
        key: IdempotencyKey::parse(key).unwrap(),
    }
}

/// A request body's fingerprint, as the answer store keeps it.
const FINGERPRINT: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

fn concert_record() -> ConcertRecord {
    ConcertRecord {
        concert_id: concert(),
        title: "겨울 콘서트 Winter".into(),
        dates: vec![
            NewDate {
                date: day(0),
                seat_count: 3,
                price: 1_000,
            },
            NewDate {
                date: day(1),
                seat_count: 2,
                price: 1_500,
            },
        ],
    }
}

fn paid() -> Payment {
    Payment {
        payment_id: payment(1),
        reservation_id: reservation(1),
        user_id: fan(1),
        concert_id: concert(),
        date: day(0),
        seat_number: 1,
        amount: 1_000,
        paid_at: t(3),
    }
}

/// The second seat of an order that `paid()` is the first of.
fn second_seat_paid() -> Payment {
    Payment {
        payment_id: payment(2),
        reservation_id: reservation(2),
        seat_number: 2,
        amount: 1_500,
        ..paid()
    }
}

fn charged() -> WalletEvent {
    WalletEvent::Charged {
        transaction: transaction(1),
        user: fan(1),
        amount: 2_500,
        at: t(0),
    }
}

fn answered_error() -> AnswerRecord {
    AnswerRecord {
        scope: scope(fan(2), Endpoint::Reservations, "hold-seat-2"),
        fingerprint: FINGERPRINT.into(),
        answer: Err(Error::new(ErrorCode::SeatUnavailable, "Seat 2 is already reserved.")),
        at: t(5),
    }
}

fn answered_success() -> AnswerRecord {
    AnswerRecord {
        scope: scope(fan(3), Endpoint::QueueTokens, "queue-1"),
        fingerprint: FINGERPRINT.into(),
        answer: Ok(StoredResponse {
            status: 201,
            body: r#"{"status":"WAITING","position":1}"#.into(),
        }),
        at: t(2),
    }
}

fn keyed_success() -> AnswerRecord {
    AnswerRecord {
        scope: scope(fan(1), Endpoint::Charges, "charge-1"),
        fingerprint: FINGERPRINT.into(),
        answer: Ok(StoredResponse {
            status: 200,
            body: r#"{"balance":2500}"#.into(),
        }),
        at: t(0),
    }
}

fn keyed_error() -> AnswerRecord {
    let queue = serde_json::json!({"status": "WAITING", "position": 3});
    AnswerRecord {
        scope: scope(fan(2), Endpoint::Payments, "pay-1"),
        fingerprint: FINGERPRINT.into(),
        answer: Err(Error::new(ErrorCode::TokenNotActive, "The token is still waiting.")
            .with_queue(queue)
            .with_retry_after(7)),
        at: t(6),
    }
}

/// A sale's schedule: the pre-queue an hour before the opening, at most 50 active, 600 a minute,
/// refunds free until a week before and 20 % until the day before.
fn sale_schedule() -> SaleSchedule {
    SaleSchedule {
        prequeue_opens_at: t(3_600),
        opens_at: t(7_200),
        active_max: 50,
        admissions_per_minute: Some(600),
        refund_policy: RefundPolicy::new(vec![
            RefundStep {
                until_days_before: 7,
                fee_percent: 0,
            },
            RefundStep {
                until_days_before: 1,
                fee_percent: 20,
            },
        ])
        .unwrap(),
    }
}

fn second_concert() -> ConcertId {
    ConcertId::from_uuid(Uuid::from_u128(0xc0c0_0000_0000_4000_8000_0000_0000_0002))
}

/// Sale `number`, of the concert, or of the second concert for any other number.
fn sale_record(number: u32) -> SaleRecord {
    SaleRecord {
        concert_id: if number == 1 { concert() } else { second_concert() },
        number,
        schedule: sale_schedule(),
        seed: DrawSeed::from_bytes(std::array::from_fn(|i| 0x5e ^ i as u8)),
        at: t(10),
    }
}

fn sale(event: QueueEvent) -> Change {
    Change::Sale(concert(), event)
}

fn seat(event: SeatEvent) -> Change {
    Change::Seat((concert(), day(0)), event)
}

fn queue(event: QueueEvent) -> Change {
    Change::Queue(event)
}

/// Records of kinds version 4 did not have.
pub const SINCE_VERSION_5: [&str; 1] = ["wallet-order-paid"];

/// Records of kinds version 3 did not have.
pub const SINCE_VERSION_4: [&str; 9] = [
    "sale-created",
    "sale-changed",
    "sale-prequeue-drawn",
    "sale-token-issued",
    "seat-ticket-cancelled",
    "wallet-refunded",
    "seat-waitlisted",
    "seat-offer-made",
    "wallet-offer-paid",
];

/// What version 3 kept of the golden state, written as version 4 would: no sales.
pub fn as_version_3_kept_it(mut snapshot: super::snapshot::Snapshot) -> super::snapshot::Snapshot {
    snapshot.sales = super::snapshot::Part {
        seq: 0,
        state: Vec::new(),
    };
    snapshot.sale_rooms.clear();
    snapshot
}

/// Records of kinds version 2 did not have.
pub const SINCE_VERSION_3: [&str; 5] = [
    "queue-active-max-changed",
    "queue-token-paid",
    "queue-paid-token-forgotten",
    "seat-payment-begun",
    "seat-payment-aborted",
];

/// What version 2 kept of the golden state, written as version 3 would: no operator's active
/// max and payments without their tokens, which version 2 did not keep, and the streams without
/// the records version 3 added (the room's `TokenPaid` and `ActiveMaxChanged`, the second date's
/// `PaymentBegun`, which version 2 kept only as the hold's mark).
pub fn as_version_2_kept_it(mut snapshot: super::snapshot::Snapshot) -> super::snapshot::Snapshot {
    snapshot.queue.seq -= 2;
    snapshot.queue.state.active_max_chosen = None;
    for (_, account) in &mut snapshot.wallet.state.accounts {
        for paid in &mut account.payments {
            paid.paid_with = None;
        }
    }
    let second_date = snapshot.dates.iter_mut().find(|(key, _)| key.date == day(1));
    second_date.expect("the second date").1.seq -= 1;
    snapshot
}

pub fn records() -> Vec<(&'static str, Entry)> {
    let token = token(7, 1);
    let ended = |reason| {
        queue(QueueEvent::TokenEnded {
            seq: 7,
            token,
            at: t(9),
            reason,
        })
    };
    let changes = vec![
        (
            "user-registered",
            Change::UserRegistered(User {
                user_id: fan(1),
                name: "김민지".into(),
            }),
        ),
        ("concert-created", Change::ConcertCreated(concert_record())),
        (
            "queue-token-issued",
            queue(QueueEvent::TokenIssued {
                seq: 7,
                token,
                user: fan(1),
                at: t(0),
            }),
        ),
        (
            "queue-token-admitted",
            queue(QueueEvent::TokenAdmitted {
                seq: 7,
                token,
                at: t(1),
                active_until: t(601),
            }),
        ),
        ("queue-token-ended-left", ended(TokenEnd::Left)),
        ("queue-token-ended-active-expired", ended(TokenEnd::ActiveExpired)),
        ("queue-token-ended-idled-out", ended(TokenEnd::IdledOut)),
        ("queue-token-ended-paid", ended(TokenEnd::Paid)),
        (
            "seat-held",
            seat(SeatEvent::SeatHeld {
                reservation: reservation(1),
                user: fan(1),
                seat_number: 2,
                at: t(2),
                until: t(302),
            }),
        ),
        (
            "seat-hold-cancelled",
            seat(SeatEvent::HoldCancelled {
                reservation: reservation(1),
                at: t(4),
            }),
        ),
        (
            "seat-hold-lapsed",
            seat(SeatEvent::HoldLapsed {
                reservation: reservation(1),
                at: t(302),
            }),
        ),
        (
            "seat-sold",
            seat(SeatEvent::SeatSold {
                reservation: reservation(1),
                payment: payment(1),
                at: t(3),
            }),
        ),
        ("wallet-charged", Change::Wallet(charged())),
        (
            "wallet-payment-completed",
            Change::Wallet(WalletEvent::PaymentCompleted {
                transaction: transaction(2),
                payment: paid(),
                paid_with: Some(token),
            }),
        ),
        ("answered-error", Change::Answered(answered_error())),
        ("answered-success", Change::Answered(answered_success())),
        (
            "keyed-success",
            Change::Keyed {
                work: Box::new(Change::Wallet(charged())),
                answer: keyed_success(),
            },
        ),
        (
            "keyed-error",
            Change::Keyed {
                work: Box::new(seat(SeatEvent::HoldLapsed {
                    reservation: reservation(2),
                    at: t(6),
                })),
                answer: keyed_error(),
            },
        ),
        // Version 3 on.
        (
            "queue-active-max-changed",
            queue(QueueEvent::ActiveMaxChanged {
                active_max: 250,
                at: t(5),
            }),
        ),
        (
            "queue-token-paid",
            queue(QueueEvent::TokenPaid {
                token,
                user: fan(1),
                at: t(9),
            }),
        ),
        (
            "queue-paid-token-forgotten",
            queue(QueueEvent::PaidTokenForgotten { token, at: t(86_409) }),
        ),
        (
            "seat-payment-begun",
            seat(SeatEvent::PaymentBegun {
                reservation: reservation(1),
                at: t(3),
            }),
        ),
        (
            "seat-payment-aborted",
            seat(SeatEvent::PaymentAborted {
                reservation: reservation(1),
                at: t(3),
            }),
        ),
        // Version 4 on.
        ("sale-created", Change::SaleCreated(sale_record(1))),
        (
            "sale-changed",
            sale(QueueEvent::SaleChanged {
                schedule: sale_schedule(),
                at: t(11),
            }),
        ),
        ("sale-prequeue-drawn", sale(QueueEvent::PrequeueDrawn { at: t(7_200) })),
        (
            "sale-token-issued",
            sale(QueueEvent::TokenIssued {
                seq: SEQ_BAND,
                token: self::token(SEQ_BAND, 90),
                user: fan(1),
                at: t(3_600),
            }),
        ),
        (
            "seat-ticket-cancelled",
            seat(SeatEvent::TicketCancelled {
                reservation: reservation(1),
                refund: 800,
                at: t(8),
            }),
        ),
        (
            "seat-waitlisted",
            seat(SeatEvent::Waitlisted {
                code: EntryCode::from_bytes([0xe7; 16]),
                user: fan(2),
                at: t(9),
            }),
        ),
        (
            "seat-offer-made",
            seat(SeatEvent::OfferMade {
                code: EntryCode::from_bytes([0xe7; 16]),
                reservation: reservation(5),
                seat_number: 3,
                at: t(10),
                until: t(310),
            }),
        ),
        (
            "wallet-offer-paid",
            Change::Wallet(WalletEvent::PaymentCompleted {
                transaction: transaction(5),
                payment: paid(),
                paid_with: None,
            }),
        ),
        (
            "wallet-refunded",
            Change::Wallet(WalletEvent::Refunded {
                transaction: transaction(4),
                user: fan(1),
                payment: payment(1),
                refund: 800,
                at: t(8),
            }),
        ),
        (
            "wallet-order-paid",
            Change::Wallet(WalletEvent::OrderPaid {
                transaction: transaction(6),
                payments: vec![paid(), second_seat_paid()],
                paid_with: token,
            }),
        ),
    ];
    changes
        .into_iter()
        .enumerate()
        .map(|(seq, (name, change))| {
            let seq = seq as u64 * 37 + 1;
            (name, Entry { seq, change })
        })
        .collect()
}

/// A small state with something of every kind: users, a concert of two dates, a hold, a sale,
/// a cancelled hold and a payment under way; an active and two waiting tokens and a paid one;
/// balances, transactions and a payment; remembered answers of both kinds.
pub fn state() -> State {
    let mut state = State::empty(&limits());
    let mut next = std::collections::HashMap::<&'static str, u64>::new();
    let mut apply = |state: &mut State, stream: &'static str, change: Change| {
        let seq = next.entry(stream).or_insert(0);
        *seq += 1;
        state.apply(Entry { seq: *seq, change }).unwrap();
    };
    for (n, name) in [(1, "김민지"), (2, "Jo"), (3, "Eun")] {
        let user = User {
            user_id: fan(n),
            name: name.into(),
        };
        apply(&mut state, "users", Change::UserRegistered(user));
    }
    apply(&mut state, "concerts", Change::ConcertCreated(concert_record()));
    let (a, b, c) = (token(0, 10), token(1, 40), token(2, 70));
    for event in [
        QueueEvent::TokenIssued {
            seq: 0,
            token: a,
            user: fan(1),
            at: t(0),
        },
        QueueEvent::TokenAdmitted {
            seq: 0,
            token: a,
            at: t(0),
            active_until: t(600),
        },
        QueueEvent::TokenIssued {
            seq: 1,
            token: b,
            user: fan(2),
            at: t(1),
        },
        QueueEvent::TokenIssued {
            seq: 2,
            token: c,
            user: fan(3),
            at: t(2),
        },
    ] {
        apply(&mut state, "queue", queue(event));
    }
    let keyed = Change::Keyed {
        work: Box::new(Change::Wallet(charged())),
        answer: keyed_success(),
    };
    apply(&mut state, "wallet", keyed);
    let charged_two = WalletEvent::Charged {
        transaction: transaction(3),
        user: fan(2),
        amount: 3_000,
        at: t(1),
    };
    apply(&mut state, "wallet", Change::Wallet(charged_two));
    let held = |n, user, seat_number, at| SeatEvent::SeatHeld {
        reservation: reservation(n),
        user,
        seat_number,
        at: t(at),
        until: t(at + 300),
    };
    apply(&mut state, "day0", seat(held(1, fan(1), 1, 2)));
    let paid_event = WalletEvent::PaymentCompleted {
        transaction: transaction(2),
        payment: paid(),
        paid_with: Some(a),
    };
    apply(&mut state, "wallet", Change::Wallet(paid_event));
    let sold = SeatEvent::SeatSold {
        reservation: reservation(1),
        payment: payment(1),
        at: t(3),
    };
    apply(&mut state, "day0", seat(sold));
    for event in [
        QueueEvent::TokenPaid {
            token: a,
            user: fan(1),
            at: t(3),
        },
        QueueEvent::TokenEnded {
            seq: 0,
            token: a,
            at: t(3),
            reason: TokenEnd::Paid,
        },
        QueueEvent::ActiveMaxChanged {
            active_max: 2,
            at: t(3),
        },
        QueueEvent::TokenAdmitted {
            seq: 1,
            token: b,
            at: t(3),
            active_until: t(603),
        },
    ] {
        apply(&mut state, "queue", queue(event));
    }
    apply(&mut state, "day0", seat(held(2, fan(2), 2, 4)));
    apply(&mut state, "day0", seat(held(3, fan(3), 3, 4)));
    let cancelled = SeatEvent::HoldCancelled {
        reservation: reservation(3),
        at: t(5),
    };
    apply(&mut state, "day0", seat(cancelled));
    let held_day1 = Change::Seat((concert(), day(1)), held(4, fan(2), 1, 5));
    apply(&mut state, "day1", held_day1);
    apply(&mut state, "answers", Change::Answered(answered_success()));
    apply(&mut state, "answers", Change::Answered(answered_error()));
    let begun = SeatEvent::PaymentBegun {
        reservation: reservation(4),
        at: t(6),
    };
    apply(&mut state, "day1", Change::Seat((concert(), day(1)), begun));
    add_sales(&mut state, &mut apply);
    state
}

/// Two sales: the first drawn (three fans pre-queued, one of whom left, and one after the
/// opening), the second in its pre-queue with one fan.
fn add_sales(state: &mut State, apply: &mut impl FnMut(&mut State, &'static str, Change)) {
    apply(state, "sales", Change::SaleCreated(sale_record(1)));
    apply(state, "sales", Change::SaleCreated(sale_record(2)));
    let issued = |n: u64, user, at| QueueEvent::TokenIssued {
        seq: SEQ_BAND + n,
        token: token(SEQ_BAND + n, 100 + n as u8),
        user,
        at: t(at),
    };
    for event in [
        issued(0, fan(1), 3_600),
        issued(1, fan(2), 3_700),
        issued(2, fan(3), 3_800),
        QueueEvent::TokenEnded {
            seq: SEQ_BAND + 1,
            token: token(SEQ_BAND + 1, 101),
            at: t(3_900),
            reason: TokenEnd::Left,
        },
        QueueEvent::SaleChanged {
            schedule: SaleSchedule {
                active_max: 1,
                ..sale_schedule()
            },
            at: t(4_000),
        },
        QueueEvent::PrequeueDrawn { at: t(7_200) },
        issued(5, fan(2), 7_300),
    ] {
        apply(state, "sale1", Change::Sale(concert(), event));
    }
    let prequeued = QueueEvent::TokenIssued {
        seq: 2 * SEQ_BAND,
        token: token(2 * SEQ_BAND, 200),
        user: fan(1),
        at: t(3_650),
    };
    apply(state, "sale2", Change::Sale(second_concert(), prequeued));
}
