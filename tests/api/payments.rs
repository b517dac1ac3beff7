//! `/payments`: paying a hold from the wallet, all or nothing, the retry rule, and the list.

use crate::helpers::*;
use chrono::Duration;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const DATE: &str = "2026-12-24";

async fn pay_keyed(app: &TestApp, fan: &Fan, key: &str, reservation_id: &str) -> Response {
    app.with_token(Method::POST, "/api/v1/payments", &fan.token)
        .header("Idempotency-Key", key)
        .json(&json!({ "reservationId": reservation_id }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn paying_a_hold_debits_the_wallet_sells_the_seat_and_ends_the_token() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("Pay", &[(DATE, 10, 30_000)]).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 100_000).await.status(), StatusCode::OK);
    let reservation_id = text(&app.held(&fan, &concert, DATE, 7).await["reservationId"]);
    app.advance(Duration::minutes(1));

    let response = app.pay(&fan, &reservation_id).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let receipt = body(response).await;
    let payment_id = text(&receipt["paymentId"]);
    assert!(uuid::Uuid::parse_str(&payment_id).is_ok());
    assert_eq!(
        receipt,
        json!({
            "paymentId": payment_id,
            "reservationId": reservation_id,
            "amount": 30_000,
            "balance": 70_000,
            "paidAt": "2026-12-24T10:01:00Z",
            "ticketCode": receipt["ticketCode"],
        })
    );
    assert_eq!(text(&receipt["ticketCode"]).len(), 22, "{receipt}");

    assert_problem(app.get_as(&fan, "/api/v1/wallet").await, 401, "TOKEN_INVALID").await;
    assert_problem(app.queue_status(&fan).await, 401, "TOKEN_INVALID").await;
    let fan = app.token_for(&fan.user_id).await;
    assert_eq!(app.balance(&fan).await, 70_000);
    assert_eq!(app.seat_status(&fan, &concert, DATE, 7).await, "SOLD");
    assert_eq!(
        body(app.reservation(&fan, &reservation_id).await).await["status"],
        "CONFIRMED"
    );
    let stats = app.stats().await;
    assert_eq!(
        (stats["seatsSold"].as_u64(), stats["revenueTotal"].as_i64()),
        (Some(1), Some(30_000))
    );
}

#[tokio::test]
async fn a_payment_retried_with_its_key_and_ended_token_gets_the_first_answer() {
    let app = spawn_app();
    let concert = app.create_concert("Retry", &[(DATE, 10, 30_000)]).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 100_000).await.status(), StatusCode::OK);
    let reservation_id = text(&app.held(&fan, &concert, DATE, 7).await["reservationId"]);

    let first = pay_keyed(&app, &fan, "pay-1", &reservation_id).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = first.text().await.unwrap();
    let retry = pay_keyed(&app, &fan, "pay-1", &reservation_id).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.text().await.unwrap(), first);
    // Without the key the retry is only a request with a dead token.
    assert_problem(app.pay(&fan, &reservation_id).await, 401, "TOKEN_INVALID").await;

    let fan = app.token_for(&fan.user_id).await;
    assert_eq!(app.balance(&fan).await, 70_000);
    let payments = body(app.get_as(&fan, "/api/v1/payments").await).await;
    assert_eq!(payments.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn insufficient_balance_leaves_the_hold_held_and_the_balance_unchanged() {
    let app = spawn_app();
    let concert = app.create_concert("Short", &[(DATE, 10, 30_000)]).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 10_000).await.status(), StatusCode::OK);
    let reservation = app.held(&fan, &concert, DATE, 7).await;
    let reservation_id = text(&reservation["reservationId"]);

    let problem = assert_problem(app.pay(&fan, &reservation_id).await, 409, "INSUFFICIENT_BALANCE").await;
    assert_eq!(problem["type"], "/problems/insufficient-balance");
    assert_eq!(app.balance(&fan).await, 10_000);
    let response = app.reservation(&fan, &reservation_id).await;
    assert_eq!(body(response).await, reservation);
    assert_eq!(app.seat_status(&fan, &concert, DATE, 7).await, "HELD");
    assert_eq!(body(app.get_as(&fan, "/api/v1/payments").await).await, json!([]));
    let stats = app.stats().await;
    assert_eq!(
        (stats["seatsHeld"].as_u64(), stats["revenueTotal"].as_i64()),
        (Some(1), Some(0))
    );

    assert_eq!(app.charge(&fan, 20_000).await.status(), StatusCode::OK);
    let response = app.pay(&fan, &reservation_id).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body(response).await["balance"], 0);
}

