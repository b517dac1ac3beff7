//! Money across the wallets and a date's seat map under any interleaving of charges, holds,
//! payments, lapses and cancellations, each step decided as the services decide it: nothing is
//! lost or invented, the date's revenue is the wallet's, and a seat is sold exactly while its
//! ticket stands.

use super::refund::{RefundPolicy, RefundStep};
use super::seat_map::{ReservationStatus, SeatMap};
use super::wallet::{Payment, Wallet, WalletLimits};
use super::{ConcertId, ReservationId, TransactionId, UserId};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;

const SEATS: u32 = 4;
const PRICE: i64 = 1_000;

#[derive(Debug, Clone)]
enum Step {
    Charge { fan: usize, amount: i64 },
    Hold { fan: usize, seat: i64 },
    Pay { hold: usize },
    Wait { minutes: i64 },
    Cancel { ticket: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0..3usize, 1..3_000i64).prop_map(|(fan, amount)| Step::Charge { fan, amount }),
        3 => (0..3usize, 1..=i64::from(SEATS)).prop_map(|(fan, seat)| Step::Hold { fan, seat }),
        3 => any::<usize>().prop_map(|hold| Step::Pay { hold }),
        1 => (1..4_000i64).prop_map(|minutes| Step::Wait { minutes }),
        2 => any::<usize>().prop_map(|ticket| Step::Cancel { ticket }),
    ]
}

struct Model {
    wallet: Wallet,
    map: SeatMap,
    policy: RefundPolicy,
    fans: [UserId; 3],
    holds: Vec<ReservationId>,
    tickets: Vec<Payment>,
    now: DateTime<Utc>,
}

impl Model {
    fn new() -> Self {
        let date = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let steps = vec![
            RefundStep {
                until_days_before: 7,
                fee_percent: 0,
            },
            RefundStep {
                until_days_before: 1,
                fee_percent: 35,
            },
        ];
        Self {
            wallet: Wallet::new(WalletLimits {
                charge_max: 10_000,
                balance_max: 100_000,
            }),
            map: SeatMap::new(ConcertId::random(), date, SEATS, PRICE),
            policy: RefundPolicy::new(steps).unwrap(),
            fans: [UserId::random(), UserId::random(), UserId::random()],
            holds: Vec::new(),
            tickets: Vec::new(),
            now: "2026-12-20T10:00:00Z".parse().unwrap(),
        }
    }

    fn run(&mut self, step: &Step) {
        self.map.lapse_due(self.now);
        match *step {
            Step::Charge { fan, amount } => {
                let _ = (self.wallet).charge(self.fans[fan], amount, TransactionId::random(), self.now);
            }
            Step::Hold { fan, seat } => {
                let reservation = ReservationId::random();
                let held = (self.map).hold(
                    self.fans[fan],
                    seat,
                    reservation,
                    self.now,
                    Duration::minutes(5),
                    |_| true,
                );
                if held.is_ok() {
                    self.holds.push(reservation);
                }
            }
            Step::Pay { hold } if !self.holds.is_empty() => self.pay(self.holds[hold % self.holds.len()]),
            Step::Wait { minutes } => self.now += Duration::minutes(minutes),
            Step::Cancel { ticket } if !self.tickets.is_empty() => {
                self.cancel(self.tickets[ticket % self.tickets.len()].clone())
            }
            _ => {}
        }
    }

    /// As the payment saga: the seat marked, the wallet's debit, then the seat sold, or the
    /// mark undone.
    fn pay(&mut self, reservation: ReservationId) {
        let user = self.map.holder(reservation);
        let Ok((held, _)) = self.map.begin_payment(reservation, user, self.now) else {
            return;
        };
        let payment = Payment::for_hold(&held, self.now);
        let token = super::Token::new(0, super::TokenSecret::random());
        match self.wallet.pay(payment.clone(), TransactionId::random(), Some(token)) {
            Ok(_) => {
                self.map.complete_payment(reservation, payment.payment_id, self.now);
                self.tickets.push(payment);
            }
            Err(_) => {
                self.map.abort_payment(reservation, self.now);
            }
        }
    }

    /// As the cancellation: the refund the policy gives, the wallet's credit, then the seat.
    fn cancel(&mut self, payment: Payment) {
        let refund = match self.wallet.refunded(payment.user_id, payment.payment_id) {
            Some(refund) => refund,
            None => match self.policy.refund(payment.amount, payment.date, self.now) {
                Ok(refunded) => refunded.refund,
                Err(_) => return,
            },
        };
        (self.wallet).refund(
            payment.user_id,
            payment.payment_id,
            refund,
            TransactionId::random(),
            self.now,
        );
        self.map.cancel_ticket(payment.reservation_id, refund, self.now);
    }

    fn assert_money_and_seats_agree(&self) -> Result<(), TestCaseError> {
        let totals = self.wallet.totals();
        prop_assert_eq!(
            totals.charged,
            totals.balances + totals.revenue,
            "nothing lost or invented"
        );
        for fan in self.fans {
            prop_assert!(self.wallet.balance(fan) >= 0);
        }
        let counts = self.map.counts(self.now);
        prop_assert_eq!(counts.revenue, totals.revenue, "the date's revenue is the wallet's");
        let standing: Vec<&Payment> = (self.tickets.iter())
            .filter(|paid| self.wallet.refunded(paid.user_id, paid.payment_id).is_none())
            .collect();
        prop_assert_eq!(
            counts.sold,
            standing.len() as u64,
            "a seat is sold while its ticket stands"
        );
        for paid in &self.tickets {
            let status = self.map.recorded_status(paid.reservation_id);
            let refunded = self.wallet.refunded(paid.user_id, paid.payment_id);
            let expected = match refunded {
                Some(_) => ReservationStatus::Cancelled,
                None => ReservationStatus::Confirmed,
            };
            prop_assert_eq!(status, Some(expected));
            if let Some(refund) = refunded {
                prop_assert!((0..=paid.amount).contains(&refund));
            }
        }
        let fees: i64 = (self.tickets.iter())
            .map(|paid| paid.amount - self.wallet.refunded(paid.user_id, paid.payment_id).unwrap_or(0))
            .sum();
        prop_assert_eq!(
            fees,
            totals.revenue,
            "revenue is the prices of standing tickets and the fees of cancelled ones"
        );
        Ok(())
    }
}

proptest! {
    #[test]
    fn money_is_conserved_under_any_interleaving_of_payments_cancellations_and_lapses(
        steps in proptest::collection::vec(step(), 1..120)
    ) {
        let mut model = Model::new();
        for step in &steps {
            model.run(step);
            model.assert_money_and_seats_agree()?;
        }
        // Replayed from its events, the wallet is the same.
        let restored = Wallet::restore(model.wallet.image());
        prop_assert_eq!(restored.totals(), model.wallet.totals());
    }
}
