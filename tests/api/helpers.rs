//! Starts the application on a free port in a thread of its own and gives typed requests.

use chrono::{DateTime, Utc};
use concert_reservation::clock::{ManualClock, SharedClock, SystemClock};
use concert_reservation::{Application, Config};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

pub const ADMIN_KEY: &str = "test-admin-key";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// Set when the app runs on a clock the test moves.
    pub clock: Option<ManualClock>,
    _data_dir: tempfile::TempDir,
}

/// A registered fan with a queue token.
#[derive(Debug, Clone)]
pub struct Fan {
    pub user_id: String,
    pub token: String,
    pub queue: Value,
}

/// The configuration tests start from: defaults, an admin key, a free port, no rate limit.
pub fn test_config() -> Config {
    let mut config = Config::defaults();
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.admin_key = Some(ADMIN_KEY.to_string());
    config.user_rate_limit = 0;
    config.workers = 2;
    config
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(|_| {})
}

pub fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    launch(adjust, None)
}

/// The app on a clock that moves only when the test advances it.
pub fn spawn_app_with_clock(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let start: DateTime<Utc> = "2026-12-24T10:00:00Z".parse().unwrap();
    launch(adjust, Some(ManualClock::starting_at(start)))
}

fn launch(adjust: impl FnOnce(&mut Config), clock: Option<ManualClock>) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.data_dir = data_dir.path().to_path_buf();
    adjust(&mut config);
    let shared: SharedClock = match &clock {
        Some(manual) => Arc::new(manual.clone()),
        None => Arc::new(SystemClock),
    };
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let application = Application::build_with_clock(config, shared).expect("the application builds");
            sender.send(application.port()).unwrap();
            application.run_until_stopped().await
        })
    });
    let port = receiver.recv().expect("the application reports its port");
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        clock,
        _data_dir: data_dir,
    }
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{}", self.base, path))
    }

    pub fn with_token(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(token)
    }

    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).header("X-Admin-Key", ADMIN_KEY)
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.clock.as_ref().expect("the app runs on a manual clock").advance(by);
    }

    /// Creates a concert with `(date, seatCount, price)` dates; returns its id.
    pub async fn create_concert(&self, title: &str, dates: &[(&str, u32, i64)]) -> String {
        let dates: Vec<Value> = dates
            .iter()
            .map(|(date, seats, price)| json!({"date": date, "seatCount": seats, "price": price}))
            .collect();
        let response = self
            .admin(Method::POST, "/api/v1/admin/concerts")
            .json(&json!({"title": title, "dates": dates}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        body(response).await["concertId"].as_str().unwrap().to_string()
    }

    pub async fn create_user(&self, name: &str) -> String {
        let response = self
            .request(Method::POST, "/api/v1/users")
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        body(response).await["userId"].as_str().unwrap().to_string()
    }

    pub async fn issue_token(&self, user_id: &str) -> Response {
        self.request(Method::POST, "/api/v1/queue/tokens")
            .json(&json!({"userId": user_id}))
            .send()
            .await
            .unwrap()
    }

    /// Registers a fan and takes a token for them.
    pub async fn fan(&self, name: &str) -> Fan {
        let user_id = self.create_user(name).await;
        let response = self.issue_token(&user_id).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let queue = body(response).await;
        Fan {
            token: queue["token"].as_str().unwrap().to_string(),
            user_id,
            queue,
        }
    }

    pub async fn hold(&self, fan: &Fan, concert_id: &str, date: &str, seat: i64) -> Response {
        self.with_token(Method::POST, "/api/v1/reservations", &fan.token)
            .json(&json!({"concertId": concert_id, "date": date, "seatNumber": seat}))
            .send()
            .await
            .unwrap()
    }

    pub async fn charge(&self, fan: &Fan, amount: i64) -> Response {
        self.with_token(Method::POST, "/api/v1/wallet/charges", &fan.token)
            .json(&json!({"amount": amount}))
            .send()
            .await
            .unwrap()
    }

    pub async fn pay(&self, fan: &Fan, reservation_id: &str) -> Response {
        self.with_token(Method::POST, "/api/v1/payments", &fan.token)
            .json(&json!({"reservationId": reservation_id}))
            .send()
            .await
            .unwrap()
    }

    pub async fn seat_map(&self, fan: &Fan, concert_id: &str, date: &str) -> Response {
        self.with_token(
            Method::GET,
            &format!("/api/v1/concerts/{concert_id}/dates/{date}/seats"),
            &fan.token,
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn stats(&self) -> Value {
        let response = self.admin(Method::GET, "/api/v1/admin/stats").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }
}

pub async fn body(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// Asserts a problem+json answer with `status` and `code`; returns the document.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status of a {code} answer");
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let problem = body(response).await;
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["status"], status);
    assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()));
    problem
}
