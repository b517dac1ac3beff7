//! The `watchers` scenario: thousands of WAITING fans each hold their event stream open while the
//! line is read and moves. The queue actor publishes one view of the line and each stream works
//! out its own place from it, so the open streams must leave the reads' throughput within a tenth
//! of what it is without them, and every admitted fan must hear of it within a second.

use super::admissions::{self, AdmissionDelays, Admissions};
use super::client::Api;
use super::journey::Venue;
use super::line::{self, Member};
use super::options::Options;
use super::reads::{Phase, ReadRate, ReadTargets, Readers, Throughput};
use super::resources::{self, SocketBudget};
use super::verdict::{Rules, Verdict};
use super::watcher::{self, WatchRecord};
use super::Harness;
use futures_util::StreamExt;
use reqwest::Method;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

/// Fans who join one after another from one address: their 32 requests stay within a default
/// per-client burst of 40.
const JOINS_PER_ADDRESS: usize = 16;

/// Addresses joining at once.
const JOINING_AT_ONCE: usize = 64;

/// Streams from one address: well within the server's per-client connections (256 by default)
/// and the address's ephemeral ports.
const STREAMS_PER_ADDRESS: usize = 64;

/// Streams being opened at once.
const OPENING_AT_ONCE: usize = 256;

/// Connections beside the streams and the readers while the streams are open: the admin's, the
/// leaves', the pools' spares.
const CONNECTIONS_BESIDE: u64 = 64;

/// The most ACTIVE places the harness fills before its fans wait: a larger room is a server
/// started for something else.
const ROOM_FILL_MAX: u64 = 10_000;

/// Fans admitted at most: enough for the delays' p99 to mean something. Half the watchers at
/// most, so that the other half's streams are seen to stay open through the admissions.
const ADMISSIONS_MAX: usize = 500;

/// How soon an admitted fan's stream must say ACTIVE.
const ADMISSION_BOUND: Duration = Duration::from_secs(1);

/// The share of the reads' throughput without streams that must remain with them open.
const THROUGHPUT_RATIO_MIN: f64 = 0.9;

/// How long after the last admission the admitted fans' streams are waited on to end.
const ADMISSION_WAIT: Duration = Duration::from_secs(5);

/// The pause before memory is read again once the streams are open: their first writes done.
const SETTLE: Duration = Duration::from_millis(500);

/// How long the server's CPU time is read while nothing runs but the streams (or nothing at
/// all): the streams' own cost, which a shared machine's noise does not blur as it does the
/// reads' throughput.
const QUIET: Duration = Duration::from_secs(2);

/// Refuses, before anything starts, a run whose streams would not fit in the descriptors this
/// process may open; raises the soft limit to the hard one first.
pub fn check_descriptors(options: &Options) -> Result<(), String> {
    let limit = crate::startup::raise_descriptor_limit();
    let budget = SocketBudget {
        held: u64::from(options.watchers),
        beside: options.concurrency as u64 + CONNECTIONS_BESIDE,
        both_ends: options.url.is_none(),
    };
    budget.check("--watchers", limit)
}

/// Whose memory was read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryOf {
    /// This process, the embedded server and the harness together.
    ThisProcess,
    /// The server's own process, `--server-pid`.
    Server(u32),
    Unmeasured,
}

/// Resident bytes before and after the streams opened: the server's (or this process's, with the
/// embedded server in it), and the harness's own when the server is another process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    pub of: MemoryOf,
    pub server: Option<(u64, u64)>,
    pub harness: Option<(u64, u64)>,
}

/// What a watchers run saw.
#[derive(Debug, Clone, Default)]
pub struct WatchersFigures {
    pub asked: usize,
    /// Fans ACTIVE when they joined, filling the room; WAITING ones, which hold the streams.
    pub active: usize,
    pub waiting: usize,
    pub join_failures: Vec<String>,
    pub records: Vec<WatchRecord>,
    pub open_seconds: f64,
    pub memory: Option<Memory>,
    /// The CPU used while quiet, without the streams and with them open.
    pub quiet_cpu: (QuietCpu, QuietCpu),
    /// The reads before the streams opened, while they were open, and after they closed: a
    /// machine shared with other work drifts, and the mean of before and after cancels a drift
    /// that would otherwise be taken for the streams' doing.
    pub before: Throughput,
    pub with: Throughput,
    pub after: Throughput,
    pub admitted_wanted: usize,
    pub admitted: usize,
    pub leaves_failed: usize,
    pub delays: AdmissionDelays,
}

