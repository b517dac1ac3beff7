//! The admissions of the `watchers` scenario: ACTIVE fans leave a few at a time, each leave
//! admitting the fan at the front of the line, and each round is timed so that every admitted
//! fan's wait for its ACTIVE event is measured from the round that admitted it.

use super::client::Api;
use super::line;
use super::watcher::WatchRecord;
use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Leaves sent together, as fans finishing their purchases would leave: a few at a time.
const LEAVES_PER_ROUND: usize = 8;

/// The pause between rounds, so that the admissions are spread over a few seconds.
const ROUND_PAUSE: Duration = Duration::from_millis(20);

/// One round of leaves: when its first leave was sent, and the fans it admitted, by their rank
/// in line when the streams were opened (0 the front).
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub started: Instant,
    pub admitted: Range<usize>,
}

/// The rounds, the leaves that failed, and the ACTIVE tokens nobody used to leave.
#[derive(Debug, Clone, Default)]
pub struct Admissions {
    pub rounds: Vec<Round>,
    pub leaves_failed: usize,
    pub still_active: Vec<String>,
}

/// Makes `active` fans leave, then the admitted ones in their turn, until `wanted` of `waiting`
/// (in the line's order) were admitted. Tokens are admitted strictly in order, one a leave, so
/// round after round the next few in `waiting` are the ones admitted.
pub async fn admit(api: &Api, active: Vec<String>, waiting: &[String], wanted: usize) -> Admissions {
    let wanted = wanted.min(waiting.len());
    let mut leaving: VecDeque<String> = active.into();
    let mut admissions = Admissions::default();
    let mut admitted = 0;
    while admitted < wanted {
        let count = LEAVES_PER_ROUND.min(wanted - admitted).min(leaving.len());
        if count == 0 {
            break;
        }
        let tokens: Vec<String> = leaving.drain(..count).collect();
        let started = Instant::now();
        let leaves = tokens.iter().map(|token| line::leave(api, token));
        let left = futures_util::future::join_all(leaves).await;
        let succeeded = left.iter().filter(|left| **left).count();
        admissions.leaves_failed += count - succeeded;
        let ranks = admitted..admitted + succeeded;
        leaving.extend(waiting[ranks.clone()].iter().cloned());
        admitted = ranks.end;
        admissions.rounds.push(Round {
            started,
            admitted: ranks,
        });
        tokio::time::sleep(ROUND_PAUSE).await;
    }
    admissions.still_active = leaving.into();
    admissions
}

/// How long the admitted fans waited for their ACTIVE event, from their round's first leave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdmissionDelays {
    /// Sorted.
    pub delays: Vec<Duration>,
    /// Admitted fans whose stream was open and never said ACTIVE.
    pub missing: usize,
    /// Admitted fans whose stream never opened.
    pub without_stream: usize,
}

impl AdmissionDelays {
    /// `records` are the streams by rank in line.
    pub fn of(admissions: &Admissions, records: &[WatchRecord]) -> Self {
        let mut figures = Self::default();
        for round in &admissions.rounds {
            for rank in round.admitted.clone() {
                match records.get(rank) {
                    Some(record) if record.opened() => match record.active_at {
                        Some(at) => figures.delays.push(at.saturating_duration_since(round.started)),
                        None => figures.missing += 1,
                    },
                    _ => figures.without_stream += 1,
                }
            }
        }
        figures.delays.sort();
        figures
    }

    /// Admitted fans whose stream was open.
    pub fn watched(&self) -> usize {
        self.delays.len() + self.missing
    }

    /// Those whose ACTIVE event came later than `bound`, or never.
    pub fn over(&self, bound: Duration) -> usize {
        self.delays.iter().filter(|delay| **delay > bound).count() + self.missing
    }

    /// The delay at quantile `q`, zero when there are none.
    pub fn quantile(&self, q: f64) -> Duration {
        let index = ((self.delays.len() as f64 * q) as usize).min(self.delays.len().saturating_sub(1));
        self.delays.get(index).copied().unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.delays.last().copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(active_after: Option<u64>, from: Instant) -> WatchRecord {
        WatchRecord {
            status: Some(200),
            first_status: Some("WAITING".into()),
            active_at: active_after.map(|millis| from + Duration::from_millis(millis)),
            ..WatchRecord::default()
        }
    }

    #[test]
    fn each_fan_is_timed_from_the_round_that_admitted_it() {
        let start = Instant::now();
        let second = start + Duration::from_millis(500);
        let admissions = Admissions {
            rounds: vec![
                Round {
                    started: start,
                    admitted: 0..2,
                },
                Round {
                    started: second,
                    admitted: 2..4,
                },
            ],
            ..Admissions::default()
        };
        let records = [
            opened(Some(10), start),
            opened(Some(30), start),
            opened(Some(1_700), start),
            opened(None, start),
            opened(Some(5), start),
        ];
        let figures = AdmissionDelays::of(&admissions, &records);
        let millis: Vec<u128> = figures.delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [10, 30, 1_200], "the third from its own round, 500 ms in");
        assert_eq!(figures.missing, 1);
        assert_eq!(figures.watched(), 4);
        assert_eq!(
            figures.over(Duration::from_secs(1)),
            2,
            "the late one and the missing one"
        );
        assert_eq!(figures.quantile(0.5).as_millis(), 30);
        assert_eq!(figures.max().as_millis(), 1_200);
    }

    #[test]
    fn an_admitted_fan_without_a_stream_is_counted_apart() {
        let start = Instant::now();
        let admissions = Admissions {
            rounds: vec![Round {
                started: start,
                admitted: 0..2,
            }],
            ..Admissions::default()
        };
        let figures = AdmissionDelays::of(&admissions, &[WatchRecord::default()]);
        assert_eq!(figures.without_stream, 2);
        assert_eq!(figures.over(Duration::from_secs(1)), 0);
    }
}
