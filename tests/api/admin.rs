//! `/admin`: the key, creating concerts and every rule they must follow, the queue gate, and
//! the money and seat totals.

use crate::helpers::*;
use chrono::Duration;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

/// Every admin route with a body it would accept.
fn admin_routes(app: &TestApp) -> Vec<RequestBuilder> {
    let concert = json!({"title": "T", "dates": [{"date": "2026-12-24", "seatCount": 1, "price": 0}]});
    vec![
        app.request(Method::POST, "/api/v1/admin/concerts").json(&concert),
        app.request(Method::GET, "/api/v1/admin/queue"),
        app.request(Method::PUT, "/api/v1/admin/queue")
            .json(&json!({"activeMax": 5})),
        app.request(Method::GET, "/api/v1/admin/stats"),
        app.request(Method::GET, "/api/v1/admin/concerts"),
    ]
}

fn date(date: &str, seat_count: Value, price: Value) -> Value {
    json!({"date": date, "seatCount": seat_count, "price": price})
}

fn one_date() -> Vec<Value> {
    vec![date("2026-12-24", json!(10), json!(1_000))]
}

/// `count` distinct dates from 2027-01-01 on.
fn many_dates(count: i64) -> Vec<Value> {
    let first = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    (0..count)
        .map(|i| date(&(first + Duration::days(i)).to_string(), json!(1), json!(0)))
        .collect()
}

