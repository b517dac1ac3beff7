//! A rush or steady crowd with a flood alongside (`--with-flood`): the crowd's invariants must
//! hold as usual, the flood must be held to its budget, and no honest fan may be starved or put
//! further back than the flood could push it.

use super::client::Api;
use super::flood::{self, FloodBound, FloodTally};
use super::journey::{FanRecord, Outcome};
use super::line;
use super::verdict::{Rules, Verdict};
use super::Harness;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A flood running beside the crowd until told to stop or its `--duration` is over.
pub struct Flooding {
    stop: watch::Sender<bool>,
    task: JoinHandle<FloodTally>,
    api: Api,
    /// Tokens WAITING before the flood and the crowd began.
    pub waiting_before: u64,
}

impl Flooding {
    pub async fn start(harness: &Harness) -> Result<Self, String> {
        let waiting_before = line::waiting_now(&harness.api).await?;
        let (stop, stopped) = watch::channel(false);
        let api = harness.api.bound_to(harness.sources.take());
        let task = tokio::spawn(flood::flood(api.clone(), harness.options.duration, stopped));
        Ok(Self {
            stop,
            task,
            api,
            waiting_before,
        })
    }

    /// Stops the flood and gives what it got.
    pub async fn stop(self) -> Flooded {
        let _ = self.stop.send(true);
        Flooded {
            tally: self.task.await.unwrap_or_default(),
            api: self.api,
            waiting_before: self.waiting_before,
        }
    }
}

/// A flood that has stopped: its tally, and its client to leave the line with.
pub struct Flooded {
    pub tally: FloodTally,
    api: Api,
    pub waiting_before: u64,
}

impl Flooded {
    /// The flood's tokens leave the line.
    pub async fn leave(&self) {
        line::leave_all(&self.api, &self.tally.tokens).await;
    }

    /// The bound of a flood as long as this one at `rate` a second.
    pub fn bound(&self, rate: u32) -> FloodBound {
        FloodBound {
            rate,
            seconds: self.tally.seconds,
        }
    }
}

/// What a crowd run beside a flood saw.
pub struct CrowdFigures<'a> {
    pub fans: &'a [FanRecord],
    pub tally: &'a FloodTally,
    pub bound: FloodBound,
    pub waiting_before: u64,
    /// Invariants the crowd's run broke.
    pub violations: usize,
}

/// PASS when the flood kept to its budget and was mostly refused, the crowd's invariants held,
/// every honest fan finished its journey (none starved in line or refused), and none was put
/// further back than the tokens WAITING before, the crowd and the flood's most could put it.
pub fn verdict(scenario: &str, figures: &CrowdFigures) -> Verdict {
    let mut rules = Rules::default();
    figures.bound.check(figures.tally, &mut rules);
    let fans = figures.fans;
    let failed: Vec<&str> = fans
        .iter()
        .filter_map(|fan| match &fan.outcome {
            Outcome::Failed(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    let positions: Vec<u64> = fans.iter().filter_map(|fan| Some(fan.joined?.position)).collect();
    let estimates: Vec<u64> = fans
        .iter()
        .filter_map(|fan| Some(fan.joined?.estimated_wait_seconds))
        .collect();
    let waits: Vec<Duration> = fans.iter().filter_map(FanRecord::waited).collect();
    let position_max = figures
        .bound
        .tokens_max()
        .map(|tokens| figures.waiting_before + fans.len() as u64 + tokens);
    let worst = positions.iter().copied().max().unwrap_or(0);
    rules
        .figure(format!(
            "honest fans: {}, {} ACTIVE in the end, {} failed; position when joining p50 {} max {} (bound {}), \
             estimatedWaitSeconds p50 {} max {}, waited for ACTIVE p50 {:.2} s max {:.2} s",
            fans.len(),
            waits.len(),
            failed.len(),
            quantile(&positions, 0.5),
            worst,
            position_max.map_or("none".into(), |max| max.to_string()),
            quantile(&estimates, 0.5),
            estimates.iter().copied().max().unwrap_or(0),
            quantile(&waits, 0.5).as_secs_f64(),
            waits.iter().copied().max().unwrap_or_default().as_secs_f64(),
        ))
        .require(figures.violations == 0, || {
            format!("{} of the run's invariants were violated", figures.violations)
        })
        .require(failed.is_empty(), || {
            format!("{} honest fans failed, e.g. {}", failed.len(), failed[0])
        })
        .require(position_max.is_some_and(|max| worst <= max), || {
            format!("an honest fan joined at position {worst}, further back than the flood could push it")
        });
    rules.verdict(scenario)
}

/// The value at quantile `q` of `values`, or the default when there are none.
fn quantile<T: Copy + Ord + Default>(values: &[T], q: f64) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let index = ((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(index).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::journey::Joined;
    use std::time::Instant;

    fn fan(position: u64, outcome: Outcome) -> FanRecord {
        let asked = Instant::now();
        FanRecord {
            issued_at: None,
            active_seen: Some(asked + Duration::from_millis(position * 10)),
            waiting_asked: None,
            joined: Some(Joined {
                position,
                estimated_wait_seconds: position * 6,
            }),
            token_asked: Some(asked),
            held: None,
            paid: None,
            outcome,
        }
    }

    fn tally() -> FloodTally {
        FloodTally {
            requests: 3_000,
            refused: 2_950,
            unanswered: 0,
            users: 25,
            tokens: vec![String::new(); 25],
            seconds: 2.0,
        }
    }

    fn judge(fans: &[FanRecord], violations: usize) -> Verdict {
        let tally = tally();
        let figures = CrowdFigures {
            fans,
            tally: &tally,
            bound: FloodBound { rate: 20, seconds: 2.0 },
            waiting_before: 0,
            violations,
        };
        verdict("rush under flood", &figures)
    }

    #[test]
    fn fans_who_all_finish_near_the_front_pass() {
        let fans = [fan(0, Outcome::NoSeat), fan(30, Outcome::Abandoned)];
        let verdict = judge(&fans, 0);
        assert!(verdict.pass, "{}", verdict.lines());
        assert!(verdict.lines().contains("max 30 (bound 52)"), "{}", verdict.lines());
    }

    #[test]
    fn a_starved_fan_a_fan_pushed_back_or_a_violation_fails() {
        let fans = [
            fan(0, Outcome::Failed("still WAITING when its patience ran out".into())),
            fan(60, Outcome::NoSeat),
        ];
        let verdict = judge(&fans, 1);
        assert!(!verdict.pass);
        assert_eq!(verdict.broken.len(), 3, "{}", verdict.lines());
    }

    #[test]
    fn quantiles_of_nothing_are_zero() {
        assert_eq!(quantile::<u64>(&[], 0.5), 0);
        assert_eq!(quantile(&[3, 1, 2], 0.5), 2);
    }
}
