//! "Abuse, limits and faults": what a script can send that a fan's page never would, and what the
//! server must answer instead of doing it.

use crate::helpers::*;
use reqwest::{Method, RequestBuilder};
use serde_json::json;

/// Every endpoint that reads a body, each with a body it would accept as JSON.
fn body_requests(app: &TestApp, fan: &Fan, user_id: &str) -> Vec<(RequestBuilder, String)> {
    vec![
        (
            app.request(Method::POST, "/api/v1/users"),
            json!({"name": "Lee"}).to_string(),
        ),
        (
            app.request(Method::POST, "/api/v1/queue/tokens"),
            json!({"userId": user_id}).to_string(),
        ),
        (
            app.with_token(Method::POST, "/api/v1/wallet/charges", &fan.token),
            json!({"amount": 1_000}).to_string(),
        ),
        (
            app.admin(Method::PUT, "/api/v1/admin/queue"),
            json!({"activeMax": 7}).to_string(),
        ),
    ]
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_unsupported_and_changes_nothing() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let other = app.create_user("Park").await;
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        for (request, body) in body_requests(&app, &fan, &other) {
            let request = match content_type {
                Some(content_type) => request.header("content-type", content_type),
                None => request,
            };
            let response = request.body(body).send().await.unwrap();
            assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
        }
    }
    let stats = app.stats().await;
    assert_eq!(
        (stats["users"].as_u64(), stats["chargedTotal"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(app.queue_stats().await["activeMax"], 100);
    let charset = app
        .with_token(Method::POST, "/api/v1/wallet/charges", &fan.token)
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(json!({"amount": 1_000}).to_string());
    assert_eq!(charset.send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn names_and_titles_refuse_control_and_format_characters() {
    let app = spawn_app();
    for name in [
        "a\u{0}b",
        "\u{1b}[2Jgone",
        "two\r\nlines",
        "evil\u{202e}gpj.exe",
        "\u{200b}",
        " \u{200b} ",
    ] {
        let response = app
            .request(Method::POST, "/api/v1/users")
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "INVALID_REQUEST").await;
        let concert = json!({"title": name, "dates": [{"date": "2026-12-24", "seatCount": 1, "price": 0}]});
        assert_problem(app.post_concert(&concert).await, 400, "INVALID_REQUEST").await;
    }
    let stats = app.stats().await;
    assert_eq!(
        (stats["users"].as_u64(), stats["seatsTotal"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        app.get("/api/v1/concerts")
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap(),
        json!([])
    );
}

#[tokio::test]
async fn dates_outside_this_century_are_invalid() {
    let app = spawn_app();
    for date in ["0000-01-01", "1999-12-31", "2100-01-01", "9999-12-31"] {
        let concert = json!({"title": "Far", "dates": [{"date": date, "seatCount": 1, "price": 0}]});
        assert_problem(app.post_concert(&concert).await, 400, "INVALID_REQUEST").await;
    }
    let concert = app
        .create_concert("Edges", &[("2000-01-01", 1, 0), ("2099-12-31", 1, 0)])
        .await;
    let dates: serde_json::Value = app
        .get(&format!("/api/v1/concerts/{concert}/dates"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dates.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn uuids_are_read_hyphenated_only() {
    let app = spawn_app();
    let user = app.create_user("Kim").await;
    let parsed = uuid::Uuid::parse_str(&user).unwrap();
    for other in [
        parsed.simple().to_string(),
        parsed.braced().to_string(),
        parsed.urn().to_string(),
        user.to_uppercase().replace('-', ""),
    ] {
        assert_problem(app.get(&format!("/api/v1/users/{other}")).await, 400, "INVALID_REQUEST").await;
        assert_problem(app.issue_token(&other).await, 400, "INVALID_REQUEST").await;
    }
    assert_eq!(app.get(&format!("/api/v1/users/{user}")).await.status(), 200);
    assert_eq!(app.queue_stats().await["active"], 0);
}

/// Throwaway users that each hold `hold_max` seats and leave the queue at once.
async fn hoard(app: &TestApp, concert: &str, hoarder: usize) {
    let fan = app.fan(&format!("Bot {hoarder}")).await;
    for seat in 1..=4 {
        let seat_number = (hoarder * 4 + seat) as i64;
        assert_eq!(app.hold(&fan, concert, "2026-12-24", seat_number).await.status(), 201);
    }
    assert_eq!(app.leave(&fan).await.status(), 204);
}

#[tokio::test]
async fn holds_die_with_the_token_that_left_so_hoarders_take_nothing() {
    let app = spawn_app_with(|config| config.active_max = 1_000);
    let concert = app.create_concert("Hoarded", &[("2026-12-24", 100, 1_000)]).await;
    let hoarders = (0..25).map(|hoarder| hoard(&app, &concert, hoarder));
    futures_util::future::join_all(hoarders).await;

    assert_eq!(app.stats().await["seatsHeld"], 0);
    let fan = app.fan("Honest").await;
    let map = body(app.seat_map(&fan, &concert, "2026-12-24").await).await;
    assert_eq!(map["availableSeats"], 100);
    assert_eq!(app.hold(&fan, &concert, "2026-12-24", 1).await.status(), 201);
}

#[tokio::test]
async fn a_hold_lapses_when_its_token_expires_even_before_the_hold_ttl() {
    let app = spawn_app_with_clock(|config| {
        config.active_ttl = std::time::Duration::from_secs(120);
        config.hold_ttl = std::time::Duration::from_secs(300);
    });
    let concert = app.create_concert("Short tokens", &[("2026-12-24", 2, 1_000)]).await;
    let fan = app.fan("Kim").await;
    let held = app.held(&fan, &concert, "2026-12-24", 1).await;
    assert_eq!(held["heldUntil"], fan.queue["activeUntil"], "{held}");

    app.advance(chrono::Duration::seconds(120));
    let other = app.fan("Lee").await;
    assert_eq!(app.seat_status(&other, &concert, "2026-12-24", 1).await, "AVAILABLE");
    assert_eq!(app.stats().await["seatsHeld"], 0);
}