/// Runs the scenario against `venue` and gives its verdict.
pub async fn run(harness: &Harness, venue: &Venue) -> Result<Verdict, String> {
    let options = &harness.options;
    let mut figures = WatchersFigures {
        asked: options.watchers as usize,
        ..WatchersFigures::default()
    };
    phase(&format!(
        "joining the line: the room's places, then {} WAITING",
        figures.asked
    ));
    let (active, waiting) = join_line(harness, &mut figures).await?;
    let readers = Readers::new(&harness.api, &harness.sources, options.concurrency);
    let targets = ReadTargets {
        waiting_tokens: waiting.clone().into(),
        active_tokens: active.clone().into(),
        seat_map_path: format!("/api/v1/concerts/{}/dates/{}/seats", venue.concert_id, venue.dates[0]),
    };
    phase("reading without streams");
    figures.before = readers.measure(&targets, options.duration, Phase::Before).await;
    let quiet_without = quiet_cpu(options).await;
    phase(&format!("opening {} streams", waiting.len()));
    let memory_before = read_memory(options);
    let (stop, stopped) = watch::channel(false);
    let (streams, opened_in) = open_streams(harness, &waiting, stopped).await;
    figures.open_seconds = opened_in.as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    figures.memory = Some(memory_between(options, memory_before, read_memory(options)));
    figures.quiet_cpu = (quiet_without, quiet_cpu(options).await);
    phase("reading with the streams open");
    figures.with = readers.measure(&targets, options.duration, Phase::WithStreams).await;
    figures.admitted_wanted = waiting.len().div_ceil(2).min(ADMISSIONS_MAX);
    phase(&format!("admitting {} fans", figures.admitted_wanted));
    let leaves = harness.api.bound_to(harness.sources.take());
    let admissions = admissions::admit(&leaves, active, &waiting, figures.admitted_wanted).await;
    figures.records = collect(streams, &admissions, stop).await;
    figures.delays = AdmissionDelays::of(&admissions, &figures.records);
    figures.admitted = admissions.rounds.last().map_or(0, |round| round.admitted.end);
    figures.leaves_failed = admissions.leaves_failed;
    phase("reading after the streams closed");
    let still_waiting = &waiting[figures.admitted..];
    let targets = ReadTargets {
        waiting_tokens: still_waiting.into(),
        active_tokens: admissions.still_active.clone().into(),
        ..targets
    };
    figures.after = readers.measure(&targets, options.duration, Phase::After).await;
    phase("leaving the line");
    leave_the_rest(&leaves, &waiting[figures.admitted..], &admissions).await;
    Ok(verdict(&figures))
}

/// A word on stderr of what the run is doing: a run of thousands of streams lasts minutes.
fn phase(what: &str) {
    eprintln!("watchers: {what}");
}

/// The room as the admin sees it: tokens WAITING and ACTIVE, and its places.
struct Room {
    waiting: u64,
    active: u64,
    active_max: u64,
}

async fn room_now(api: &Api) -> Result<Room, String> {
    let queue = api
        .call("GET /admin/queue", Method::GET, "/api/v1/admin/queue", None, None)
        .await
        .map_err(|e| format!("the server is unreachable: {}", e.0))?;
    let figure = |name: &str| queue.body[name].as_u64();
    match (figure("waiting"), figure("active"), figure("activeMax")) {
        (Some(waiting), Some(active), Some(active_max)) => Ok(Room {
            waiting,
            active,
            active_max,
        }),
        _ => Err(format!(
            "{} (is --admin-key right?)",
            line::refusal("read the queue", &queue)
        )),
    }
}

