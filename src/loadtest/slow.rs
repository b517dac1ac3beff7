//! The slow attack: connections that send a body a byte at a time, from several addresses, beside
//! WAITING tokens that each hold open the two idle event streams the server allows. A write must
//! still succeed at once, and the server must cut every slow body around its `--client-timeout`.

use super::client::Api;
use super::line::{self, Member};
use super::raw::{self, SlowEnd};
use super::verdict::{Rules, Verdict};
use super::Harness;
use reqwest::Method;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Slow bodies from one address: `POST /users` is budgeted per client before its body is read,
/// so more than a default burst (40) from one address would be refused at once, not held.
const SLOW_PER_ADDRESS: usize = 25;

/// Event streams from one address, and joins (two budgeted requests each) from one address.
const STREAMS_PER_ADDRESS: usize = 16;
const JOINS_PER_ADDRESS: usize = 16;

/// Tokens taken at most to fill the room and find WAITING ones for the streams.
const JOINS_MAX: usize = 2_000;

/// How often the honest write is tried while the slow connections are open.
const WRITE_EVERY: Duration = Duration::from_millis(250);

/// The longest an honest write may take, at most half the client timeout: one that had to wait
/// for the slow connections to be cut would take the whole timeout.
const WRITE_LATENCY_MAX: Duration = Duration::from_secs(2);

/// The longest the streams' tokens are waited on to find the room full.
const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a slow run saw.
#[derive(Debug, Clone, Default)]
pub struct SlowFigures {
    pub client_timeout: Duration,
    pub slow: Vec<SlowEnd>,
    /// Each honest write's status (None when unanswered) and latency.
    pub writes: Vec<(Option<u16>, Duration)>,
    /// Tokens ACTIVE that filled the room, and WAITING ones that held the streams.
    pub fillers: usize,
    pub stream_tokens: usize,
    /// Streams answered 200, and of those the ones the server ended before the harness did.
    pub streams_open: usize,
    pub streams_ended: usize,
    /// The status of a third stream on one token.
    pub third_stream: Option<u16>,
}

/// Runs the slow attack and gives its verdict.
pub async fn run(harness: &Harness) -> Result<Verdict, String> {
    let options = &harness.options;
    let (fillers, mut waiting) = join_until_waiting(harness, options.streams as usize).await;
    for (api, spare) in waiting.split_off(waiting.len().min(options.streams as usize)) {
        line::leave(&api, &spare.token).await;
    }
    let (stop_streams, streams_stop) = watch::channel(false);
    let streams = open_streams(harness, &waiting, streams_stop).await;
    let opened = Arc::new(AtomicUsize::new(0));
    let slow = spawn_slow(harness, opened.clone());
    let writes = write_meanwhile(harness, &opened, options.slow_connections as usize).await;
    let mut figures = SlowFigures {
        client_timeout: options.client_timeout,
        writes,
        fillers: fillers.len(),
        stream_tokens: waiting.len(),
        streams_open: streams.holders.len(),
        third_stream: streams.third,
        ..SlowFigures::default()
    };
    for task in slow {
        figures.slow.push(task.await.unwrap_or(SlowEnd::NotOpened));
    }
    let _ = stop_streams.send(true);
    for holder in streams.holders {
        figures.streams_ended += usize::from(holder.await.unwrap_or(true));
    }
    for (api, member) in fillers.iter().chain(&waiting) {
        line::leave(api, &member.token).await;
    }
    Ok(verdict(&figures))
}

/// Takes tokens, a few from each address, until `wanted` of them are WAITING (the ACTIVE ones
/// before them fill the room), or [`JOINS_MAX`] were taken.
async fn join_until_waiting(harness: &Harness, wanted: usize) -> (Vec<(Api, Member)>, Vec<(Api, Member)>) {
    let (mut active, mut waiting) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while waiting.len() < wanted && active.len() + waiting.len() < JOINS_MAX {
        if started.elapsed() > STREAM_OPEN_TIMEOUT {
            break;
        }
        let api = harness.api.bound_to(harness.sources.take());
        let joins = (0..JOINS_PER_ADDRESS).map(|_| line::join(&api, "slow line"));
        let joined: Vec<Member> = futures_util::future::join_all(joins)
            .await
            .into_iter()
            .flatten()
            .collect();
        for member in joined {
            match member.active {
                true => active.push((api.clone(), member)),
                false => waiting.push((api.clone(), member)),
            }
        }
    }
    (active, waiting)
}

/// The streams held open, and the answer to one more than a token may have.
struct Streams {
    holders: Vec<tokio::task::JoinHandle<bool>>,
    third: Option<u16>,
}

