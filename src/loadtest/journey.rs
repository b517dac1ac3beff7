//! A fan's journey, as the load harness and the demo's crowd run it: register, take a token, wait
//! for ACTIVE, read the dates and a seat map, try to hold a seat (often a popular one), charge the
//! wallet, then pay or give the seat back.

use super::client::{Api, Reply, Unreachable};
use rand::rngs::StdRng;
use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The concert the fans go for.
#[derive(Debug, Clone)]
pub struct Venue {
    pub concert_id: String,
    pub dates: Vec<String>,
    pub seats: u32,
    pub price: i64,
}

/// How fans behave.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Share of fans who give their held seat back instead of paying.
    pub abandon_ratio: f64,
    /// Share of hold attempts aimed at the popular seats, whether or not they look free.
    pub popular_share: f64,
    /// Seats 1..=this are the popular ones.
    pub popular_seats: u32,
    /// Seats a fan tries before giving up.
    pub hold_attempts: u32,
    /// How often a waiting fan asks for its status.
    pub poll_interval: Duration,
    /// A pause between steps, for a human pace (zero under load).
    pub think_time: Duration,
    /// Dates with this many seats left or fewer are passed over (zero under load: every seat
    /// goes). The demo's crowd leaves some for the people watching.
    pub seats_left_min: u64,
    /// How many seats a fan buys in one order.
    pub order_sizes: super::options::OrderMix,
}

/// How a journey ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An order paid: its date, its seats and a ticket code each, and the sum debited.
    Paid {
        date: String,
        seats: Vec<(i64, String)>,
        amount: i64,
        payment_id: String,
    },
    Abandoned,
    NoSeat,
    /// Something a journey does not expect (a dead token, an expired hold, an unreachable server).
    Failed(String),
}

/// What the harness keeps of one fan, for the report and the checks.
#[derive(Debug, Clone)]
pub struct FanRecord {
    /// The token's `issuedAt` as the server gave it; it orders admission.
    pub issued_at: Option<String>,
    /// When the fan first saw its token ACTIVE (the answer's arrival).
    pub active_seen: Option<Instant>,
    /// When the fan last asked and was told WAITING (the request's departure).
    pub waiting_asked: Option<Instant>,
    /// The token's place in line and the server's estimate of the wait, as first answered.
    pub joined: Option<Joined>,
    /// When the token was asked for.
    pub token_asked: Option<Instant>,
    /// When the fan's hold was granted, and its payment answered 201 (the answers' arrival).
    pub held: Option<Instant>,
    pub paid: Option<Instant>,
    pub outcome: Outcome,
}

impl FanRecord {
    /// How long the fan waited from asking for its token to seeing it ACTIVE.
    pub fn waited(&self) -> Option<Duration> {
        Some(self.active_seen?.saturating_duration_since(self.token_asked?))
    }

    /// From seeing its token ACTIVE to its hold granted.
    pub fn to_hold(&self) -> Option<Duration> {
        Some(self.held?.saturating_duration_since(self.active_seen?))
    }

    /// From asking for its token to its payment's answer: what a fan calls getting a ticket.
    pub fn to_ticket(&self) -> Option<Duration> {
        Some(self.paid?.saturating_duration_since(self.token_asked?))
    }
}

/// A token's `position` and `estimatedWaitSeconds` when it was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    pub position: u64,
    pub estimated_wait_seconds: u64,
}

impl Joined {
    pub fn from_status(status: &Value) -> Option<Self> {
        Some(Self {
            position: status["position"].as_u64()?,
            estimated_wait_seconds: status["estimatedWaitSeconds"].as_u64()?,
        })
    }
}

struct Fan<'a> {
    api: &'a Api,
    venue: &'a Venue,
    behaviour: &'a Behaviour,
    rng: &'a mut StdRng,
    record: FanRecord,
    token: String,
    /// A fan still WAITING then gives up and leaves.
    patience: Option<Instant>,
}

/// Runs one fan's journey to its end, however long the line.
pub async fn run(api: &Api, venue: &Venue, behaviour: &Behaviour, rng: &mut StdRng, name: String) -> FanRecord {
    run_within(api, venue, behaviour, rng, name, None).await
}

/// Runs one fan's journey; a fan still WAITING at `patience` leaves the line and fails.
pub async fn run_within(
    api: &Api,
    venue: &Venue,
    behaviour: &Behaviour,
    rng: &mut StdRng,
    name: String,
    patience: Option<Instant>,
) -> FanRecord {
    let mut fan = Fan {
        api,
        venue,
        behaviour,
        rng,
        record: FanRecord {
            issued_at: None,
            active_seen: None,
            waiting_asked: None,
            joined: None,
            token_asked: None,
            held: None,
            paid: None,
            outcome: Outcome::NoSeat,
        },
        token: String::new(),
        patience,
    };
    fan.record.outcome = match fan.journey(name).await {
        Ok(outcome) => outcome,
        Err(Unreachable(reason)) => Outcome::Failed(format!("unreachable: {reason}")),
    };
    fan.record
}

