//! `/reservations`: holding a seat, reading a hold back, giving it up, and holds that lapse.

use crate::helpers::*;
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DATE: &str = "2026-12-24";

async fn concert_of_fifty(app: &TestApp) -> String {
    app.create_concert("Fifty", &[(DATE, 50, 30_000), ("2026-12-25", 50, 30_000)])
        .await
}

async fn post_hold(app: &TestApp, fan: &Fan, request: &Value) -> reqwest::Response {
    app.with_token(Method::POST, "/api/v1/reservations", &fan.token)
        .json(request)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn holding_a_free_seat_answers_a_held_reservation_until_now_plus_the_hold_ttl() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Kim").await;
    let response = app.hold(&fan, &concert, DATE, 7).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let reservation = body(response).await;
    let reservation_id = text(&reservation["reservationId"]);
    assert!(uuid::Uuid::parse_str(&reservation_id).is_ok());
    assert_eq!(
        reservation,
        json!({
            "reservationId": reservation_id,
            "userId": fan.user_id,
            "concertId": concert,
            "date": DATE,
            "seatNumber": 7,
            "price": 30_000,
            "status": "HELD",
            "heldUntil": "2026-12-24T10:05:00Z",
            "createdAt": CLOCK_START,
        })
    );
    let response = app.reservation(&fan, &reservation_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, reservation);
    assert_eq!(app.seat_status(&fan, &concert, DATE, 7).await, "HELD");
    assert_eq!(app.stats().await["seatsHeld"], 1);
}

#[tokio::test]
async fn a_held_or_sold_seat_is_unavailable_to_everyone() {
    let app = spawn_app();
    let concert = concert_of_fifty(&app).await;
    let holder = app.fan("Holder").await;
    let rival = app.fan("Rival").await;
    let held = app.held(&holder, &concert, DATE, 7).await;
    assert_problem(app.hold(&rival, &concert, DATE, 7).await, 409, "SEAT_UNAVAILABLE").await;
    assert_problem(app.hold(&holder, &concert, DATE, 7).await, 409, "SEAT_UNAVAILABLE").await;

    assert_eq!(app.charge(&holder, 30_000).await.status(), StatusCode::OK);
    let paid = app.pay(&holder, &text(&held["reservationId"])).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    let problem = assert_problem(app.hold(&rival, &concert, DATE, 7).await, 409, "SEAT_UNAVAILABLE").await;
    assert_eq!(problem["type"], "/problems/seat-unavailable");
    // The same seat number on another date is another seat.
    app.held(&rival, &concert, "2026-12-25", 7).await;
}

