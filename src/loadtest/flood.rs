//! The flood: one client registers users and takes tokens as fast as it can. What a per-client
//! budget lets it through, and the `flood` scenario: honest fans join from addresses of their own
//! during the flood and right after it, and must find themselves near the front.

use super::client::Api;
use super::journey::Joined;
use super::line::{self, Member};
use super::verdict::{Rules, Verdict};
use super::Harness;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Requests the flood keeps in flight: far more than a per-client budget lets through on
/// loopback, well under the server's per-client share of connections (256 by default).
const FLOOD_CONNECTIONS: usize = 32;

/// What the flood sent and what it got.
#[derive(Debug, Clone, Default)]
pub struct FloodTally {
    pub requests: u64,
    /// Answers 429 RATE_LIMITED.
    pub refused: u64,
    /// Requests the server did not answer (connections shut or reset).
    pub unanswered: u64,
    pub users: u64,
    /// The tokens it was issued, to leave the line with afterwards.
    pub tokens: Vec<String>,
    /// How long it flooded.
    pub seconds: f64,
}

impl FloodTally {
    /// Requests the server let through: every answer but a 429.
    pub fn accepted(&self) -> u64 {
        self.requests - self.refused - self.unanswered
    }

    pub fn refused_share(&self) -> f64 {
        self.refused as f64 / self.requests.max(1) as f64
    }

    fn add(&mut self, other: FloodTally) {
        self.requests += other.requests;
        self.refused += other.refused;
        self.unanswered += other.unanswered;
        self.users += other.users;
        self.tokens.extend(other.tokens);
    }

    /// `4012 requests in 2.0 s, 3911 refused 429 (97%); 101 let through: 51 users, 50 tokens`
    pub fn summary(&self) -> String {
        format!(
            "{} requests in {:.1} s, {} refused 429 ({:.1}%), {} unanswered; {} let through: {} users, {} tokens",
            self.requests,
            self.seconds,
            self.refused,
            self.refused_share() * 100.0,
            self.unanswered,
            self.accepted(),
            self.users,
            self.tokens.len()
        )
    }
}

/// The most a per-client budget of `rate` a second (bursts of twice that) lets one client
/// through while it floods for `seconds`: the burst at once, then `rate` a second, over the
/// flood's time and one second more for its last requests' way to the server. A token costs two
/// of those requests, a user and then its token, so the flood holds at most half that many
/// places in line. Rate 0 is no budget at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodBound {
    pub rate: u32,
    pub seconds: f64,
}

impl FloodBound {
    const SLACK_SECONDS: f64 = 1.0;

    pub fn requests_max(&self) -> Option<u64> {
        let rate = f64::from(self.rate);
        (self.rate > 0).then(|| (2.0 * rate + rate * (self.seconds + Self::SLACK_SECONDS)).floor() as u64)
    }

    pub fn tokens_max(&self) -> Option<u64> {
        Some(self.requests_max()? / 2)
    }

    /// The bound's rules: the flood got no more than the budget allows, and most of it was refused.
    pub fn check(&self, tally: &FloodTally, rules: &mut Rules) {
        rules.figure(format!("flood: {}", tally.summary()));
        match self.requests_max() {
            Some(requests_max) => {
                rules
                    .figure(format!(
                        "bound at {}/s for {:.1} s: {requests_max} requests, {} tokens",
                        self.rate,
                        self.seconds,
                        requests_max / 2
                    ))
                    .require(tally.accepted() <= requests_max, || {
                        format!(
                            "the flood got {} requests through, more than the {requests_max} its budget allows",
                            tally.accepted()
                        )
                    });
            }
            None => {
                rules.require(false, || {
                    "the server has no per-client budget (--client-rate-limit 0)".into()
                });
            }
        }
        // Judged on what the server answered, whatever the harness was told of its budget.
        rules.require(tally.refused_share() >= 0.5, || {
            format!("only {:.1}% of the flood was refused", tally.refused_share() * 100.0)
        });
    }
}

/// Floods `POST /users` and `POST /queue/tokens` from `api`'s address until `duration` has
/// passed or `stop` is set; never waits, never retries.
pub async fn flood(api: Api, duration: Duration, stop: watch::Receiver<bool>) -> FloodTally {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..FLOOD_CONNECTIONS)
        .map(|_| tokio::spawn(flood_worker(api.clone(), deadline, stop.clone())))
        .collect();
    let mut tally = FloodTally::default();
    for worker in workers {
        if let Ok(part) = worker.await {
            tally.add(part);
        }
    }
    tally.seconds = started.elapsed().as_secs_f64();
    tally
}

