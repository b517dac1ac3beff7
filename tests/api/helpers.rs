//! Starts the application on a free port in a thread of its own and gives typed requests.

// Shared with the tests of the real binaries, each of which uses its own part of it.
#[allow(dead_code)]
#[path = "../common/client.rs"]
mod client;

pub use client::text;

use chrono::{DateTime, Utc};
use client::Client;
use concert_reservation::clock::{ManualClock, SharedClock, SystemClock};
use concert_reservation::{Application, Config};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const ADMIN_KEY: &str = "test-admin-key-of-the-api";

/// Where the manual clock of `spawn_app_with_clock` starts.
pub const CLOCK_START: &str = "2026-12-24T10:00:00Z";

pub struct TestApp {
    pub base: String,
    /// `/metrics` without the key, when the app was started with `--metrics-addr`.
    pub metrics_base: Option<String>,
    client: Client,
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

/// The configuration tests start from: defaults, an admin key, a free port, no per-user or
/// per-client bounds.
pub fn test_config() -> Config {
    let mut config = Config::defaults();
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.admin_key = Some(ADMIN_KEY.to_string());
    config.user_rate_limit = 0;
    config.client_rate_limit = 0;
    // Every test client is this one address; the tests of the bound set their own.
    config.max_connections_per_client = 10_000;
    config.workers = 2;
    // As many as a small machine has, whatever the machine running the tests has.
    config.actor_threads = 2;
    config
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(|_| {})
}

pub fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    launch(adjust, None)
}