/// Opens the two streams each WAITING token may have, a few to each address, and tries a third on
/// the first token.
async fn open_streams(harness: &Harness, waiting: &[(Api, Member)], stop: watch::Receiver<bool>) -> Streams {
    let target = &harness.target;
    let mut holders = Vec::new();
    let mut source = None;
    for (index, (_, member)) in waiting.iter().flat_map(|pair| [pair, pair]).enumerate() {
        if index % STREAMS_PER_ADDRESS == 0 {
            source = harness.sources.take();
        }
        if let Ok(stream) = raw::open_event_stream(target, source, &member.token).await {
            if stream.status == Some(200) {
                holders.push(tokio::spawn(raw::hold_event_stream(stream, stop.clone())));
            }
        }
    }
    let third = match waiting.first() {
        Some((_, member)) => raw::open_event_stream(target, harness.sources.take(), &member.token)
            .await
            .ok()
            .and_then(|stream| stream.status),
        None => None,
    };
    Streams { holders, third }
}

/// Starts the slow bodies, [`SLOW_PER_ADDRESS`] from each address.
fn spawn_slow(harness: &Harness, opened: Arc<AtomicUsize>) -> Vec<tokio::task::JoinHandle<SlowEnd>> {
    let timeout = harness.options.client_timeout;
    // Ten bytes a timeout: the connection is never idle, only slow.
    let pace = (timeout / 10).max(Duration::from_millis(50));
    let give_up = timeout * 2 + Duration::from_secs(2);
    let mut source = None;
    (0..harness.options.slow_connections as usize)
        .map(|index| {
            if index % SLOW_PER_ADDRESS == 0 {
                source = harness.sources.take();
            }
            let (target, opened, source) = (harness.target.clone(), opened.clone(), source);
            tokio::spawn(async move { raw::slow_body(&target, source, pace, give_up, &opened).await })
        })
        .collect()
}

/// Once the slow connections are open (or a second has passed), registers a user every
/// [`WRITE_EVERY`] from an address of its own until the slow bodies are nearly due to be cut.
async fn write_meanwhile(harness: &Harness, opened: &AtomicUsize, slow: usize) -> Vec<(Option<u16>, Duration)> {
    let started = Instant::now();
    while opened.load(Ordering::Relaxed) < slow && started.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let until = started + harness.options.client_timeout.mul_f64(0.8);
    let api = harness.api.bound_to(harness.sources.take());
    let mut writes = Vec::new();
    loop {
        let asked = Instant::now();
        let body = json!({ "name": "honest writer" });
        let reply = api
            .call("POST /users", Method::POST, "/api/v1/users", None, Some(&body))
            .await;
        writes.push((reply.ok().map(|reply| reply.status.as_u16()), asked.elapsed()));
        if Instant::now() + WRITE_EVERY >= until {
            return writes;
        }
        tokio::time::sleep(WRITE_EVERY).await;
    }
}

/// When a close counts as the client timeout's doing, measured from the headers' departure: from
/// a tenth before it to half of it (at least two seconds) after. The server answers 400 at the
/// timeout and closes once its shutdown grace (a second in actix) is over.
fn cut_window(timeout: Duration) -> (Duration, Duration) {
    (
        timeout.mul_f64(0.9),
        timeout + (timeout / 2).max(Duration::from_secs(2)),
    )
}

fn write_latency_max(timeout: Duration) -> Duration {
    WRITE_LATENCY_MAX.min(timeout / 2)
}

/// PASS when every slow body was cut within the window around the client timeout, every honest
/// write was a 201 within its bound, and each stream token got its two streams and no third.
pub fn verdict(figures: &SlowFigures) -> Verdict {
    let mut rules = Rules::default();
    let (earliest, latest) = cut_window(figures.client_timeout);
    let (mut cuts, mut answers): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    let (mut uncut, mut not_opened) = (0, 0);
    for end in &figures.slow {
        match end {
            SlowEnd::Cut { after, answer } => {
                cuts.push(*after);
                answers.extend(answer.map(|(_, at)| at));
            }
            SlowEnd::Uncut => uncut += 1,
            SlowEnd::NotOpened => not_opened += 1,
        }
    }
    cuts.sort();
    answers.sort();
    let in_window = cuts.iter().filter(|cut| (earliest..=latest).contains(*cut)).count();
    rules
        .figure(cut_line(figures, &cuts, &answers, uncut + not_opened))
        .require(!figures.slow.is_empty() && in_window == figures.slow.len(), || {
            format!(
                "{} of {} slow connections were not cut between {:.1} s and {:.1} s",
                figures.slow.len() - in_window,
                figures.slow.len(),
                earliest.as_secs_f64(),
                latest.as_secs_f64()
            )
        });
    check_writes(figures, &mut rules);
    check_streams(figures, &mut rules);
    rules.verdict("slow")
}

