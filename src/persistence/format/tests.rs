//! The format's stability: every enum variant, error code and endpoint keeps its number; a file
//! says what it is and which version, and one of another version is refused.

use super::numbers::{self, endpoint_number, error_code_number};
use super::records::{self as disk, Answer, Change, QueueEvent, Refusal, Response, SeatEvent, TokenEnd, WalletEvent};
use super::snapshot::{Occupant, ReservationStatus, TokenStatus, TransactionType};
use super::*;
use crate::domain::idempotency::Endpoint;
use crate::domain::user::User;
use crate::domain::waiting_room::WaitingRoomLimits;
use crate::domain::wallet::WalletLimits;
use crate::domain::UserId;
use crate::error::ErrorCode;
use crate::persistence::recovery::{Limits, State};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

/// The number a value of a format enum is written as: its first varint, here one byte.
fn written_as(value: &impl Serialize) -> u8 {
    let bytes = postcard::to_allocvec(value).expect("in-memory encoding");
    assert!(bytes[0] < 0x80, "a one-byte number");
    bytes[0]
}

fn at() -> DateTime<Utc> {
    "2026-12-24T10:00:00Z".parse().expect("a time")
}

/// The image of an empty state.
fn empty_image() -> Image {
    let limits = Limits {
        room: WaitingRoomLimits {
            active_max: 1,
            active_ttl: chrono::Duration::minutes(10),
            waiting_idle_ttl: chrono::Duration::minutes(5),
            waiting_max: 10,
        },
        wallet: WalletLimits {
            charge_max: 10,
            balance_max: 10,
        },
        answer_retention: chrono::Duration::hours(24),
    };
    State::empty(&limits).image()
}

fn user_registered() -> Entry {
    let user = User {
        user_id: UserId::from_uuid(Uuid::nil()),
        name: "fan".into(),
    };
    Entry {
        seq: 1,
        change: crate::persistence::Change::UserRegistered(user),
    }
}

fn answer_record(answer: Answer) -> disk::AnswerRecord {
    disk::AnswerRecord {
        scope: disk::Scope {
            user: Uuid::nil(),
            endpoint: 0,
            key: "k".into(),
        },
        fingerprint: String::new(),
        answer,
        at: at(),
    }
}

fn refusal(code: ErrorCode) -> Refusal {
    Refusal {
        code: error_code_number(code),
        detail: String::new(),
        queue: None,
        retry_after_seconds: None,
    }
}

