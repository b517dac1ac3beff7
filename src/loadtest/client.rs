//! The harness's HTTP client: every call is timed and counted under its endpoint's name, with the
//! code of every call that did not succeed (a call with no answer too), and over time for the plot.

use super::proof_of_work;
use super::refusals::UNREACHABLE;
use super::timeline::Timeline;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TOKENS_PATH: &str = "/api/v1/queue/tokens";

/// Latencies are kept from 1 µs to 60 s with 3 significant figures.
const LATENCY_MICROS_MAX: u64 = 60_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MICROS_MAX, 3).expect("valid histogram bounds")
}

/// What one endpoint saw: the latency of its answers, and its unsuccessful calls by code.
pub struct EndpointFigures {
    pub latency_micros: Histogram<u64>,
    pub unsuccessful: BTreeMap<String, u64>,
}

impl EndpointFigures {
    fn new() -> Self {
        Self {
            latency_micros: histogram(),
            unsuccessful: BTreeMap::new(),
        }
    }
}

/// Every call's latency and outcome, shared by all fans.
pub struct Recorder {
    /// A run keeps its timeline, for its plot; the demo, which runs for hours, keeps none.
    keeps_timeline: bool,
    inner: Mutex<Recording>,
}

/// What is being recorded, and since when: the timeline counts from the last [`Recorder::take`].
struct Recording {
    started: Instant,
    recorded: Recorded,
}

#[derive(Default)]
pub struct Recorded {
    pub endpoints: BTreeMap<&'static str, EndpointFigures>,
    /// Calls that did not succeed, by the problem's code, the status when there was none, or
    /// UNREACHABLE when no answer came; the report tells the refusals from the errors.
    pub unsuccessful: BTreeMap<String, u64>,
    pub server_errors: u64,
    pub timeline: Timeline,
    /// From the take before to this one: the time the timeline covers.
    pub span: Duration,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            keeps_timeline: true,
            inner: Mutex::new(Recording {
                started: Instant::now(),
                recorded: Recorded::default(),
            }),
        }
    }

    /// A recorder whose memory does not grow with time: totals per endpoint only.
    pub fn without_timeline() -> Self {
        Self {
            keeps_timeline: false,
            ..Self::new()
        }
    }

    fn record(&self, endpoint: &'static str, latency: Duration, error: Option<String>, server_error: bool) {
        let micros = (latency.as_micros() as u64).clamp(1, LATENCY_MICROS_MAX);
        let mut recording = self.inner.lock();
        let at = recording.started.elapsed();
        let inner = &mut recording.recorded;
        let figures = inner.endpoints.entry(endpoint).or_insert_with(EndpointFigures::new);
        figures.latency_micros.saturating_record(micros);
        if self.keeps_timeline {
            inner.timeline.record(at, micros);
        }
        if let Some(code) = error {
            inner.count_unsuccessful(endpoint, code);
        }
        if server_error {
            inner.server_errors += 1;
        }
    }

    /// A call that got no answer: counted, but with no latency, which would only be the time the
    /// client took to give up.
    fn record_unreachable(&self, endpoint: &'static str) {
        self.inner
            .lock()
            .recorded
            .count_unsuccessful(endpoint, UNREACHABLE.to_string());
    }

    /// Everything recorded since the last take, leaving the recorder empty and its timeline
    /// starting now: a run takes once before its clock starts and once after it stops.
    pub fn take(&self) -> Recorded {
        let mut recording = self.inner.lock();
        let now = Instant::now();
        let mut taken = std::mem::take(&mut recording.recorded);
        taken.span = now.saturating_duration_since(recording.started);
        recording.started = now;
        taken
    }
}

impl Recorded {
    fn count_unsuccessful(&mut self, endpoint: &'static str, code: String) {
        let figures = self.endpoints.entry(endpoint).or_insert_with(EndpointFigures::new);
        *figures.unsuccessful.entry(code.clone()).or_default() += 1;
        *self.unsuccessful.entry(code).or_default() += 1;
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// An answer: its status, JSON body (`Null` when there is none) and `Retry-After`.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub retry_after: Option<Duration>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The problem's `code`, for a refusal.
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }
}

/// A client of one server (or one node of a cluster), recording every call.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    /// Every node's base URL, for fans spread over a cluster's nodes; the one server's otherwise.
    bases: std::sync::Arc<[String]>,
    admin_key: Option<String>,
    recorder: std::sync::Arc<Recorder>,
    /// Set once the server asked for a proof of work: every later token request brings one
    /// rather than being refused first.
    proof_of_work: std::sync::Arc<AtomicBool>,
}

/// The endpoint name token requests are recorded under.
pub const TAKE_TOKEN: &str = "POST /queue/tokens";
/// Tries of a call the server refused RATE_LIMITED, the first included.
const RATE_LIMITED_TRIES: u32 = 5;

