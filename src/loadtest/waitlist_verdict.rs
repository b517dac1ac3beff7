//! The verdict of `--scenario waitlist`, from what the run recorded: the date sold out, each
//! refund the price less the policy's fee, every returned seat offered to the earliest waiting
//! fans in the order they joined (never to a later fan while an earlier one waited, never to
//! anyone off the list), each offer a seat that was returned, no seat sold twice, and the money
//! adding up to the won.

use super::verdict::{Rules, Verdict};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// A ticket of the sell-out: the fan who bought it, its seat and its code.
#[derive(Debug, Clone)]
pub struct Sold {
    pub fan: u64,
    pub seat: u64,
    pub code: String,
}

/// A cancellation's answer, and the seat it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub seat: u64,
    pub refund: i64,
    pub fee: i64,
    pub balance: i64,
}

/// A seat offered to an entry, held in its fan's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub reservation: String,
    pub seat: u64,
    pub price: i64,
    pub held_until: DateTime<Utc>,
}

/// An entry as one read of it showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Waiting {
        position: u64,
    },
    Offered(Offer),
    Bought,
    Lapsed,
    /// No answer, or not one an entry gives: why.
    Unread(String),
}

impl Seen {
    /// Offered, bought or lapsed: the entry had its turn.
    fn had_turn(&self) -> bool {
        matches!(self, Seen::Offered(_) | Seen::Bought | Seen::Lapsed)
    }

    /// The state in a few words, for a broken rule.
    fn words(&self) -> String {
        match self {
            Seen::Waiting { position } => format!("waiting at {position}"),
            Seen::Offered(offer) => format!("offered seat {}", offer.seat),
            Seen::Bought => "bought".into(),
            Seen::Lapsed => "lapsed".into(),
            Seen::Unread(why) => format!("unread ({why})"),
        }
    }
}

impl Default for Seen {
    fn default() -> Self {
        Seen::Unread("never read".into())
    }
}

/// An offer's payment as answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid {
    pub ticket: String,
    pub amount: i64,
    pub balance: i64,
}

/// One entry of the list, followed: the offer it was first seen with, how its fan answered
/// it, and how the last read showed it.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub offer: Option<Offer>,
    pub paid: Option<Paid>,
    pub gave_back: bool,
    pub last: Seen,
}

/// A ticket as its code reads: its status (or why it could not be read) and its seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRead {
    pub status: String,
    pub seat: u64,
}

/// The server's totals (`GET /admin/stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub charged: i64,
    pub balances: i64,
    pub revenue: i64,
    pub seats_sold: i64,
    pub seats_held: i64,
}

/// The time each call of the list's life took.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub joins: Vec<Duration>,
    pub cancellations: Vec<Duration>,
    pub reads: Vec<Duration>,
    pub payments: Vec<Duration>,
}

/// Everything the run saw, for the verdict.
#[derive(Debug, Clone)]
pub struct Record {
    pub price: i64,
    pub fee_percent: i64,
    pub sold: Vec<Sold>,
    pub left_after_sell_out: u64,
    /// The places the joins were given, in join order.
    pub positions: Vec<u64>,
    pub refunds: Vec<Refund>,
    pub left_after_returns: u64,
    pub rounds: u32,
    /// A later entry seen with its turn while an earlier one waited, in each read it happened.
    pub order_broken: Vec<String>,
    /// Offered seats someone off the list tried to hold, and could.
    pub tried_by_others: u64,
    pub taken_by_others: u64,
    /// Offers a fan could neither pay nor give back, and why.
    pub failures: Vec<String>,
    /// In the order the fans joined.
    pub entries: Vec<Entry>,
    pub tickets: HashMap<String, TicketRead>,
    pub seat_map: Vec<(u64, String)>,
    pub before: Totals,
    pub after: Totals,
    pub timings: Timings,
}

/// The first break of the list's order in one read of it (in join order): a fan who had their
/// turn while one who joined before them still waited.
pub fn skipped(seen: &[Seen]) -> Option<String> {
    let waiting = seen.iter().position(|entry| matches!(entry, Seen::Waiting { .. }))?;
    let later = seen.iter().rposition(Seen::had_turn).filter(|&later| later > waiting)?;
    Some(format!(
        "the fan at place {} had their turn ({}) while the one at place {} still waited",
        later + 1,
        seen[later].words(),
        waiting + 1
    ))
}

