//! A concert's own sale: scheduling it, the pre-queue, the draw at the opening checked against
//! its published seed, the arrivals after it, the rate, and the scope of its tokens.

use crate::helpers::*;
use chrono::Duration;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The clock starts at 10:00; the pre-queue opens at 10:10 and the sale at 11:00.
const PREQUEUE_OPENS: &str = "2026-12-24T10:10:00Z";
const OPENS: &str = "2026-12-24T11:00:00Z";

fn sale_settings(active_max: u32, admissions_per_minute: Option<u32>) -> Value {
    json!({
        "prequeueOpensAt": PREQUEUE_OPENS,
        "opensAt": OPENS,
        "activeMax": active_max,
        "admissionsPerMinute": admissions_per_minute,
        "refundPolicy": [{"untilDaysBefore": 7, "feePercent": 0}, {"untilDaysBefore": 1, "feePercent": 20}],
    })
}

/// A concert of one date with a sale of `active_max` and the rate.
async fn concert_with_sale(app: &TestApp, active_max: u32, admissions_per_minute: Option<u32>) -> String {
    let concert = app.create_concert("Opening night", &[("2026-12-31", 50, 1_000)]).await;
    let response = app
        .set_sale(&concert, &sale_settings(active_max, admissions_per_minute))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    concert
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What the sale publishes of a token: the first 16 bytes of SHA-256 of its secret, which is
/// the token's last 48 hex digits.
fn entry_of(token: &str) -> String {
    let secret: Vec<u8> = (0..24)
        .map(|i| u8::from_str_radix(&token[16 + 2 * i..18 + 2 * i], 16).unwrap())
        .collect();
    hex(&Sha256::digest(&secret)[..16])
}

/// The order drawn from `seed_hex` over `entries`, written here from the README's description
/// rather than taken from the server's code: ChaCha20 seeded with the seed, then Fisher–Yates
/// from the last entry down, each `j` in `0..=i` drawn from the next 64-bit output by rejection.
fn drawn_order(seed_hex: &str, entries: &[String]) -> Vec<String> {
    let seed: [u8; 32] = std::array::from_fn(|i| u8::from_str_radix(&seed_hex[2 * i..2 * i + 2], 16).unwrap());
    let mut generator = rand_chacha::ChaCha20Rng::from_seed(seed);
    let mut order = entries.to_vec();
    for i in (1..order.len()).rev() {
        let bound = i as u64 + 1;
        let limit = u64::MAX - u64::MAX % bound;
        let j = loop {
            let x = generator.next_u64();
            if x < limit {
                break x % bound;
            }
        };
        order.swap(i, j as usize);
    }
    order
}

#[tokio::test]
async fn an_operator_schedules_a_sale_and_anyone_reads_it() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("Opening night", &[("2026-12-31", 50, 1_000)]).await;
    assert_problem(
        app.get(&format!("/api/v1/concerts/{concert}/sale")).await,
        404,
        "SALE_NOT_FOUND",
    )
    .await;
    let response = app.set_sale(&concert, &sale_settings(10, Some(600))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let sale = body(response).await;
    assert_eq!(sale["concertId"], concert.as_str());
    assert_eq!(
        (sale["state"].as_str(), sale["activeMax"].as_u64()),
        (Some("SCHEDULED"), Some(10))
    );
    assert_eq!(sale["admissionsPerMinute"], 600);
    assert_eq!(sale["refundPolicy"][1], json!({"untilDaysBefore": 1, "feePercent": 20}));
    assert_eq!(time(&sale["opensAt"]), instant(OPENS));
    assert!(sale["drawCommitment"].is_null() && sale["drawSeed"].is_null(), "{sale}");
    assert_eq!(app.sale_of(&concert).await, sale);
    // Before the pre-queue, the times may move.
    let moved = json!({"prequeueOpensAt": PREQUEUE_OPENS, "opensAt": "2026-12-24T11:30:00Z", "activeMax": 10});
    let moved = body(app.set_sale(&concert, &moved).await).await;
    assert_eq!(time(&moved["opensAt"]), instant("2026-12-24T11:30:00Z"));
    assert!(moved["admissionsPerMinute"].is_null(), "no rate");
}

#[tokio::test]
async fn a_sale_that_makes_no_sense_is_refused_and_changes_nothing() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("Opening night", &[("2026-12-31", 50, 1_000)]).await;
    let wrong = [
        json!({"prequeueOpensAt": OPENS, "opensAt": PREQUEUE_OPENS, "activeMax": 1}),
        json!({"prequeueOpensAt": PREQUEUE_OPENS, "opensAt": OPENS, "activeMax": 0}),
        json!({"prequeueOpensAt": PREQUEUE_OPENS, "opensAt": OPENS, "activeMax": 1, "admissionsPerMinute": 0}),
        json!({"prequeueOpensAt": PREQUEUE_OPENS, "opensAt": OPENS, "activeMax": 1, "admissionsPerMinute": 1_000_001}),
        json!({"prequeueOpensAt": PREQUEUE_OPENS, "opensAt": OPENS, "activeMax": 1,
            "refundPolicy": [{"untilDaysBefore": 1, "feePercent": 0}, {"untilDaysBefore": 7, "feePercent": 0}]}),
        json!({"prequeueOpensAt": "yesterday", "opensAt": OPENS, "activeMax": 1}),
    ];
    for body in &wrong {
        assert_problem(app.set_sale(&concert, body).await, 400, "INVALID_REQUEST").await;
    }
    assert_problem(
        app.get(&format!("/api/v1/concerts/{concert}/sale")).await,
        404,
        "SALE_NOT_FOUND",
    )
    .await;
    let nowhere = "00000000-0000-4000-8000-000000000000";
    assert_problem(
        app.set_sale(nowhere, &sale_settings(1, None)).await,
        404,
        "CONCERT_NOT_FOUND",
    )
    .await;
    let unkeyed = app
        .request(Method::PUT, &format!("/api/v1/admin/concerts/{concert}/sale"))
        .json(&sale_settings(1, None))
        .send()
        .await
        .unwrap();
    assert_problem(unkeyed, 401, "ADMIN_KEY_INVALID").await;
}

