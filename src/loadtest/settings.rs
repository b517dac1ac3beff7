//! The run's settings as its report gives them: in the JSON every flag that shaped the run, and
//! one line of the ones that matter to its scenario for the text and the plot.

use super::embedded;
use super::options::{Options, Scenario};
use crate::config::Config;
use serde::Serialize;
use std::time::Duration;

/// What the run was asked to do. A figure the harness cannot know (a remote server's fsync) or
/// that its scenario does not use (a rush's duration) is null.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub scenario: String,
    #[serde(skip)]
    kind: Scenario,
    /// `embedded`, or the URL driven.
    pub target: String,
    /// The server's `--fsync` and `--active-max`, when the harness started it.
    pub fsync: Option<String>,
    pub active_max: Option<u32>,
    /// The server's `--user-rate-limit`, when the harness started it (0: off).
    pub user_rate_limit: Option<u32>,
    /// The fans of a crowd, or on a waitlist run's list.
    pub users: Option<u64>,
    pub concurrency: usize,
    /// Fans arriving a second (open model); null for `--concurrency` at a time.
    pub arrival_rate: Option<f64>,
    pub duration: Option<String>,
    pub dates: u32,
    pub seats: u32,
    pub seed: u64,
    pub abandon_ratio: f64,
    pub popular_share: f64,
    pub poll_interval: String,
    pub client_rate_limit: u32,
    pub client_timeout: String,
    pub with_flood: bool,
    pub with_ceiling: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack: Option<AttackSettings>,
}

/// The flags of the attack scenarios.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttackSettings {
    pub hoarders: u64,
    pub rounds: u32,
    pub fans: u64,
    pub slow_connections: u32,
    pub streams: u32,
    pub watchers: u32,
    pub cancellations: u32,
}