impl Record {
    pub fn judge(&self, scenario: &str) -> Verdict {
        let mut rules = Rules::default();
        self.sell_out(&mut rules);
        self.returns(&mut rules);
        self.offers(&mut rules);
        self.answers(&mut rules);
        self.seats(&mut rules);
        self.money(&mut rules);
        rules.figure(self.timings.figure());
        rules.verdict(scenario)
    }

    fn listed(&self) -> u64 {
        self.entries.len() as u64
    }

    fn gave_back(&self) -> u64 {
        self.entries.iter().filter(|entry| entry.gave_back).count() as u64
    }

    fn bought(&self) -> impl Iterator<Item = (&Offer, &Paid)> {
        (self.entries.iter()).filter_map(|entry| Some((entry.offer.as_ref()?, entry.paid.as_ref()?)))
    }

    fn sell_out(&self, rules: &mut Rules) {
        let (seats, left, listed) = (self.sold.len(), self.left_after_sell_out, self.listed());
        rules.figure(format!(
            "sell-out: {seats} seats bought by as many fans, {left} AVAILABLE after"
        ));
        rules.require(left == 0, || {
            format!("{left} seats were still AVAILABLE once every seat was bought")
        });
        let mut places = self.positions.clone();
        places.sort_unstable();
        rules.figure(format!(
            "waiting list: {listed} fans joined at once, given places {} to {}",
            places.first().unwrap_or(&0),
            places.last().unwrap_or(&0)
        ));
        rules.require(places == (1..=listed).collect::<Vec<_>>(), || {
            format!("the places the joins were given are not 1 to {listed}, once each")
        });
    }

    fn returns(&self, rules: &mut Rules) {
        let fee = self.price * self.fee_percent / 100;
        let returned = self.refunds.len() as u64;
        let wrong = (self.refunds.iter())
            .filter(|r| r.fee != fee || r.refund != self.price - fee || r.balance != r.refund)
            .count();
        let refunded: i64 = self.refunds.iter().map(|r| r.refund).sum();
        let fees: i64 = self.refunds.iter().map(|r| r.fee).sum();
        let left = self.left_after_returns;
        rules.figure(format!(
            "returns: {returned} tickets cancelled at once, {refunded} won refunded and {fees} kept in fees; \
             {left} seats AVAILABLE after"
        ));
        rules.require(wrong == 0, || {
            format!(
                "{wrong} refunds were not the price less the policy's {}% fee, or not the buyer's balance after",
                self.fee_percent
            )
        });
        // Only the seats the list had no fan for are anyone's to see.
        let expected = returned.saturating_sub(self.listed());
        rules.require(left == expected, || {
            format!("{left} returned seats were AVAILABLE to anyone with fans on the list (expected {expected})")
        });
        let (tried, taken) = (self.tried_by_others, self.taken_by_others);
        rules.figure(format!(
            "offered seats a fan off the list tried to hold: {tried}, {} of them refused SEAT_UNAVAILABLE",
            tried - taken.min(tried)
        ));
        rules.require(taken == 0, || {
            format!("{taken} of {tried} tries to hold a seat offered to the list by a fan not on it were not refused")
        });
    }

    fn offers(&self, rules: &mut Rules) {
        let (listed, returned, gave_back) = (self.listed(), self.refunds.len() as u64, self.gave_back());
        let offered: Vec<&Offer> = self.entries.iter().filter_map(|entry| entry.offer.as_ref()).collect();
        let waiting = (self.entries.iter()).filter(|entry| matches!(entry.last, Seen::Waiting { .. }));
        rules.figure(format!(
            "offers: {} made over {} reads of the list, {} paid, {gave_back} given back; \
             {} of {listed} fans still waiting",
            offered.len(),
            self.rounds,
            self.bought().count(),
            waiting.count()
        ));
        let broken = self.order_broken.first();
        rules.require(broken.is_none(), || {
            format!(
                "a seat skipped the list's order: {}",
                broken.cloned().unwrap_or_default()
            )
        });
        let expected = listed.min(returned + gave_back);
        rules.require(offered.len() as u64 == expected, || {
            format!(
                "{} offers for {returned} seats returned and {gave_back} given back to a list of {listed} \
                 (expected {expected})",
                offered.len()
            )
        });
        let unseen = (self.entries.iter())
            .filter(|entry| entry.offer.is_none() && entry.last.had_turn())
            .count();
        rules.require(unseen == 0, || {
            format!("{unseen} fans had their turn with no offer ever shown to them")
        });
        let late = offered
            .windows(2)
            .position(|pair| pair[1].held_until < pair[0].held_until);
        rules.require(late.is_none(), || {
            "offers were not made in the order the fans joined (a later fan's offer ends before an earlier one's)"
                .into()
        });
        let seats: HashSet<u64> = self.refunds.iter().map(|r| r.seat).collect();
        let strange = (offered.iter())
            .filter(|offer| !seats.contains(&offer.seat) || offer.price != self.price)
            .count();
        rules.require(strange == 0, || {
            format!("{strange} offers were of a seat nobody returned, or at another price")
        });
        let places: Vec<u64> = (self.entries.iter())
            .filter_map(|entry| match entry.last {
                Seen::Waiting { position } => Some(position),
                _ => None,
            })
            .collect();
        rules.require(places.iter().copied().eq(1..=places.len() as u64), || {
            format!(
                "the fans still waiting are not at places 1 to {} in the order they joined",
                places.len()
            )
        });
    }

