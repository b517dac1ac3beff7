//! A sale's refund policy: the fee a cancelled ticket pays, by how many days before its date it
//! is cancelled. Steps run from the earliest cancellation to the latest; past the last step (or
//! with no policy) a ticket is no longer refunded.

use crate::error::{Error, ErrorCode, Result};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The most steps a policy may have: more would tell a fan nothing a ticketing site does.
pub const REFUND_STEPS_MAX: usize = 10;

/// The most days before a date a step may start: a sale runs at most a couple of years ahead.
pub const REFUND_DAYS_MAX: u32 = 1_000;

/// One step: cancelled at least `until_days_before` days before the date, the fee is
/// `fee_percent` of the price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundStep {
    #[schema(minimum = 0, maximum = 1_000)]
    pub until_days_before: u32,
    #[schema(minimum = 0, maximum = 100)]
    pub fee_percent: u8,
}

/// The steps, the most days before first, each later step's fee no lower than the one before.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RefundPolicy(Vec<RefundStep>);

/// What a cancellation gives back and keeps, in won.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refund {
    pub refund: i64,
    pub fee: i64,
}

impl RefundPolicy {
    /// The policy of `steps` as an operator wrote them, if they make one: 1..=10 steps, days
    /// strictly fewer and fees no lower from one step to the next, fees 0..=100 %.
    pub fn new(steps: Vec<RefundStep>) -> Result<Self> {
        if steps.len() > REFUND_STEPS_MAX {
            return Err(invalid(format!(
                "A refund policy has at most {REFUND_STEPS_MAX} steps."
            )));
        }
        if let Some(step) = steps.iter().find(|step| step.fee_percent > 100) {
            return Err(invalid(format!("feePercent {} is more than 100.", step.fee_percent)));
        }
        if let Some(step) = steps.iter().find(|step| step.until_days_before > REFUND_DAYS_MAX) {
            return Err(invalid(format!(
                "untilDaysBefore {} is more than {REFUND_DAYS_MAX}.",
                step.until_days_before
            )));
        }
        let in_order = steps.windows(2).all(|pair| {
            pair[0].until_days_before > pair[1].until_days_before && pair[0].fee_percent <= pair[1].fee_percent
        });
        if !in_order {
            return Err(invalid(
                "Refund steps go from the most days before the date to the fewest, each fee no lower than the one before.",
            ));
        }
        Ok(Self(steps))
    }

    pub fn steps(&self) -> &[RefundStep] {
        &self.0
    }

    /// The refund of a ticket of `price` for `date`, cancelled at `now`. Days before the date
    /// are counted in whole calendar days of UTC: cancelled on the 17th for the 24th is 7.
    /// The fee is rounded down, in the fan's favour.
    pub fn refund(&self, price: i64, date: NaiveDate, now: DateTime<Utc>) -> Result<Refund> {
        let days_before = (date - now.date_naive()).num_days();
        let step = (self.0.iter()).find(|step| days_before >= i64::from(step.until_days_before));
        let Some(step) = step else {
            return Err(Error::new(
                ErrorCode::RefundClosed,
                "This ticket can no longer be refunded under its sale's policy.",
            )
            .with_korean("환불 가능 기간이 지나 이 티켓은 환불할 수 없습니다."));
        };
        let fee = price * i64::from(step.fee_percent) / 100;
        Ok(Refund {
            refund: price - fee,
            fee,
        })
    }
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::invalid_request(detail.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert, prop_assert_eq, proptest};

    fn step(until_days_before: u32, fee_percent: u8) -> RefundStep {
        RefundStep {
            until_days_before,
            fee_percent,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn christmas() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()
    }

    #[test]
    fn the_fee_follows_the_step_of_the_days_left() {
        let policy = RefundPolicy::new(vec![step(7, 0), step(1, 20)]).unwrap();
        let refund = |now| policy.refund(132_000, christmas(), at(now));
        assert_eq!(
            refund("2026-12-01T00:00:00Z").unwrap(),
            Refund {
                refund: 132_000,
                fee: 0
            }
        );
        assert_eq!(refund("2026-12-17T23:59:59Z").unwrap().fee, 0, "7 days before");
        assert_eq!(
            refund("2026-12-18T00:00:00Z").unwrap(),
            Refund {
                refund: 105_600,
                fee: 26_400
            }
        );
        assert_eq!(refund("2026-12-23T23:59:59Z").unwrap().fee, 26_400, "1 day before");
        assert_eq!(
            refund("2026-12-24T00:00:00Z").unwrap_err().code,
            ErrorCode::RefundClosed
        );
        assert_eq!(
            refund("2026-12-25T10:00:00Z").unwrap_err().code,
            ErrorCode::RefundClosed
        );
    }

    #[test]
    fn no_policy_refunds_nothing() {
        let refused = RefundPolicy::default().refund(1_000, christmas(), at("2026-01-01T00:00:00Z"));
        assert_eq!(refused.unwrap_err().code, ErrorCode::RefundClosed);
    }

    #[test]
    fn a_policy_out_of_order_or_past_100_percent_is_refused() {
        for steps in [
            vec![step(1, 20), step(7, 0)],
            vec![step(7, 0), step(7, 20)],
            vec![step(7, 30), step(1, 20)],
            vec![step(7, 101)],
            vec![step(1_001, 0)],
            (0..11).rev().map(|days| step(days, 0)).collect(),
        ] {
            assert_eq!(
                RefundPolicy::new(steps.clone()).unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{steps:?}"
            );
        }
        assert!(RefundPolicy::new(vec![step(0, 100)]).is_ok());
        assert!(RefundPolicy::new(vec![step(1_000, 0)]).is_ok());
    }

    proptest! {
        #[test]
        fn a_refund_and_its_fee_make_the_price(price in 0i64..=10_000_000_000, percent in 0u8..=100, days in 0u32..400) {
            let policy = RefundPolicy::new(vec![step(days, percent)]).unwrap();
            let refunded = policy.refund(price, christmas(), at("2025-11-01T12:00:00Z")).unwrap();
            prop_assert_eq!(refunded.refund + refunded.fee, price);
            prop_assert!(refunded.fee >= 0 && refunded.fee <= price);
            prop_assert!(refunded.fee * 100 <= price * i64::from(percent), "rounded down");
        }
    }
}
