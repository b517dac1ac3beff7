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