/// Registers a user, then asks for its token until it gets one (a refused token request leaves
/// the user for the next try), so every request the budget lets through goes as far towards a
/// place in line as it can.
async fn flood_worker(api: Api, deadline: Instant, stop: watch::Receiver<bool>) -> FloodTally {
    let mut tally = FloodTally::default();
    let mut user: Option<serde_json::Value> = None;
    while Instant::now() < deadline && !*stop.borrow() {
        let Some(user_id) = &user else {
            let body = json!({ "name": "flood" });
            user = flood_call(&api, &mut tally, "flood POST /users", "/api/v1/users", &body)
                .await
                .map(|created| created["userId"].clone());
            tally.users += u64::from(user.is_some());
            continue;
        };
        let body = json!({ "userId": user_id });
        let issued = flood_call(
            &api,
            &mut tally,
            "flood POST /queue/tokens",
            "/api/v1/queue/tokens",
            &body,
        )
        .await;
        if let Some(token) = issued.as_ref().and_then(|status| status["token"].as_str()) {
            tally.tokens.push(token.to_string());
            user = None;
        }
    }
    tally
}

/// One flood request, counted; the answer's body when it was a success.
async fn flood_call(
    api: &Api,
    tally: &mut FloodTally,
    endpoint: &'static str,
    path: &str,
    body: &serde_json::Value,
) -> Option<serde_json::Value> {
    tally.requests += 1;
    let Ok(reply) = api.call(endpoint, Method::POST, path, None, Some(body)).await else {
        tally.unanswered += 1;
        return None;
    };
    if reply.status == StatusCode::TOO_MANY_REQUESTS {
        tally.refused += 1;
    }
    reply.ok().then_some(reply.body)
}

/// What a flood run saw.
#[derive(Debug, Clone)]
pub struct FloodFigures {
    pub tally: FloodTally,
    pub bound: FloodBound,
    /// Tokens WAITING before the flood began.
    pub waiting_before: u64,
    /// The fans who joined during the flood.
    pub during: Vec<Result<Joined, String>>,
    /// The fan who joined right after it.
    pub after: Result<Joined, String>,
}

/// Runs the flood with honest fans joining during it and right after it, and gives its verdict.
pub async fn run(harness: &Harness) -> Result<Verdict, String> {
    let waiting_before = line::waiting_now(&harness.api).await?;
    let (stop, stopped) = watch::channel(false);
    let flood_api = harness.api.bound_to(harness.sources.take());
    let duration = harness.options.duration;
    let flooding = tokio::spawn(flood(flood_api.clone(), duration, stopped));
    let during = fans_during(harness, duration).await;
    let tally = flooding.await.map_err(|e| format!("the flood stopped: {e}"))?;
    drop(stop);
    let late_api = harness.api.bound_to(harness.sources.take());
    let after = line::join(&late_api, "fan after the flood").await;
    let figures = FloodFigures {
        bound: FloodBound {
            rate: harness.options.client_rate_limit,
            seconds: tally.seconds,
        },
        waiting_before,
        during: during
            .iter()
            .map(|(_, joined)| joined.as_ref().map(|m| m.joined).map_err(Clone::clone))
            .collect(),
        after: after.as_ref().map(|member| member.joined).map_err(Clone::clone),
        tally,
    };
    for (api, member) in &during {
        if let Ok(member) = member {
            line::leave(api, &member.token).await;
        }
    }
    if let Ok(member) = &after {
        line::leave(&late_api, &member.token).await;
    }
    line::leave_all(&flood_api, &figures.tally.tokens).await;
    Ok(verdict(&figures))
}

/// `--fans` honest fans, each from an address of its own, joining evenly spread over the flood.
async fn fans_during(harness: &Harness, duration: Duration) -> Vec<(Api, Result<Member, String>)> {
    let started = Instant::now();
    let fans = harness.options.fans;
    let joins = (0..fans).map(|fan| {
        let api = harness.api.bound_to(harness.sources.take());
        let due = started + duration.mul_f64((fan + 1) as f64 / (fans + 1) as f64);
        async move {
            tokio::time::sleep_until(due.into()).await;
            let member = line::join(&api, &format!("fan {fan} during the flood")).await;
            (api, member)
        }
    });
    futures_util::future::join_all(joins).await
}