#[test]
fn every_variant_of_the_journal_keeps_its_number() {
    let token = disk::Token {
        seq: 1,
        secret: [0; 24],
    };
    let id = Uuid::nil();
    let queue = [
        QueueEvent::TokenIssued {
            seq: 1,
            token,
            user: id,
            at: at(),
        },
        QueueEvent::TokenAdmitted {
            seq: 1,
            token,
            at: at(),
            active_until: at(),
        },
        QueueEvent::TokenEnded {
            seq: 1,
            token,
            at: at(),
            reason: TokenEnd::Left,
        },
    ];
    let seat = [
        SeatEvent::SeatHeld {
            reservation: id,
            user: id,
            seat_number: 1,
            at: at(),
            until: at(),
        },
        SeatEvent::HoldCancelled {
            reservation: id,
            at: at(),
        },
        SeatEvent::HoldLapsed {
            reservation: id,
            at: at(),
        },
        SeatEvent::SeatSold {
            reservation: id,
            payment: id,
            at: at(),
        },
    ];
    let charged = WalletEvent::Charged {
        transaction: id,
        user: id,
        amount: 1,
        at: at(),
    };
    let payment = disk::Payment {
        payment_id: id,
        reservation_id: id,
        user_id: id,
        concert_id: id,
        date: at().date_naive(),
        seat_number: 1,
        amount: 1,
        paid_at: at(),
    };
    let wallet = [
        charged.clone(),
        WalletEvent::PaymentCompleted {
            transaction: id,
            payment: payment.clone(),
            paid_with: token,
        },
    ];
    for (number, event) in queue.iter().enumerate() {
        assert_eq!(written_as(event) as usize, number, "{event:?}");
    }
    for (number, event) in seat.iter().enumerate() {
        assert_eq!(written_as(event) as usize, number, "{event:?}");
    }
    for (number, event) in wallet.iter().enumerate() {
        assert_eq!(written_as(event) as usize, number, "{event:?}");
    }
    let ends = [
        TokenEnd::Left,
        TokenEnd::ActiveExpired,
        TokenEnd::IdledOut,
        TokenEnd::Paid,
    ];
    for (number, end) in ends.iter().enumerate() {
        assert_eq!(written_as(end) as usize, number, "{end:?}");
    }
    let done = Answer::Done(Response {
        status: 200,
        body: "{}".into(),
    });
    let refused = Answer::Refused(refusal(ErrorCode::Internal));
    assert_eq!((written_as(&done), written_as(&refused)), (0, 1));

    let date = NaiveDate::from_ymd_opt(2026, 12, 24).expect("a date");
    let changes = [
        Change::UserRegistered(disk::User {
            user_id: id,
            name: String::new(),
        }),
        Change::ConcertCreated(disk::Concert {
            concert_id: id,
            title: String::new(),
            dates: Vec::new(),
        }),
        Change::Queue(queue[0].clone()),
        Change::Seat(disk::DateKey { concert: id, date }, seat[0].clone()),
        Change::Wallet(charged.clone()),
        Change::Answered(answer_record(refused.clone())),
        Change::Keyed {
            work: Box::new(Change::Wallet(charged)),
            answer: answer_record(done),
        },
    ];
    for (number, change) in changes.iter().enumerate() {
        assert_eq!(written_as(change) as usize, number, "{change:?}");
    }
    let schedule = disk::SaleSchedule {
        prequeue_opens_at: at(),
        opens_at: at(),
        active_max: 1,
        admissions_per_minute: None,
        refund_policy: Vec::new(),
    };
    let sale = disk::Sale {
        concert: id,
        number: 1,
        schedule: schedule.clone(),
        seed: [0; 32],
        at: at(),
    };
    let sale_events = [
        (6, QueueEvent::SaleChanged { schedule, at: at() }),
        (7, QueueEvent::PrequeueDrawn { at: at() }),
    ];
    for (number, event) in &sale_events {
        assert_eq!(written_as(event), *number, "{event:?}");
    }
    assert_eq!(written_as(&Change::SaleCreated(sale)), 7);
    let cancelled = SeatEvent::TicketCancelled {
        reservation: id,
        refund: 1,
        at: at(),
    };
    assert_eq!(written_as(&cancelled), 6);
    let refunded = WalletEvent::Refunded {
        transaction: id,
        user: id,
        payment: id,
        refund: 1,
        at: at(),
    };
    assert_eq!(written_as(&refunded), 2);
    let offer_paid = WalletEvent::OfferPaid {
        transaction: id,
        payment: payment.clone(),
    };
    assert_eq!(written_as(&offer_paid), 3);
    let order_paid = WalletEvent::OrderPaid {
        transaction: id,
        payments: vec![payment.clone()],
        paid_with: token,
    };
    assert_eq!(written_as(&order_paid), 4);
    let waitlisted = SeatEvent::Waitlisted {
        code: [0; 16],
        user: id,
        at: at(),
    };
    let offered = SeatEvent::OfferMade {
        code: [0; 16],
        reservation: id,
        seat_number: 1,
        at: at(),
        until: at(),
    };
    assert_eq!((written_as(&waitlisted), written_as(&offered)), (7, 8));
    assert_eq!(written_as(&Change::Sale(id, sale_events[1].1.clone())), 8);
}

#[test]
fn every_variant_of_the_snapshot_keeps_its_number() {
    let id = Uuid::nil();
    let occupants = [Occupant::Free, Occupant::Held(id), Occupant::Sold(id)];
    for (number, occupant) in occupants.iter().enumerate() {
        assert_eq!(written_as(occupant) as usize, number, "{occupant:?}");
    }
    let statuses = [
        ReservationStatus::Held,
        ReservationStatus::Confirmed,
        ReservationStatus::Expired,
        ReservationStatus::Cancelled,
    ];
    for (number, status) in statuses.iter().enumerate() {
        assert_eq!(written_as(status) as usize, number, "{status:?}");
    }
    assert_eq!(
        (
            written_as(&TokenStatus::Waiting),
            written_as(&TokenStatus::Active),
            written_as(&TokenStatus::Prequeued)
        ),
        (0, 1, 2)
    );
    let kinds = (
        written_as(&TransactionType::Charge),
        written_as(&TransactionType::Payment),
        written_as(&TransactionType::Refund),
    );
    assert_eq!(kinds, (0, 1, 2));
}

