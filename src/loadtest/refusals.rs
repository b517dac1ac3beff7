//! Which unsuccessful calls a scenario expects and which are errors. A sale refuses fans in its
//! ordinary course (a seat taken, a balance short, a hold limit reached), and an attack is meant
//! to be refused; everything else — the other 4xx, every 5xx, a call that got no answer — is an
//! error.

use super::options::{Options, Scenario};
use std::collections::BTreeMap;

/// The code a call that got no answer (a refused connection, a timeout, a cut body) is counted
/// under.
pub const UNREACHABLE: &str = "UNREACHABLE";

/// What a fan meets when others were quicker, or its own wallet or holds are at their limits.
const SALE: [&str; 6] = [
    "SEAT_UNAVAILABLE",
    "HOLD_LIMIT_REACHED",
    "RESERVATION_EXPIRED",
    "RESERVATION_NOT_HELD",
    "INSUFFICIENT_BALANCE",
    "BALANCE_LIMIT_EXCEEDED",
];

/// The server asking for a proof of work before a token: the client solves it and asks again.
const CHALLENGE: &str = "CHALLENGE_REQUIRED";

/// An attack's refusals, the defence at work: too many requests from one address, a body too slow.
const DEFENCES: [&str; 2] = ["RATE_LIMITED", "REQUEST_TIMEOUT"];

/// The codes a run expects to be refused with.
#[derive(Debug, Clone)]
pub struct Expected {
    codes: Vec<&'static str>,
}

impl Expected {
    /// A crowd expects a sale's refusals; beside a flood, and in an attack, the defences' too.
    /// The ceiling, which only asks `/healthz`, expects none.
    pub fn of(options: &Options) -> Self {
        let mut codes = Vec::new();
        if options.scenario != Scenario::Ceiling {
            codes.extend(SALE);
            codes.push(CHALLENGE);
        }
        // The watchers and a waiting list are no attack: a call refused RATE_LIMITED there is an
        // error.
        let attacked = options.with_flood
            || !matches!(
                options.scenario,
                Scenario::Rush | Scenario::Steady | Scenario::Ceiling | Scenario::Watchers | Scenario::Waitlist
            );
        if attacked {
            codes.extend(DEFENCES);
        }
        Self { codes }
    }

    pub fn contains(&self, code: &str) -> bool {
        self.codes.contains(&code)
    }
}

/// Unsuccessful calls by code, told apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    pub refusals: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
}

/// Parts `codes` (every unsuccessful call by its problem's code, its status when it had none, or
/// [`UNREACHABLE`]) into the refusals `expected` and the errors.
pub fn split(codes: &BTreeMap<String, u64>, expected: &Expected) -> Split {
    let mut split = Split::default();
    for (code, count) in codes {
        let side = match expected.contains(code) {
            true => &mut split.refusals,
            false => &mut split.errors,
        };
        side.insert(code.clone(), *count);
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use clap::Parser;

    fn expected(args: &[&str]) -> Expected {
        Expected::of(&Options::parse_from(["loadtest", "--embedded"].iter().chain(args)))
    }

    fn codes(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(code, count)| (code.to_string(), *count)).collect()
    }

    #[test]
    fn a_rush_keeps_a_sale_s_refusals_apart_from_its_errors() {
        let recorded = codes(&[
            ("SEAT_UNAVAILABLE", 248),
            ("INSUFFICIENT_BALANCE", 2),
            ("HOLD_LIMIT_REACHED", 1),
            ("TOKEN_NOT_ACTIVE", 3),
            ("INTERNAL", 1),
            ("502", 1),
            (UNREACHABLE, 4),
            ("RATE_LIMITED", 5),
        ]);
        let split = split(&recorded, &expected(&[]));
        assert_eq!(
            split.refusals,
            codes(&[
                ("SEAT_UNAVAILABLE", 248),
                ("INSUFFICIENT_BALANCE", 2),
                ("HOLD_LIMIT_REACHED", 1)
            ])
        );
        assert_eq!(
            split.errors,
            codes(&[
                ("TOKEN_NOT_ACTIVE", 3),
                ("INTERNAL", 1),
                ("502", 1),
                (UNREACHABLE, 4),
                ("RATE_LIMITED", 5)
            ]),
            "fans a few to an address are never meant to be rate limited"
        );
    }

    #[test]
    fn a_flood_s_rate_limits_are_refusals_and_the_ceiling_expects_nothing() {
        let recorded = codes(&[("RATE_LIMITED", 3_911), ("SEAT_UNAVAILABLE", 1)]);
        for attack in [
            &["--scenario", "flood"][..],
            &["--with-flood"],
            &["--scenario", "hoard"],
        ] {
            assert_eq!(split(&recorded, &expected(attack)).refusals, recorded, "{attack:?}");
        }
        let ceiling = split(&recorded, &expected(&["--scenario", "ceiling"]));
        assert_eq!(ceiling.errors, recorded);
    }

    #[test]
    fn no_scenario_expects_a_server_error() {
        let every = [SALE.as_slice(), &[CHALLENGE], DEFENCES.as_slice()].concat();
        for code in every {
            let known = ErrorCode::ALL.iter().find(|known| known.as_str() == code);
            let status = known
                .map(|known| known.status())
                .unwrap_or_else(|| panic!("{code} is no code"));
            assert!((400..500).contains(&status), "{code} answers {status}");
        }
    }
}