#[tokio::test]
async fn a_seat_number_the_date_lacks_is_seat_not_found() {
    let app = spawn_app();
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Kim").await;
    for seat in [0, -3, 51, i64::MAX] {
        let response = app.hold(&fan, &concert, DATE, seat).await;
        assert_problem(response, 404, "SEAT_NOT_FOUND").await;
    }
    // Integers past 64 bits are integers too, and no date has such a seat.
    for huge in ["100000000000000000000000", "-100000000000000000000000"] {
        let request = format!(r#"{{"concertId": "{concert}", "date": "{DATE}", "seatNumber": {huge}}}"#);
        let response = app
            .with_token(Method::POST, "/api/v1/reservations", &fan.token)
            .header("content-type", "application/json")
            .body(request)
            .send()
            .await
            .unwrap();
        assert_problem(response, 404, "SEAT_NOT_FOUND").await;
    }
    app.held(&fan, &concert, DATE, 50).await;
    assert_eq!(app.stats().await["seatsHeld"], 1);
}

#[tokio::test]
async fn a_seat_number_that_is_not_an_integer_is_an_invalid_request() {
    let app = spawn_app();
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Kim").await;
    for seat in [json!(1.5), json!(7.0), json!(1e3), json!("3"), json!(null), json!([1])] {
        let request = json!({"concertId": concert, "date": DATE, "seatNumber": seat});
        assert_problem(post_hold(&app, &fan, &request).await, 400, "INVALID_REQUEST").await;
    }
}

#[tokio::test]
async fn holding_on_an_unknown_concert_or_date_is_not_found() {
    let app = spawn_app();
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Kim").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_problem(app.hold(&fan, &unknown, DATE, 1).await, 404, "CONCERT_NOT_FOUND").await;
    assert_problem(app.hold(&fan, &concert, "2026-12-31", 1).await, 404, "DATE_NOT_FOUND").await;
}

#[tokio::test]
async fn a_malformed_hold_request_is_an_invalid_request() {
    let app = spawn_app();
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Kim").await;
    let requests = [
        json!({"concertId": "not-a-uuid", "date": DATE, "seatNumber": 1}),
        json!({"concertId": concert, "date": "24/12/2026", "seatNumber": 1}),
        json!({"concertId": concert, "date": "2026-02-30", "seatNumber": 1}),
        json!({"concertId": concert, "seatNumber": 1}),
        json!({"date": DATE, "seatNumber": 1}),
    ];
    for request in requests {
        assert_problem(post_hold(&app, &fan, &request).await, 400, "INVALID_REQUEST").await;
    }
    assert_eq!(app.stats().await["seatsHeld"], 0);
}

#[tokio::test]
async fn a_fan_may_hold_at_most_hold_max_seats_at_once() {
    let app = spawn_app_with(|config| config.hold_max = 2);
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Greedy").await;
    let first = app.held(&fan, &concert, DATE, 1).await;
    app.held(&fan, &concert, DATE, 2).await;
    let problem = assert_problem(
        app.hold(&fan, &concert, "2026-12-25", 3).await,
        409,
        "HOLD_LIMIT_REACHED",
    )
    .await;
    assert_eq!(problem["type"], "/problems/hold-limit-reached");
    assert_eq!(app.stats().await["seatsHeld"], 2);

    let cancelled = app.cancel(&fan, &text(&first["reservationId"])).await;
    assert_eq!(cancelled.status(), StatusCode::NO_CONTENT);
    app.held(&fan, &concert, "2026-12-25", 3).await;
    // Another fan is not limited by this one's holds.
    let other = app.fan("Other").await;
    app.held(&other, &concert, DATE, 4).await;
}

#[tokio::test]
async fn a_hold_refused_off_the_published_map_is_refused_as_the_date_would_and_not_after_a_lapse() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_of_fifty(&app).await;
    let (holder, rival) = (app.fan("Holder").await, app.fan("Rival").await);
    app.held(&holder, &concert, DATE, 7).await;
    // Before any read of the map the date's actor refuses; after one, the published map does.
    let by_the_actor = assert_problem(app.hold(&rival, &concert, DATE, 7).await, 409, "SEAT_UNAVAILABLE").await;
    assert_eq!(app.seat_status(&rival, &concert, DATE, 7).await, "HELD");
    let off_the_map = assert_problem(app.hold(&rival, &concert, DATE, 7).await, 409, "SEAT_UNAVAILABLE").await;
    assert_eq!(by_the_actor, off_the_map);
    // The hold lapses with nothing read since: the map it was refused off is no longer true.
    app.advance(Duration::minutes(5));
    let again = app.held(&rival, &concert, DATE, 7).await;
    assert_eq!(again["status"], "HELD");
}

#[tokio::test]
async fn a_lapsed_hold_frees_the_seat_at_once() {
    let app = spawn_app_with_clock(|_| {});
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Late").await;
    assert_eq!(app.charge(&fan, 100_000).await.status(), StatusCode::OK);
    let reservation = app.held(&fan, &concert, DATE, 7).await;
    let reservation_id = text(&reservation["reservationId"]);

    app.advance(Duration::minutes(5) - Duration::seconds(1));
    assert_eq!(app.seat_status(&fan, &concert, DATE, 7).await, "HELD");
    app.advance(Duration::seconds(1));
    assert_eq!(app.seat_status(&fan, &concert, DATE, 7).await, "AVAILABLE");
    let response = app.reservation(&fan, &reservation_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["status"], "EXPIRED");

    assert_problem(app.pay(&fan, &reservation_id).await, 409, "RESERVATION_EXPIRED").await;
    assert_problem(app.cancel(&fan, &reservation_id).await, 409, "RESERVATION_EXPIRED").await;
    assert_eq!(app.balance(&fan).await, 100_000);
    let stats = app.stats().await;
    assert_eq!(
        (stats["seatsHeld"].as_u64(), stats["seatsSold"].as_u64()),
        (Some(0), Some(0))
    );

    let rival = app.fan("Rival").await;
    let again = app.held(&rival, &concert, DATE, 7).await;
    assert_eq!(time(&again["heldUntil"]), instant("2026-12-24T10:10:00Z"));
}