#[tokio::test]
async fn the_pre_queue_opens_on_time_and_its_fans_wait_for_the_draw_without_a_place() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_with_sale(&app, 2, None).await;
    let early = app.create_user("Early").await;
    let refused = assert_problem(app.issue_sale_token(&concert, &early).await, 409, "SALE_NOT_OPEN").await;
    assert_eq!(time(&refused["prequeueOpensAt"]), instant(PREQUEUE_OPENS));

    app.advance(Duration::minutes(10));
    let sale = app.sale_of(&concert).await;
    assert_eq!(sale["state"], "PREQUEUE");
    assert_eq!(sale["drawCommitment"].as_str().map(str::len), Some(64), "{sale}");
    assert!(sale["drawSeed"].is_null(), "the seed stays secret until the draw");
    let response = app.issue_sale_token(&concert, &early).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let queue = body(response).await;
    assert_eq!(queue["status"], "PREQUEUED");
    assert_eq!(queue["concertId"], concert.as_str());
    assert!(
        queue["position"].is_null() && queue["estimatedWaitSeconds"].is_null(),
        "{queue}"
    );
    assert_eq!(time(&queue["opensAt"]), instant(OPENS));
    assert_problem(
        app.issue_sale_token(&concert, &early).await,
        409,
        "TOKEN_ALREADY_ISSUED",
    )
    .await;
    // The site-wide room is another room: a fan may wait in both.
    assert_eq!(app.issue_token(&early).await.status(), StatusCode::CREATED);
    let fan = Fan {
        token: queue["token"].as_str().unwrap().to_string(),
        user_id: early.clone(),
        queue: queue.clone(),
    };
    // Long past the idle TTL, the pre-queued fan is still there, and may use the wallet.
    app.advance(Duration::minutes(45));
    assert_eq!(app.queue_of(&fan).await["status"], "PREQUEUED");
    assert_eq!(app.charge(&fan, 5_000).await.status(), StatusCode::OK);
    assert_problem(
        app.seat_map(&fan, &concert, "2026-12-31").await,
        403,
        "TOKEN_NOT_ACTIVE",
    )
    .await;
    assert_eq!(app.sale_of(&concert).await["prequeued"], 1);
    // The times are fixed now; the limits are not.
    let moved = json!({"prequeueOpensAt": PREQUEUE_OPENS, "opensAt": "2026-12-24T12:00:00Z", "activeMax": 2});
    assert_problem(app.set_sale(&concert, &moved).await, 409, "SALE_ALREADY_OPEN").await;
    let raised = body(app.set_sale(&concert, &sale_settings(5, Some(60))).await).await;
    assert_eq!(
        (raised["activeMax"].as_u64(), raised["admissionsPerMinute"].as_u64()),
        (Some(5), Some(60))
    );
}

