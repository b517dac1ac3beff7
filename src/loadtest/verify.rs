//! The checks after every run: no seat sold twice, sold seats equal the payments made, money
//! conserved, tokens admitted in the order they were issued, and no answer a 5xx.

use super::client::{Api, Recorded, Unreachable};
use super::journey::{FanRecord, Outcome, Venue};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Every invariant the run broke, in words.
pub async fn violations(api: &Api, venue: &Venue, fans: &[FanRecord], recorded: &Recorded) -> Vec<String> {
    let mut found = Vec::new();
    if recorded.server_errors > 0 {
        found.push(format!("{} answers were 5xx", recorded.server_errors));
    }
    found.extend(admission_order(fans));
    // A cluster's every node must tell the same truth.
    for node in 0..api.nodes() {
        let on_node = api.on_node(node);
        let label = |problem: String| match api.nodes() {
            1 => problem,
            _ => format!("node {}: {problem}", node + 1),
        };
        match server_side(&on_node, venue, fans).await {
            Ok(problems) => found.extend(problems.into_iter().map(label)),
            Err(Unreachable(reason)) => found.push(label(format!("the server could not be checked: {reason}"))),
        }
    }
    found
}

/// A fan told WAITING after a fan issued later was already ACTIVE means admission skipped the line.
/// Tokens issued at the same instant (the server issues a rush's requests in batches, at one
/// moment) have no order a client can see, so only a fan issued strictly earlier counts.
fn admission_order(fans: &[FanRecord]) -> Vec<String> {
    let mut issued: Vec<(DateTime<Utc>, &FanRecord)> = fans
        .iter()
        .filter_map(|fan| Some((fan.issued_at.as_deref()?.parse().ok()?, fan)))
        .collect();
    issued.sort_by_key(|(at, _)| *at);
    let mut latest_waiting_before: Option<Instant> = None;
    let mut overtaken = 0;
    for same_instant in issued.chunk_by(|(one, _), (other, _)| one == other) {
        for (_, fan) in same_instant {
            if let (Some(active), Some(waiting)) = (fan.active_seen, latest_waiting_before) {
                if waiting > active {
                    overtaken += 1;
                }
            }
        }
        let waiting_asked = same_instant.iter().filter_map(|(_, fan)| fan.waiting_asked).max();
        latest_waiting_before = latest_waiting_before.max(waiting_asked);
    }
    match overtaken {
        0 => Vec::new(),
        n => vec![format!(
            "{n} tokens became ACTIVE while a token issued before them was still WAITING"
        )],
    }
}

async fn server_side(api: &Api, venue: &Venue, fans: &[FanRecord]) -> Result<Vec<String>, Unreachable> {
    let mut found = Vec::new();
    let stats = api
        .call("GET /admin/stats", Method::GET, "/api/v1/admin/stats", None, None)
        .await?;
    let total = |name: &str| stats.body[name].as_i64().unwrap_or(-1);
    if !stats.ok() {
        found.push(format!("admin stats answered {}", stats.status));
    } else if total("chargedTotal") != total("balancesTotal") + total("revenueTotal") {
        found.push(format!(
            "money is not conserved: charged {} != balances {} + revenue {}",
            total("chargedTotal"),
            total("balancesTotal"),
            total("revenueTotal")
        ));
    }
    found.extend(orders_against_stats(&stats.body, fans));
    let mut paid: HashMap<String, Vec<i64>> = HashMap::new();
    for fan in fans {
        if let Outcome::Paid { date, seats, .. } = &fan.outcome {
            paid.entry(date.clone())
                .or_default()
                .extend(seats.iter().map(|(seat, _)| *seat));
        }
    }
    let Some(token) = checker_token(api).await? else {
        found.push("no ACTIVE token could be had within a minute to read the seat maps".into());
        return Ok(found);
    };
    for date in &venue.dates {
        let path = format!("/api/v1/concerts/{}/dates/{date}/seats", venue.concert_id);
        let map = api
            .call(
                "GET /concerts/{id}/dates/{date}/seats",
                Method::GET,
                &path,
                Some(&token),
                None,
            )
            .await?;
        let sold: BTreeSet<i64> = map.body["seats"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|seat| seat["status"] == "SOLD")
            .filter_map(|seat| seat["seatNumber"].as_i64())
            .collect();
        let payments = paid.remove(date).unwrap_or_default();
        let distinct: BTreeSet<i64> = payments.iter().copied().collect();
        if distinct.len() != payments.len() {
            found.push(format!("{date}: a seat was paid for twice"));
        }
        if sold != distinct {
            found.push(format!(
                "{date}: sold seats {sold:?} differ from the seats paid for {distinct:?}"
            ));
        }
    }
    let _ = api
        .call(
            "DELETE /queue/tokens/me",
            Method::DELETE,
            "/api/v1/queue/tokens/me",
            Some(&token),
            None,
        )
        .await;
    Ok(found)
}