#[tokio::test]
async fn a_lapsed_hold_shows_at_once_in_the_list_of_dates() {
    let app = spawn_app_with_clock(|_| {});
    let concert = app.create_concert("One seat", &[(DATE, 1, 1_000)]).await;
    let fan = app.fan("Kim").await;
    app.held(&fan, &concert, DATE, 1).await;
    let dates = body(app.get(&format!("/api/v1/concerts/{concert}/dates")).await).await;
    assert_eq!(dates, json!([]));
    app.advance(Duration::minutes(5));
    let dates = body(app.get(&format!("/api/v1/concerts/{concert}/dates")).await).await;
    assert_eq!(dates, json!([{"date": DATE, "totalSeats": 1, "availableSeats": 1}]));
}

#[tokio::test]
async fn a_lapsed_hold_no_longer_counts_towards_hold_max() {
    let app = spawn_app_with_clock(|config| config.hold_max = 1);
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Kim").await;
    app.held(&fan, &concert, DATE, 1).await;
    assert_problem(app.hold(&fan, &concert, DATE, 2).await, 409, "HOLD_LIMIT_REACHED").await;
    app.advance(Duration::minutes(5));
    app.held(&fan, &concert, DATE, 2).await;
}

#[tokio::test]
async fn cancelling_a_hold_frees_the_seat_at_once_and_only_once() {
    let app = spawn_app();
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 30_000).await.status(), StatusCode::OK);
    let reservation_id = text(&app.held(&fan, &concert, DATE, 7).await["reservationId"]);
    let response = app.cancel(&fan, &reservation_id).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.seat_status(&fan, &concert, DATE, 7).await, "AVAILABLE");
    assert_eq!(
        body(app.reservation(&fan, &reservation_id).await).await["status"],
        "CANCELLED"
    );

    assert_problem(app.cancel(&fan, &reservation_id).await, 409, "RESERVATION_NOT_HELD").await;
    assert_problem(app.pay(&fan, &reservation_id).await, 409, "RESERVATION_NOT_HELD").await;
    assert_eq!(app.balance(&fan).await, 30_000);
}

#[tokio::test]
async fn a_paid_reservation_is_confirmed_and_can_be_neither_cancelled_nor_paid_again() {
    let app = spawn_app();
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 60_000).await.status(), StatusCode::OK);
    let reservation_id = text(&app.held(&fan, &concert, DATE, 7).await["reservationId"]);
    assert_eq!(app.pay(&fan, &reservation_id).await.status(), StatusCode::CREATED);

    let fan = app.token_for(&fan.user_id).await;
    assert_eq!(
        body(app.reservation(&fan, &reservation_id).await).await["status"],
        "CONFIRMED"
    );
    assert_problem(app.cancel(&fan, &reservation_id).await, 409, "RESERVATION_NOT_HELD").await;
    assert_problem(app.pay(&fan, &reservation_id).await, 409, "RESERVATION_NOT_HELD").await;
    assert_eq!(app.balance(&fan).await, 30_000);
    assert_eq!(app.seat_status(&fan, &concert, DATE, 7).await, "SOLD");
}