#[tokio::test]
async fn the_draw_orders_the_pre_queue_as_anyone_can_recompute_from_the_seed_and_later_fans_queue_behind() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_with_sale(&app, 3, None).await;
    app.advance(Duration::minutes(10));
    let commitment = app.sale_of(&concert).await["drawCommitment"].clone();
    let mut fans = Vec::new();
    for n in 0..12 {
        fans.push(app.sale_fan(&concert, &format!("fan {n}")).await);
        app.advance(Duration::seconds(30));
    }
    assert_problem(
        app.get(&format!("/api/v1/concerts/{concert}/sale/draw")).await,
        409,
        "SALE_NOT_OPEN",
    )
    .await;
    app.advance(Duration::minutes(45));
    let late = app.sale_fan(&concert, "late").await;
    let sale = app.sale_of(&concert).await;
    assert_eq!(sale["state"], "OPEN");
    let seed = sale["drawSeed"].as_str().unwrap();
    let seed_bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&seed[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(
        json!(hex(&Sha256::digest(&seed_bytes))),
        commitment,
        "the seed is the one committed to"
    );
    let draw = body(app.get(&format!("/api/v1/concerts/{concert}/sale/draw")).await).await;
    let entries: Vec<String> = (draw["entries"].as_array().unwrap().iter())
        .map(|entry| entry.as_str().unwrap().to_string())
        .collect();
    let in_issue_order: Vec<String> = fans.iter().map(|fan| entry_of(&fan.token)).collect();
    assert_eq!(entries, in_issue_order, "every pre-queued token, in issue order");
    let order = drawn_order(seed, &entries);
    assert_ne!(order, entries, "this draw moved someone");
    for fan in &fans {
        let rank = order.iter().position(|entry| *entry == entry_of(&fan.token)).unwrap() as u64;
        let queue = app.queue_of(fan).await;
        if rank < 3 {
            assert_eq!(queue["status"], "ACTIVE", "drawn {rank}");
        } else {
            assert_eq!(
                (queue["status"].as_str(), queue["position"].as_u64()),
                (Some("WAITING"), Some(rank - 2))
            );
        }
    }
    let late = app.queue_of(&late).await;
    assert_eq!(
        (late["status"].as_str(), late["position"].as_u64()),
        (Some("WAITING"), Some(10))
    );
}

#[tokio::test]
async fn admissions_follow_the_rate_however_many_slots_are_free() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_with_sale(&app, 100, Some(60)).await;
    app.advance(Duration::minutes(10));
    for n in 0..5 {
        app.sale_fan(&concert, &format!("fan {n}")).await;
    }
    app.advance(Duration::minutes(50));
    assert_eq!(app.sale_of(&concert).await["admittedTotal"], 1, "one at the opening");
    app.advance(Duration::milliseconds(999));
    assert_eq!(app.sale_of(&concert).await["admittedTotal"], 1);
    app.advance(Duration::milliseconds(1));
    assert_eq!(
        app.sale_of(&concert).await["admittedTotal"],
        2,
        "the next a second later"
    );
    app.advance(Duration::seconds(10));
    assert_eq!(
        app.sale_of(&concert).await["admittedTotal"],
        3,
        "one at a time, not the ones missed"
    );
}

#[tokio::test]
async fn a_sales_token_buys_only_its_concert_and_a_site_wide_token_no_concert_with_a_sale() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_with_sale(&app, 10, None).await;
    let other = app.create_concert("Matinee", &[("2026-12-30", 10, 500)]).await;
    app.advance(Duration::minutes(60));
    let fan = app.sale_fan(&concert, "Kim").await;
    assert_eq!(fan.queue["status"], "ACTIVE");
    let site_wide = app.fan("Lee").await;
    assert_eq!(site_wide.queue["status"], "ACTIVE");

    assert_problem(app.seat_map(&fan, &other, "2026-12-30").await, 403, "TOKEN_WRONG_SALE").await;
    assert_problem(app.hold(&fan, &other, "2026-12-30", 1).await, 403, "TOKEN_WRONG_SALE").await;
    assert_problem(
        app.seat_map(&site_wide, &concert, "2026-12-31").await,
        403,
        "TOKEN_WRONG_SALE",
    )
    .await;
    assert_problem(
        app.hold(&site_wide, &concert, "2026-12-31", 1).await,
        403,
        "TOKEN_WRONG_SALE",
    )
    .await;
    assert_eq!(app.seat_status(&site_wide, &other, "2026-12-30", 1).await, "AVAILABLE");

    // Its own concert: the seat map, a hold, the wallet and the payment.
    assert_eq!(app.seat_status(&fan, &concert, "2026-12-31", 1).await, "AVAILABLE");
    let held = app.held(&fan, &concert, "2026-12-31", 1).await;
    assert_eq!(app.charge(&fan, 1_000).await.status(), StatusCode::OK);
    let paid = app.pay(&fan, held["reservationId"].as_str().unwrap()).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    assert_problem(app.queue_status(&fan).await, 401, "TOKEN_INVALID").await;
    assert_eq!(
        app.sale_of(&concert).await["active"],
        0,
        "the payment ended the sale's token"
    );
    assert_eq!(app.queue_of(&site_wide).await["status"], "ACTIVE", "and no other");
}