fn text(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

impl Settings {
    pub fn of(options: &Options) -> Self {
        let embedded = options.url.is_none();
        let crowd = matches!(options.scenario, Scenario::Rush | Scenario::Steady);
        Self {
            scenario: options.scenario_name(),
            kind: options.scenario,
            target: options.url.clone().unwrap_or_else(|| "embedded".into()),
            fsync: embedded.then(|| format!("{:?}", options.fsync).to_lowercase()),
            active_max: embedded.then_some(options.active_max),
            user_rate_limit: embedded.then(|| embedded::user_rate_limit(options, Config::defaults().user_rate_limit)),
            users: users(options),
            concurrency: options.concurrency,
            arrival_rate: options.arrival_rate(),
            duration: uses_duration(options).then(|| text(options.duration)),
            dates: options.dates,
            seats: options.seats,
            seed: options.seed,
            abandon_ratio: options.abandon_ratio,
            popular_share: options.popular_share,
            poll_interval: text(options.poll_interval),
            client_rate_limit: options.client_rate_limit,
            client_timeout: text(options.client_timeout),
            with_flood: options.with_flood,
            with_ceiling: options.with_ceiling,
            attack: (!crowd && options.scenario != Scenario::Ceiling).then_some(AttackSettings {
                hoarders: options.hoarders,
                rounds: options.rounds,
                fans: options.fans,
                slow_connections: options.slow_connections,
                streams: options.streams,
                watchers: options.watchers,
                cancellations: options.cancellations,
            }),
        }
    }

    /// `rush against embedded (fsync never, active-max 100): 300 users, 64 at a time, 2 dates
    /// of 20 seats, seed 7`.
    pub fn line(&self) -> String {
        let budget = match self.user_rate_limit {
            Some(0) => ", per-user rate limit off",
            _ => "",
        };
        let server = match (&self.fsync, self.active_max) {
            (Some(fsync), Some(active_max)) => format!(" (fsync {fsync}, active-max {active_max}{budget})"),
            _ => String::new(),
        };
        format!("{} against {}{server}: {}", self.scenario, self.target, self.shape())
    }

    /// The figures that shape this scenario, comma-separated.
    fn shape(&self) -> String {
        let venue = format!("{} dates of {} seats", self.dates, self.seats);
        let duration = self.duration.clone().unwrap_or_default();
        let mut parts = match (self.kind, &self.attack) {
            (Scenario::Ceiling, _) => vec![format!("{} at a time for {duration}", self.concurrency)],
            (Scenario::Rush | Scenario::Steady, _) => vec![self.crowd(), venue],
            (Scenario::Hoard, Some(attack)) => vec![
                format!("{} rounds of {} hoarders", attack.rounds, attack.hoarders),
                format!("{} fans", attack.fans),
                venue,
            ],
            (Scenario::Watchers, Some(attack)) => vec![
                format!("{} watchers", attack.watchers),
                format!("reads {} at a time for {duration} each", self.concurrency),
            ],
            (Scenario::Waitlist, Some(attack)) => vec![
                format!("1 date of {} seats sold out", self.seats),
                format!("{} fans on its waiting list", self.users.unwrap_or_default()),
                format!("{} tickets cancelled", attack.cancellations),
                format!("{} of offers given back", self.abandon_ratio),
            ],
            (Scenario::Flood, Some(attack)) => vec![
                format!("for {duration}"),
                format!("{} fans", attack.fans),
                format!("client rate limit {}", self.client_rate_limit),
            ],
            (_, attack) => {
                let attack = attack.as_ref().expect("an attack has its settings");
                vec![
                    format!("{} slow connections", attack.slow_connections),
                    format!("{} streams", attack.streams),
                    format!("client timeout {}", self.client_timeout),
                ]
            }
        };
        parts.push(format!("seed {}", self.seed));
        parts.join(", ")
    }

    /// How the crowd arrives: `300 users, 64 at a time` or `200 users a second for 30s (6000 users)`.
    fn crowd(&self) -> String {
        let users = self.users.unwrap_or_default();
        match (self.arrival_rate, &self.duration) {
            (Some(rate), Some(duration)) => format!("{rate} users a second for {duration} ({users} users)"),
            (Some(rate), None) => format!("{users} users, {rate} a second"),
            (None, _) => format!("{users} users, {} at a time", self.concurrency),
        }
    }
}

/// The fans of a crowd, or on a waitlist run's list; none for the other scenarios.
fn users(options: &Options) -> Option<u64> {
    match options.scenario {
        Scenario::Rush | Scenario::Steady => Some(options.crowd_size()),
        Scenario::Waitlist => Some(options.users.unwrap_or(super::waitlist::WAITLIST_USERS)),
        _ => None,
    }
}

/// A steady, ceiling or flood run lasts `--duration`; so does a flood beside a crowd, at most,
/// the ceiling measured first, and each span of a watchers run's reads.
fn uses_duration(options: &Options) -> bool {
    options.with_flood
        || options.with_ceiling
        || matches!(
            options.scenario,
            Scenario::Steady | Scenario::Ceiling | Scenario::Flood | Scenario::Watchers
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(line: &str) -> Settings {
        let options = Options::parse_from(["loadtest"].into_iter().chain(line.split_whitespace()));
        Settings::of(&options)
    }

    #[test]
    fn a_rush_line_gives_its_server_crowd_venue_and_seed() {
        let rush = settings("--embedded --fsync never --users 300 --concurrency 64 --seats 20 --seed 7");
        assert_eq!(
            rush.line(),
            "rush against embedded (fsync never, active-max 100): 300 users, 64 at a time, 2 dates of 20 seats, seed 7"
        );
        assert_eq!(rush.duration, None, "a rush has no duration");
    }

    #[test]
    fn a_steady_line_gives_its_rate_and_duration_and_a_remote_server_no_fsync() {
        let steady = settings("--url http://127.0.0.1:8080 --scenario steady --arrival-rate 200 --duration 30s");
        assert_eq!(steady.fsync, None);
        let line = steady.line();
        assert!(
            line.starts_with("steady against http://127.0.0.1:8080: 200 users a second for 30s (6000 users), "),
            "{line}"
        );
    }

    #[test]
    fn a_watchers_line_gives_its_streams_reads_and_the_budget_it_turned_off() {
        let watchers = settings("--embedded --scenario watchers --watchers 300 --concurrency 32 --duration 2s");
        assert_eq!(watchers.user_rate_limit, Some(0));
        assert_eq!(
            watchers.line(),
            "watchers against embedded (fsync always, active-max 100, per-user rate limit off): \
             300 watchers, reads 32 at a time for 2s each, seed 1"
        );
        let rush = settings("--embedded");
        assert_ne!(
            rush.user_rate_limit,
            Some(0),
            "other scenarios keep a default server's budget"
        );
    }

    #[test]
    fn an_attack_gives_its_own_figures() {
        let hoard = settings("--embedded --scenario hoard --hoarders 20 --rounds 2");
        assert!(
            hoard
                .line()
                .contains(": 2 rounds of 20 hoarders, 10 fans, 2 dates of 50 seats, seed 1"),
            "{}",
            hoard.line()
        );
        assert_eq!(hoard.users, None);
        let slow = settings("--embedded --scenario slow --client-timeout 2s");
        assert!(
            slow.line()
                .contains("200 slow connections, 20 streams, client timeout 2s"),
            "{}",
            slow.line()
        );
    }

    #[test]
    fn a_waitlist_line_gives_its_date_list_and_returns() {
        let waitlist = settings("--embedded --scenario waitlist --seats 20 --users 40 --cancellations 8");
        assert_eq!(waitlist.users, Some(40));
        assert!(
            waitlist.line().ends_with(
                ": 1 date of 20 seats sold out, 40 fans on its waiting list, 8 tickets cancelled, \
                 0.2 of offers given back, seed 1"
            ),
            "{}",
            waitlist.line()
        );
        assert_eq!(settings("--embedded --scenario waitlist").users, Some(200));
    }
}
