//! A sold-out date's waiting list over HTTP: joining, the offer a returned seat makes to the
//! first fan, its lapse to the next, and paying it with the entry's code alone.

use crate::helpers::*;
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DATE: &str = "2026-12-31";

async fn join(app: &TestApp, fan: &Fan, concert: &str) -> reqwest::Response {
    let path = format!("/api/v1/concerts/{concert}/dates/{DATE}/waitlist");
    app.with_token(Method::POST, &path, &fan.token).send().await.unwrap()
}

async fn entry(app: &TestApp, code: &str) -> Value {
    let response = app.get(&format!("/api/v1/waitlist/{code}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    body(response).await
}

async fn pay_offer(app: &TestApp, code: &str) -> reqwest::Response {
    let path = format!("/api/v1/waitlist/{code}/payment");
    app.request(Method::POST, &path).send().await.unwrap()
}

/// A concert of one date with two seats: one sold, one held by `holder` for five minutes.
async fn sold_out(app: &TestApp) -> (String, Fan) {
    let concert = app.create_concert("Sold out", &[(DATE, 2, 1_000)]).await;
    let buyer = app.fan("Buyer").await;
    let held = app.held(&buyer, &concert, DATE, 1).await;
    app.charge(&buyer, 1_000).await;
    assert_eq!(
        app.pay(&buyer, held["reservationId"].as_str().unwrap()).await.status(),
        StatusCode::CREATED
    );
    let holder = app.fan("Holder").await;
    app.held(&holder, &concert, DATE, 2).await;
    (concert, holder)
}

#[tokio::test]
async fn a_fan_joins_only_a_date_with_no_seat_available_and_only_once() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("Sold out", &[(DATE, 1, 1_000)]).await;
    let early = app.fan("Early").await;
    assert_problem(join(&app, &early, &concert).await, 409, "SEATS_AVAILABLE").await;
    app.held(&app.fan("Holder").await, &concert, DATE, 1).await;
    let joined = join(&app, &early, &concert).await;
    assert_eq!(joined.status(), StatusCode::CREATED);
    let joined = body(joined).await;
    assert_eq!(joined["position"], 1);
    assert_eq!(joined["entryCode"].as_str().map(str::len), Some(22));
    assert_problem(join(&app, &early, &concert).await, 409, "ALREADY_WAITLISTED").await;
    let second = body(join(&app, &app.fan("Second").await, &concert).await).await;
    assert_eq!(second["position"], 2);
    let read = entry(&app, joined["entryCode"].as_str().unwrap()).await;
    assert_eq!(read, json!({"position": 1, "status": "WAITING", "offer": null}));
    assert_problem(
        app.get("/api/v1/waitlist/AAAAAAAAAAAAAAAAAAAAAA").await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_problem(app.get("/api/v1/waitlist/short").await, 400, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn a_lapsed_hold_is_offered_to_the_first_fan_then_the_next_and_paid_with_the_entrys_code() {
    let app = spawn_app_with_clock(|_| {});
    let (concert, _) = sold_out(&app).await;
    let (first, second) = (app.fan("First").await, app.fan("Second").await);
    let first_code = body(join(&app, &first, &concert).await).await["entryCode"]
        .as_str()
        .unwrap()
        .to_string();
    let second_code = body(join(&app, &second, &concert).await).await["entryCode"]
        .as_str()
        .unwrap()
        .to_string();
    assert_problem(pay_offer(&app, &first_code).await, 409, "RESERVATION_NOT_HELD").await;

    // The holder's five minutes pass: the seat is the first fan's, and nobody else sees it free.
    app.advance(Duration::minutes(6));
    let watcher = app.fan("Watcher").await;
    assert_eq!(app.seat_status(&watcher, &concert, DATE, 2).await, "HELD");
    let offered = entry(&app, &first_code).await;
    assert_eq!(
        (offered["status"].as_str(), offered["position"].as_u64()),
        (Some("OFFERED"), Some(0))
    );
    assert_eq!(
        (
            offered["offer"]["seatNumber"].as_u64(),
            offered["offer"]["price"].as_i64()
        ),
        (Some(2), Some(1_000))
    );
    assert_eq!(entry(&app, &second_code).await["position"], 1);
    assert_problem(app.hold(&watcher, &concert, DATE, 2).await, 409, "SEAT_UNAVAILABLE").await;

    // The first fan lets it lapse: the second is offered it, pays short, then pays.
    app.advance(Duration::minutes(5));
    assert_eq!(entry(&app, &first_code).await["status"], "LAPSED");
    assert_problem(pay_offer(&app, &first_code).await, 409, "RESERVATION_EXPIRED").await;
    assert_eq!(entry(&app, &second_code).await["status"], "OFFERED");
    assert_problem(pay_offer(&app, &second_code).await, 409, "INSUFFICIENT_BALANCE").await;
    assert_eq!(
        entry(&app, &second_code).await["status"],
        "OFFERED",
        "a refusal changes nothing"
    );
    // The fan's first token has expired by now: a new one tops the wallet up.
    let second = app.token_for(&second.user_id).await;
    assert_eq!(app.charge(&second, 1_500).await.status(), StatusCode::OK);
    let paid = pay_offer(&app, &second_code).await;
    assert_eq!(paid.status(), StatusCode::CREATED, "{}", paid.text().await.unwrap());
    let receipt = body(paid).await;
    assert_eq!(
        (receipt["amount"].as_i64(), receipt["balance"].as_i64()),
        (Some(1_000), Some(500))
    );
    let ticket = body(
        app.get(&format!("/api/v1/tickets/{}", receipt["ticketCode"].as_str().unwrap()))
            .await,
    )
    .await;
    assert_eq!(
        (ticket["seatNumber"].as_u64(), ticket["status"].as_str()),
        (Some(2), Some("VALID"))
    );
    assert_eq!(entry(&app, &second_code).await["status"], "BOUGHT");
    assert_eq!(app.seat_status(&watcher, &concert, DATE, 2).await, "SOLD");
    assert_eq!(
        app.queue_of(&second).await["status"],
        "ACTIVE",
        "paying an offer ends no token"
    );
    let stats = app.stats().await;
    assert_eq!(
        (stats["seatsSold"].as_i64(), stats["revenueTotal"].as_i64()),
        (Some(2), Some(2_000))
    );
}

#[tokio::test]
async fn an_offer_paid_by_many_at_once_is_paid_once() {
    let app = spawn_app_with_clock(|_| {});
    let (concert, holder) = sold_out(&app).await;
    let fan = app.fan("Fan").await;
    let code = body(join(&app, &fan, &concert).await).await["entryCode"]
        .as_str()
        .unwrap()
        .to_string();
    app.charge(&fan, 5_000).await;
    // The holder leaves: the hold is given back at once and offered.
    assert_eq!(app.leave(&holder).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(entry(&app, &code).await["status"], "OFFERED");
    let payments = (0..12).map(|_| pay_offer(&app, &code));
    let answers = futures_util::future::join_all(payments).await;
    let created = answers
        .iter()
        .filter(|answer| answer.status() == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "one payment, the others refused");
    for answer in answers
        .into_iter()
        .filter(|answer| answer.status() != StatusCode::CREATED)
    {
        assert_problem(answer, 409, "RESERVATION_NOT_HELD").await;
    }
    assert_eq!(app.balance(&fan).await, 4_000);
}

#[tokio::test]
async fn a_key_used_for_a_payment_is_free_for_paying_an_offer() {
    let app = spawn_app_with_clock(|_| {});
    let (concert, _) = sold_out(&app).await;
    let matinee = app.create_concert("Matinee", &[(DATE, 1, 500)]).await;
    let fan = app.fan("Kim").await;
    app.charge(&fan, 1_500).await;
    let held = app.held(&fan, &matinee, DATE, 1).await;
    let paid = (app.with_token(Method::POST, "/api/v1/payments", &fan.token))
        .header("Idempotency-Key", "pay-1")
        .json(&json!({ "reservationId": held["reservationId"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::CREATED);
    let fan = app.token_for(&fan.user_id).await;
    let code = body(join(&app, &fan, &concert).await).await["entryCode"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance(Duration::minutes(6));
    assert_eq!(entry(&app, &code).await["status"], "OFFERED");

    let pay_keyed = || {
        app.request(Method::POST, &format!("/api/v1/waitlist/{code}/payment"))
            .header("Idempotency-Key", "pay-1")
            .send()
    };
    let offer_paid = pay_keyed().await.unwrap();
    assert_eq!(
        offer_paid.status(),
        StatusCode::CREATED,
        "another endpoint, another scope"
    );
    let receipt = body(offer_paid).await;
    assert_eq!(
        (receipt["amount"].as_i64(), receipt["balance"].as_i64()),
        (Some(1_000), Some(0))
    );
    assert_eq!(body(pay_keyed().await.unwrap()).await, receipt, "a retry replays it");
    assert_eq!(entry(&app, &code).await["status"], "BOUGHT");
}