fn cut_line(figures: &SlowFigures, cuts: &[Duration], answers: &[Duration], left: usize) -> String {
    format!(
        "slow bodies (client timeout {:.1} s): {} of {} answered after {} and closed by the server after {}; \
         {left} never cut or never opened",
        figures.client_timeout.as_secs_f64(),
        cuts.len(),
        figures.slow.len(),
        spread(answers),
        spread(cuts),
    )
}

/// `2.00 s .. 2.93 s (p50 2.41 s)` of sorted durations.
fn spread(sorted: &[Duration]) -> String {
    let at = |index: usize| sorted.get(index).map_or(0.0, Duration::as_secs_f64);
    format!(
        "{:.2} s .. {:.2} s (p50 {:.2} s)",
        at(0),
        at(sorted.len().saturating_sub(1)),
        at(sorted.len() / 2)
    )
}

fn check_writes(figures: &SlowFigures, rules: &mut Rules) {
    let bound = write_latency_max(figures.client_timeout);
    let slowest = figures
        .writes
        .iter()
        .map(|(_, latency)| *latency)
        .max()
        .unwrap_or_default();
    let created = figures.writes.iter().filter(|(status, _)| *status == Some(201)).count();
    rules
        .figure(format!(
            "honest writes meanwhile: {} of {} answered 201, slowest {:.0} ms (bound {:.0} ms)",
            created,
            figures.writes.len(),
            slowest.as_secs_f64() * 1000.0,
            bound.as_secs_f64() * 1000.0
        ))
        .require(!figures.writes.is_empty() && created == figures.writes.len(), || {
            format!("{} honest writes failed", figures.writes.len() - created)
        })
        .require(slowest <= bound, || {
            format!("an honest write took {:.0} ms", slowest.as_secs_f64() * 1000.0)
        });
}

fn check_streams(figures: &SlowFigures, rules: &mut Rules) {
    rules.figure(format!(
        "event streams: {} open on {} WAITING tokens (behind {} ACTIVE), {} ended by the server; a third on one token: {}",
        figures.streams_open,
        figures.stream_tokens,
        figures.fillers,
        figures.streams_ended,
        figures.third_stream.map_or("no answer".into(), |status| status.to_string())
    ));
    rules.require(figures.streams_open == 2 * figures.stream_tokens, || {
        format!(
            "only {} of the {} streams the tokens may have were opened",
            figures.streams_open,
            2 * figures.stream_tokens
        )
    });
    if figures.stream_tokens > 0 {
        rules.require(figures.third_stream == Some(429), || {
            format!(
                "a third stream on one token was answered {:?}, not 429",
                figures.third_stream
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(seconds: f64) -> SlowEnd {
        SlowEnd::Cut {
            after: Duration::from_secs_f64(seconds),
            answer: Some((400, Duration::from_secs_f64(seconds * 0.9))),
        }
    }

    fn figures() -> SlowFigures {
        SlowFigures {
            client_timeout: Duration::from_secs(10),
            slow: vec![cut(10.0), cut(10.4)],
            writes: vec![(Some(201), Duration::from_millis(12))],
            fillers: 100,
            stream_tokens: 2,
            streams_open: 4,
            streams_ended: 0,
            third_stream: Some(429),
        }
    }

    #[test]
    fn bodies_cut_at_the_timeout_and_a_quick_write_pass() {
        let verdict = verdict(&figures());
        assert!(verdict.pass, "{}", verdict.lines());
        assert!(
            verdict.lines().contains(
                "2 of 2 answered after 9.00 s .. 9.36 s (p50 9.36 s) and closed by the server after 10.00 s .. 10.40 s"
            ),
            "{}",
            verdict.lines()
        );
    }

    #[test]
    fn a_body_never_cut_or_cut_at_once_fails() {
        let figures = SlowFigures {
            slow: vec![cut(10.0), cut(0.01), SlowEnd::Uncut],
            ..figures()
        };
        let verdict = verdict(&figures);
        assert!(!verdict.pass);
        assert!(
            verdict.lines().contains("2 of 3 slow connections were not cut"),
            "{}",
            verdict.lines()
        );
    }

    #[test]
    fn a_slow_or_failed_write_and_a_third_stream_fail() {
        let figures = SlowFigures {
            writes: vec![(Some(201), Duration::from_secs(3)), (None, Duration::from_secs(30))],
            third_stream: Some(200),
            ..figures()
        };
        let verdict = verdict(&figures);
        assert_eq!(verdict.broken.len(), 3, "{}", verdict.lines());
    }

    #[test]
    fn the_cut_window_and_the_write_bound_follow_the_timeout() {
        let second = Duration::from_secs(1);
        assert_eq!(cut_window(second * 10), (second * 9, second * 15));
        assert_eq!(cut_window(second * 2), (Duration::from_millis(1800), second * 4));
        assert_eq!(write_latency_max(second * 10), second * 2);
        assert_eq!(write_latency_max(second), Duration::from_millis(500));
    }
}