/// The app on a clock that moves only when the test advances it, starting at `CLOCK_START`.
pub fn spawn_app_with_clock(adjust: impl FnOnce(&mut Config)) -> TestApp {
    launch(adjust, Some(ManualClock::starting_at(instant(CLOCK_START))))
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
            sender
                .send((application.port(), application.metrics_address()))
                .unwrap();
            application.run_until_stopped().await
        })
    });
    let (port, metrics) = receiver.recv().expect("the application reports its port");
    let base = format!("http://127.0.0.1:{port}");
    TestApp {
        client: Client::new(&base).with_admin_key(ADMIN_KEY),
        base,
        metrics_base: metrics.map(|address| format!("http://{address}")),
        clock,
        _data_dir: data_dir,
    }
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, path)
    }

    pub fn with_token(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client.with_token(method, path, token)
    }

    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.admin(method, path)
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.clock.as_ref().expect("the app runs on a manual clock").advance(by);
    }

    /// A plain GET, without token or key.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    /// A GET with the fan's token.
    pub async fn get_as(&self, fan: &Fan, path: &str) -> Response {
        self.send(Method::GET, path, Some(fan), None).await
    }

    /// `method` on `path` with the fan's token and the JSON `body`, when given (and the admin key
    /// on admin paths).
    async fn send(&self, method: Method, path: &str, fan: Option<&Fan>, body: Option<&Value>) -> Response {
        let token = fan.map(|fan| fan.token.as_str());
        let request = self.client.build(method, path, token, body);
        request.send().await.unwrap()
    }

    /// Creates a concert with `(date, seatCount, price)` dates; returns its id.
    pub async fn create_concert(&self, title: &str, dates: &[(&str, u32, i64)]) -> String {
        let dates: Vec<Value> = dates
            .iter()
            .map(|(date, seats, price)| json!({"date": date, "seatCount": seats, "price": price}))
            .collect();
        let response = self.post_concert(&json!({"title": title, "dates": dates})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        body(response).await["concertId"].as_str().unwrap().to_string()
    }

    /// POST /admin/concerts with any body.
    pub async fn post_concert(&self, concert: &Value) -> Response {
        self.send(Method::POST, "/api/v1/admin/concerts", None, Some(concert))
            .await
    }

    pub async fn create_user(&self, name: &str) -> String {
        let response = self
            .send(Method::POST, "/api/v1/users", None, Some(&json!({"name": name})))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        body(response).await["userId"].as_str().unwrap().to_string()
    }

    pub async fn issue_token(&self, user_id: &str) -> Response {
        let body = json!({"userId": user_id});
        self.send(Method::POST, "/api/v1/queue/tokens", None, Some(&body)).await
    }

    /// Registers a fan and takes a token for them.
    pub async fn fan(&self, name: &str) -> Fan {
        let user_id = self.create_user(name).await;
        self.token_for(&user_id).await
    }

    /// Takes a fresh token for a registered user.
    pub async fn token_for(&self, user_id: &str) -> Fan {
        let response = self.issue_token(user_id).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let queue = body(response).await;
        Fan {
            token: queue["token"].as_str().unwrap().to_string(),
            user_id: user_id.to_string(),
            queue,
        }
    }

    /// GET /queue/tokens/me.
    pub async fn queue_status(&self, fan: &Fan) -> Response {
        self.get_as(fan, "/api/v1/queue/tokens/me").await
    }

    /// The fan's queue status, which must be readable.
    pub async fn queue_of(&self, fan: &Fan) -> Value {
        let response = self.queue_status(fan).await;
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    /// DELETE /queue/tokens/me.
    pub async fn leave(&self, fan: &Fan) -> Response {
        self.send(Method::DELETE, "/api/v1/queue/tokens/me", Some(fan), None)
            .await
    }

    pub async fn hold(&self, fan: &Fan, concert_id: &str, date: &str, seat: i64) -> Response {
        let body = json!({"concertId": concert_id, "date": date, "seatNumber": seat});
        self.send(Method::POST, "/api/v1/reservations", Some(fan), Some(&body))
            .await
    }

    /// Holds a seat that must be free; returns the reservation.
    pub async fn held(&self, fan: &Fan, concert_id: &str, date: &str, seat: i64) -> Value {
        let response = self.hold(fan, concert_id, date, seat).await;
        assert_eq!(response.status(), StatusCode::CREATED, "holding seat {seat}");
        body(response).await
    }

    /// GET /reservations/{id}.
    pub async fn reservation(&self, fan: &Fan, reservation_id: &str) -> Response {
        self.get_as(fan, &format!("/api/v1/reservations/{reservation_id}"))
            .await
    }

    /// DELETE /reservations/{id}.
    pub async fn cancel(&self, fan: &Fan, reservation_id: &str) -> Response {
        let path = format!("/api/v1/reservations/{reservation_id}");
        self.send(Method::DELETE, &path, Some(fan), None).await
    }

    pub async fn charge(&self, fan: &Fan, amount: i64) -> Response {
        let body = json!({"amount": amount});
        self.send(Method::POST, "/api/v1/wallet/charges", Some(fan), Some(&body))
            .await
    }

    /// The fan's balance, which must be readable.
    pub async fn balance(&self, fan: &Fan) -> i64 {
        let response = self.get_as(fan, "/api/v1/wallet").await;
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await["balance"].as_i64().unwrap()
    }

    pub async fn pay(&self, fan: &Fan, reservation_id: &str) -> Response {
        let body = json!({"reservationId": reservation_id});
        self.send(Method::POST, "/api/v1/payments", Some(fan), Some(&body))
            .await
    }

    pub async fn seat_map(&self, fan: &Fan, concert_id: &str, date: &str) -> Response {
        self.get_as(fan, &format!("/api/v1/concerts/{concert_id}/dates/{date}/seats"))
            .await
    }

    /// The status of one seat as the fan's seat map shows it.
    pub async fn seat_status(&self, fan: &Fan, concert_id: &str, date: &str, seat: u64) -> String {
        let response = self.seat_map(fan, concert_id, date).await;
        assert_eq!(response.status(), StatusCode::OK);
        let map = body(response).await;
        let seats = map["seats"].as_array().unwrap();
        let found = seats
            .iter()
            .find(|s| s["seatNumber"] == seat)
            .expect("the seat is on the map");
        found["status"].as_str().unwrap().to_string()
    }

    pub async fn stats(&self) -> Value {
        let response = self.send(Method::GET, "/api/v1/admin/stats", None, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    /// GET /admin/queue.
    pub async fn queue_stats(&self) -> Value {
        let response = self.send(Method::GET, "/api/v1/admin/queue", None, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    /// PUT /admin/concerts/{id}/sale with any body.
    pub async fn set_sale(&self, concert_id: &str, sale: &Value) -> Response {
        let path = format!("/api/v1/admin/concerts/{concert_id}/sale");
        self.send(Method::PUT, &path, None, Some(sale)).await
    }

    /// GET /concerts/{id}/sale, which must be readable.
    pub async fn sale_of(&self, concert_id: &str) -> Value {
        let response = self.get(&format!("/api/v1/concerts/{concert_id}/sale")).await;
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }

    /// POST /concerts/{id}/queue/tokens.
    pub async fn issue_sale_token(&self, concert_id: &str, user_id: &str) -> Response {
        let path = format!("/api/v1/concerts/{concert_id}/queue/tokens");
        self.send(Method::POST, &path, None, Some(&json!({"userId": user_id})))
            .await
    }

    /// Registers a fan and takes a token of the concert's sale for them.
    pub async fn sale_fan(&self, concert_id: &str, name: &str) -> Fan {
        let user_id = self.create_user(name).await;
        let response = self.issue_sale_token(concert_id, &user_id).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let queue = body(response).await;
        Fan {
            token: queue["token"].as_str().unwrap().to_string(),
            user_id,
            queue,
        }
    }

    /// Opens the fan's event stream; it must answer 200 as `text/event-stream`.
    pub async fn events(&self, fan: &Fan) -> EventStream {
        let response = self
            .get(&format!("/api/v1/queue/tokens/me/events?token={}", fan.token))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = header(&response, "content-type");
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        EventStream {
            chunks: response.bytes_stream().map(|chunk| chunk.map(|b| b.to_vec())).boxed(),
            buffer: String::new(),
        }
    }
}

/// An RFC 3339 UTC instant, written with `Z`.
pub fn instant(text: &str) -> DateTime<Utc> {
    assert!(text.ends_with('Z'), "{text} is not written in UTC");
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// A JSON time field, which must be RFC 3339 in UTC.
pub fn time(value: &Value) -> DateTime<Utc> {
    instant(value.as_str().unwrap_or_else(|| panic!("{value} is not a time")))
}

pub fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

pub async fn body(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// Asserts a problem+json answer with `status` and `code`; returns the document.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status of a {code} answer");
    assert_eq!(header(&response, "content-type"), "application/problem+json");
    let problem = body(response).await;
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["status"], status);
    assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()));
    problem
}

/// One server-sent event: its name and JSON data.
#[derive(Debug)]
pub struct ServerEvent {
    pub name: String,
    pub data: Value,
}

/// The events of a `text/event-stream`, read as they arrive.
pub struct EventStream {
    chunks: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl EventStream {
    /// The next event, or `None` once the server ended the stream; panics after `within`.
    pub async fn next(&mut self, within: Duration) -> Option<ServerEvent> {
        tokio::time::timeout(within, self.read_event())
            .await
            .unwrap_or_else(|_| panic!("no event and no end within {within:?}"))
    }

    async fn read_event(&mut self) -> Option<ServerEvent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_event(&block) {
                    return Some(event);
                }
            }
            let chunk = self.chunks.next().await?.expect("the stream reads");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("events are UTF-8"));
        }
    }
}

/// An event block; a block of comments only (a keep-alive) is no event.
fn parse_event(block: &str) -> Option<ServerEvent> {
    let mut name = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim().to_string());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim());
        }
    }
    if name.is_none() && data.is_empty() {
        return None;
    }
    Some(ServerEvent {
        name: name.unwrap_or_else(|| "message".to_string()),
        data: serde_json::from_str(&data).expect("event data is JSON"),
    })
}