async fn hold_status(app: &TestApp, fan: &Fan, hold: &str) -> Value {
    body(app.reservation(fan, hold).await).await["status"].clone()
}

#[tokio::test]
async fn leaving_one_room_gives_back_only_the_holds_made_in_it() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_with_sale(&app, 10, None).await;
    let other = app.create_concert("Matinee", &[("2026-12-30", 10, 500)]).await;
    app.advance(Duration::minutes(60));
    let in_sale = app.sale_fan(&concert, "Kim").await;
    let site_wide = app.token_for(&in_sale.user_id).await;
    let sale_hold = text(&app.held(&in_sale, &concert, "2026-12-31", 1).await["reservationId"]);
    let other_hold = text(&app.held(&site_wide, &other, "2026-12-30", 1).await["reservationId"]);

    assert_eq!(app.leave(&site_wide).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        hold_status(&app, &in_sale, &sale_hold).await,
        "HELD",
        "the sale's hold stays"
    );
    assert_eq!(
        hold_status(&app, &in_sale, &other_hold).await,
        "CANCELLED",
        "the site-wide hold went with its token"
    );

    let back = app.token_for(&in_sale.user_id).await;
    let again = text(&app.held(&back, &other, "2026-12-30", 2).await["reservationId"]);
    assert_eq!(app.leave(&in_sale).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        hold_status(&app, &back, &again).await,
        "HELD",
        "the site-wide hold stays"
    );
    assert_eq!(
        hold_status(&app, &back, &sale_hold).await,
        "CANCELLED",
        "the sale's hold went with its token"
    );
}

#[tokio::test]
async fn a_pre_queued_fans_stream_tells_the_draw() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_with_sale(&app, 1, None).await;
    app.advance(Duration::minutes(10));
    let first = app.sale_fan(&concert, "first").await;
    let second = app.sale_fan(&concert, "second").await;
    let mut streams = [app.events(&first).await, app.events(&second).await];
    for stream in &mut streams {
        let opened = stream
            .next(std::time::Duration::from_secs(5))
            .await
            .expect("the first status");
        assert_eq!(opened.data["status"], "PREQUEUED");
    }
    app.advance(Duration::minutes(50));
    // The draw is made by the first request after the opening.
    assert_eq!(app.sale_of(&concert).await["state"], "OPEN");
    let mut told = Vec::new();
    for stream in &mut streams {
        let event = stream
            .next(std::time::Duration::from_secs(4))
            .await
            .expect("a status after the draw");
        told.push(event.data["status"].as_str().unwrap().to_string());
    }
    told.sort();
    assert_eq!(told, ["ACTIVE", "WAITING"], "one admitted, one first in line");
}