impl Fan<'_> {
    async fn journey(&mut self, name: String) -> Result<Outcome, Unreachable> {
        let registered = self
            .call("POST /users", Method::POST, "/api/v1/users", json!({ "name": name }))
            .await?;
        let Some(user_id) = registered.body["userId"].as_str().map(str::to_string) else {
            return Ok(failed("register", &registered));
        };
        let asked = Instant::now();
        let issued = self.api.take_token(&user_id).await?;
        let Some(token) = issued.body["token"].as_str().map(str::to_string) else {
            return Ok(failed("take a token", &issued));
        };
        self.token = token;
        self.record.issued_at = issued.body["issuedAt"].as_str().map(str::to_string);
        self.record.joined = Joined::from_status(&issued.body);
        self.record.token_asked = Some(asked);
        match self.wait_until_active(&issued, asked).await? {
            Waited::Active => {}
            Waited::Died => return Ok(Outcome::Failed("the token died while waiting".into())),
            Waited::GaveUp => {
                self.call_empty("DELETE /queue/tokens/me", Method::DELETE, "/api/v1/queue/tokens/me")
                    .await?;
                return Ok(Outcome::Failed("still WAITING when its patience ran out".into()));
            }
        }
        let outcome = self.shop().await?;
        if !matches!(outcome, Outcome::Paid { .. }) {
            self.call_empty("DELETE /queue/tokens/me", Method::DELETE, "/api/v1/queue/tokens/me")
                .await?;
        }
        Ok(outcome)
    }

    /// Polls until ACTIVE, the token's death or the end of the fan's patience. `asked` is when
    /// the token was asked for: a status is true from the moment its request left, not from when
    /// its answer came.
    async fn wait_until_active(&mut self, issued: &Reply, mut asked: Instant) -> Result<Waited, Unreachable> {
        let mut status = issued.body["status"].as_str().unwrap_or_default().to_string();
        loop {
            match status.as_str() {
                "ACTIVE" => {
                    self.record.active_seen = Some(Instant::now());
                    return Ok(Waited::Active);
                }
                "WAITING" => self.record.waiting_asked = Some(asked),
                _ => return Ok(Waited::Died),
            }
            if self.patience.is_some_and(|patience| Instant::now() >= patience) {
                return Ok(Waited::GaveUp);
            }
            tokio::time::sleep(self.behaviour.poll_interval).await;
            asked = Instant::now();
            let reply = self
                .call_empty("GET /queue/tokens/me", Method::GET, "/api/v1/queue/tokens/me")
                .await?;
            status = reply.body["status"].as_str().unwrap_or_default().to_string();
        }
    }

    /// Dates, a seat map, a hold, a charge, then a payment or a change of heart.
    async fn shop(&mut self) -> Result<Outcome, Unreachable> {
        let path = format!("/api/v1/concerts/{}/dates", self.venue.concert_id);
        let dates = self.call_empty("GET /concerts/{id}/dates", Method::GET, &path).await?;
        let open: Vec<String> = dates
            .body
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["availableSeats"].as_u64().unwrap_or_default() > self.behaviour.seats_left_min)
            .filter_map(|d| d["date"].as_str().map(str::to_string))
            .collect();
        if open.is_empty() {
            return Ok(Outcome::NoSeat);
        }
        let date = open[self.rng.random_range(0..open.len())].clone();
        self.pause().await;
        let path = format!("/api/v1/concerts/{}/dates/{date}/seats", self.venue.concert_id);
        let map = self
            .call_empty("GET /concerts/{id}/dates/{date}/seats", Method::GET, &path)
            .await?;
        let available: Vec<i64> = map.body["seats"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|seat| seat["status"] == "AVAILABLE")
            .filter_map(|seat| seat["seatNumber"].as_i64())
            .collect();
        let wanted = self.behaviour.order_sizes.pick(&mut self.rng);
        let held = self.hold_seats(&date, available, wanted).await?;
        if held.is_empty() {
            return Ok(Outcome::NoSeat);
        }
        self.record.held = Some(Instant::now());
        self.pause().await;
        let price: i64 = (held.iter())
            .map(|hold| hold.body["price"].as_i64().unwrap_or(self.venue.price))
            .sum();
        let charged = self
            .call(
                "POST /wallet/charges",
                Method::POST,
                "/api/v1/wallet/charges",
                json!({ "amount": price.max(1) }),
            )
            .await?;
        if !charged.ok() {
            return Ok(failed("charge", &charged));
        }
        self.pause().await;
        if self.rng.random_bool(self.behaviour.abandon_ratio) {
            for hold in &held {
                let reservation = hold.body["reservationId"].as_str().unwrap_or_default();
                let path = format!("/api/v1/reservations/{reservation}");
                self.call_empty("DELETE /reservations/{id}", Method::DELETE, &path)
                    .await?;
            }
            return Ok(Outcome::Abandoned);
        }
        self.pay(&date, &held).await
    }

    /// Holds up to `wanted` seats of the date, each found as one hold is; fewer if the seats run
    /// out or the fan's tries do.
    async fn hold_seats(
        &mut self,
        date: &str,
        mut available: Vec<i64>,
        wanted: u32,
    ) -> Result<Vec<Reply>, Unreachable> {
        let mut held = Vec::new();
        for _ in 0..wanted {
            let Some(hold) = self.hold_some_seat(date, &available).await? else {
                break;
            };
            let seat = hold.body["seatNumber"].as_i64().unwrap_or_default();
            available.retain(|free| *free != seat);
            held.push(hold);
        }
        Ok(held)
    }

    /// Tries seats until one is held; popular seats are tried whether or not they look free.
    async fn hold_some_seat(&mut self, date: &str, available: &[i64]) -> Result<Option<Reply>, Unreachable> {
        for _ in 0..self.behaviour.hold_attempts {
            let seat = if self.rng.random_bool(self.behaviour.popular_share) || available.is_empty() {
                i64::from(
                    self.rng
                        .random_range(1..=self.behaviour.popular_seats.min(self.venue.seats)),
                )
            } else {
                available[self.rng.random_range(0..available.len())]
            };
            let body = json!({ "concertId": self.venue.concert_id, "date": date, "seatNumber": seat });
            let reply = self
                .call("POST /reservations", Method::POST, "/api/v1/reservations", body)
                .await?;
            if reply.ok() {
                return Ok(Some(reply));
            }
        }
        Ok(None)
    }

    /// Pays the holds: one alone, several as one order.
    async fn pay(&mut self, date: &str, held: &[Reply]) -> Result<Outcome, Unreachable> {
        let ids: Vec<&str> = (held.iter())
            .map(|hold| hold.body["reservationId"].as_str().unwrap_or_default())
            .collect();
        let body = match ids.as_slice() {
            [one] => json!({ "reservationId": one }),
            several => json!({ "reservationIds": several }),
        };
        let paid = self
            .call("POST /payments", Method::POST, "/api/v1/payments", body)
            .await?;
        if !paid.ok() {
            return Ok(failed("pay", &paid));
        }
        self.record.paid = Some(Instant::now());
        Ok(Outcome::Paid {
            date: date.to_string(),
            seats: seats_paid(&paid.body, held),
            amount: paid.body["amount"].as_i64().unwrap_or_default(),
            payment_id: paid.body["paymentId"].as_str().unwrap_or_default().to_string(),
        })
    }

    async fn pause(&self) {
        if !self.behaviour.think_time.is_zero() {
            tokio::time::sleep(self.behaviour.think_time).await;
        }
    }

    async fn call(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<Reply, Unreachable> {
        let token = (!self.token.is_empty()).then_some(self.token.as_str());
        self.api
            .call_within_limits(endpoint, method, path, token, Some(&body))
            .await
    }

    async fn call_empty(&self, endpoint: &'static str, method: Method, path: &str) -> Result<Reply, Unreachable> {
        let token = (!self.token.is_empty()).then_some(self.token.as_str());
        self.api.call_within_limits(endpoint, method, path, token, None).await
    }
}

/// How a wait in line ended.
enum Waited {
    Active,
    Died,
    GaveUp,
}

/// The seats a payment's answer gave tickets for: an order's `tickets`, or the one hold's seat
/// and `ticketCode`.
fn seats_paid(receipt: &Value, held: &[Reply]) -> Vec<(i64, String)> {
    let code = |value: &Value| value["ticketCode"].as_str().unwrap_or_default().to_string();
    match receipt["tickets"].as_array() {
        Some(tickets) => (tickets.iter())
            .map(|ticket| (ticket["seatNumber"].as_i64().unwrap_or_default(), code(ticket)))
            .collect(),
        None => vec![(held[0].body["seatNumber"].as_i64().unwrap_or_default(), code(receipt))],
    }
}

/// A step the server refused unexpectedly, with its detail: what an operator reads to learn why.
fn failed(step: &str, reply: &Reply) -> Outcome {
    Outcome::Failed(format!(
        "{step}: {} {} ({})",
        reply.status.as_u16(),
        reply.code().unwrap_or(""),
        reply.body["detail"].as_str().unwrap_or("no detail")
    ))
}