/// The orders the fans were answered against the server's counts: one order each, a ticket per
/// seat, every ticket code distinct, and the revenue the sum of what the orders debited.
fn orders_against_stats(stats: &Value, fans: &[FanRecord]) -> Vec<String> {
    let mut found = Vec::new();
    let orders: Vec<(&Vec<(i64, String)>, i64)> = (fans.iter())
        .filter_map(|fan| match &fan.outcome {
            Outcome::Paid { seats, amount, .. } => Some((seats, *amount)),
            _ => None,
        })
        .collect();
    let codes: BTreeSet<&str> = (orders.iter())
        .flat_map(|(seats, _)| seats.iter().map(|(_, code)| code.as_str()))
        .filter(|code| !code.is_empty())
        .collect();
    let seats: usize = orders.iter().map(|(seats, _)| seats.len()).sum();
    if codes.len() != seats {
        found.push(format!(
            "{seats} seats were paid for but {} distinct tickets issued",
            codes.len()
        ));
    }
    let answered = |name: &str| stats[name].as_i64().unwrap_or(-1);
    if answered("ordersTotal") != orders.len() as i64 {
        found.push(format!(
            "{} orders were paid but the server counts {}",
            orders.len(),
            answered("ordersTotal")
        ));
    }
    let debited: i64 = orders.iter().map(|(_, amount)| amount).sum();
    if answered("revenueTotal") != debited {
        found.push(format!(
            "the orders debited {debited} but the revenue is {}",
            answered("revenueTotal")
        ));
    }
    found
}

/// A token of a fan of the harness's own, to read seat maps with once it is ACTIVE; none if the
/// queue does not let it in within a minute.
async fn checker_token(api: &Api) -> Result<Option<String>, Unreachable> {
    let patience = Instant::now() + Duration::from_secs(60);
    let user = api
        .call(
            "POST /users",
            Method::POST,
            "/api/v1/users",
            None,
            Some(&json!({ "name": "verifier" })),
        )
        .await?;
    let body = json!({ "userId": user.body["userId"] });
    let issued = api
        .call(
            "POST /queue/tokens",
            Method::POST,
            "/api/v1/queue/tokens",
            None,
            Some(&body),
        )
        .await?;
    let token = issued.body["token"].as_str().unwrap_or_default().to_string();
    let mut status = issued.body["status"].as_str().unwrap_or_default().to_string();
    while status == "WAITING" {
        if Instant::now() > patience {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let reply = api
            .call(
                "GET /queue/tokens/me",
                Method::GET,
                "/api/v1/queue/tokens/me",
                Some(&token),
                None,
            )
            .await?;
        status = reply.body["status"].as_str().unwrap_or_default().to_string();
    }
    Ok((status == "ACTIVE").then_some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fan(issued_at: &str, waiting_asked: Option<Instant>, active_seen: Option<Instant>) -> FanRecord {
        FanRecord {
            issued_at: Some(issued_at.to_string()),
            active_seen,
            waiting_asked,
            joined: None,
            token_asked: None,
            held: None,
            paid: None,
            outcome: Outcome::NoSeat,
        }
    }

    #[test]
    fn a_later_token_active_while_an_earlier_one_still_waits_is_a_violation() {
        let start = Instant::now();
        let at = |millis| start + Duration::from_millis(millis);
        let first = "2026-12-24T10:00:00.000000001Z";
        let second = "2026-12-24T10:00:00.000000002Z";
        // In order: the first waited until 10 ms and was admitted at 20; the second only then.
        let fair = [
            fan(first, Some(at(10)), Some(at(20))),
            fan(second, Some(at(15)), Some(at(30))),
        ];
        assert!(admission_order(&fair).is_empty());
        // The second was ACTIVE at 12 while the first was still told WAITING when it asked at 15.
        let unfair = [fan(first, Some(at(15)), Some(at(40))), fan(second, None, Some(at(12)))];
        assert_eq!(admission_order(&unfair).len(), 1);
        // Issued at the same instant, in one batch: neither was issued before the other, in
        // whichever order the harness lists them.
        let together = [fan(second, None, Some(at(12))), fan(second, Some(at(15)), Some(at(40)))];
        assert!(admission_order(&together).is_empty());
        let after_them = [
            fan(first, Some(at(15)), Some(at(40))),
            fan(second, None, Some(at(12))),
            fan(second, None, Some(at(13))),
        ];
        assert!(
            admission_order(&after_them)[0].starts_with("2 tokens"),
            "both overtook the earlier one"
        );
    }
}