    /// How the fans' answers to their offers went: each paid offer the seat's price from a
    /// wallet charged with just that, and every returned seat bought while the list had fans.
    fn answers(&self, rules: &mut Rules) {
        let failure = self.failures.first();
        rules.require(failure.is_none(), || {
            format!(
                "an offer could not be answered: {}",
                failure.cloned().unwrap_or_default()
            )
        });
        let standing = (self.entries.iter())
            .filter(|entry| matches!(entry.last, Seen::Offered(_)))
            .count();
        rules.require(standing == 0, || {
            format!("{standing} offers were still standing after every fan had answered")
        });
        let unread = (self.entries.iter()).find_map(|entry| match &entry.last {
            Seen::Unread(why) => Some(why.clone()),
            _ => None,
        });
        rules.require(unread.is_none(), || {
            format!("an entry could not be read: {}", unread.clone().unwrap_or_default())
        });
        let wrong = (self.bought())
            .filter(|(_, paid)| paid.amount != self.price || paid.balance != 0)
            .count();
        rules.require(wrong == 0, || {
            format!("{wrong} offer payments did not take the seat's price from a wallet charged with just that")
        });
        let returned = self.refunds.len() as u64;
        let expected = returned.min(self.listed().saturating_sub(self.gave_back()));
        let bought = self.bought().count() as u64;
        rules.require(bought == expected, || {
            format!("{bought} of {returned} returned seats were bought from the list (expected {expected})")
        });
    }

    fn seats(&self, rules: &mut Rules) {
        let returned: HashSet<u64> = self.refunds.iter().map(|r| r.seat).collect();
        let (kept, cancelled): (Vec<&Sold>, Vec<&Sold>) =
            self.sold.iter().partition(|sold| !returned.contains(&sold.seat));
        let mut valid: Vec<(&str, u64)> = kept.iter().map(|sold| (sold.code.as_str(), sold.seat)).collect();
        valid.extend(self.bought().map(|(offer, paid)| (paid.ticket.as_str(), offer.seat)));
        let distinct: BTreeSet<u64> = valid.iter().map(|(_, seat)| *seat).collect();
        let count = |status: &str| self.seat_map.iter().filter(|(_, s)| s == status).count();
        let sold: BTreeSet<u64> = (self.seat_map.iter())
            .filter(|(_, status)| status == "SOLD")
            .map(|(seat, _)| *seat)
            .collect();
        rules.figure(format!(
            "seat map: {} SOLD, {} HELD, {} AVAILABLE; {} tickets valid, {} cancelled",
            sold.len(),
            count("HELD"),
            count("AVAILABLE"),
            valid.len(),
            cancelled.len()
        ));
        rules.require(distinct.len() == valid.len(), || {
            format!("{} seats were sold twice", valid.len() - distinct.len())
        });
        rules.require(sold == distinct, || {
            "the seats SOLD on the map are not those of the valid tickets".into()
        });
        rules.require(count("HELD") == 0, || {
            format!("{} seats were still HELD once every offer was answered", count("HELD"))
        });
        let reads_as = |code: &str, status: &str, seat: u64| {
            (self.tickets.get(code)).is_some_and(|read| read.status == status && read.seat == seat)
        };
        let wrong = valid
            .iter()
            .filter(|(code, seat)| !reads_as(code, "VALID", *seat))
            .count()
            + (cancelled.iter())
                .filter(|sold| !reads_as(sold.code.as_str(), "CANCELLED", sold.seat))
                .count();
        rules.require(wrong == 0, || {
            format!("{wrong} tickets did not read back VALID (or CANCELLED once cancelled) for their seat")
        });
    }