/// Every error code by its name and the number it is written as, for good.
const ERROR_CODE_NUMBERS: [(&str, u32); 40] = [
    ("INVALID_REQUEST", 0),
    ("INVALID_AMOUNT", 1),
    ("TOKEN_MISSING", 2),
    ("TOKEN_INVALID", 3),
    ("ADMIN_KEY_INVALID", 4),
    ("TOKEN_NOT_ACTIVE", 5),
    ("ADMIN_DISABLED", 6),
    ("USER_NOT_FOUND", 7),
    ("CONCERT_NOT_FOUND", 8),
    ("DATE_NOT_FOUND", 9),
    ("SEAT_NOT_FOUND", 10),
    ("NOT_FOUND", 11),
    ("METHOD_NOT_ALLOWED", 12),
    ("RESERVATION_NOT_FOUND", 13),
    ("TOKEN_ALREADY_ISSUED", 14),
    ("SEAT_UNAVAILABLE", 15),
    ("HOLD_LIMIT_REACHED", 16),
    ("RESERVATION_EXPIRED", 17),
    ("RESERVATION_NOT_HELD", 18),
    ("INSUFFICIENT_BALANCE", 19),
    ("BALANCE_LIMIT_EXCEEDED", 20),
    ("PAYLOAD_TOO_LARGE", 21),
    ("IDEMPOTENCY_KEY_REUSED", 22),
    ("RATE_LIMITED", 23),
    ("INTERNAL", 24),
    ("QUEUE_FULL", 25),
    ("UNAVAILABLE", 26),
    ("UNSUPPORTED_MEDIA_TYPE", 27),
    ("CHALLENGE_REQUIRED", 28),
    ("REQUEST_TIMEOUT", 29),
    ("URI_TOO_LONG", 30),
    ("HEADERS_TOO_LARGE", 31),
    ("TICKET_NOT_FOUND", 32),
    ("TOKEN_WRONG_SALE", 33),
    ("SALE_NOT_FOUND", 34),
    ("SALE_NOT_OPEN", 35),
    ("SALE_ALREADY_OPEN", 36),
    ("SEATS_AVAILABLE", 37),
    ("ALREADY_WAITLISTED", 38),
    ("REFUND_CLOSED", 39),
];

#[test]
fn every_error_code_keeps_its_number_whatever_its_place_in_the_enum() {
    assert_eq!(
        ErrorCode::ALL.len(),
        ERROR_CODE_NUMBERS.len(),
        "a new code is given a number here"
    );
    for code in ErrorCode::ALL {
        let pinned = ERROR_CODE_NUMBERS.iter().find(|(name, _)| *name == code.as_str());
        let (_, number) = pinned.unwrap_or_else(|| panic!("{code} has no number here"));
        assert_eq!(error_code_number(code), *number, "{code}");
        assert_eq!(numbers::error_code_of(*number), Some(code), "{code}");
        let written = postcard::to_allocvec(&refusal(code)).expect("in-memory encoding");
        assert_eq!(written[0] as u32, *number, "{code} is written as its number");
    }
}

#[test]
fn every_endpoint_keeps_its_number() {
    let pinned = [
        (Endpoint::Charges, 0),
        (Endpoint::Reservations, 1),
        (Endpoint::Payments, 2),
        (Endpoint::QueueTokens, 3),
        (Endpoint::SaleQueueTokens, 4),
        (Endpoint::OfferPayments, 5),
    ];
    for (endpoint, number) in pinned {
        assert_eq!(endpoint_number(endpoint), number, "{endpoint:?}");
        assert_eq!(numbers::endpoint_of(number), Some(endpoint), "{endpoint:?}");
    }
}

/// A journal segment of one record answering with `answer`, the endpoint numbered `endpoint`.
fn segment_answering(answer: Answer, endpoint: u32) -> Vec<u8> {
    let mut answered = answer_record(answer);
    answered.scope.endpoint = endpoint;
    let record = disk::Record {
        seq: 1,
        change: Change::Answered(answered),
    };
    let mut segment = header(FileKind::Journal).to_vec();
    frame::encode_into(&record, &mut segment);
    segment
}

#[test]
fn a_number_this_build_does_not_know_is_refused_by_name() {
    let refused = Answer::Refused(Refusal {
        code: 99,
        ..refusal(ErrorCode::Internal)
    });
    let read = read_segment(&segment_answering(refused, 0)).expect("version 3");
    let Some(Damage::Undecodable(why)) = read.damage else {
        panic!("{:?}", read.damage);
    };
    assert_eq!(why, "error code number 99 is not one this build knows");

    let done = Answer::Done(Response {
        status: 200,
        body: String::new(),
    });
    let read = read_segment(&segment_answering(done.clone(), 42)).expect("version 3");
    let Some(Damage::Undecodable(why)) = read.damage else {
        panic!("{:?}", read.damage);
    };
    assert_eq!(why, "idempotency endpoint number 42 is not one this build knows");
    assert_eq!(
        read_segment(&segment_answering(done, 3)).expect("version 3").damage,
        None
    );
}

#[test]
fn a_file_begins_with_its_magic_and_version() {
    let journal = header(FileKind::Journal);
    assert_eq!(&journal[..MAGIC_BYTES], b"CRJOURNL");
    assert_eq!(journal[MAGIC_BYTES..], 5u32.to_le_bytes());
    assert_eq!(&header(FileKind::Snapshot)[..MAGIC_BYTES], b"CRSNAPSH");
}

