//! The fans' own figures, as a fan would tell the sale: how their journeys ended, and how long
//! they spent in line, then getting a seat held, and from the line to a ticket.

use super::journey::{FanRecord, Outcome};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// The longest wait kept exactly: a fan's patience in line is two minutes, and past an hour a
/// figure is only "very long".
const WAIT_MICROS_MAX: u64 = 3_600_000_000;

/// How the crowd's journeys went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JourneyFigures {
    pub fans: usize,
    pub paid: usize,
    pub abandoned: usize,
    pub no_seat: usize,
    pub failed: usize,
    /// From asking for a token to seeing it ACTIVE, for the fans let in.
    pub time_in_line: Spread,
    /// From seeing the token ACTIVE to a hold granted, for the fans who held a seat.
    pub time_to_hold: Spread,
    /// From asking for a token to the payment's 201, for the fans who paid.
    pub time_to_ticket: Spread,
}

/// A duration's median and 99th percentile over the fans it applies to; null when none did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    pub fans: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Spread {
    fn of(durations: impl Iterator<Item = Duration>) -> Self {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, WAIT_MICROS_MAX, 3).expect("valid histogram bounds");
        for duration in durations {
            histogram.saturating_record((duration.as_micros() as u64).clamp(1, WAIT_MICROS_MAX));
        }
        let quantile = |q: f64| (!histogram.is_empty()).then(|| histogram.value_at_quantile(q) as f64 / 1000.0);
        Self {
            fans: histogram.len(),
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
        }
    }

    /// `p50 12.3 ms, p99 45.6 ms (300 fans)`, or `none`.
    fn text(&self) -> String {
        match (self.p50_ms, self.p99_ms) {
            (Some(p50), Some(p99)) => format!("p50 {p50:.1} ms, p99 {p99:.1} ms ({} fans)", self.fans),
            _ => "none".into(),
        }
    }
}

impl JourneyFigures {
    pub fn of(fans: &[FanRecord]) -> Self {
        let count = |wanted: fn(&Outcome) -> bool| fans.iter().filter(|fan| wanted(&fan.outcome)).count();
        Self {
            fans: fans.len(),
            paid: count(|o| matches!(o, Outcome::Paid { .. })),
            abandoned: count(|o| matches!(o, Outcome::Abandoned)),
            no_seat: count(|o| matches!(o, Outcome::NoSeat)),
            failed: count(|o| matches!(o, Outcome::Failed(_))),
            time_in_line: Spread::of(fans.iter().filter_map(FanRecord::waited)),
            time_to_hold: Spread::of(fans.iter().filter_map(FanRecord::to_hold)),
            time_to_ticket: Spread::of(fans.iter().filter_map(FanRecord::to_ticket)),
        }
    }

    /// Three lines for the text report.
    pub fn lines(&self) -> String {
        format!(
            "time in line (token to ACTIVE): {}\ntime to hold (ACTIVE to hold): {}\ntime to ticket (token to payment): {}\n",
            self.time_in_line.text(),
            self.time_to_hold.text(),
            self.time_to_ticket.text()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A fan who asked at `start`, waited `line` ms, held after `hold` more, and paid `pay` later.
    fn fan(start: Instant, line: u64, hold: u64, pay: Option<u64>) -> FanRecord {
        let ms = Duration::from_millis;
        let active = start + ms(line);
        let held = active + ms(hold);
        FanRecord {
            issued_at: None,
            active_seen: Some(active),
            waiting_asked: None,
            joined: None,
            token_asked: Some(start),
            held: Some(held),
            paid: pay.map(|pay| held + ms(pay)),
            outcome: match pay {
                Some(_) => Outcome::Paid {
                    date: String::new(),
                    seats: vec![(1, String::new())],
                    amount: 1,
                    payment_id: String::new(),
                },
                None => Outcome::Abandoned,
            },
        }
    }

    fn within(ms: Option<f64>, wanted: f64) -> bool {
        ms.is_some_and(|ms| (ms - wanted).abs() <= wanted / 500.0)
    }

    #[test]
    fn each_figure_is_taken_between_its_own_two_moments() {
        let start = Instant::now();
        let fans: Vec<FanRecord> = (1..=100).map(|i| fan(start, i * 10, 5, Some(20))).collect();
        let figures = JourneyFigures::of(&fans);
        assert_eq!((figures.fans, figures.paid), (100, 100));
        assert!(within(figures.time_in_line.p50_ms, 500.0), "{figures:?}");
        assert!(within(figures.time_in_line.p99_ms, 990.0), "{figures:?}");
        assert!(within(figures.time_to_hold.p50_ms, 5.0), "{figures:?}");
        assert!(within(figures.time_to_ticket.p50_ms, 525.0), "{figures:?}");
    }

    #[test]
    fn the_figures_are_ordered_and_a_ticket_takes_at_least_the_line() {
        let start = Instant::now();
        let fans: Vec<FanRecord> = (0..200)
            .map(|i| fan(start, (i * 37) % 900 + 1, (i * 13) % 50, Some((i * 7) % 30)))
            .collect();
        let figures = JourneyFigures::of(&fans);
        for spread in [figures.time_in_line, figures.time_to_hold, figures.time_to_ticket] {
            assert_eq!(spread.fans, 200);
            assert!(spread.p50_ms.unwrap() <= spread.p99_ms.unwrap(), "{spread:?}");
        }
        // The same fans paid after they were let in, so every quantile of the one is above the other's.
        assert!(
            figures.time_to_ticket.p50_ms >= figures.time_in_line.p50_ms,
            "{figures:?}"
        );
        assert!(
            figures.time_to_ticket.p99_ms >= figures.time_in_line.p99_ms,
            "{figures:?}"
        );
    }

    #[test]
    fn fans_who_never_paid_have_no_time_to_ticket() {
        let start = Instant::now();
        let figures = JourneyFigures::of(&[fan(start, 10, 5, None)]);
        assert_eq!((figures.abandoned, figures.time_to_hold.fans), (1, 1));
        assert_eq!(
            figures.time_to_ticket,
            Spread {
                fans: 0,
                p50_ms: None,
                p99_ms: None
            }
        );
        assert!(
            figures.lines().contains("time to ticket (token to payment): none\n"),
            "{}",
            figures.lines()
        );
    }
}
