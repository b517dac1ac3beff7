//! `--scenario onsale`: a concert's own sale from its pre-queue to its last admission. Fans
//! arrive over `--duration` before the opening and a burst at it; afterwards the run checks that
//! the server admitted the pre-queue in the order drawn from its published seed, that a fan's
//! place does not depend on when they arrived, that nobody after the opening went ahead of the
//! drawn, and that admissions never came faster than `--admissions-per-minute`. It reports the
//! p99 of the calls made in the opening second.

use super::client::Api;
use super::crowd::Crowd;
use super::journey::Venue;
use super::verdict::{Rules, Verdict};
use super::Harness;
use crate::domain::draw::DrawSeed;
use crate::domain::ids::hex;
use crate::domain::Token;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Fans of an on-sale without `--users`.
const ONSALE_USERS: u64 = 2_000;

/// Share of the fans who come after the opening, in one burst.
const BURST_SHARE: f64 = 0.2;

/// Calls in flight at once in the opening second: a crowd's worth, within the descriptors a
/// process has (an embedded server holds the other end of each).
const OPENING_IN_FLIGHT: usize = 4_096;

/// Slack on the spacing of admissions, for the rounding of the times the server prints.
const SPACING_SLACK: chrono::Duration = chrono::Duration::milliseconds(1);

/// A fan of the run: their token and when (in the run's order) they came.
struct Arrival {
    token: String,
    entry: String,
    prequeued: bool,
    arrived: u64,
}

pub async fn run(harness: &Harness, venue: &Venue) -> Result<Verdict, String> {
    let options = &harness.options;
    let fans = options.users.unwrap_or(ONSALE_USERS);
    let crowd = Crowd::new(&harness.api, &harness.sources, fans);
    crowd.warm_up(options.concurrency).await;
    let users = register(&crowd, fans, options.concurrency).await?;
    let opens_at = Utc::now() + chrono::Duration::from_std(options.duration).map_err(|e| e.to_string())?;
    schedule(
        &harness.api,
        venue,
        opens_at,
        options.active_max,
        options.admissions_per_minute,
    )
    .await?;
    let started = Instant::now();
    let burst_from = ((fans as f64) * (1.0 - BURST_SHARE)).round() as u64;
    // The pre-queue's fans come over what is left before the opening once it is scheduled, so
    // that a slow schedule cannot push the last of them past it.
    let span = (opens_at - Utc::now()).to_std().unwrap_or_default();
    let mut arrivals = arrive(&crowd, venue, &users, burst_from, span, started).await?;
    let (opening_p99_ms, burst) = opening_second(&crowd, venue, &users, &arrivals, burst_from).await?;
    arrivals.extend(burst);
    let draw = read_draw(&harness.api, venue).await?;
    let admitted = admit_all(&crowd, &arrivals, options.admissions_per_minute, options.concurrency).await;
    Ok(judge(
        options.scenario_name(),
        &arrivals,
        &draw,
        &admitted,
        opening_p99_ms,
        options,
    ))
}

/// Registers the run's users ahead of the sale, so that each arrival is one request.
async fn register(crowd: &Crowd, fans: u64, concurrency: usize) -> Result<Vec<String>, String> {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let calls = (0..fans).map(|fan| {
        let slots = slots.clone();
        async move {
            let _slot = slots.acquire().await;
            let body = json!({"name": format!("onsale {fan}")});
            let api = crowd.api_of(fan);
            let reply = api
                .call_within_limits("POST /users", Method::POST, "/api/v1/users", None, Some(&body))
                .await
                .map_err(|e| e.0)?;
            reply.body["userId"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("a user: {}", reply.body))
        }
    });
    futures_util::future::try_join_all(calls).await
}

async fn schedule(
    api: &Api,
    venue: &Venue,
    opens_at: DateTime<Utc>,
    active_max: u32,
    rate: Option<u32>,
) -> Result<(), String> {
    let body = json!({
        "prequeueOpensAt": Utc::now().to_rfc3339(),
        "opensAt": opens_at.to_rfc3339(),
        "activeMax": active_max,
        "admissionsPerMinute": rate,
    });
    let path = format!("/api/v1/admin/concerts/{}/sale", venue.concert_id);
    let reply = (api
        .call("PUT /admin/concerts/{id}/sale", Method::PUT, &path, None, Some(&body))
        .await)
        .map_err(|e| e.0)?;
    match reply.ok() {
        true => Ok(()),
        false => Err(format!("scheduling the sale answered {} {}", reply.status, reply.body)),
    }
}

