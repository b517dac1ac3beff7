//! `/wallet`: the balance, charges with their limits and idempotency keys, and the history.

use crate::helpers::*;
use chrono::Duration;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

async fn charge_keyed(app: &TestApp, fan: &Fan, key: &str, amount: i64) -> Response {
    app.with_token(Method::POST, "/api/v1/wallet/charges", &fan.token)
        .header("Idempotency-Key", key)
        .json(&json!({ "amount": amount }))
        .send()
        .await
        .unwrap()
}

async fn transactions(app: &TestApp, fan: &Fan, query: &str) -> Response {
    app.get_as(fan, &format!("/api/v1/wallet/transactions{query}")).await
}

#[tokio::test]
async fn a_new_wallet_is_empty() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let response = app.get_as(&fan, "/api/v1/wallet").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"userId": fan.user_id, "balance": 0}));
    assert_eq!(body(transactions(&app, &fan, "").await).await, json!([]));
}

#[tokio::test]
async fn charges_add_to_the_balance() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let response = app.charge(&fan, 1_000).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"userId": fan.user_id, "balance": 1_000}));
    let response = app.charge(&fan, 500).await;
    assert_eq!(body(response).await["balance"], 1_500);
    assert_eq!(app.balance(&fan).await, 1_500);
}

#[tokio::test]
async fn a_waiting_token_may_use_the_wallet() {
    let app = spawn_app_with(|config| config.active_max = 1);
    app.fan("Active").await;
    let waiting = app.fan("Waiting").await;
    assert_eq!(waiting.queue["status"], "WAITING");
    assert_eq!(app.charge(&waiting, 2_000).await.status(), StatusCode::OK);
    assert_eq!(app.balance(&waiting).await, 2_000);
    assert_eq!(transactions(&app, &waiting, "").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_charge_that_is_not_an_integer_from_one_to_charge_max_is_an_invalid_amount() {
    let app = spawn_app_with(|config| config.charge_max = 1_000);
    let fan = app.fan("Kim").await;
    for amount in [json!(0), json!(-1), json!(1.5), json!("100"), json!(1_001)] {
        let response = app
            .with_token(Method::POST, "/api/v1/wallet/charges", &fan.token)
            .json(&json!({ "amount": amount }))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 400, "INVALID_AMOUNT").await;
        assert_eq!(problem["type"], "/problems/invalid-amount");
    }
    assert_eq!(app.balance(&fan).await, 0);
    assert_eq!(app.charge(&fan, 1_000).await.status(), StatusCode::OK);
    assert_eq!(app.charge(&fan, 1).await.status(), StatusCode::OK);
    assert_eq!(app.balance(&fan).await, 1_001);
}

#[tokio::test]
async fn a_charge_past_balance_max_is_refused_and_changes_nothing() {
    let app = spawn_app_with(|config| config.balance_max = 10_000);
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 9_000).await.status(), StatusCode::OK);
    assert_problem(app.charge(&fan, 1_001).await, 409, "BALANCE_LIMIT_EXCEEDED").await;
    assert_eq!(app.balance(&fan).await, 9_000);
    assert_eq!(app.charge(&fan, 1_000).await.status(), StatusCode::OK);
    assert_problem(app.charge(&fan, 1).await, 409, "BALANCE_LIMIT_EXCEEDED").await;
    assert_eq!(app.balance(&fan).await, 10_000);
    let history = body(transactions(&app, &fan, "").await).await;
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(app.stats().await["chargedTotal"], 10_000);
}

#[tokio::test]
async fn a_charge_repeated_with_one_idempotency_key_changes_the_balance_once() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let first = charge_keyed(&app, &fan, "charge-1", 1_000).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = first.text().await.unwrap();
    let again = charge_keyed(&app, &fan, "charge-1", 1_000).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.text().await.unwrap(), first);
    assert_eq!(app.balance(&fan).await, 1_000);
    assert_eq!(
        body(transactions(&app, &fan, "").await).await.as_array().unwrap().len(),
        1
    );
    assert_eq!(app.stats().await["chargedTotal"], 1_000);
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    assert_eq!(
        charge_keyed(&app, &fan, "charge-1", 1_000).await.status(),
        StatusCode::OK
    );
    let problem = assert_problem(
        charge_keyed(&app, &fan, "charge-1", 2_000).await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    assert_eq!(problem["type"], "/problems/idempotency-key-reused");
    assert_eq!(app.balance(&fan).await, 1_000);
}

