//! `/concerts`: the catalog, the dates with seats left, and the seat map of a date.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn dates_of(app: &TestApp, concert: &str) -> Value {
    let response = app.get(&format!("/api/v1/concerts/{concert}/dates")).await;
    assert_eq!(response.status(), StatusCode::OK);
    body(response).await
}

#[tokio::test]
async fn the_catalog_lists_every_concert_with_its_date_count_without_a_token() {
    let app = spawn_app();
    assert_eq!(body(app.get("/api/v1/concerts").await).await, json!([]));
    let winter = app
        .create_concert("Winter", &[("2026-12-24", 5, 1_000), ("2026-12-25", 5, 1_000)])
        .await;
    let spring = app.create_concert("Spring", &[("2027-03-01", 5, 1_000)]).await;
    let response = app.get("/api/v1/concerts").await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut concerts = body(response).await.as_array().unwrap().clone();
    concerts.sort_by_key(|c| c["title"].as_str().unwrap().to_string());
    assert_eq!(
        concerts,
        vec![
            json!({"concertId": spring, "title": "Spring", "dateCount": 1}),
            json!({"concertId": winter, "title": "Winter", "dateCount": 2}),
        ]
    );
}

/// A concert whose dates were given out of order: the 26th (1 seat), 24th (2), 25th (1).
async fn three_date_tour(app: &TestApp) -> String {
    let dates = [
        ("2026-12-26", 1, 1_000),
        ("2026-12-24", 2, 1_000),
        ("2026-12-25", 1, 1_000),
    ];
    app.create_concert("Tour", &dates).await
}

#[tokio::test]
async fn dates_are_listed_ascending_with_their_seat_counts() {
    let app = spawn_app();
    let concert = three_date_tour(&app).await;
    assert_eq!(
        dates_of(&app, &concert).await,
        json!([
            {"date": "2026-12-24", "totalSeats": 2, "availableSeats": 2},
            {"date": "2026-12-25", "totalSeats": 1, "availableSeats": 1},
            {"date": "2026-12-26", "totalSeats": 1, "availableSeats": 1},
        ])
    );
}

#[tokio::test]
async fn only_dates_with_an_available_seat_are_listed_and_none_is_an_empty_list() {
    let app = spawn_app();
    let concert = three_date_tour(&app).await;
    let fan = app.fan("Kim").await;
    app.held(&fan, &concert, "2026-12-25", 1).await;
    app.held(&fan, &concert, "2026-12-24", 1).await;
    assert_eq!(
        dates_of(&app, &concert).await,
        json!([
            {"date": "2026-12-24", "totalSeats": 2, "availableSeats": 1},
            {"date": "2026-12-26", "totalSeats": 1, "availableSeats": 1},
        ])
    );
    app.held(&fan, &concert, "2026-12-24", 2).await;
    app.held(&fan, &concert, "2026-12-26", 1).await;
    assert_eq!(dates_of(&app, &concert).await, json!([]));
    let every = app.get(&format!("/api/v1/concerts/{concert}/dates?soldOut=true")).await;
    assert_eq!(
        body(every).await,
        json!([
            {"date": "2026-12-24", "totalSeats": 2, "availableSeats": 0},
            {"date": "2026-12-25", "totalSeats": 1, "availableSeats": 0},
            {"date": "2026-12-26", "totalSeats": 1, "availableSeats": 0},
        ]),
        "a fan who would join a waiting list sees the sold-out dates"
    );
    let refused = app
        .get(&format!("/api/v1/concerts/{concert}/dates?soldOut=maybe"))
        .await;
    assert_problem(refused, 400, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn a_sold_out_date_leaves_the_list() {
    let app = spawn_app();
    let concert = app
        .create_concert("Sellout", &[("2026-12-24", 1, 5_000), ("2026-12-25", 1, 5_000)])
        .await;
    let fan = app.fan("Kim").await;
    let reservation = app.held(&fan, &concert, "2026-12-24", 1).await;
    assert_eq!(app.charge(&fan, 5_000).await.status(), StatusCode::OK);
    let paid = app.pay(&fan, &text(&reservation["reservationId"])).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    assert_eq!(
        dates_of(&app, &concert).await,
        json!([{"date": "2026-12-25", "totalSeats": 1, "availableSeats": 1}])
    );
}

#[tokio::test]
async fn the_dates_of_an_unknown_concert_are_concert_not_found() {
    let app = spawn_app();
    let unknown = uuid::Uuid::new_v4();
    let response = app.get(&format!("/api/v1/concerts/{unknown}/dates")).await;
    assert_problem(response, 404, "CONCERT_NOT_FOUND").await;
    let response = app.get("/api/v1/concerts/not-a-uuid/dates").await;
    assert_problem(response, 400, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn the_seat_map_shows_every_seat_in_order_with_its_status_and_price() {
    let app = spawn_app();
    let concert = app.create_concert("Map", &[("2026-12-24", 5, 77_000)]).await;
    let holder = app.fan("Holder").await;
    let buyer = app.fan("Buyer").await;
    app.held(&holder, &concert, "2026-12-24", 2).await;
    let bought = app.held(&buyer, &concert, "2026-12-24", 3).await;
    assert_eq!(app.charge(&buyer, 77_000).await.status(), StatusCode::OK);
    let paid = app.pay(&buyer, &text(&bought["reservationId"])).await;
    assert_eq!(paid.status(), StatusCode::CREATED);

    let response = app.seat_map(&holder, &concert, "2026-12-24").await;
    assert_eq!(response.status(), StatusCode::OK);
    let seat = |number: u32, status: &str| json!({"seatNumber": number, "status": status, "price": 77_000});
    assert_eq!(
        body(response).await,
        json!({
            "concertId": concert,
            "date": "2026-12-24",
            "availableSeats": 3,
            "seats": [
                seat(1, "AVAILABLE"),
                seat(2, "HELD"),
                seat(3, "SOLD"),
                seat(4, "AVAILABLE"),
                seat(5, "AVAILABLE"),
            ],
        })
    );
}

#[tokio::test]
async fn the_seat_map_of_an_unknown_concert_or_date_is_not_found() {
    let app = spawn_app();
    let concert = app.create_concert("Known", &[("2026-12-24", 5, 1_000)]).await;
    let fan = app.fan("Kim").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let response = app.seat_map(&fan, &unknown, "2026-12-24").await;
    assert_problem(response, 404, "CONCERT_NOT_FOUND").await;
    let response = app.seat_map(&fan, &concert, "2026-12-31").await;
    assert_problem(response, 404, "DATE_NOT_FOUND").await;
}

#[tokio::test]
async fn a_malformed_date_or_concert_id_in_the_seat_map_path_is_an_invalid_request() {
    let app = spawn_app();
    let concert = app.create_concert("Known", &[("2026-12-24", 5, 1_000)]).await;
    let fan = app.fan("Kim").await;
    for date in [
        "2026-13-01",
        "2026-02-30",
        "tomorrow",
        "2026-1-5",
        "%2B202-01-01",
        "-202-01-01",
    ] {
        let response = app.seat_map(&fan, &concert, date).await;
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let response = app.seat_map(&fan, "not-a-uuid", "2026-12-24").await;
    assert_problem(response, 400, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn the_seat_map_needs_a_token() {
    let app = spawn_app();
    let concert = app.create_concert("Known", &[("2026-12-24", 5, 1_000)]).await;
    let response = app
        .get(&format!("/api/v1/concerts/{concert}/dates/2026-12-24/seats"))
        .await;
    assert_problem(response, 401, "TOKEN_MISSING").await;
}