/// Fills the room's free places, then takes `--watchers` WAITING tokens; gives the ACTIVE tokens
/// and the WAITING ones in the line's order. The line must be empty at first: the fans the
/// harness admits must be its own.
async fn join_line(harness: &Harness, figures: &mut WatchersFigures) -> Result<(Vec<String>, Vec<String>), String> {
    let room = room_now(&harness.api).await?;
    if room.waiting > 0 {
        return Err(format!(
            "{} tokens are WAITING already: the watchers must be the whole line, so that the fans \
             their leaves admit are their own",
            room.waiting
        ));
    }
    let places = room.active_max.saturating_sub(room.active);
    if places == 0 || places > ROOM_FILL_MAX {
        return Err(format!(
            "the room has {places} free ACTIVE places: the harness fills from 1 to {ROOM_FILL_MAX} before its \
             fans wait (start the server with a smaller --active-max, or with no ACTIVE tokens)"
        ));
    }
    let joined = join_many(harness, places as usize + figures.asked).await;
    let (mut active, mut waiting) = (Vec::new(), Vec::new());
    for member in joined {
        match member {
            Ok(member) if member.active => active.push(member.token),
            Ok(member) => waiting.push(member),
            Err(problem) => figures.join_failures.push(problem),
        }
    }
    // Positions are unique while nobody leaves: their order is the line's.
    waiting.sort_by_key(|member: &Member| member.joined.position);
    figures.active = active.len();
    figures.waiting = waiting.len();
    Ok((active, waiting.into_iter().map(|member| member.token).collect()))
}

/// Registers `fans` fans and takes their tokens, [`JOINS_PER_ADDRESS`] one after another from each
/// address, whose client is dropped once they are in: its idle connections would hold
/// descriptors the streams need.
async fn join_many(harness: &Harness, fans: usize) -> Vec<Result<Member, String>> {
    let batches = (0..fans.div_ceil(JOINS_PER_ADDRESS))
        .map(|batch| JOINS_PER_ADDRESS.min(fans - batch * JOINS_PER_ADDRESS))
        .map(|count| {
            let api = harness.api.bound_to(harness.sources.take());
            async move {
                let mut joined = Vec::with_capacity(count);
                for _ in 0..count {
                    joined.push(line::join(&api, "watcher").await);
                }
                joined
            }
        });
    let joined: Vec<Vec<_>> = futures_util::stream::iter(batches)
        .buffer_unordered(JOINING_AT_ONCE)
        .collect()
        .await;
    joined.into_iter().flatten().collect()
}

/// Opens a stream for each of `waiting`, [`STREAMS_PER_ADDRESS`] to an address; gives the
/// watchers in the same order, and how long it took until each had its first event or failed.
async fn open_streams(
    harness: &Harness,
    waiting: &[String],
    stop: watch::Receiver<bool>,
) -> (Vec<JoinHandle<WatchRecord>>, Duration) {
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let started = Instant::now();
    let mut source = None;
    let mut watchers = Vec::with_capacity(waiting.len());
    for (index, token) in waiting.iter().enumerate() {
        if index % STREAMS_PER_ADDRESS == 0 {
            source = harness.sources.take();
        }
        let permit = opening.clone().acquire_owned().await.expect("the semaphore stays open");
        let (target, token, stop) = (harness.target.clone(), token.clone(), stop.clone());
        watchers.push(tokio::spawn(watcher::watch(target, source, token, permit, stop)));
    }
    // Every permit back: every watcher has its first event, or failed.
    let all = opening
        .acquire_many(OPENING_AT_ONCE as u32)
        .await
        .expect("the semaphore stays open");
    drop(all);
    (watchers, started.elapsed())
}

/// Waits for the admitted fans' streams to end after saying ACTIVE (at most [`ADMISSION_WAIT`]),
/// then ends the others; gives every watcher's record in the line's order.
async fn collect(
    streams: Vec<JoinHandle<WatchRecord>>,
    admissions: &Admissions,
    stop: watch::Sender<bool>,
) -> Vec<WatchRecord> {
    let deadline = tokio::time::Instant::now() + ADMISSION_WAIT;
    let admitted = admissions.rounds.last().map_or(0, |round| round.admitted.end);
    let mut streams: Vec<_> = streams.into_iter().map(Some).collect();
    let mut records: Vec<Option<WatchRecord>> = vec![None; streams.len()];
    for (stream, record) in streams.iter_mut().zip(&mut records).take(admitted) {
        let Some(handle) = stream.as_mut() else { continue };
        match tokio::time::timeout_at(deadline, handle).await {
            Ok(ended) => {
                *record = Some(ended.unwrap_or_default());
                *stream = None;
            }
            Err(_) => break,
        }
    }
    let _ = stop.send(true);
    for (stream, record) in streams.into_iter().zip(&mut records) {
        if let Some(handle) = stream {
            *record = Some(handle.await.unwrap_or_default());
        }
    }
    records.into_iter().map(Option::unwrap_or_default).collect()
}

