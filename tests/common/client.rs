//! The HTTP client the tests speak to a server with, and readers of its JSON answers.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// A client of one server: requests to its paths, with a fan's token, a JSON body and the admin
/// key as each needs.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    admin_key: Option<String>,
}

impl Client {
    /// A client of the server at `base` (`http://HOST:PORT`), without an admin key or a timeout.
    pub fn new(base: &str) -> Self {
        Self {
            // Idle connections are let go of before the server's keep-alive (5 s) closes them,
            // so a request never goes out on a connection the server is closing.
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
            base: base.to_string(),
            admin_key: None,
        }
    }

    /// The same client, sending `key` where an admin key is asked for.
    pub fn with_admin_key(self, key: &str) -> Self {
        Self {
            admin_key: Some(key.to_string()),
            ..self
        }
    }

    /// The same client, giving up on a request that is not answered in whole within `limit`.
    pub fn with_timeout(self, limit: Duration) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(limit)
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
            ..self
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `method` on `path`, with nothing added.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub fn with_token(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(token)
    }

    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        let key = self.admin_key.as_deref().expect("the client has an admin key");
        self.request(method, path).header("X-Admin-Key", key)
    }

    /// `method` on `path` as a client that has the admin key would send it: with the fan's
    /// `token` and the JSON `body` when given, and the key on admin paths.
    pub fn build(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> RequestBuilder {
        let mut request = match path.starts_with("/api/v1/admin") {
            true => self.admin(method, path),
            false => self.request(method, path),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request
    }

    /// One request; `Err` when the connection failed or the answer was cut (not acknowledged).
    /// An empty body reads as `Null`, one that is not JSON as a string.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Result<(StatusCode, Value)> {
        let response = self.build(method, path, token, body).send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let value = match bytes.is_empty() {
            true => Value::Null,
            false => serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        };
        Ok((status, value))
    }

    /// A request that must be answered with `expected`; the body of the answer.
    pub async fn expect(
        &self,
        expected: u16,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Value {
        let (status, value) = self
            .send(method.clone(), path, token, body)
            .await
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
        assert_eq!(status.as_u16(), expected, "{method} {path} answered {value}");
        value
    }

    /// A GET with the fan's token, which must answer 200.
    pub async fn get(&self, path: &str, token: &str) -> Value {
        self.expect(200, Method::GET, path, Some(token), None).await
    }

    /// A GET without a token (public and admin routes), which must answer 200.
    pub async fn get_plain(&self, path: &str) -> Value {
        self.expect(200, Method::GET, path, None, None).await
    }

    /// A POST that must answer 201.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        self.expect(201, Method::POST, path, token, Some(&body)).await
    }
}

/// A field that must be a string, as an owned string (ids, tokens).
pub fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"))
        .to_string()
}

pub fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or_else(|| panic!("{value} is not an integer"))
}

pub fn list(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => panic!("{other} is not a list"),
    }
}