#[tokio::test]
async fn a_keyed_refusal_is_replayed_and_its_key_cannot_pay_another_hold() {
    let app = spawn_app();
    let concert = app.create_concert("Keyed", &[(DATE, 10, 30_000)]).await;
    let fan = app.fan("Kim").await;
    let first = text(&app.held(&fan, &concert, DATE, 1).await["reservationId"]);
    let second = text(&app.held(&fan, &concert, DATE, 2).await["reservationId"]);
    assert_problem(pay_keyed(&app, &fan, "pay", &first).await, 409, "INSUFFICIENT_BALANCE").await;
    assert_eq!(app.charge(&fan, 30_000).await.status(), StatusCode::OK);
    assert_problem(pay_keyed(&app, &fan, "pay", &first).await, 409, "INSUFFICIENT_BALANCE").await;
    assert_problem(
        pay_keyed(&app, &fan, "pay", &second).await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    assert_eq!(app.balance(&fan).await, 30_000);
    assert_eq!(
        pay_keyed(&app, &fan, "pay-again", &first).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_free_seat_is_paid_from_an_empty_wallet() {
    let app = spawn_app();
    let concert = app.create_concert("Free", &[(DATE, 10, 0)]).await;
    let fan = app.fan("Kim").await;
    let reservation_id = text(&app.held(&fan, &concert, DATE, 1).await["reservationId"]);
    let response = app.pay(&fan, &reservation_id).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let receipt = body(response).await;
    assert_eq!(
        (receipt["amount"].as_i64(), receipt["balance"].as_i64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn a_waiting_token_cannot_pay() {
    let app = spawn_app_with(|config| config.active_max = 1);
    let concert = app.create_concert("Wait", &[(DATE, 10, 1_000)]).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 1_000).await.status(), StatusCode::OK);
    let reservation_id = text(&app.held(&fan, &concert, DATE, 1).await["reservationId"]);
    assert_eq!(app.leave(&fan).await.status(), StatusCode::NO_CONTENT);
    app.fan("Now active").await;
    let fan = app.token_for(&fan.user_id).await;
    let problem = assert_problem(app.pay(&fan, &reservation_id).await, 403, "TOKEN_NOT_ACTIVE").await;
    assert_eq!(problem["queue"]["status"], "WAITING");
    assert_eq!(app.balance(&fan).await, 1_000);
}

#[tokio::test]
async fn paying_an_unknown_or_malformed_reservation_is_refused() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_problem(app.pay(&fan, &unknown).await, 404, "RESERVATION_NOT_FOUND").await;
    assert_problem(app.pay(&fan, "not-a-uuid").await, 400, "INVALID_REQUEST").await;
    for request in [json!({}), json!({"reservationId": 7})] {
        let response = app
            .with_token(Method::POST, "/api/v1/payments", &fan.token)
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
}

#[tokio::test]
async fn payments_are_listed_newest_first() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("Two", &[(DATE, 10, 10_000)]).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 50_000).await.status(), StatusCode::OK);
    let first = text(&app.held(&fan, &concert, DATE, 1).await["reservationId"]);
    let second = text(&app.held(&fan, &concert, DATE, 2).await["reservationId"]);
    let first_receipt = body(app.pay(&fan, &first).await).await;
    app.advance(Duration::minutes(1));
    let fan = app.token_for(&fan.user_id).await;
    let second_receipt = body(app.pay(&fan, &second).await).await;
    let fan = app.token_for(&fan.user_id).await;

    let response = app.get_as(&fan, "/api/v1/payments").await;
    assert_eq!(response.status(), StatusCode::OK);
    let payments = body(response).await;
    let ids: Vec<&Value> = payments.as_array().unwrap().iter().map(|p| &p["paymentId"]).collect();
    assert_eq!(ids, [&second_receipt["paymentId"], &first_receipt["paymentId"]]);
    assert_eq!(payments[0]["reservationId"], second.as_str());
    assert_eq!(payments[0]["amount"], 10_000);
    assert_eq!(time(&payments[0]["paidAt"]), instant("2026-12-24T10:01:00Z"));
    assert_eq!(payments[1]["reservationId"], first.as_str());
}

#[tokio::test]
async fn payments_need_a_live_token() {
    let app = spawn_app();
    assert_problem(app.get("/api/v1/payments").await, 401, "TOKEN_MISSING").await;
    let response = app
        .request(Method::POST, "/api/v1/payments")
        .json(&json!({"reservationId": uuid::Uuid::new_v4()}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "TOKEN_MISSING").await;
}