    /// The totals' change over the run against what the run charged, paid and was refunded: the
    /// server's other users, if any, would move them too.
    fn money(&self, rules: &mut Rules) {
        let (before, after) = (self.before, self.after);
        let bought = self.bought().map(|(_, paid)| paid.amount).sum::<i64>();
        let refunded: i64 = self.refunds.iter().map(|r| r.refund).sum();
        let sold = self.sold.len() as i64;
        let charged = (sold + self.listed() as i64) * self.price;
        let revenue = sold * self.price - refunded + bought;
        let change = |of: fn(&Totals) -> i64| of(&after) - of(&before);
        let fees: i64 = self.refunds.iter().map(|r| r.fee).sum();
        rules.figure(format!(
            "money: charged +{}, revenue +{} ({fees} of it fees), balances +{}; \
             in all charged {} = balances {} + revenue {}",
            change(|t| t.charged),
            change(|t| t.revenue),
            change(|t| t.balances),
            after.charged,
            after.balances,
            after.revenue
        ));
        rules.require(after.charged == after.balances + after.revenue, || {
            "money is not conserved: charged != balances + revenue".into()
        });
        let adds_up = change(|t| t.charged) == charged
            && change(|t| t.revenue) == revenue
            && change(|t| t.balances) == charged - revenue;
        rules.require(adds_up, || {
            format!(
                "the run's money does not add up: expected charged +{charged}, revenue +{revenue}, balances +{}",
                charged - revenue
            )
        });
        let seats_sold = sold - self.refunds.len() as i64 + self.bought().count() as i64;
        let counted = change(|t| t.seats_sold) == seats_sold && change(|t| t.seats_held) == 0;
        rules.require(counted, || {
            format!(
                "admin stats count seats sold +{} and held +{} (expected +{seats_sold} and +0)",
                change(|t| t.seats_sold),
                change(|t| t.seats_held)
            )
        });
    }
}

impl Timings {
    fn figure(&self) -> String {
        format!(
            "p99: join {:.1} ms, cancellation {:.1} ms, entry read {:.1} ms, offer payment {:.1} ms",
            p99_ms(&self.joins),
            p99_ms(&self.cancellations),
            p99_ms(&self.reads),
            p99_ms(&self.payments)
        )
    }
}

