//! An order of several seats over HTTP: `POST /payments` with `reservationIds` pays up to
//! `hold_max` holds on any dates in one debit, all or nothing, a ticket each.

use crate::helpers::*;
use chrono::Duration;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const FIRST: &str = "2026-12-24";
const SECOND: &str = "2026-12-25";

async fn order(app: &TestApp, fan: &Fan, ids: &[String], key: Option<&str>) -> Response {
    let mut request = app.with_token(Method::POST, "/api/v1/payments", &fan.token);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.json(&json!({ "reservationIds": ids })).send().await.unwrap()
}

/// A concert of two dates, 10 seats each, at 10,000 and 20,000 won.
async fn two_dates(app: &TestApp) -> String {
    app.create_concert("Orders", &[(FIRST, 10, 10_000), (SECOND, 10, 20_000)])
        .await
}

async fn hold(app: &TestApp, fan: &Fan, concert: &str, date: &str, seat: i64) -> String {
    text(&app.held(fan, concert, date, seat).await["reservationId"])
}

async fn status_of(app: &TestApp, fan: &Fan, reservation: &str) -> Value {
    body(app.reservation(fan, reservation).await).await["status"].clone()
}

#[tokio::test]
async fn an_order_of_four_seats_on_two_dates_is_one_debit_and_a_ticket_each() {
    let app = spawn_app_with_clock(|_| {});
    let concert = two_dates(&app).await;
    let fan = app.fan("Kim").await;
    let ids = vec![
        hold(&app, &fan, &concert, FIRST, 1).await,
        hold(&app, &fan, &concert, FIRST, 2).await,
        hold(&app, &fan, &concert, SECOND, 1).await,
        hold(&app, &fan, &concert, SECOND, 2).await,
    ];
    assert_eq!(app.charge(&fan, 70_000).await.status(), StatusCode::OK);

    let paid = order(&app, &fan, &ids, None).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    let receipt = body(paid).await;
    assert_eq!(receipt["amount"], 60_000);
    assert_eq!(receipt["balance"], 10_000);
    assert_eq!(receipt["reservationIds"], json!(ids));
    let tickets = receipt["tickets"].as_array().unwrap();
    let seats: Vec<(String, u64, u64)> = (tickets.iter())
        .map(|ticket| {
            (
                text(&ticket["date"]),
                ticket["seatNumber"].as_u64().unwrap(),
                ticket["price"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seats,
        vec![
            (FIRST.into(), 1, 10_000),
            (FIRST.into(), 2, 10_000),
            (SECOND.into(), 1, 20_000),
            (SECOND.into(), 2, 20_000)
        ]
    );
    assert_problem(app.queue_status(&fan).await, 401, "TOKEN_INVALID").await;

    let buyer = app.token_for(&fan.user_id).await;
    for ticket in tickets {
        let read = body(
            app.get(&format!("/api/v1/tickets/{}", text(&ticket["ticketCode"])))
                .await,
        )
        .await;
        assert_eq!(
            (read["seatNumber"].clone(), read["status"].clone()),
            (ticket["seatNumber"].clone(), json!("VALID"))
        );
    }
    for (date, seat) in [(FIRST, 1), (FIRST, 2), (SECOND, 1), (SECOND, 2)] {
        assert_eq!(app.seat_status(&buyer, &concert, date, seat).await, "SOLD");
    }
    let history = body(app.get_as(&buyer, "/api/v1/wallet/transactions").await).await;
    let debits: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "PAYMENT")
        .collect();
    assert_eq!(debits.len(), 1, "one debit: {history}");
    assert_eq!(debits[0]["amount"], 60_000);
    let payments = body(app.get_as(&buyer, "/api/v1/payments").await).await;
    assert_eq!(payments.as_array().unwrap().len(), 4, "a payment (a ticket) per seat");
    let stats = app.stats().await;
    assert_eq!(
        (
            stats["seatsSold"].clone(),
            stats["ordersTotal"].clone(),
            stats["revenueTotal"].clone()
        ),
        (json!(4), json!(1), json!(60_000)),
        "four seats in one order"
    );
}

#[tokio::test]
async fn orders_of_one_to_four_each_pay_their_sum() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("Sizes", &[(FIRST, 20, 1_000)]).await;
    let mut seat = 0;
    for size in 1..=4 {
        let fan = app.fan(&format!("fan {size}")).await;
        let mut ids = Vec::new();
        for _ in 0..size {
            seat += 1;
            ids.push(hold(&app, &fan, &concert, FIRST, seat).await);
        }
        app.charge(&fan, 5_000).await;
        let receipt = body(order(&app, &fan, &ids, None).await).await;
        assert_eq!(receipt["amount"], 1_000 * size, "{receipt}");
        assert_eq!(receipt["tickets"].as_array().map(Vec::len), Some(size as usize));
    }
    assert_eq!(app.stats().await["seatsSold"], 10);
}

#[tokio::test]
async fn an_order_with_a_lapsed_member_pays_nothing_and_the_others_stay_held() {
    let app = spawn_app_with_clock(|_| {});
    let concert = two_dates(&app).await;
    let fan = app.fan("Kim").await;
    let early = hold(&app, &fan, &concert, FIRST, 1).await;
    app.advance(Duration::minutes(3));
    let late = hold(&app, &fan, &concert, SECOND, 1).await;
    app.charge(&fan, 30_000).await;
    app.advance(Duration::minutes(2) + Duration::seconds(30));

    let refused = order(&app, &fan, &[late.clone(), early.clone()], None).await;
    assert_problem(refused, 409, "RESERVATION_EXPIRED").await;
    assert_eq!(app.balance(&fan).await, 30_000);
    assert_eq!(
        status_of(&app, &fan, &late).await,
        "HELD",
        "the live member is as it was"
    );
    assert_eq!(app.queue_of(&fan).await["status"], "ACTIVE", "and the token lives");
    let paid = order(&app, &fan, std::slice::from_ref(&late), None).await;
    assert_eq!(paid.status(), StatusCode::CREATED, "the live hold can still be paid");
}

#[tokio::test]
async fn an_order_naming_anothers_hold_or_a_short_balance_changes_nothing() {
    let app = spawn_app_with_clock(|_| {});
    let concert = two_dates(&app).await;
    let fan = app.fan("Kim").await;
    let other = app.fan("Lee").await;
    let mine = hold(&app, &fan, &concert, FIRST, 1).await;
    let theirs = hold(&app, &other, &concert, FIRST, 2).await;
    app.charge(&fan, 100_000).await;
    assert_problem(
        order(&app, &fan, &[mine.clone(), theirs.clone()], None).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    assert_eq!(status_of(&app, &other, &theirs).await, "HELD");

    let second = hold(&app, &fan, &concert, SECOND, 1).await;
    let poor = app.fan("Park").await;
    let poor_first = hold(&app, &poor, &concert, FIRST, 3).await;
    let poor_second = hold(&app, &poor, &concert, SECOND, 3).await;
    app.charge(&poor, 29_999).await;
    let short = assert_problem(
        order(&app, &poor, &[poor_first.clone(), poor_second.clone()], None).await,
        409,
        "INSUFFICIENT_BALANCE",
    )
    .await;
    assert!(text(&short["detail"]).ends_with("1 won short."), "{short}");
    assert_eq!(app.balance(&poor).await, 29_999);
    for id in [&poor_first, &poor_second] {
        assert_eq!(status_of(&app, &poor, id).await, "HELD", "every hold stays as it was");
    }
    app.charge(&poor, 1).await;
    assert_eq!(
        order(&app, &poor, &[poor_first, poor_second], None).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        order(&app, &fan, &[mine, second], None).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn an_empty_duplicated_or_too_long_order_is_an_invalid_request() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("Bounds", &[(FIRST, 10, 1_000)]).await;
    let fan = app.fan("Kim").await;
    let mut ids = Vec::new();
    for seat in 1..=4 {
        ids.push(hold(&app, &fan, &concert, FIRST, seat).await);
    }
    app.charge(&fan, 10_000).await;
    let five: Vec<String> = ids.iter().cloned().chain([uuid::Uuid::new_v4().to_string()]).collect();
    let twice = vec![ids[0].clone(), ids[0].clone()];
    for wrong in [vec![], twice, five, vec!["not-a-uuid".to_string()]] {
        assert_problem(order(&app, &fan, &wrong, None).await, 400, "INVALID_REQUEST").await;
    }
    let both = json!({"reservationId": ids[0], "reservationIds": [ids[1]]});
    let response = app
        .with_token(Method::POST, "/api/v1/payments", &fan.token)
        .json(&both)
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "INVALID_REQUEST").await;
    assert_eq!(app.balance(&fan).await, 10_000, "nothing was paid");
    for id in &ids {
        assert_eq!(status_of(&app, &fan, id).await, "HELD");
    }
}

#[tokio::test]
async fn a_retried_order_gets_its_first_answer_and_its_key_pays_nothing_else() {
    let app = spawn_app_with_clock(|_| {});
    let concert = two_dates(&app).await;
    let fan = app.fan("Kim").await;
    let ids = vec![
        hold(&app, &fan, &concert, FIRST, 1).await,
        hold(&app, &fan, &concert, SECOND, 1).await,
    ];
    app.charge(&fan, 50_000).await;
    let first = order(&app, &fan, &ids, Some("order-1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = body(first).await;
    let again = order(&app, &fan, &ids, Some("order-1")).await;
    assert_eq!(again.status(), StatusCode::CREATED, "the token ended, the key answers");
    assert_eq!(body(again).await, first);
    let other = order(&app, &fan, &ids[..1], Some("order-1")).await;
    assert_problem(other, 422, "IDEMPOTENCY_KEY_REUSED").await;
    let buyer = app.token_for(&fan.user_id).await;
    assert_eq!(app.balance(&buyer).await, 20_000, "paid once");
}

#[tokio::test]
async fn two_orders_racing_for_a_seat_pay_it_once() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("Race", &[(FIRST, 10, 1_000)]).await;
    let fan = app.fan("Kim").await;
    let (a, b, c) = (
        hold(&app, &fan, &concert, FIRST, 1).await,
        hold(&app, &fan, &concert, FIRST, 2).await,
        hold(&app, &fan, &concert, FIRST, 3).await,
    );
    app.charge(&fan, 10_000).await;
    let left = [a.clone(), b.clone()];
    let right = [b.clone(), c.clone()];
    let (first, second) = tokio::join!(order(&app, &fan, &left, None), order(&app, &fan, &right, None));
    let statuses = [first.status(), second.status()];
    assert_eq!(
        statuses.iter().filter(|status| **status == StatusCode::CREATED).count(),
        1,
        "exactly one order wins: {statuses:?}"
    );
    let buyer = app.token_for(&fan.user_id).await;
    assert_eq!(app.balance(&buyer).await, 8_000, "one order of two seats was paid");
    assert_eq!(app.stats().await["seatsSold"], 2);
    assert_eq!(app.seat_status(&buyer, &concert, FIRST, 2).await, "SOLD");
}

#[tokio::test]
async fn an_order_racing_its_holds_lapse_is_paid_whole_or_not_at_all() {
    for round in 0..8 {
        let app = spawn_app_with_clock(|_| {});
        let concert = two_dates(&app).await;
        let fan = app.fan(&format!("racer {round}")).await;
        let ids = vec![
            hold(&app, &fan, &concert, FIRST, 1).await,
            hold(&app, &fan, &concert, SECOND, 1).await,
        ];
        app.charge(&fan, 30_000).await;
        app.advance(Duration::minutes(5) - Duration::milliseconds(1));
        let (paid, _) = tokio::join!(order(&app, &fan, &ids, None), async {
            tokio::time::sleep(std::time::Duration::from_micros(200 * round)).await;
            app.advance(Duration::milliseconds(2));
        });
        let status = paid.status();
        let buyer = match status {
            StatusCode::CREATED => app.token_for(&fan.user_id).await,
            _ => fan,
        };
        let sold = [
            app.seat_status(&buyer, &concert, FIRST, 1).await,
            app.seat_status(&buyer, &concert, SECOND, 1).await,
        ];
        match status {
            StatusCode::CREATED => {
                assert_eq!(sold, ["SOLD", "SOLD"], "round {round}");
                assert_eq!(app.balance(&buyer).await, 0, "round {round}");
            }
            _ => {
                assert_eq!(
                    sold,
                    ["AVAILABLE", "AVAILABLE"],
                    "round {round}: both lapsed, none sold"
                );
                assert_eq!(app.balance(&buyer).await, 30_000, "round {round}: nothing debited");
            }
        }
        assert_eq!(
            app.stats().await["seatsSold"],
            if status == StatusCode::CREATED { 2 } else { 0 }
        );
    }
}