/// The fans still in line and the ACTIVE ones nobody used leave, so that a server driven again
/// starts from an empty line.
async fn leave_the_rest(api: &Api, waiting: &[String], admissions: &Admissions) {
    let tokens: Vec<String> = (admissions.still_active.iter()).chain(waiting).cloned().collect();
    line::leave_all(api, &tokens).await;
}

/// The share of a core used over [`QUIET`]: the server's (this process's, when embedded), and
/// the harness's own when the server is another process on this machine, whose cores the
/// harness's reading of the streams takes from it. None where it cannot be read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QuietCpu {
    pub server: Option<f64>,
    pub harness: Option<f64>,
}

async fn quiet_cpu(options: &Options) -> QuietCpu {
    let server_pid = match (&options.url, options.server_pid) {
        (None, _) => Some(None),
        (Some(_), pid) => pid.map(Some),
    };
    let harness_apart = options.url.is_some();
    let read = || {
        (
            server_pid.and_then(resources::cpu_time),
            harness_apart.then(|| resources::cpu_time(None)).flatten(),
        )
    };
    let (before, started) = (read(), Instant::now());
    tokio::time::sleep(QUIET).await;
    let (after, seconds) = (read(), started.elapsed().as_secs_f64());
    let share = |before: Option<Duration>, after: Option<Duration>| {
        Some(after?.saturating_sub(before?).as_secs_f64() / seconds)
    };
    QuietCpu {
        server: share(before.0, after.0),
        harness: share(before.1, after.1),
    }
}

/// Resident bytes now: the server's (this process's when embedded), and the harness's own when
/// the server is elsewhere.
fn read_memory(options: &Options) -> (Option<u64>, Option<u64>) {
    match (&options.url, options.server_pid) {
        (None, _) => (resources::resident_bytes(None), None),
        (Some(_), pid) => (
            pid.and_then(|pid| resources::resident_bytes(Some(pid))),
            resources::resident_bytes(None),
        ),
    }
}

fn memory_between(options: &Options, before: (Option<u64>, Option<u64>), after: (Option<u64>, Option<u64>)) -> Memory {
    let of = match (&options.url, options.server_pid) {
        (None, _) => MemoryOf::ThisProcess,
        (Some(_), Some(pid)) => MemoryOf::Server(pid),
        (Some(_), None) => MemoryOf::Unmeasured,
    };
    Memory {
        of,
        server: before.0.zip(after.0),
        harness: before.1.zip(after.1),
    }
}

/// PASS when every WAITING fan's stream opened and stayed open, both reads kept at least
/// [`THROUGHPUT_RATIO_MIN`] of their throughput with the streams open and were all answered 200,
/// and every admitted fan's stream said ACTIVE within [`ADMISSION_BOUND`].
pub fn verdict(figures: &WatchersFigures) -> Verdict {
    let mut rules = Rules::default();
    check_line(figures, &mut rules);
    check_streams(figures, &mut rules);
    rules.figure(memory_line(figures));
    rules.figure(quiet_line(figures));
    check_reads("token status", |throughput| throughput.status, figures, &mut rules);
    check_reads("seat map", |throughput| throughput.seat_map, figures, &mut rules);
    check_admissions(figures, &mut rules);
    check_streams_stayed(figures, &mut rules);
    rules.verdict("watchers")
}

fn check_line(figures: &WatchersFigures, rules: &mut Rules) {
    let failures = &figures.join_failures;
    rules
        .figure(format!(
            "line: {} ACTIVE filled the room, then {} WAITING of {} asked; {} joins failed{}",
            figures.active,
            figures.waiting,
            figures.asked,
            failures.len(),
            failures.first().map_or(String::new(), |e| format!(" (e.g. {e})"))
        ))
        .require(figures.waiting == figures.asked, || {
            format!("only {} of {} fans were WAITING", figures.waiting, figures.asked)
        });
}

fn opened(figures: &WatchersFigures) -> usize {
    figures.records.iter().filter(|record| record.opened()).count()
}

