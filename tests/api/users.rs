//! `/users`: registering a fan and reading one back.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_registered_fan_can_be_read_back() {
    let app = spawn_app();
    let response = app
        .request(Method::POST, "/api/v1/users")
        .json(&json!({"name": "Kim"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = body(response).await;
    assert_eq!(created["name"], "Kim");
    let user_id = text(&created["userId"]);
    assert!(uuid::Uuid::parse_str(&user_id).is_ok(), "{user_id}");

    let response = app.get(&format!("/api/v1/users/{user_id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"userId": user_id, "name": "Kim"}));
}

#[tokio::test]
async fn a_name_is_trimmed_and_may_be_sixty_four_korean_characters() {
    let app = spawn_app();
    let response = app
        .request(Method::POST, "/api/v1/users")
        .json(&json!({"name": "  Lee  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body(response).await["name"], "Lee");

    let long_name = "김".repeat(64);
    let response = app
        .request(Method::POST, "/api/v1/users")
        .json(&json!({ "name": long_name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body(response).await["name"], long_name.as_str());
}

#[tokio::test]
async fn an_empty_blank_or_too_long_name_is_an_invalid_request() {
    let app = spawn_app();
    for name in [json!(""), json!("   "), json!("a".repeat(65)), json!(42), json!(null)] {
        let response = app
            .request(Method::POST, "/api/v1/users")
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let response = app
        .request(Method::POST, "/api/v1/users")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "INVALID_REQUEST").await;
    assert_eq!(app.stats().await["users"], 0);
}

#[tokio::test]
async fn an_unknown_user_is_user_not_found() {
    let app = spawn_app();
    let unknown = uuid::Uuid::new_v4();
    let response = app.get(&format!("/api/v1/users/{unknown}")).await;
    let problem = assert_problem(response, 404, "USER_NOT_FOUND").await;
    assert_eq!(problem["type"], "/problems/user-not-found");
}

#[tokio::test]
async fn a_user_id_that_is_not_a_uuid_is_an_invalid_request() {
    let app = spawn_app();
    let response = app.get("/api/v1/users/not-a-uuid").await;
    assert_problem(response, 400, "INVALID_REQUEST").await;
}