/// PASS when the flood got no more through than its budget allows and was mostly refused, and
/// every honest fan got a token no further back than the tokens WAITING before, the honest fans
/// and the flood's most could put there.
pub fn verdict(figures: &FloodFigures) -> Verdict {
    let mut rules = Rules::default();
    figures.bound.check(&figures.tally, &mut rules);
    let honest = figures.during.len() as u64 + 1;
    let position_max = figures
        .bound
        .tokens_max()
        .map(|tokens| figures.waiting_before + honest + tokens);
    let joined: Vec<&Result<Joined, String>> = figures.during.iter().chain([&figures.after]).collect();
    rules.figure(positions_line(
        &figures.during,
        &figures.after,
        figures.waiting_before,
        position_max,
    ));
    for fan in &joined {
        match fan {
            Ok(joined) => {
                rules.require(position_max.is_some_and(|max| joined.position <= max), || {
                    format!(
                        "an honest fan was at position {}, behind more than the flood could put there",
                        joined.position
                    )
                });
            }
            Err(problem) => {
                rules.require(false, || format!("an honest fan got no token: {problem}"));
            }
        }
    }
    rules.verdict("flood")
}

fn positions_line(
    during: &[Result<Joined, String>],
    after: &Result<Joined, String>,
    waiting_before: u64,
    position_max: Option<u64>,
) -> String {
    let worst = during
        .iter()
        .filter_map(|fan| fan.as_ref().ok())
        .map(|joined| joined.position)
        .max();
    let after = match after {
        Ok(joined) => format!(
            "position {}, estimatedWaitSeconds {}",
            joined.position, joined.estimated_wait_seconds
        ),
        Err(problem) => format!("no token ({problem})"),
    };
    format!(
        "honest fans: {} joined during the flood (worst position {}), the fan right after it: {after}; \
         {waiting_before} were WAITING before, so a fan may be at most at position {}",
        during.iter().filter(|fan| fan.is_ok()).count(),
        worst.map_or("none".into(), |position| position.to_string()),
        position_max.map_or("(no bound)".into(), |max| max.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(requests: u64, refused: u64, tokens: usize) -> FloodTally {
        FloodTally {
            requests,
            refused,
            unanswered: 0,
            users: tokens as u64,
            tokens: vec![String::new(); tokens],
            seconds: 2.0,
        }
    }

    fn joined(position: u64) -> Result<Joined, String> {
        Ok(Joined {
            position,
            estimated_wait_seconds: position * 6,
        })
    }

    fn figures() -> FloodFigures {
        FloodFigures {
            tally: tally(5_000, 4_900, 50),
            bound: FloodBound { rate: 20, seconds: 2.0 },
            waiting_before: 0,
            during: vec![joined(0), joined(3)],
            after: joined(4),
        }
    }

    #[test]
    fn the_bound_is_the_burst_and_the_rate_over_the_flood_and_a_second() {
        let bound = FloodBound { rate: 20, seconds: 2.0 };
        assert_eq!(bound.requests_max(), Some(40 + 60));
        assert_eq!(bound.tokens_max(), Some(50));
        assert_eq!(FloodBound { rate: 0, seconds: 2.0 }.tokens_max(), None);
    }

    #[test]
    fn a_refused_flood_and_fans_near_the_front_pass() {
        let verdict = verdict(&figures());
        assert!(verdict.pass, "{}", verdict.lines());
        assert!(verdict.lines().contains("position 4, estimatedWaitSeconds 24"));
    }

    #[test]
    fn a_flood_let_through_past_its_budget_fails() {
        let figures = FloodFigures {
            tally: tally(1_000, 300, 350),
            ..figures()
        };
        let verdict = verdict(&figures);
        assert!(!verdict.pass);
        assert_eq!(verdict.broken.len(), 2, "{}", verdict.lines());
    }

    #[test]
    fn a_fan_pushed_back_past_the_bound_or_refused_fails() {
        let figures = FloodFigures {
            during: vec![joined(0), Err("take a token: 429 RATE_LIMITED".into())],
            after: joined(54),
            ..figures()
        };
        let verdict = verdict(&figures);
        assert!(!verdict.pass);
        assert_eq!(verdict.broken.len(), 2, "{}", verdict.lines());
        assert!(verdict.lines().contains("at position 54"), "{}", verdict.lines());
    }

    #[test]
    fn a_server_without_a_budget_fails() {
        let figures = FloodFigures {
            bound: FloodBound { rate: 0, seconds: 2.0 },
            ..figures()
        };
        assert!(!verdict(&figures).pass);
    }
}