fn check_streams(figures: &WatchersFigures, rules: &mut Rules) {
    let opened = opened(figures);
    let problem = (figures.records.iter())
        .filter(|record| !record.opened())
        .find_map(|record| match (&record.problem, record.status) {
            (Some(problem), _) => Some(problem.clone()),
            (None, Some(status)) => Some(format!("answered {status}")),
            (None, None) => None,
        });
    rules
        .figure(format!(
            "streams: {opened} of {} open in {:.1} s ({:.0} a second), each with its first status{}",
            figures.records.len(),
            figures.open_seconds,
            opened as f64 / figures.open_seconds.max(f64::EPSILON),
            problem.map_or(String::new(), |problem| format!("; one that failed: {problem}"))
        ))
        .require(opened == figures.waiting && opened > 0, || {
            format!("only {opened} of {} streams opened", figures.waiting)
        });
}

fn memory_line(figures: &WatchersFigures) -> String {
    let opened = opened(figures).max(1) as u64;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let grew = |(before, after): (u64, u64)| {
        format!(
            "grew from {:.1} to {:.1} MiB: {} bytes per open stream",
            mib(before),
            mib(after),
            after.saturating_sub(before) / opened
        )
    };
    let Some(memory) = figures.memory else {
        return "memory: not read".into();
    };
    let harness = memory.harness.map_or(String::new(), |harness| {
        format!("; the harness's own ends {}", grew(harness))
    });
    let server = match (memory.of, memory.server) {
        (MemoryOf::ThisProcess, Some(both)) => format!(
            "this process, the embedded server and the harness's ends together, {}",
            grew(both)
        ),
        (MemoryOf::Server(pid), Some(server)) => format!("the server (pid {pid}) {}", grew(server)),
        (MemoryOf::Server(pid), None) => format!("the server's not measured (pid {pid} unreadable)"),
        _ => "the server's not measured (give --server-pid)".into(),
    };
    format!("memory: {server}{harness} (the kernel's socket buffers not counted)")
}

fn quiet_line(figures: &WatchersFigures) -> String {
    let (without, with) = figures.quiet_cpu;
    let opened = opened(figures).max(1) as f64;
    let used = |without: Option<f64>, with: Option<f64>| {
        let (without, with) = (without?, with?);
        Some(format!(
            "used {:.1}% of a core without the streams and {:.1}% with them open: {:.2} µs of CPU per \
             open stream a second",
            without * 100.0,
            with * 100.0,
            (with - without).max(0.0) * 1e6 / opened
        ))
    };
    let who = match figures.memory.map(|memory| memory.of) {
        Some(MemoryOf::Server(pid)) => format!("the server (pid {pid})"),
        _ => "this process, the embedded server and the harness's ends together,".into(),
    };
    let server = match used(without.server, with.server) {
        Some(used) => format!("{who} {used}"),
        None => "the server's not measured (give --server-pid)".into(),
    };
    let harness =
        used(without.harness, with.harness).map_or(String::new(), |used| format!("; the harness's own ends {used}"));
    format!("quiet CPU: {server}{harness}")
}

fn check_reads(what: &str, of: fn(&Throughput) -> ReadRate, figures: &WatchersFigures, rules: &mut Rules) {
    let (before, with, after) = (of(&figures.before), of(&figures.with), of(&figures.after));
    let without = without_streams_rps(before, after);
    let ratio = with.rps() / without.max(f64::EPSILON);
    let failed = before.failed() + with.failed() + after.failed();
    rules
        .figure(format!(
            "{what} reads: {:.0}/s before the streams opened and {:.0}/s after they closed, {:.0}/s while \
             open: {ratio:.2} of the mean (at least {THROUGHPUT_RATIO_MIN:.2}); {failed} not answered 200",
            before.rps(),
            after.rps(),
            with.rps(),
        ))
        .require(ratio >= THROUGHPUT_RATIO_MIN, || {
            format!("{what} reads fell to {ratio:.2} of their throughput with the streams open")
        })
        .require(failed == 0 && before.ok > 0, || {
            format!(
                "{failed} {what} reads were not answered 200, out of {}: a per-user budget \
                 (--user-rate-limit 0 on a server started for this) measures the budget, not the reads",
                before.ok + with.ok + after.ok + failed
            )
        });
}