#[tokio::test]
async fn another_users_reservation_is_not_found() {
    let app = spawn_app();
    let concert = concert_of_fifty(&app).await;
    let owner = app.fan("Owner").await;
    let stranger = app.fan("Stranger").await;
    assert_eq!(app.charge(&stranger, 30_000).await.status(), StatusCode::OK);
    let reservation_id = text(&app.held(&owner, &concert, DATE, 7).await["reservationId"]);

    assert_problem(
        app.reservation(&stranger, &reservation_id).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.cancel(&stranger, &reservation_id).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    assert_problem(app.pay(&stranger, &reservation_id).await, 404, "RESERVATION_NOT_FOUND").await;

    assert_eq!(
        body(app.reservation(&owner, &reservation_id).await).await["status"],
        "HELD"
    );
    assert_eq!(app.balance(&stranger).await, 30_000);
}

#[tokio::test]
async fn an_unknown_reservation_is_not_found_and_a_malformed_id_is_invalid() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_problem(app.reservation(&fan, &unknown).await, 404, "RESERVATION_NOT_FOUND").await;
    assert_problem(app.cancel(&fan, &unknown).await, 404, "RESERVATION_NOT_FOUND").await;
    assert_problem(app.reservation(&fan, "not-a-uuid").await, 400, "INVALID_REQUEST").await;
    assert_problem(app.cancel(&fan, "not-a-uuid").await, 400, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn leaving_gives_the_holds_back_and_a_waiting_token_may_read_them_but_not_hold() {
    let app = spawn_app_with(|config| config.active_max = 1);
    let concert = concert_of_fifty(&app).await;
    let early = app.fan("Early").await;
    let reservation_id = text(&app.held(&early, &concert, DATE, 7).await["reservationId"]);
    assert_eq!(app.leave(&early).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.stats().await["seatsHeld"],
        0,
        "a hold lives no longer than its token"
    );
    app.fan("Now active").await;
    let early = app.token_for(&early.user_id).await;
    assert_eq!(early.queue["status"], "WAITING");

    let response = app.reservation(&early, &reservation_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["status"], "CANCELLED");
    let problem = assert_problem(app.hold(&early, &concert, DATE, 8).await, 403, "TOKEN_NOT_ACTIVE").await;
    assert_eq!(problem["queue"]["position"], 1);
    assert_problem(app.cancel(&early, &reservation_id).await, 409, "RESERVATION_NOT_HELD").await;
}

#[tokio::test]
async fn reservations_need_a_live_token() {
    let app = spawn_app();
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Kim").await;
    let reservation_id = text(&app.held(&fan, &concert, DATE, 7).await["reservationId"]);
    let response = app
        .request(Method::POST, "/api/v1/reservations")
        .json(&json!({"concertId": concert, "date": DATE, "seatNumber": 8}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "TOKEN_MISSING").await;
    let response = app.get(&format!("/api/v1/reservations/{reservation_id}")).await;
    assert_problem(response, 401, "TOKEN_MISSING").await;
    assert_eq!(app.leave(&fan).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.reservation(&fan, &reservation_id).await, 401, "TOKEN_INVALID").await;
    assert_problem(app.cancel(&fan, &reservation_id).await, 401, "TOKEN_INVALID").await;
    assert_problem(app.hold(&fan, &concert, DATE, 8).await, 401, "TOKEN_INVALID").await;
}

#[tokio::test]
async fn a_hold_repeated_with_one_idempotency_key_holds_once() {
    let app = spawn_app();
    let concert = concert_of_fifty(&app).await;
    let fan = app.fan("Kim").await;
    let request = json!({"concertId": concert, "date": DATE, "seatNumber": 7});
    let keyed = |request: &Value| {
        app.with_token(Method::POST, "/api/v1/reservations", &fan.token)
            .header("Idempotency-Key", "hold-7")
            .json(request)
            .send()
    };
    let first = keyed(&request).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = first.text().await.unwrap();
    let again = keyed(&request).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.text().await.unwrap(), first);
    assert_eq!(app.stats().await["seatsHeld"], 1);

    let other_seat = json!({"concertId": concert, "date": DATE, "seatNumber": 8});
    assert_problem(keyed(&other_seat).await.unwrap(), 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(app.stats().await["seatsHeld"], 1);
}