#[tokio::test]
async fn idempotency_keys_belong_to_one_user_and_one_endpoint() {
    let app = spawn_app();
    let concert = app.create_concert("Keys", &[("2026-12-24", 5, 1_000)]).await;
    let first = app.fan("First").await;
    let second = app.fan("Second").await;
    assert_eq!(
        charge_keyed(&app, &first, "shared", 1_000).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        charge_keyed(&app, &second, "shared", 2_000).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.balance(&first).await, 1_000);
    assert_eq!(app.balance(&second).await, 2_000);
    let response = app
        .with_token(Method::POST, "/api/v1/reservations", &first.token)
        .header("Idempotency-Key", "shared")
        .json(&json!({"concertId": concert, "date": "2026-12-24", "seatNumber": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_idempotency_key_is_remembered_for_a_day_across_the_users_tokens() {
    let app = spawn_app_with_clock(|_| {});
    let fan = app.fan("Kim").await;
    let first = charge_keyed(&app, &fan, "daily", 1_000).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = first.text().await.unwrap();
    app.advance(Duration::hours(24) - Duration::seconds(1));
    let fan = app.token_for(&fan.user_id).await;
    let again = charge_keyed(&app, &fan, "daily", 1_000).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.text().await.unwrap(), first);
    assert_eq!(app.balance(&fan).await, 1_000);
}

#[tokio::test]
async fn an_idempotency_key_must_be_one_to_sixty_four_visible_ascii_characters() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    for key in ["k".repeat(65), "has space".to_string(), String::new()] {
        let response = charge_keyed(&app, &fan, &key, 1_000).await;
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    assert_eq!(app.balance(&fan).await, 0);
    let longest = "k".repeat(64);
    assert_eq!(charge_keyed(&app, &fan, &longest, 1_000).await.status(), StatusCode::OK);
    assert_eq!(charge_keyed(&app, &fan, "!~", 1_000).await.status(), StatusCode::OK);
    assert_eq!(app.balance(&fan).await, 2_000);
}

#[tokio::test]
async fn a_replayed_charge_repeats_its_first_refusal() {
    let app = spawn_app_with(|config| config.balance_max = 1_000);
    let concert = app.create_concert("Spend", &[("2026-12-24", 5, 500)]).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 600).await.status(), StatusCode::OK);
    assert_problem(
        charge_keyed(&app, &fan, "top-up", 600).await,
        409,
        "BALANCE_LIMIT_EXCEEDED",
    )
    .await;

    let reservation = app.held(&fan, &concert, "2026-12-24", 1).await;
    assert_eq!(
        app.pay(&fan, &text(&reservation["reservationId"])).await.status(),
        StatusCode::CREATED
    );
    let fan = app.token_for(&fan.user_id).await;
    assert_eq!(app.balance(&fan).await, 100);
    // The same key and body get the first answer, though the charge would fit now.
    assert_problem(
        charge_keyed(&app, &fan, "top-up", 600).await,
        409,
        "BALANCE_LIMIT_EXCEEDED",
    )
    .await;
    assert_eq!(app.balance(&fan).await, 100);
    assert_eq!(charge_keyed(&app, &fan, "top-up-2", 600).await.status(), StatusCode::OK);
    assert_eq!(app.balance(&fan).await, 700);
}

#[tokio::test]
async fn transactions_are_listed_newest_first_with_their_types() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("History", &[("2026-12-24", 5, 30_000)]).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 50_000).await.status(), StatusCode::OK);
    app.advance(Duration::minutes(1));
    assert_eq!(app.charge(&fan, 20_000).await.status(), StatusCode::OK);
    let reservation = app.held(&fan, &concert, "2026-12-24", 1).await;
    app.advance(Duration::minutes(1));
    let receipt = body(app.pay(&fan, &text(&reservation["reservationId"])).await).await;
    let fan = app.token_for(&fan.user_id).await;

    let response = transactions(&app, &fan, "?limit=50").await;
    assert_eq!(response.status(), StatusCode::OK);
    let history = body(response).await;
    let history = history.as_array().unwrap();
    let summary: Vec<Value> = history
        .iter()
        .map(|t| json!([t["type"], t["amount"], t["balanceAfter"], t["at"], t["paymentId"]]))
        .collect();
    assert_eq!(
        summary,
        vec![
            json!(["PAYMENT", 30_000, 40_000, "2026-12-24T10:02:00Z", receipt["paymentId"]]),
            json!(["CHARGE", 20_000, 70_000, "2026-12-24T10:01:00Z", null]),
            json!(["CHARGE", 50_000, 50_000, CLOCK_START, null]),
        ]
    );
    for transaction in history {
        assert!(uuid::Uuid::parse_str(transaction["transactionId"].as_str().unwrap()).is_ok());
    }
}

#[tokio::test]
async fn the_history_is_limited_to_fifty_unless_asked_otherwise() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    for amount in 1..=51 {
        assert_eq!(app.charge(&fan, amount).await.status(), StatusCode::OK);
    }
    let all = body(transactions(&app, &fan, "").await).await;
    assert_eq!(all.as_array().unwrap().len(), 50);
    assert_eq!(all[0]["amount"], 51);
    let two = body(transactions(&app, &fan, "?limit=2").await).await;
    let amounts: Vec<&Value> = two.as_array().unwrap().iter().map(|t| &t["amount"]).collect();
    assert_eq!(amounts, [&json!(51), &json!(50)]);
}

#[tokio::test]
async fn a_nonsense_history_limit_is_an_invalid_request() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    for query in ["?limit=0", "?limit=-1", "?limit=abc"] {
        assert_problem(transactions(&app, &fan, query).await, 400, "INVALID_REQUEST").await;
    }
}

#[tokio::test]
async fn the_wallet_needs_a_live_token() {
    let app = spawn_app();
    for path in ["/api/v1/wallet", "/api/v1/wallet/transactions"] {
        assert_problem(app.get(path).await, 401, "TOKEN_MISSING").await;
    }
    let response = app
        .request(Method::POST, "/api/v1/wallet/charges")
        .json(&json!({"amount": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "TOKEN_MISSING").await;
    let fan = app.fan("Gone").await;
    assert_eq!(app.leave(&fan).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.charge(&fan, 1).await, 401, "TOKEN_INVALID").await;
}