/// The throughput without streams: the mean of before and after, or before alone when nothing
/// was left to read after (every watcher admitted).
fn without_streams_rps(before: ReadRate, after: ReadRate) -> f64 {
    match after.ok {
        0 => before.rps(),
        _ => (before.rps() + after.rps()) / 2.0,
    }
}

fn check_admissions(figures: &WatchersFigures, rules: &mut Rules) {
    let delays = &figures.delays;
    let millis = |delay: Duration| delay.as_secs_f64() * 1000.0;
    let over = delays.over(ADMISSION_BOUND);
    rules
        .figure(format!(
            "admissions: {} of {} fans admitted, {} of them watching: ACTIVE event after their round's first \
             leave p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {over} over {} s or never ({} never){}",
            figures.admitted,
            figures.admitted_wanted,
            delays.watched(),
            millis(delays.quantile(0.5)),
            millis(delays.quantile(0.99)),
            millis(delays.max()),
            ADMISSION_BOUND.as_secs(),
            delays.missing,
            match figures.leaves_failed {
                0 => String::new(),
                failed => format!("; {failed} leaves failed"),
            }
        ))
        .require(
            figures.admitted == figures.admitted_wanted && figures.leaves_failed == 0,
            || {
                format!(
                    "{} of {} fans were admitted ({} leaves failed)",
                    figures.admitted, figures.admitted_wanted, figures.leaves_failed
                )
            },
        )
        .require(over == 0, || {
            format!(
                "{over} admitted fans heard of it after more than {} s, or never",
                ADMISSION_BOUND.as_secs()
            )
        })
        .require(delays.without_stream == 0, || {
            format!("{} admitted fans had no stream open", delays.without_stream)
        });
}

/// The streams of fans not admitted must have stayed open to the end; nearly all of them heard
/// their place move.
fn check_streams_stayed(figures: &WatchersFigures, rules: &mut Rules) {
    let rest: Vec<&WatchRecord> = (figures.records.iter().skip(figures.admitted))
        .filter(|record| record.opened())
        .collect();
    let cut = rest.iter().filter(|record| record.cut).count();
    let expired = rest.iter().filter(|record| record.expired).count();
    let moved = (figures.records.iter())
        .filter(|record| record.later_events > 0)
        .count();
    rules
        .figure(format!(
            "streams of fans still waiting: {}, {cut} ended by the server, {expired} told expired; \
             {moved} of all {} streams got an event after their first",
            rest.len(),
            opened(figures)
        ))
        .require(cut == 0 && expired == 0, || {
            format!(
                "{} streams of fans still waiting ended before the harness ended them",
                cut + expired
            )
        });
}

#[cfg(test)]
mod tests {
    use super::super::admissions::Round;
    use super::*;

    fn rate(ok: u64) -> ReadRate {
        ReadRate {
            ok,
            seconds: 1.0,
            ..ReadRate::default()
        }
    }

    fn waiting_stream(later_events: u32) -> WatchRecord {
        WatchRecord {
            status: Some(200),
            first_status: Some("WAITING".into()),
            later_events,
            ..WatchRecord::default()
        }
    }

    /// Three watchers, the first admitted 40 ms after its round began, throughput kept.
    fn figures() -> WatchersFigures {
        let started = Instant::now();
        let mut records = vec![waiting_stream(2), waiting_stream(1), waiting_stream(0)];
        records[0].active_at = Some(started + Duration::from_millis(40));
        let admissions = Admissions {
            rounds: vec![Round {
                started,
                admitted: 0..1,
            }],
            ..Admissions::default()
        };
        WatchersFigures {
            asked: 3,
            active: 5,
            waiting: 3,
            delays: AdmissionDelays::of(&admissions, &records),
            records,
            open_seconds: 0.5,
            memory: Some(Memory {
                of: MemoryOf::ThisProcess,
                server: Some((100 << 20, (100 << 20) + 3 * 30_000)),
                harness: None,
            }),
            quiet_cpu: (
                QuietCpu {
                    server: Some(0.01),
                    harness: None,
                },
                QuietCpu {
                    server: Some(0.04),
                    harness: None,
                },
            ),
            before: Throughput {
                status: rate(10_000),
                seat_map: rate(5_000),
            },
            with: Throughput {
                status: rate(9_500),
                seat_map: rate(4_600),
            },
            after: Throughput {
                status: rate(10_400),
                seat_map: rate(5_000),
            },
            admitted_wanted: 1,
            admitted: 1,
            ..WatchersFigures::default()
        }
    }