/// The pre-queue's fans, spread evenly over its span: fan `i` comes at `i / count` of it.
async fn arrive(
    crowd: &Crowd,
    venue: &Venue,
    users: &[String],
    count: u64,
    span: Duration,
    started: Instant,
) -> Result<Vec<Arrival>, String> {
    let calls = (0..count).map(|fan| async move {
        let at = started + span.mul_f64(fan as f64 / count.max(1) as f64) * 9 / 10;
        tokio::time::sleep_until(at.into()).await;
        take_token(crowd.api_of(fan), venue, &users[fan as usize], fan).await
    });
    futures_util::future::try_join_all(calls).await
}

/// Times a fan of the burst asks again when a request could not be sent (a connection the
/// crowded server closed as it was reused), as a fan's page does, before the run gives up.
const BURST_SEND_TRIES: u32 = 3;

/// A token for a fan of the opening's burst. A request the server never answered (its
/// connection closed under the crowd) is sent again on a new connection, as a page does: what
/// the run measures is the answer, and a token request is idempotent for a fan with none.
async fn take_token_again_if_unsent(api: &Api, venue: &Venue, user: &str, fan: u64) -> Result<Arrival, String> {
    let mut tries = 1;
    loop {
        match take_token(api, venue, user, fan).await {
            Err(unsent) if unsent.contains("error sending request") && tries < BURST_SEND_TRIES => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            taken => return taken,
        }
    }
}

async fn take_token(api: &Api, venue: &Venue, user: &str, fan: u64) -> Result<Arrival, String> {
    let path = format!("/api/v1/concerts/{}/queue/tokens", venue.concert_id);
    let body = json!({"userId": user});
    let reply = (api
        .call_within_limits(
            "POST /concerts/{id}/queue/tokens",
            Method::POST,
            &path,
            None,
            Some(&body),
        )
        .await)
        .map_err(|e| e.0)?;
    let token = reply.body["token"]
        .as_str()
        .ok_or_else(|| format!("a sale's token: {}", reply.body))?;
    Ok(Arrival {
        token: token.to_string(),
        entry: entry_of(token),
        prequeued: reply.body["status"] == "PREQUEUED",
        arrived: fan,
    })
}

/// What the sale publishes of a token, as the server computes it. The token's number reads
/// wrong under another server's key, but the secret, its last 48 hex digits, is what counts.
fn entry_of(token: &str) -> String {
    let secret = Token::from_client(token).map(|token| token.secret());
    secret.map_or_else(String::new, |secret| hex(&crate::domain::sale::entry_of(&secret)))
}

/// Reads the fan's status.
async fn read_status(api: &Api, token: &str) -> Result<super::client::Reply, super::client::Unreachable> {
    api.call(
        "GET /queue/tokens/me",
        Method::GET,
        "/api/v1/queue/tokens/me",
        Some(token),
        None,
    )
    .await
}

/// The opening second: the burst of late fans, and every pre-queued fan reading their status
/// once, as their pages do when the countdown ends. The p99 of those calls, and the burst.
async fn opening_second(
    crowd: &Crowd,
    venue: &Venue,
    users: &[String],
    prequeued: &[Arrival],
    burst_from: u64,
) -> Result<(f64, Vec<Arrival>), String> {
    let path = sale_path(venue);
    let sale = crowd
        .api_of(0)
        .call("GET /concerts/{id}/sale", Method::GET, &path, None, None);
    let opens_at = sale.await.map_err(|e| e.0)?.body["opensAt"]
        .as_str()
        .map(str::to_string);
    let opens_at: DateTime<Utc> = (opens_at.as_deref().and_then(|at| at.parse().ok())).ok_or("the sale's opensAt")?;
    let until_open = (opens_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_open).await;
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    let slots = &tokio::sync::Semaphore::new(OPENING_IN_FLIGHT);
    let reads = prequeued.iter().map(|fan| async move {
        let _slot = slots.acquire().await;
        let began = Instant::now();
        let api = crowd.api_of(fan.arrived);
        let _ = read_status(api, &fan.token).await;
        began.elapsed()
    });
    let burst = (burst_from..users.len() as u64).map(|fan| async move {
        let _slot = slots.acquire().await;
        let began = Instant::now();
        let arrival = take_token_again_if_unsent(crowd.api_of(fan), venue, &users[fan as usize], fan).await;
        (arrival, began.elapsed())
    });
    let (read_times, burst) = tokio::join!(
        futures_util::future::join_all(reads),
        futures_util::future::join_all(burst)
    );
    let mut late = Vec::new();
    for (arrival, took) in burst {
        latencies.saturating_record(took.as_micros() as u64);
        late.push(arrival?);
    }
    for took in read_times {
        latencies.saturating_record(took.as_micros() as u64);
    }
    Ok((latencies.value_at_quantile(0.99) as f64 / 1000.0, late))
}