async fn put_active_max(app: &TestApp, active_max: Value) -> reqwest::Response {
    app.admin(Method::PUT, "/api/v1/admin/queue")
        .json(&json!({ "activeMax": active_max }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn without_a_configured_key_the_admin_api_is_disabled() {
    let app = spawn_app_with(|config| config.admin_key = None);
    for request in admin_routes(&app) {
        let response = request.header("X-Admin-Key", ADMIN_KEY).send().await.unwrap();
        let problem = assert_problem(response, 403, "ADMIN_DISABLED").await;
        assert_eq!(problem["type"], "/problems/admin-disabled");
    }
    assert_eq!(body(app.get("/api/v1/concerts").await).await, json!([]));
}

#[tokio::test]
async fn a_missing_or_wrong_admin_key_is_refused() {
    let app = spawn_app();
    for request in admin_routes(&app) {
        assert_problem(request.send().await.unwrap(), 401, "ADMIN_KEY_INVALID").await;
    }
    for wrong in ["wrong", "test-admin-ke", "test-admin-key-", ""] {
        for request in admin_routes(&app) {
            let response = request.header("X-Admin-Key", wrong).send().await.unwrap();
            assert_problem(response, 401, "ADMIN_KEY_INVALID").await;
        }
    }
    assert_eq!(body(app.get("/api/v1/concerts").await).await, json!([]));
    assert_eq!(app.queue_stats().await["activeMax"], 100);
}

#[tokio::test]
async fn a_created_concert_answers_its_id_title_and_dates() {
    let app = spawn_app();
    let response = app
        .post_concert(&json!({
            "title": "Winter Lights",
            "dates": [date("2026-12-25", json!(3), json!(99_000)), date("2026-12-24", json!(50), json!(0))],
        }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = body(response).await;
    let concert_id = text(&created["concertId"]);
    assert!(uuid::Uuid::parse_str(&concert_id).is_ok());
    assert_eq!(created["title"], "Winter Lights");
    let mut dates = created["dates"].as_array().unwrap().clone();
    dates.sort_by_key(|d| d["date"].as_str().unwrap().to_string());
    assert_eq!(
        dates,
        vec![
            json!({"date": "2026-12-24", "totalSeats": 50, "availableSeats": 50}),
            json!({"date": "2026-12-25", "totalSeats": 3, "availableSeats": 3}),
        ]
    );
    let fan = app.fan("Kim").await;
    let map = body(app.seat_map(&fan, &concert_id, "2026-12-25").await).await;
    assert_eq!(
        map["seats"][2],
        json!({"seatNumber": 3, "status": "AVAILABLE", "price": 99_000})
    );
    assert_eq!(app.stats().await["seatsTotal"], 53);
}

#[tokio::test]
async fn a_title_must_be_one_to_two_hundred_characters() {
    let app = spawn_app();
    for title in [json!(""), json!("   "), json!("a".repeat(201)), json!(7), json!(null)] {
        let response = app.post_concert(&json!({"title": title, "dates": one_date()})).await;
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let response = app.post_concert(&json!({"dates": one_date()})).await;
    assert_problem(response, 400, "INVALID_REQUEST").await;
    let longest = "가".repeat(200);
    let response = app.post_concert(&json!({"title": longest, "dates": one_date()})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        body(app.get("/api/v1/concerts").await).await.as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_concert_has_one_to_three_hundred_sixty_six_dates() {
    // 366 dates are about 17 KB of JSON: past the fans' default 16 KiB body limit, but creating a
    // concert may take more.
    let app = spawn_app();
    for dates in [json!([]), json!(many_dates(367)), json!("2026-12-24"), json!(null)] {
        let response = app.post_concert(&json!({"title": "Dates", "dates": dates})).await;
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let response = app
        .post_concert(&json!({"title": "Dates", "dates": many_dates(366)}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body(response).await["dates"].as_array().unwrap().len(), 366);
    assert_eq!(app.stats().await["seatsTotal"], 366);
}

#[tokio::test]
async fn a_fan_endpoint_keeps_the_body_limit_that_a_concert_may_exceed() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let padding = "x".repeat(20 * 1024);
    let response = app
        .with_token(Method::POST, "/api/v1/wallet/charges", &fan.token)
        .json(&json!({"amount": 1, "padding": padding}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn a_seat_count_must_be_one_to_seats_per_date_max() {
    let app = spawn_app_with(|config| config.seats_per_date_max = 100);
    for seat_count in [json!(0), json!(101), json!(-1), json!(1.5), json!("10")] {
        let dates = [date("2026-12-24", seat_count, json!(1_000))];
        let response = app.post_concert(&json!({"title": "Seats", "dates": dates})).await;
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let dates = [
        date("2026-12-24", json!(100), json!(1_000)),
        date("2026-12-25", json!(1), json!(1_000)),
    ];
    let response = app.post_concert(&json!({"title": "Seats", "dates": dates})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(app.stats().await["seatsTotal"], 101);
}

#[tokio::test]
async fn a_price_must_be_zero_to_charge_max() {
    let app = spawn_app_with(|config| config.charge_max = 50_000);
    for price in [json!(-1), json!(50_001), json!(0.5), json!("1000")] {
        let dates = [date("2026-12-24", json!(10), price)];
        let response = app.post_concert(&json!({"title": "Price", "dates": dates})).await;
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let dates = [
        date("2026-12-24", json!(10), json!(0)),
        date("2026-12-25", json!(10), json!(50_000)),
    ];
    let response = app.post_concert(&json!({"title": "Price", "dates": dates})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn dates_must_be_unique_and_well_formed() {
    let app = spawn_app();
    let duplicated = [
        date("2026-12-24", json!(10), json!(0)),
        date("2026-12-24", json!(5), json!(0)),
    ];
    let response = app.post_concert(&json!({"title": "Twice", "dates": duplicated})).await;
    assert_problem(response, 400, "INVALID_REQUEST").await;
    for bad in [
        "2026-02-30",
        "24-12-2026",
        "2026-12-24T19:00:00Z",
        "",
        "+202-01-01",
        "2026-12-2x",
    ] {
        let dates = [date(bad, json!(10), json!(0))];
        let response = app.post_concert(&json!({"title": "Bad", "dates": dates})).await;
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    assert_eq!(body(app.get("/api/v1/concerts").await).await, json!([]));
    assert_eq!(app.stats().await["seatsTotal"], 0);
}

#[tokio::test]
async fn the_queue_gate_reports_waiting_active_and_totals() {
    let app = spawn_app_with_clock(|config| config.active_max = 2);
    assert_eq!(
        app.queue_stats().await,
        json!({"waiting": 0, "active": 0, "activeMax": 2, "admittedTotal": 0, "expiredTotal": 0})
    );
    let first = app.fan("A").await;
    app.fan("B").await;
    app.fan("C").await;
    assert_eq!(
        app.queue_stats().await,
        json!({"waiting": 1, "active": 2, "activeMax": 2, "admittedTotal": 2, "expiredTotal": 0})
    );
    assert_eq!(app.leave(&first).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.queue_stats().await,
        json!({"waiting": 0, "active": 2, "activeMax": 2, "admittedTotal": 3, "expiredTotal": 0})
    );
    app.advance(Duration::minutes(10));
    assert_eq!(
        app.queue_stats().await,
        json!({"waiting": 0, "active": 0, "activeMax": 2, "admittedTotal": 3, "expiredTotal": 2})
    );
}

#[tokio::test]
async fn growing_active_max_admits_waiting_fans_at_once() {
    let app = spawn_app_with(|config| config.active_max = 1);
    app.fan("A").await;
    let second = app.fan("B").await;
    let third = app.fan("C").await;
    let fourth = app.fan("D").await;
    let response = put_active_max(&app, json!(3)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body(response).await,
        json!({"waiting": 1, "active": 3, "activeMax": 3, "admittedTotal": 3, "expiredTotal": 0})
    );
    assert_eq!(app.queue_of(&second).await["status"], "ACTIVE");
    assert_eq!(app.queue_of(&third).await["status"], "ACTIVE");
    assert_eq!(app.queue_of(&fourth).await["position"], 1);
    assert_eq!(app.queue_stats().await["activeMax"], 3);
}

#[tokio::test]
async fn shrinking_active_max_makes_new_fans_wait() {
    let app = spawn_app();
    let first = app.fan("A").await;
    app.fan("B").await;
    let response = put_active_max(&app, json!(1)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let late = app.fan("Late").await;
    assert_eq!(late.queue["status"], "WAITING");
    assert_eq!(app.queue_of(&first).await["status"], "ACTIVE");
}

#[tokio::test]
async fn active_max_must_be_one_to_a_million() {
    let app = spawn_app();
    for active_max in [json!(0), json!(1_000_001), json!(-1), json!("5"), json!(null)] {
        assert_problem(put_active_max(&app, active_max).await, 400, "INVALID_REQUEST").await;
    }
    assert_eq!(app.queue_stats().await["activeMax"], 100);
    assert_eq!(put_active_max(&app, json!(1_000_000)).await.status(), StatusCode::OK);
    assert_eq!(app.queue_stats().await["activeMax"], 1_000_000);
}

#[tokio::test]
async fn the_totals_balance_after_a_journey() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app
        .create_concert("Journey", &[("2026-12-24", 10, 30_000), ("2026-12-25", 5, 30_000)])
        .await;
    let buyer = app.fan("Buyer").await;
    let short = app.fan("Short").await;
    let idle = app.fan("Idle").await;
    assert_eq!(app.charge(&buyer, 100_000).await.status(), StatusCode::OK);
    assert_eq!(app.charge(&short, 20_000).await.status(), StatusCode::OK);
    assert_eq!(app.charge(&idle, 5_000).await.status(), StatusCode::OK);
    assert_eq!(app.charge(&idle, 0).await.status(), StatusCode::BAD_REQUEST);
    let bought = app.held(&buyer, &concert, "2026-12-24", 1).await;
    app.held(&buyer, &concert, "2026-12-25", 1).await;
    let wanted = app.held(&short, &concert, "2026-12-24", 2).await;
    assert_eq!(
        app.pay(&buyer, &text(&bought["reservationId"])).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.pay(&short, &text(&wanted["reservationId"])).await.status(),
        StatusCode::CONFLICT
    );

    let stats = app.stats().await;
    assert_eq!(
        stats,
        json!({
            "users": 3, "seatsTotal": 15, "seatsHeld": 2, "seatsSold": 1, "ordersTotal": 1,
            "chargedTotal": 125_000, "balancesTotal": 95_000, "revenueTotal": 30_000,
        })
    );
    assert_eq!(
        stats["chargedTotal"].as_i64().unwrap(),
        stats["balancesTotal"].as_i64().unwrap() + stats["revenueTotal"].as_i64().unwrap()
    );

    app.advance(Duration::minutes(5));
    let stats = app.stats().await;
    assert_eq!(
        (stats["seatsHeld"].as_u64(), stats["seatsSold"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(stats["chargedTotal"], 125_000);
}

#[tokio::test]
async fn the_operator_sees_each_dates_seats_held_and_sold_and_its_revenue() {
    let app = spawn_app_with_clock(|_| {});
    let first = app
        .create_concert("First", &[("2026-12-25", 10, 3_000), ("2026-12-24", 5, 1_000)])
        .await;
    let second = app.create_concert("Second", &[("2027-01-01", 3, 500)]).await;
    let buyer = app.fan("Kim").await;
    let holder = app.fan("Lee").await;
    let sold = app.held(&buyer, &first, "2026-12-25", 1).await;
    app.charge(&buyer, 3_000).await;
    assert_eq!(
        app.pay(&buyer, &text(&sold["reservationId"])).await.status(),
        StatusCode::CREATED
    );
    app.held(&holder, &first, "2026-12-25", 2).await;
    app.held(&holder, &first, "2026-12-24", 5).await;

    let figures = body(app.admin(Method::GET, "/api/v1/admin/concerts").send().await.unwrap()).await;
    let date = |total, held, sold, revenue| json!({"totalSeats": total, "seatsHeld": held, "seatsSold": sold, "revenue": revenue});
    let expected = json!([
        {"concertId": first, "title": "First", "dates": [
            merge(json!({"date": "2026-12-24"}), date(5, 1, 0, 0)),
            merge(json!({"date": "2026-12-25"}), date(10, 1, 1, 3_000)),
        ]},
        {"concertId": second, "title": "Second", "dates": [merge(json!({"date": "2027-01-01"}), date(3, 0, 0, 0))]},
    ]);
    assert_eq!(figures, expected);
    assert_eq!(
        app.stats().await["revenueTotal"],
        3_000,
        "the dates' revenue adds up to the wallet's"
    );

    // A lapsed hold counts as held no more.
    app.advance(Duration::minutes(5));
    let figures = body(app.admin(Method::GET, "/api/v1/admin/concerts").send().await.unwrap()).await;
    assert_eq!(figures[0]["dates"][0]["seatsHeld"], 0);
    assert_eq!(figures[0]["dates"][1]["seatsHeld"], 0);
    assert_eq!(figures[0]["dates"][1]["seatsSold"], 1);
}

fn merge(mut into: Value, from: Value) -> Value {
    into.as_object_mut().unwrap().extend(from.as_object().unwrap().clone());
    into
}