    #[test]
    fn open_streams_kept_throughput_and_a_prompt_admission_pass() {
        let verdict = verdict(&figures());
        let lines = verdict.lines();
        assert!(verdict.pass, "{lines}");
        assert!(lines.contains("streams: 3 of 3 open in 0.5 s (6 a second)"), "{lines}");
        assert!(
            lines.contains("grew from 100.0 to 100.1 MiB: 30000 bytes per open stream"),
            "{lines}"
        );
        assert!(
            lines.contains(
                "token status reads: 10000/s before the streams opened and 10400/s after they closed, \
                 9500/s while open: 0.93 of the mean"
            ),
            "{lines}"
        );
        assert!(lines.contains("seat map reads: 5000/s before"), "{lines}");
        assert!(lines.contains("4600/s while open: 0.92 of the mean"), "{lines}");
        assert!(lines.contains("max 40.0 ms; 0 over 1 s or never"), "{lines}");
        assert!(
            lines.contains("used 1.0% of a core without the streams and 4.0% with them open: 10000.00 µs"),
            "{lines}"
        );
        assert!(
            lines.contains("still waiting: 2, 0 ended by the server, 0 told expired; 2 of all 3 streams"),
            "{lines}"
        );
    }

    #[test]
    fn slower_reads_a_late_admission_and_a_cut_stream_fail() {
        let mut figures = figures();
        figures.with.seat_map = rate(4_000);
        figures.delays.delays = vec![Duration::from_millis(1_300)];
        figures.records[2].cut = true;
        let verdict = verdict(&figures);
        let lines = verdict.lines();
        assert!(!verdict.pass);
        assert_eq!(verdict.broken.len(), 3, "{lines}");
        assert!(lines.contains("seat map reads fell to 0.80"), "{lines}");
        assert!(
            lines.contains("1 admitted fans heard of it after more than 1 s"),
            "{lines}"
        );
        assert!(lines.contains("1 streams of fans still waiting ended"), "{lines}");
    }

    #[test]
    fn a_drop_that_the_reads_after_the_streams_share_is_the_machines_not_the_streams() {
        let mut figures = figures();
        figures.before.status = rate(10_000);
        figures.with.status = rate(8_000);
        figures.after.status = rate(7_600);
        let drifted = verdict(&figures);
        assert!(drifted.pass, "{}", drifted.lines());
        figures.after.status = rate(10_000);
        assert!(
            !verdict(&figures).pass,
            "the same drop with the reads after back up fails"
        );
        figures.after = Throughput::default();
        assert!(!verdict(&figures).pass, "nothing read after: the reads before alone");
    }

    #[test]
    fn refused_reads_and_unopened_streams_fail() {
        let mut figures = figures();
        figures.with.status.refused = 12;
        figures.records[1] = WatchRecord {
            problem: Some("connect: Cannot assign requested address".into()),
            ..WatchRecord::default()
        };
        let lines = verdict(&figures).lines();
        assert!(
            lines.contains("broken: 12 token status reads were not answered 200"),
            "{lines}"
        );
        assert!(lines.contains("broken: only 2 of 3 streams opened"), "{lines}");
        assert!(lines.contains("one that failed: connect: Cannot assign"), "{lines}");
    }

    #[test]
    fn a_remote_servers_memory_is_its_own_or_not_measured() {
        let mut figures = figures();
        figures.memory = Some(Memory {
            of: MemoryOf::Unmeasured,
            server: None,
            harness: Some((10 << 20, (10 << 20) + 3 * 2_000)),
        });
        figures.quiet_cpu.0.harness = Some(0.0);
        figures.quiet_cpu.1.harness = Some(0.03);
        let quiet = quiet_line(&figures);
        assert!(
            quiet.contains("the harness's own ends used 0.0% of a core without the streams and 3.0% with"),
            "{quiet}"
        );
        let line = memory_line(&figures);
        assert!(line.contains("the server's not measured (give --server-pid)"), "{line}");
        assert!(
            line.contains("the harness's own ends grew from 10.0 to 10.0 MiB: 2000 bytes"),
            "{line}"
        );
    }
}