#[test]
fn a_file_of_another_version_is_refused_whole() {
    let mut segment = header(FileKind::Journal).to_vec();
    segment[MAGIC_BYTES..].copy_from_slice(&6u32.to_le_bytes());
    let refused = read_segment(&segment).expect_err("version 6 is unknown");
    assert_eq!(refused, UnknownVersion { found: 6 });
    let message = refused.to_string();
    assert!(
        message.contains("version 6") && message.contains("versions 3 to 5"),
        "{message}"
    );
    // Even the version before, which is never written with a header.
    segment[MAGIC_BYTES..].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(read_segment(&segment).err(), Some(UnknownVersion { found: 2 }));

    let mut snapshot = encode_snapshot(&empty_image()).expect("a small snapshot");
    snapshot[MAGIC_BYTES] = 9;
    assert_eq!(
        decode_snapshot(&snapshot).err(),
        Some(SnapshotError::UnknownVersion(UnknownVersion { found: 9 }))
    );
}

#[test]
fn a_file_cut_inside_its_header_is_torn_and_an_empty_one_holds_nothing() {
    let segment = header(FileKind::Journal);
    for cut in 1..HEADER_BYTES {
        let read = read_segment(&segment[..cut]).expect("a torn header is no version");
        assert_eq!((read.valid_len, read.damage), (0, Some(Damage::Torn)), "cut at {cut}");
    }
    let empty = read_segment(&[]).expect("an empty file");
    assert_eq!((empty.records.len(), empty.valid_len, empty.damage), (0, 0, None));
    let whole = read_segment(&segment).expect("a header alone");
    assert_eq!(
        (whole.records.len(), whole.valid_len, whole.damage),
        (0, HEADER_BYTES, None)
    );
    let snapshot = header(FileKind::Snapshot);
    assert_eq!(
        decode_snapshot(&snapshot[..5]).err(),
        Some(SnapshotError::Damaged(Damage::Torn))
    );
}

#[test]
fn a_journal_is_not_read_as_a_snapshot_nor_a_snapshot_as_a_journal() {
    let snapshot = encode_snapshot(&empty_image()).expect("a small snapshot");
    let read = read_segment(&snapshot).expect("read as a headerless segment");
    assert!(read.records.is_empty() && read.damage.is_some());
    let mut segment = header(FileKind::Journal).to_vec();
    encode_entry(user_registered(), &mut segment);
    assert!(matches!(decode_snapshot(&segment), Err(SnapshotError::Damaged(_))));
}

#[test]
fn a_headerless_record_of_another_version_byte_is_not_read() {
    let body = postcard::to_allocvec(&records::Record::from(user_registered())).expect("in-memory encoding");
    let payload: Vec<u8> = [1].into_iter().chain(body).collect();
    let read = read_segment(&frame::frame_payload(&payload)).expect("headerless");
    assert_eq!((read.valid_len, read.damage), (0, Some(Damage::UnknownVersion(1))));
}

#[test]
fn a_dates_waiting_list_is_kept_in_its_snapshot_and_one_without_is_written_as_version_3_wrote_it() {
    use crate::domain::seat_map::SeatMap;
    use crate::domain::waitlist::EntryCode;
    use crate::domain::{ConcertId, ReservationId};
    use crate::persistence::log::{PartState, Partition};
    let now = at();
    let mut map = SeatMap::new(
        ConcertId::random(),
        NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
        1,
        500,
    );
    let key = (map.concert(), map.date());
    let part = |map: &SeatMap| Part {
        seq: 7,
        state: PartState::Date(map.clone()),
    };
    let bare = encode_part_snapshot(Partition::Date(key), &part(&map)).unwrap();
    let holder = UserId::random();
    map.hold(
        holder,
        1,
        ReservationId::random(),
        now,
        chrono::Duration::minutes(5),
        |_| true,
    )
    .unwrap();
    let code = EntryCode::random();
    map.join_waitlist(UserId::random(), code, now).unwrap();
    let listed = encode_part_snapshot(Partition::Date(key), &part(&map)).unwrap();
    let variant = |bytes: &[u8]| bytes[HEADER_BYTES + 8];
    assert_eq!(
        (variant(&bare), variant(&listed)),
        (5, 8),
        "a date without a list is written as before"
    );
    let (_, read) = decode_part_snapshot(&listed).unwrap();
    let PartState::Date(read) = read.state else {
        panic!("a date's part")
    };
    assert_eq!(read.waitlist_entry(code, now), map.waitlist_entry(code, now));
    assert_eq!(read.image(), map.image());
}