/// The 99th percentile, nearest rank, in milliseconds; 0 for no calls.
fn p99_ms(times: &[Duration]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let rank = (sorted.len() as f64 * 0.99).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1))
        .map_or(0.0, |took| took.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: u32) -> DateTime<Utc> {
        format!("2027-01-01T10:00:{second:02}Z").parse().unwrap()
    }

    fn offer(seat: u64, second: u32) -> Offer {
        Offer {
            reservation: format!("hold {seat} at {second}"),
            seat,
            price: 1_000,
            held_until: at(second),
        }
    }

    fn paid(ticket: &str) -> Option<Paid> {
        Some(Paid {
            ticket: ticket.into(),
            amount: 1_000,
            balance: 0,
        })
    }

    /// Four seats at 1,000 sold; seats 2 and 3 returned to a list of three: the first pays
    /// seat 2, the second gives seat 3 back, the third pays it.
    fn run_in_order() -> Record {
        let sold: Vec<Sold> = (1..=4)
            .map(|seat| Sold {
                fan: seat - 1,
                seat,
                code: format!("t{seat}"),
            })
            .collect();
        let refund = |seat| Refund {
            seat,
            refund: 900,
            fee: 100,
            balance: 900,
        };
        let entries = vec![
            Entry {
                offer: Some(offer(2, 1)),
                paid: paid("w1"),
                gave_back: false,
                last: Seen::Bought,
            },
            Entry {
                offer: Some(offer(3, 1)),
                paid: None,
                gave_back: true,
                last: Seen::Lapsed,
            },
            Entry {
                offer: Some(offer(3, 2)),
                paid: paid("w3"),
                gave_back: false,
                last: Seen::Bought,
            },
        ];
        let read = |status: &str, seat| TicketRead {
            status: status.into(),
            seat,
        };
        let tickets = HashMap::from([
            ("t1".to_string(), read("VALID", 1)),
            ("t2".to_string(), read("CANCELLED", 2)),
            ("t3".to_string(), read("CANCELLED", 3)),
            ("t4".to_string(), read("VALID", 4)),
            ("w1".to_string(), read("VALID", 2)),
            ("w3".to_string(), read("VALID", 3)),
        ]);
        Record {
            price: 1_000,
            fee_percent: 10,
            sold,
            left_after_sell_out: 0,
            positions: vec![1, 2, 3],
            refunds: vec![refund(2), refund(3)],
            left_after_returns: 0,
            rounds: 3,
            order_broken: Vec::new(),
            tried_by_others: 2,
            taken_by_others: 0,
            failures: Vec::new(),
            entries,
            tickets,
            seat_map: (1..=4).map(|seat| (seat, "SOLD".to_string())).collect(),
            before: Totals::default(),
            // 7 wallets charged 1,000; 4 sales, 2 refunds of 900, 2 offers paid.
            after: Totals {
                charged: 7_000,
                balances: 2_800,
                revenue: 4_200,
                seats_sold: 4,
                seats_held: 0,
            },
            timings: Timings::default(),
        }
    }

    fn broken(record: &Record) -> Vec<String> {
        record.judge("waitlist").broken
    }

    #[test]
    fn a_list_served_in_order_passes_with_its_figures() {
        let verdict = run_in_order().judge("waitlist");
        assert!(verdict.pass, "{}", verdict.lines());
        let lines = verdict.lines();
        for figure in [
            "returns: 2 tickets cancelled at once, 1800 won refunded and 200 kept in fees; 0 seats AVAILABLE after",
            "offers: 3 made over 3 reads of the list, 2 paid, 1 given back; 0 of 3 fans still waiting",
            "seat map: 4 SOLD, 0 HELD, 0 AVAILABLE; 4 tickets valid, 2 cancelled",
        ] {
            assert!(lines.contains(figure), "{figure:?} in\n{lines}");
        }
    }

    #[test]
    fn a_later_fan_with_their_turn_while_an_earlier_one_waits_breaks_the_order() {
        let waiting = Seen::Waiting { position: 1 };
        assert_eq!(skipped(&[Seen::Bought, Seen::Lapsed, waiting.clone()]), None);
        assert_eq!(
            skipped(&[Seen::Unread("x".into()), waiting.clone(), waiting.clone()]),
            None
        );
        let skip = skipped(&[Seen::Bought, waiting.clone(), Seen::Offered(offer(2, 1)), waiting]);
        assert!(
            skip.as_deref().is_some_and(|skip| skip
                == "the fan at place 3 had their turn (offered seat 2) while the one at place 2 still waited"),
            "{skip:?}"
        );

        // The third fan offered the seat the second gave back before the first was offered.
        let mut record = run_in_order();
        record.entries[2].offer = Some(offer(3, 0));
        let broken = broken(&record);
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].starts_with("offers were not made in the order"), "{broken:?}");
    }

    #[test]
    fn an_offer_of_a_seat_nobody_returned_fails() {
        let mut record = run_in_order();
        record.entries[0].offer = Some(offer(1, 1));
        let broken = broken(&record);
        assert!(
            broken
                .iter()
                .any(|rule| rule.starts_with("1 offers were of a seat nobody returned")),
            "{broken:?}"
        );
        assert!(broken.iter().any(|rule| rule.ends_with("sold twice")), "{broken:?}");
    }

    #[test]
    fn a_seat_left_over_goes_on_sale_only_when_the_list_runs_out() {
        let mut record = run_in_order();
        record.left_after_returns = 1;
        assert!(broken(&record)[0].starts_with("1 returned seats were AVAILABLE to anyone"));
        // A list of one for two seats: one is bought, the other on sale.
        let mut short = run_in_order();
        short.entries.truncate(1);
        short.positions.truncate(1);
        short.left_after_returns = 1;
        short.seat_map[2].1 = "AVAILABLE".into();
        short.tickets.remove("w3");
        short.after = Totals {
            charged: 5_000,
            balances: 1_800,
            revenue: 3_200,
            seats_sold: 3,
            seats_held: 0,
        };
        let verdict = short.judge("waitlist");
        assert!(verdict.pass, "{}", verdict.lines());
    }

    #[test]
    fn money_that_does_not_add_up_and_a_short_refund_fail() {
        let mut record = run_in_order();
        record.after.revenue += 1;
        record.refunds[0].balance = 800;
        let broken = broken(&record);
        assert!(
            broken.iter().any(|rule| rule.starts_with("money is not conserved")),
            "{broken:?}"
        );
        assert!(
            broken
                .iter()
                .any(|rule| rule.starts_with("1 refunds were not the price less")),
            "{broken:?}"
        );
    }

    #[test]
    fn the_p99_is_the_nearest_rank() {
        let times: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(p99_ms(&times), 198.0);
        assert_eq!(p99_ms(&[]), 0.0);
    }
}