/// The claims of `admission`, verified with the key the server publishes.
async fn verified_admission(app: &TestApp, admission: &str) -> Value {
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(header(&response, "content-type"), "application/jwk-set+json");
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(body(response).await).unwrap();
    let kid = jsonwebtoken::decode_header(admission)
        .unwrap()
        .kid
        .expect("the admission names its key");
    let jwk = set.find(&kid).expect("the key it names is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    jsonwebtoken::decode::<Value>(admission, &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn an_active_status_carries_an_admission_any_service_can_verify() {
    // The real clock: the admission's expiry is checked against it.
    let app = spawn_app_with(|config| config.active_max = 1);
    let site_wide = app.fan("Kim").await;
    let admission = site_wide.queue["admission"]
        .as_str()
        .expect("an ACTIVE status is signed");
    let claims = verified_admission(&app, admission).await;
    assert_eq!(claims["sub"], site_wide.user_id.as_str());
    assert!(claims["sale"].is_null(), "the site-wide room's");
    assert_eq!(
        claims["exp"].as_i64(),
        Some(time(&site_wide.queue["activeUntil"]).timestamp())
    );
    assert_eq!(claims["jti"], entry_of(&site_wide.token).as_str());
    assert_eq!(
        app.queue_of(&site_wide).await["admission"],
        admission,
        "the same on every read"
    );
    let waiting = app.fan("Lee").await;
    assert_eq!(waiting.queue["status"], "WAITING");
    assert!(
        waiting.queue.get("admission").is_none(),
        "a waiting token is not admitted"
    );

    let concert = app.create_concert("Opening night", &[("2026-12-31", 50, 1_000)]).await;
    let now = chrono::Utc::now();
    let settings = json!({"prequeueOpensAt": now.to_rfc3339(), "opensAt": now.to_rfc3339(), "activeMax": 5});
    assert_eq!(app.set_sale(&concert, &settings).await.status(), StatusCode::OK);
    let fan = app.sale_fan(&concert, "Park").await;
    assert_eq!(fan.queue["status"], "ACTIVE", "{}", fan.queue);
    let claims = verified_admission(&app, fan.queue["admission"].as_str().unwrap()).await;
    assert_eq!(
        (claims["sub"].as_str(), claims["sale"].as_str()),
        (Some(fan.user_id.as_str()), Some(concert.as_str()))
    );
}

/// A fan of the sale's concert who bought seat `seat` of 2026-12-31 at 1,000 won; the ticket's
/// code. The sale is open (the clock is past 11:00).
async fn bought(app: &TestApp, concert: &str, name: &str, seat: i64) -> (Fan, String) {
    let fan = app.sale_fan(concert, name).await;
    assert_eq!(fan.queue["status"], "ACTIVE");
    let held = app.held(&fan, concert, "2026-12-31", seat).await;
    assert_eq!(app.charge(&fan, 5_000).await.status(), StatusCode::OK);
    let paid = app.pay(&fan, held["reservationId"].as_str().unwrap()).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    let code = body(paid).await["ticketCode"].as_str().unwrap().to_string();
    (fan, code)
}

async fn cancel_ticket(app: &TestApp, code: &str) -> reqwest::Response {
    app.request(Method::DELETE, &format!("/api/v1/tickets/{code}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_cancelled_ticket_refunds_by_the_days_left_and_puts_the_seat_back_on_sale() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_with_sale(&app, 10, None).await;
    app.advance(Duration::minutes(60));
    // Seven days before the date: free. Six days before: 20 %.
    let (early, early_code) = bought(&app, &concert, "Early", 1).await;
    let refunded = cancel_ticket(&app, &early_code).await;
    assert_eq!(refunded.status(), StatusCode::OK);
    assert_eq!(
        body(refunded).await,
        json!({"refund": 1_000, "fee": 0, "balance": 5_000})
    );
    app.advance(Duration::days(1));
    let (late, late_code) = bought(&app, &concert, "Late", 2).await;
    let refunded = body(cancel_ticket(&app, &late_code).await).await;
    assert_eq!(refunded, json!({"refund": 800, "fee": 200, "balance": 4_800}));

    let ticket = body(app.get(&format!("/api/v1/tickets/{late_code}")).await).await;
    assert_eq!(ticket["status"], "CANCELLED");
    // The payment ended the fan's token: a new one reads the wallet.
    let late = app.token_for(&late.user_id).await;
    let history = body(app.get_as(&late, "/api/v1/wallet/transactions").await).await;
    assert_eq!(
        (history[0]["type"].as_str(), history[0]["amount"].as_i64()),
        (Some("REFUND"), Some(800))
    );
    let watcher = app.sale_fan(&concert, "Watcher").await;
    for seat in [1, 2] {
        assert_eq!(
            app.seat_status(&watcher, &concert, "2026-12-31", seat).await,
            "AVAILABLE"
        );
    }
    let stats = app.stats().await;
    assert_eq!(
        (stats["seatsSold"].as_i64(), stats["revenueTotal"].as_i64()),
        (Some(0), Some(200))
    );
    assert_eq!(
        stats["chargedTotal"].as_i64().unwrap(),
        stats["balancesTotal"].as_i64().unwrap() + stats["revenueTotal"].as_i64().unwrap()
    );
    // A repeat refunds nothing twice; the seat sold again is not taken back.
    app.held(&watcher, &concert, "2026-12-31", 1).await;
    let again = body(cancel_ticket(&app, &early_code).await).await;
    assert_eq!(again, json!({"refund": 1_000, "fee": 0, "balance": 5_000}));
    assert_eq!(app.balance(&app.token_for(&early.user_id).await).await, 5_000);
    assert_eq!(app.seat_status(&watcher, &concert, "2026-12-31", 1).await, "HELD");
}

#[tokio::test]
async fn past_the_last_step_or_without_a_sale_a_ticket_is_not_refunded() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_with_sale(&app, 10, None).await;
    app.advance(Duration::minutes(60));
    let (_, code) = bought(&app, &concert, "Kim", 1).await;
    app.advance(Duration::days(7));
    assert_problem(cancel_ticket(&app, &code).await, 409, "REFUND_CLOSED").await;
    assert_eq!(
        body(app.get(&format!("/api/v1/tickets/{code}")).await).await["status"],
        "VALID"
    );

    let plain = app.create_concert("No sale", &[("2027-03-01", 10, 500)]).await;
    let fan = app.fan("Lee").await;
    let held = app.held(&fan, &plain, "2027-03-01", 1).await;
    app.charge(&fan, 500).await;
    let paid = body(app.pay(&fan, held["reservationId"].as_str().unwrap()).await).await;
    let code = paid["ticketCode"].as_str().unwrap();
    assert_problem(cancel_ticket(&app, code).await, 409, "REFUND_CLOSED").await;
    assert_eq!(app.stats().await["seatsSold"], 2);
    assert_problem(
        cancel_ticket(&app, "AAAAAAAAAAAAAAAAAAAAAA").await,
        404,
        "TICKET_NOT_FOUND",
    )
    .await;
    assert_problem(cancel_ticket(&app, "not-a-code").await, 400, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn a_ticket_cancelled_by_many_at_once_is_refunded_once() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_with_sale(&app, 10, None).await;
    app.advance(Duration::minutes(60));
    let (fan, code) = bought(&app, &concert, "Kim", 1).await;
    let cancels = (0..16).map(|_| cancel_ticket(&app, &code));
    let answers = futures_util::future::join_all(cancels).await;
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(body(answer).await, json!({"refund": 1_000, "fee": 0, "balance": 5_000}));
    }
    let fan = app.token_for(&fan.user_id).await;
    assert_eq!(app.balance(&fan).await, 5_000);
    let history = body(app.get_as(&fan, "/api/v1/wallet/transactions").await).await;
    let refunds = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["type"] == "REFUND")
        .count();
    assert_eq!(refunds, 1);
}

#[tokio::test]
async fn a_token_requests_key_belongs_to_its_room_and_replays_that_rooms_answer() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_with_sale(&app, 10, None).await;
    let other = concert_with_sale(&app, 10, None).await;
    app.advance(Duration::minutes(60));
    let user = app.create_user("Kim").await;
    let take = |path: String| {
        app.request(Method::POST, &path)
            .header("Idempotency-Key", "join-1")
            .json(&json!({ "userId": user }))
            .send()
    };
    let site_wide = take("/api/v1/queue/tokens".to_string()).await.unwrap();
    assert_eq!(site_wide.status(), StatusCode::CREATED);
    let site_wide = body(site_wide).await;
    let sale_path = format!("/api/v1/concerts/{concert}/queue/tokens");
    let in_sale = take(sale_path.clone()).await.unwrap();
    assert_eq!(
        in_sale.status(),
        StatusCode::CREATED,
        "the same key in another room is a new request"
    );
    let in_sale = body(in_sale).await;
    assert_eq!(
        (in_sale["concertId"].as_str(), site_wide["concertId"].as_str()),
        (Some(concert.as_str()), None)
    );
    assert_ne!(in_sale["token"], site_wide["token"]);

    // Each retry gets its own room's answer; the key again for a third room is a reuse.
    let again = take("/api/v1/queue/tokens".to_string()).await.unwrap();
    assert_eq!(body(again).await, site_wide);
    assert_eq!(body(take(sale_path).await.unwrap()).await, in_sale);
    let elsewhere = take(format!("/api/v1/concerts/{other}/queue/tokens")).await.unwrap();
    assert_problem(elsewhere, 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(app.sale_of(&other).await["active"], 0, "the reuse took nothing");
    assert_eq!(app.sale_of(&concert).await["active"], 1);
}