fn sale_path(venue: &Venue) -> String {
    format!("/api/v1/concerts/{}/sale", venue.concert_id)
}

/// The published draw: its seed and its entries in issue order.
struct Draw {
    seed: [u8; 32],
    entries: Vec<String>,
}

async fn read_draw(api: &Api, venue: &Venue) -> Result<Draw, String> {
    let path = format!("{}/draw", sale_path(venue));
    // A connection idle since the sale was scheduled may have been closed by the server: the
    // read is asked again, on a new one.
    let mut reply = api
        .call("GET /concerts/{id}/sale/draw", Method::GET, &path, None, None)
        .await;
    for _ in 0..2 {
        if reply.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        reply = api
            .call("GET /concerts/{id}/sale/draw", Method::GET, &path, None, None)
            .await;
    }
    let reply = reply.map_err(|e| e.0)?;
    let seed = reply.body["drawSeed"]
        .as_str()
        .ok_or_else(|| format!("the draw: {}", reply.body))?;
    let seed: Vec<u8> = (0..32)
        .filter_map(|i| u8::from_str_radix(seed.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let entries = (reply.body["entries"].as_array().cloned().unwrap_or_default().iter())
        .filter_map(|entry| entry.as_str().map(str::to_string))
        .collect();
    Ok(Draw {
        seed: seed.try_into().map_err(|_| "the draw's seed is not 32 bytes")?,
        entries,
    })
}

/// Each fan, once ACTIVE, notes when they were admitted (`activeUntil` less the slot's length,
/// the same for all) and leaves, freeing the slot for the next. Read round after round until
/// everyone was admitted or the rate's time for them all (and a margin) has passed.
async fn admit_all(
    crowd: &Crowd,
    fans: &[Arrival],
    rate: Option<u32>,
    concurrency: usize,
) -> Vec<(DateTime<Utc>, usize)> {
    let slots = tokio::sync::Semaphore::new(concurrency.max(1));
    let per_admission = 60.0 / f64::from(rate.unwrap_or(60_000));
    let give_up = Instant::now() + Duration::from_secs_f64(fans.len() as f64 * per_admission * 1.5 + 30.0);
    let mut admitted: Vec<(DateTime<Utc>, usize)> = Vec::new();
    let mut waiting: Vec<usize> = (0..fans.len()).collect();
    while !waiting.is_empty() && Instant::now() < give_up {
        let slots = &slots;
        let reads = waiting.iter().map(|&index| async move {
            let _slot = slots.acquire().await;
            let fan = &fans[index];
            let api = crowd.api_of(fan.arrived);
            let read = read_status(api, &fan.token).await;
            let until = read
                .ok()
                .filter(|reply| reply.body["status"] == "ACTIVE")
                .and_then(active_until);
            if until.is_some() {
                let _ = api
                    .call(
                        "DELETE /queue/tokens/me",
                        Method::DELETE,
                        "/api/v1/queue/tokens/me",
                        Some(&fan.token),
                        None,
                    )
                    .await;
            }
            (index, until)
        });
        let round = futures_util::future::join_all(reads).await;
        waiting.clear();
        for (index, until) in round {
            match until {
                Some(until) => admitted.push((until, index)),
                None => waiting.push(index),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admitted.sort();
    admitted
}

fn active_until(reply: super::client::Reply) -> Option<DateTime<Utc>> {
    reply.body["activeUntil"].as_str()?.parse().ok()
}

fn judge(
    scenario: String,
    fans: &[Arrival],
    draw: &Draw,
    admitted: &[(DateTime<Utc>, usize)],
    opening_p99_ms: f64,
    options: &super::options::Options,
) -> Verdict {
    let mut rules = Rules::default();
    let prequeued: Vec<&Arrival> = fans.iter().filter(|fan| fan.prequeued).collect();
    let order = DrawSeed::from_bytes(draw.seed).order(draw.entries.clone());
    let place: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(at, entry)| (entry.as_str(), at))
        .collect();
    let mut drawn: Vec<&str> = prequeued.iter().map(|fan| fan.entry.as_str()).collect();
    drawn.sort_unstable();
    let mut published: Vec<&str> = draw.entries.iter().map(String::as_str).collect();
    published.sort_unstable();
    rules.figure(format!(
        "{} fans: {} pre-queued and drawn, {} after the opening; {} admitted",
        fans.len(),
        prequeued.len(),
        fans.len() - prequeued.len(),
        admitted.len()
    ));
    rules.require(drawn == published, || {
        "the published entries are not the pre-queued tokens".into()
    });
    // The admission order: the drawn in the seed's order, then the later fans in theirs.
    let admitted_order: Vec<&Arrival> = admitted.iter().map(|(_, index)| &fans[*index]).collect();
    let drawn_admitted: Vec<&str> = (admitted_order.iter())
        .filter(|fan| fan.prequeued)
        .map(|fan| fan.entry.as_str())
        .collect();
    let expected: Vec<&str> = order.iter().take(drawn_admitted.len()).map(String::as_str).collect();
    let same_instant = options.admissions_per_minute.is_none();
    let in_order = match same_instant {
        // Without a rate many are admitted in the same instant: compare sets of equal times.
        true => sorted(&drawn_admitted) == sorted(&expected),
        false => drawn_admitted == expected,
    };
    rules.require(in_order, || {
        "the pre-queue was not admitted in the order drawn from the published seed".into()
    });
    let first_late = admitted_order.iter().position(|fan| !fan.prequeued);
    let late_ahead = first_late.is_some_and(|first| admitted_order[first..].iter().any(|fan| fan.prequeued));
    rules.require(!late_ahead, || {
        "a fan who came after the opening was admitted ahead of a drawn fan".into()
    });
    let rho = spearman(
        &prequeued
            .iter()
            .map(|fan| (fan.arrived as f64, place[fan.entry.as_str()] as f64))
            .collect::<Vec<_>>(),
    );
    rules.figure(format!(
        "rank correlation of arrival and drawn place: {rho:+.4} over {} fans",
        prequeued.len()
    ));
    let bound = 4.0 / (prequeued.len().max(1) as f64).sqrt();
    rules.require(rho.abs() <= bound, || {
        format!("arrival and place correlate ({rho:+.4}, more than {bound:.4})")
    });
    if let Some(rate) = options.admissions_per_minute {
        let interval = chrono::Duration::nanoseconds(60_000_000_000 / i64::from(rate));
        let gaps: Vec<chrono::Duration> = admitted.windows(2).map(|pair| pair[1].0 - pair[0].0).collect();
        let tightest = gaps.iter().min().copied();
        rules.figure(format!(
            "outflow: {rate} a minute set; tightest gap between admissions {} ms (interval {} ms)",
            tightest.map_or(0, |gap| gap.num_milliseconds()),
            interval.num_milliseconds()
        ));
        rules.require(tightest.is_none_or(|gap| gap + SPACING_SLACK >= interval), || {
            "admissions came faster than admissionsPerMinute".into()
        });
    }
    rules.figure(format!(
        "p99 of the calls of the opening second: {opening_p99_ms:.1} ms"
    ));
    rules.require(admitted.len() == fans.len(), || {
        format!("{} fans were never admitted", fans.len() - admitted.len())
    });
    rules.verdict(&scenario)
}

fn sorted<'a>(entries: &[&'a str]) -> Vec<&'a str> {
    let mut sorted = entries.to_vec();
    sorted.sort_unstable();
    sorted
}

/// Spearman's rank correlation of the pairs (their values are distinct ranks already).
fn spearman(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let rank = |values: Vec<f64>| -> Vec<f64> {
        let mut indexed: Vec<(usize, f64)> = values.into_iter().enumerate().collect();
        indexed.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut ranks = vec![0.0; indexed.len()];
        for (rank, (index, _)) in indexed.into_iter().enumerate() {
            ranks[index] = rank as f64;
        }
        ranks
    };
    let xs = rank(pairs.iter().map(|pair| pair.0).collect());
    let ys = rank(pairs.iter().map(|pair| pair.1).collect());
    let d2: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - y).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_correlation_is_one_for_the_same_order_minus_one_reversed_and_small_for_a_shuffle() {
        let same: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, i as f64)).collect();
        let reversed: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, (99 - i) as f64)).collect();
        assert!((spearman(&same) - 1.0).abs() < 1e-9);
        assert!((spearman(&reversed) + 1.0).abs() < 1e-9);
        let shuffled = DrawSeed::from_bytes([5; 32]).order((0..10_000).collect::<Vec<u64>>());
        let drawn: Vec<(f64, f64)> = shuffled
            .iter()
            .enumerate()
            .map(|(at, fan)| (*fan as f64, at as f64))
            .collect();
        assert!(spearman(&drawn).abs() < 0.04, "{}", spearman(&drawn));
    }

    #[test]
    fn an_entry_is_the_hash_of_the_tokens_secret() {
        let token = format!("{:016x}{}", 7, "ab".repeat(24));
        use sha2::{Digest, Sha256};
        let expected = hex(&Sha256::digest([0xab; 24])[..16]);
        assert_eq!(entry_of(&token), expected);
    }
}