/// The shortest and longest wait before a refused call is tried again, whatever `Retry-After` says.
const RETRY_WAIT_MIN: Duration = Duration::from_millis(100);
const RETRY_WAIT_MAX: Duration = Duration::from_secs(5);

/// A failed call: the connection, not the server, said no.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl Api {
    /// A client of `urls`: one server's base URL, or a cluster's, comma-separated; calls go to
    /// the first until [`Api::on_node`] says otherwise.
    pub fn new(urls: &str, admin_key: Option<String>, recorder: std::sync::Arc<Recorder>) -> Self {
        let bases: std::sync::Arc<[String]> = (urls.split(','))
            .map(|url| url.trim().trim_end_matches('/').to_string())
            .filter(|url| !url.is_empty())
            .collect();
        Self {
            http: http_client(None),
            base: bases.first().cloned().unwrap_or_default(),
            bases,
            admin_key,
            recorder,
            proof_of_work: Default::default(),
        }
    }

    /// The same server, recorder and key, with connections of its own sent from `source` (the
    /// server budgets requests by the address they come from).
    pub fn bound_to(&self, source: Option<IpAddr>) -> Self {
        Self {
            http: http_client(source),
            ..self.clone()
        }
    }

    /// Nodes the calls may be spread over: 1 for a single server.
    pub fn nodes(&self) -> usize {
        self.bases.len().max(1)
    }

    /// The same client, calling node `node` (modulo the nodes there are).
    pub fn on_node(&self, node: usize) -> Self {
        Self {
            base: self
                .bases
                .get(node % self.nodes())
                .cloned()
                .unwrap_or_else(|| self.base.clone()),
            ..self.clone()
        }
    }

    /// Like [`Api::call`], but a call refused RATE_LIMITED is tried again after the wait the
    /// server asks for, as a well-behaved client would, a few times at most.
    pub async fn call_within_limits(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, Unreachable> {
        let mut tries = 1;
        loop {
            let reply = self.call(endpoint, method.clone(), path, token, body).await?;
            if reply.status != StatusCode::TOO_MANY_REQUESTS || tries >= RATE_LIMITED_TRIES {
                return Ok(reply);
            }
            tries += 1;
            let wait = reply.retry_after.unwrap_or(RETRY_WAIT_MIN);
            tokio::time::sleep(wait.clamp(RETRY_WAIT_MIN, RETRY_WAIT_MAX)).await;
        }
    }

    /// Calls `path` as `endpoint`, with the fan's token and a JSON body if given.
    pub async fn call(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, Unreachable> {
        self.send(endpoint, method, path, token, body, None).await
    }

    /// Takes a queue token for `user_id`, solving the server's proof of work once it asks for
    /// one (403 CHALLENGE_REQUIRED), as a fan's page would.
    pub async fn take_token(&self, user_id: &str) -> Result<Reply, Unreachable> {
        let body = json!({ "userId": user_id });
        if !self.proof_of_work.load(Ordering::Relaxed) {
            let reply = self
                .call_within_limits(TAKE_TOKEN, Method::POST, TOKENS_PATH, None, Some(&body))
                .await?;
            if reply.code() != Some("CHALLENGE_REQUIRED") {
                return Ok(reply);
            }
            self.proof_of_work.store(true, Ordering::Relaxed);
        }
        let challenge = self
            .call_within_limits(
                "GET /queue/challenge",
                Method::GET,
                "/api/v1/queue/challenge",
                None,
                None,
            )
            .await?;
        if !challenge.ok() {
            return Ok(challenge);
        }
        let solved = tokio::task::spawn_blocking(move || proof_of_work::solve(&challenge.body)).await;
        let solution = solved
            .ok()
            .flatten()
            .ok_or_else(|| Unreachable("the server's challenge could not be solved".into()))?;
        let header = ("X-Altcha", solution.as_str());
        self.send(TAKE_TOKEN, Method::POST, TOKENS_PATH, None, Some(&body), Some(header))
            .await
    }

    /// A call that got no answer, counted as such.
    fn unreachable(&self, endpoint: &'static str, error: reqwest::Error) -> Unreachable {
        self.recorder.record_unreachable(endpoint);
        Unreachable(error.to_string())
    }

    async fn send(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        header: Option<(&str, &str)>,
    ) -> Result<Reply, Unreachable> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if path.starts_with("/api/v1/admin") {
            request = request.header("X-Admin-Key", self.admin_key.clone().unwrap_or_default());
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|error| self.unreachable(endpoint, error))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok()?.trim().parse().ok())
            .map(Duration::from_secs);
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.unreachable(endpoint, error))?;
        let latency = started.elapsed();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let reply = Reply {
            status,
            body,
            retry_after,
        };
        let error = (!reply.ok()).then(|| reply.code().unwrap_or(status.as_str()).to_string());
        self.recorder.record(endpoint, latency, error, status.is_server_error());
        Ok(reply)
    }
}

fn http_client(source: Option<IpAddr>) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .local_address(source)
        .build()
        .expect("an HTTP client")
}
