//! Wallets: every fan's balance in whole won, the history of charges and payments, and the
//! totals that prove no money is lost or invented (charged = balances + revenue).

use super::seat_map::Reservation;
use super::{ConcertId, PaymentId, ReservationId, TicketCode, Token, TransactionId, UserId};
use crate::error::{Error, ErrorCode, Result};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletLimits {
    pub charge_max: i64,
    pub balance_max: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransactionType {
    Charge,
    Payment,
    /// A cancelled ticket's refund: its amount is what came back (the price less the fee).
    Refund,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub transaction_id: TransactionId,
    #[serde(rename = "type")]
    pub kind: TransactionType,
    pub amount: i64,
    pub balance_after: i64,
    pub at: DateTime<Utc>,
    pub payment_id: Option<PaymentId>,
}

/// A completed payment for one seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub payment_id: PaymentId,
    pub reservation_id: ReservationId,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub date: NaiveDate,
    pub seat_number: u32,
    pub amount: i64,
    pub paid_at: DateTime<Utc>,
}

impl Payment {
    /// A payment, under a new id, of the hold `held` at its price.
    pub fn for_hold(held: &Reservation, paid_at: DateTime<Utc>) -> Self {
        Self {
            payment_id: PaymentId::random(),
            reservation_id: held.reservation_id,
            user_id: held.user_id,
            concert_id: held.concert_id,
            date: held.date,
            seat_number: held.seat_number,
            amount: held.price,
            paid_at,
        }
    }
}

/// What happened to the wallets; `apply` replays these exactly. `PaymentCompleted` is the commit
/// point of a payment: on replay it also makes the seat SOLD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletEvent {
    Charged {
        transaction: TransactionId,
        user: UserId,
        amount: i64,
        at: DateTime<Utc>,
    },
    PaymentCompleted {
        transaction: TransactionId,
        payment: Payment,
        /// The queue token that paid, which the payment ends; none for a waiting list's offer,
        /// paid with its entry's code.
        paid_with: Option<Token>,
    },
    /// An order of several seats paid at once: one debit of the sum of `payments` (a ticket each,
    /// all of one fan), the one record an order's saga commits with. On replay it also makes
    /// every seat SOLD.
    OrderPaid {
        transaction: TransactionId,
        payments: Vec<Payment>,
        /// The queue token that paid, which the order ends.
        paid_with: Token,
    },
    /// A ticket was cancelled: `refund` won of its payment come back to its buyer, the fee stays
    /// revenue. The commit point of a cancellation: on replay it also frees the seat.
    Refunded {
        transaction: TransactionId,
        user: UserId,
        payment: PaymentId,
        refund: i64,
        at: DateTime<Utc>,
    },
}

/// Money totals across all wallets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoneyTotals {
    pub charged: i64,
    pub balances: i64,
    pub revenue: i64,
}

/// One fan's wallet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub balance: i64,
    /// Oldest first; read newest first.
    pub transactions: Vec<Transaction>,
    /// Oldest first, each with the queue token it was made with, which the payment ends (unknown
    /// for payments a data dir of format version 2 kept in a snapshot).
    pub payments: Vec<(Payment, Option<Token>)>,
}

/// The wallets as a snapshot keeps them. The limits are those of the day the image was taken;
/// recovery sets the configuration's again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletImage {
    pub limits: WalletLimits,
    pub accounts: Vec<(UserId, Account)>,
    pub totals: MoneyTotals,
}

#[derive(Debug, Clone)]
pub struct Wallet {
    limits: WalletLimits,
    accounts: HashMap<UserId, Account>,
    totals: MoneyTotals,
    /// Payments made, a seat or an order of several each: counted from the transactions, so
    /// no snapshot keeps it.
    orders: u64,
}

impl Wallet {
    pub fn new(limits: WalletLimits) -> Self {
        assert!(
            limits.charge_max >= 1 && limits.balance_max >= 1,
            "limits allow some money"
        );
        Self {
            limits,
            accounts: HashMap::new(),
            totals: MoneyTotals::default(),
            orders: 0,
        }
    }

    /// The wallets as a snapshot keeps them; accounts in no particular order.
    pub fn image(&self) -> WalletImage {
        WalletImage {
            limits: self.limits,
            accounts: (self.accounts.iter())
                .map(|(user, account)| (*user, account.clone()))
                .collect(),
            totals: self.totals,
        }
    }

    /// The wallets a snapshot kept.
    pub fn restore(image: WalletImage) -> Self {
        let totals = image.totals;
        let balances: i64 = image.accounts.iter().map(|(_, account)| account.balance).sum();
        assert_eq!(balances, totals.balances, "the balances add up to their total");
        assert_eq!(
            totals.charged,
            totals.balances + totals.revenue,
            "no money is lost or invented"
        );
        let orders = (image.accounts.iter())
            .flat_map(|(_, account)| &account.transactions)
            .filter(|transaction| transaction.kind == TransactionType::Payment)
            .count() as u64;
        Self {
            limits: image.limits,
            accounts: image.accounts.into_iter().collect(),
            totals,
            orders,
        }
    }

    /// How many payments were made: one a seat paid alone, one an order of several.
    pub fn orders(&self) -> u64 {
        self.orders
    }

    /// The same wallets under new limits: a restart may change the configuration.
    pub fn with_limits(mut self, limits: WalletLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Every payment of every user, in no particular order.
    pub fn all_payments(&self) -> impl Iterator<Item = &Payment> + '_ {
        self.payments_with_tokens().map(|(payment, _)| payment)
    }

    /// Every payment and the queue token it was made with, where that is known.
    pub fn payments_with_tokens(&self) -> impl Iterator<Item = (&Payment, Option<Token>)> + '_ {
        let payments = self.accounts.values().flat_map(|account| account.payments.iter());
        payments.map(|(payment, token)| (payment, *token))
    }

    pub fn balance(&self, user: UserId) -> i64 {
        self.accounts.get(&user).map_or(0, |account| account.balance)
    }

    /// Adds `amount` won to the user's balance.
    pub fn charge(
        &mut self,
        user: UserId,
        amount: i64,
        transaction: TransactionId,
        now: DateTime<Utc>,
    ) -> Result<WalletEvent> {
        if !(1..=self.limits.charge_max).contains(&amount) {
            let detail = format!(
                "A charge is a whole number of won from 1 to {}.",
                self.limits.charge_max
            );
            let korean = format!(
                "충전 금액은 1원부터 {}원까지의 정수입니다.",
                won(self.limits.charge_max)
            );
            return Err(Error::new(ErrorCode::InvalidAmount, detail).with_korean(korean));
        }
        if self.balance(user) > self.limits.balance_max - amount {
            let detail = format!("A balance may not exceed {} won.", self.limits.balance_max);
            let korean = format!("잔액은 {}원을 넘을 수 없습니다.", won(self.limits.balance_max));
            return Err(Error::new(ErrorCode::BalanceLimitExceeded, detail).with_korean(korean));
        }
        let charged = WalletEvent::Charged {
            transaction,
            user,
            amount,
            at: now,
        };
        self.apply(&charged);
        Ok(charged)
    }

    /// Debits the payment's amount and records it, if the balance allows.
    pub fn pay(
        &mut self,
        payment: Payment,
        transaction: TransactionId,
        paid_with: Option<Token>,
    ) -> Result<WalletEvent> {
        assert!(payment.amount >= 0, "a price is never negative");
        self.afford(payment.user_id, payment.amount, "the seat costs", "좌석 가격")?;
        let paid = WalletEvent::PaymentCompleted {
            transaction,
            payment,
            paid_with,
        };
        self.apply(&paid);
        Ok(paid)
    }

    /// Debits the sum of an order's `payments` (one fan's, one seat each) in one record, if the
    /// balance allows all of it: an order is paid whole or not at all.
    pub fn pay_order(
        &mut self,
        payments: Vec<Payment>,
        transaction: TransactionId,
        paid_with: Token,
    ) -> Result<WalletEvent> {
        let user = payments.first().expect("an order has a seat").user_id;
        assert!(
            payments
                .iter()
                .all(|payment| payment.user_id == user && payment.amount >= 0),
            "an order is one fan's, at prices never negative"
        );
        let sum = payments.iter().map(|payment| payment.amount).sum();
        self.afford(user, sum, "the seats cost", "좌석 가격 합계")?;
        let paid = WalletEvent::OrderPaid {
            transaction,
            payments,
            paid_with,
        };
        self.apply(&paid);
        Ok(paid)
    }

    /// Refuses a debit of `amount` the user's balance does not cover, saying by how much.
    fn afford(&self, user: UserId, amount: i64, costs: &str, korean_costs: &str) -> Result<()> {
        let balance = self.balance(user);
        if balance >= amount {
            return Ok(());
        }
        let short = amount - balance;
        let detail = format!(
            "The balance is {} won; {costs} {} won: {} won short.",
            won(balance),
            won(amount),
            won(short)
        );
        let korean = format!(
            "잔액이 {}원 부족합니다 (잔액 {}원, {korean_costs} {}원).",
            won(short),
            won(balance),
            won(amount)
        );
        Err(Error::new(ErrorCode::InsufficientBalance, detail).with_korean(korean))
    }

    /// Gives `refund` won of the user's payment back: its ticket is cancelled. None if it was
    /// already (a retried cancellation changes nothing).
    pub fn refund(
        &mut self,
        user: UserId,
        payment: PaymentId,
        refund: i64,
        transaction: TransactionId,
        now: DateTime<Utc>,
    ) -> Option<WalletEvent> {
        let paid = (self.payments(user).into_iter())
            .find(|paid| paid.payment_id == payment)
            .expect("only a payment made is refunded");
        assert!((0..=paid.amount).contains(&refund), "a refund is at most the price");
        if self.refunded(user, payment).is_some() {
            return None;
        }
        let refunded = WalletEvent::Refunded {
            transaction,
            user,
            payment,
            refund,
            at: now,
        };
        self.apply(&refunded);
        Some(refunded)
    }

    /// What the user's payment refunded, if its ticket was cancelled.
    pub fn refunded(&self, user: UserId, payment: PaymentId) -> Option<i64> {
        let account = self.accounts.get(&user)?;
        (account.transactions.iter().rev())
            .find(|record| record.kind == TransactionType::Refund && record.payment_id == Some(payment))
            .map(|record| record.amount)
    }

    /// Every cancelled ticket's payment and its refund, in no particular order.
    pub fn refunds(&self) -> impl Iterator<Item = (&Payment, i64)> + '_ {
        self.all_payments()
            .filter_map(|payment| Some((payment, self.refunded(payment.user_id, payment.payment_id)?)))
    }

    /// The user's transactions, newest first, at most `limit`.
    pub fn transactions(&self, user: UserId, limit: usize) -> Vec<Transaction> {
        self.accounts.get(&user).map_or_else(Vec::new, |account| {
            account.transactions.iter().rev().take(limit).cloned().collect()
        })
    }

    /// The payment of `user`'s whose ticket has `code`.
    pub fn ticket(&self, user: UserId, code: TicketCode) -> Option<&Payment> {
        let account = self.accounts.get(&user)?;
        (account.payments.iter())
            .map(|(payment, _)| payment)
            .find(|payment| TicketCode::of(payment.payment_id) == code)
    }

    /// The user's payments, newest first.
    pub fn payments(&self, user: UserId) -> Vec<Payment> {
        self.accounts.get(&user).map_or_else(Vec::new, |account| {
            account
                .payments
                .iter()
                .rev()
                .map(|(payment, _)| payment.clone())
                .collect()
        })
    }

    pub fn totals(&self) -> MoneyTotals {
        self.totals
    }

    /// Changes state by one event; never fails, never reads the clock.
    pub fn apply(&mut self, event: &WalletEvent) {
        match event {
            WalletEvent::Charged {
                transaction,
                user,
                amount,
                at,
            } => {
                let account = self.accounts.entry(*user).or_default();
                // The balance limit is checked by `charge`, not here: a replay must accept what
                // was decided under the limits of its day.
                account.balance += amount;
                let record = Transaction {
                    transaction_id: *transaction,
                    kind: TransactionType::Charge,
                    amount: *amount,
                    balance_after: account.balance,
                    at: *at,
                    payment_id: None,
                };
                account.transactions.push(record);
                self.totals.charged += amount;
                self.totals.balances += amount;
            }
            WalletEvent::PaymentCompleted {
                transaction,
                payment,
                paid_with,
            } => {
                let account = self.accounts.entry(payment.user_id).or_default();
                account.balance -= payment.amount;
                assert!(account.balance >= 0, "a payment never overdraws");
                let record = Transaction {
                    transaction_id: *transaction,
                    kind: TransactionType::Payment,
                    amount: payment.amount,
                    balance_after: account.balance,
                    at: payment.paid_at,
                    payment_id: Some(payment.payment_id),
                };
                account.transactions.push(record);
                account.payments.push((payment.clone(), *paid_with));
                self.totals.balances -= payment.amount;
                self.totals.revenue += payment.amount;
                self.orders += 1;
            }
            WalletEvent::OrderPaid {
                transaction,
                payments,
                paid_with,
            } => self.apply_order(*transaction, payments, *paid_with),
            WalletEvent::Refunded {
                transaction,
                user,
                payment,
                refund,
                at,
            } => {
                let account = self.accounts.get_mut(user).expect("a refund's buyer has a wallet");
                account.balance += refund;
                let record = Transaction {
                    transaction_id: *transaction,
                    kind: TransactionType::Refund,
                    amount: *refund,
                    balance_after: account.balance,
                    at: *at,
                    payment_id: Some(*payment),
                };
                account.transactions.push(record);
                self.totals.balances += refund;
                self.totals.revenue -= refund;
            }
        }
        debug_assert_eq!(self.totals.charged, self.totals.balances + self.totals.revenue);
    }

    /// An order's one debit: one transaction of the sum, under the first seat's payment (the
    /// order's), and a payment (a ticket) per seat.
    fn apply_order(&mut self, transaction: TransactionId, payments: &[Payment], paid_with: Token) {
        let first = payments.first().expect("an order has a seat");
        let sum: i64 = payments.iter().map(|payment| payment.amount).sum();
        let account = self.accounts.entry(first.user_id).or_default();
        account.balance -= sum;
        assert!(account.balance >= 0, "an order never overdraws");
        let record = Transaction {
            transaction_id: transaction,
            kind: TransactionType::Payment,
            amount: sum,
            balance_after: account.balance,
            at: first.paid_at,
            payment_id: Some(first.payment_id),
        };
        account.transactions.push(record);
        account
            .payments
            .extend(payments.iter().map(|payment| (payment.clone(), Some(paid_with))));
        self.totals.balances -= sum;
        self.totals.revenue += sum;
        self.orders += 1;
    }
}

/// An amount of won as Koreans write it, with a comma every three digits: 99,000.
pub fn won(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if amount < 0 {
        grouped.insert(0, '-');
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TokenSecret;
    use proptest::prelude::*;

    const LIMITS: WalletLimits = WalletLimits {
        charge_max: 1_000,
        balance_max: 5_000,
    };

    fn now() -> DateTime<Utc> {
        "2026-12-24T10:00:00Z".parse().unwrap()
    }

    fn payment(user: UserId, amount: i64) -> Payment {
        Payment {
            payment_id: PaymentId::random(),
            reservation_id: ReservationId::random(),
            user_id: user,
            concert_id: ConcertId::random(),
            date: "2026-12-24".parse().unwrap(),
            seat_number: 1,
            amount,
            paid_at: now(),
        }
    }

    #[test]
    fn won_is_grouped_by_thousands() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (99_000, "99,000"),
            (1_234_567, "1,234,567"),
            (-5_000, "-5,000"),
        ];
        for (amount, written) in cases {
            assert_eq!(won(amount), written);
        }
    }

    #[test]
    fn a_short_balance_says_by_how_much_in_both_languages() {
        let mut wallet = Wallet::new(LIMITS);
        let kim = UserId::random();
        wallet.charge(kim, 1_000, TransactionId::random(), now()).unwrap();
        let token = Token::new(1, TokenSecret::random());
        let refused = wallet
            .pay(payment(kim, 1_250), TransactionId::random(), Some(token))
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::InsufficientBalance);
        assert!(refused.detail.ends_with("250 won short."), "{}", refused.detail);
        assert_eq!(
            refused.detail_in(crate::error::Language::Korean),
            "잔액이 250원 부족합니다 (잔액 1,000원, 좌석 가격 1,250원)."
        );
    }

    #[test]
    fn a_ticket_is_found_by_its_holder_and_code_before_and_after_a_snapshot() {
        let mut wallet = Wallet::new(LIMITS);
        let (kim, lee) = (UserId::random(), UserId::random());
        for user in [kim, lee] {
            wallet.charge(user, 1_000, TransactionId::random(), now()).unwrap();
        }
        let kims = payment(kim, 300);
        let lees = payment(lee, 400);
        for paid in [&kims, &lees] {
            let token = Token::new(1, TokenSecret::random());
            wallet.pay(paid.clone(), TransactionId::random(), Some(token)).unwrap();
        }
        let restored = Wallet::restore(wallet.image());
        for wallet in [&wallet, &restored] {
            assert_eq!(wallet.ticket(kim, TicketCode::of(kims.payment_id)), Some(&kims));
            assert_eq!(wallet.ticket(lee, TicketCode::of(lees.payment_id)), Some(&lees));
            assert_eq!(wallet.ticket(kim, TicketCode::of(lees.payment_id)), None, "another's");
            assert_eq!(wallet.ticket(kim, TicketCode::of(PaymentId::random())), None);
        }
    }

    #[test]
    fn a_charge_outside_one_to_charge_max_is_an_invalid_amount() {
        let mut wallet = Wallet::new(LIMITS);
        let user = UserId::random();
        for amount in [0, -5, 1_001] {
            let refused = wallet.charge(user, amount, TransactionId::random(), now()).unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidAmount);
        }
        assert_eq!(wallet.balance(user), 0);
    }

    #[test]
    fn a_charge_past_balance_max_is_refused_and_changes_nothing() {
        let mut wallet = Wallet::new(LIMITS);
        let user = UserId::random();
        for _ in 0..5 {
            wallet.charge(user, 1_000, TransactionId::random(), now()).unwrap();
        }
        let refused = wallet.charge(user, 1, TransactionId::random(), now()).unwrap_err();
        assert_eq!(refused.code, ErrorCode::BalanceLimitExceeded);
        assert_eq!(wallet.balance(user), 5_000);
        assert_eq!(wallet.transactions(user, 50).len(), 5);
    }

    #[test]
    fn a_payment_debits_and_is_recorded_newest_first() {
        let mut wallet = Wallet::new(LIMITS);
        let user = UserId::random();
        wallet.charge(user, 800, TransactionId::random(), now()).unwrap();
        let paid = payment(user, 300);
        wallet
            .pay(
                paid.clone(),
                TransactionId::random(),
                Some(Token::new(1, TokenSecret::random())),
            )
            .unwrap();
        assert_eq!(wallet.balance(user), 500);
        let history = wallet.transactions(user, 50);
        assert_eq!(history[0].kind, TransactionType::Payment);
        assert_eq!(history[0].balance_after, 500);
        assert_eq!(history[0].payment_id, Some(paid.payment_id));
        assert_eq!(history[1].kind, TransactionType::Charge);
        assert_eq!(wallet.payments(user), vec![paid]);
        assert_eq!(
            wallet.totals(),
            MoneyTotals {
                charged: 800,
                balances: 500,
                revenue: 300
            }
        );
    }

    #[test]
    fn an_order_debits_its_sum_once_and_records_a_ticket_per_seat() {
        let mut wallet = Wallet::new(LIMITS);
        let user = UserId::random();
        wallet.charge(user, 1_000, TransactionId::random(), now()).unwrap();
        let seats = vec![payment(user, 300), payment(user, 200), payment(user, 100)];
        let token = Token::new(1, TokenSecret::random());
        wallet.pay_order(seats.clone(), TransactionId::random(), token).unwrap();
        assert_eq!(wallet.balance(user), 400);
        let history = wallet.transactions(user, 50);
        assert_eq!(history.len(), 2, "one debit for the order, after the charge");
        assert_eq!(
            (history[0].kind, history[0].amount, history[0].balance_after),
            (TransactionType::Payment, 600, 400)
        );
        assert_eq!(
            history[0].payment_id,
            Some(seats[0].payment_id),
            "under the order's first seat"
        );
        let newest_first: Vec<Payment> = seats.iter().rev().cloned().collect();
        assert_eq!(wallet.payments(user), newest_first, "a ticket per seat");
        for seat in &seats {
            assert_eq!(wallet.ticket(user, TicketCode::of(seat.payment_id)), Some(seat));
        }
        let restored = Wallet::restore(wallet.image());
        assert_eq!(restored.payments(user), wallet.payments(user));
        assert_eq!(
            restored.totals(),
            MoneyTotals {
                charged: 1_000,
                balances: 400,
                revenue: 600
            }
        );
        assert_eq!(
            (wallet.orders(), restored.orders()),
            (1, 1),
            "one order, kept across a snapshot"
        );
    }

    #[test]
    fn an_order_the_balance_does_not_cover_whole_pays_nothing() {
        let mut wallet = Wallet::new(LIMITS);
        let user = UserId::random();
        wallet.charge(user, 500, TransactionId::random(), now()).unwrap();
        let seats = vec![payment(user, 300), payment(user, 250)];
        let token = Token::new(1, TokenSecret::random());
        let refused = wallet.pay_order(seats, TransactionId::random(), token).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InsufficientBalance);
        assert!(
            refused.detail.ends_with("the seats cost 550 won: 50 won short."),
            "{}",
            refused.detail
        );
        assert_eq!(wallet.balance(user), 500);
        assert!(wallet.payments(user).is_empty());
        assert_eq!(wallet.transactions(user, 50).len(), 1);
    }

    #[test]
    fn a_short_balance_pays_nothing() {
        let mut wallet = Wallet::new(LIMITS);
        let user = UserId::random();
        wallet.charge(user, 100, TransactionId::random(), now()).unwrap();
        let refused = wallet
            .pay(
                payment(user, 101),
                TransactionId::random(),
                Some(Token::new(1, TokenSecret::random())),
            )
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::InsufficientBalance);
        assert_eq!(wallet.balance(user), 100);
        assert!(wallet.payments(user).is_empty());
    }

    proptest! {
        #[test]
        fn balances_stay_in_bounds_and_money_is_conserved(
            steps in proptest::collection::vec((0usize..4, any::<bool>(), -10i64..1_200), 1..200)
        ) {
            let users: Vec<UserId> = (0..4).map(|_| UserId::random()).collect();
            let mut wallet = Wallet::new(LIMITS);
            let mut journal = Vec::new();
            for (who, is_charge, amount) in steps {
                let user = users[who];
                let happened = if is_charge {
                    wallet.charge(user, amount, TransactionId::random(), now())
                } else {
                    wallet.pay(payment(user, amount.max(0)), TransactionId::random(), Some(Token::new(1, TokenSecret::random())))
                };
                if let Ok(event) = happened {
                    journal.push(event);
                }
                for user in &users {
                    let balance = wallet.balance(*user);
                    prop_assert!((0..=LIMITS.balance_max).contains(&balance));
                }
                let totals = wallet.totals();
                prop_assert_eq!(totals.charged, totals.balances + totals.revenue);
                prop_assert_eq!(totals.balances, users.iter().map(|u| wallet.balance(*u)).sum::<i64>());
            }
            let mut replayed = Wallet::new(LIMITS);
            for event in &journal {
                replayed.apply(event);
            }
            prop_assert_eq!(replayed.totals(), wallet.totals());
            for user in &users {
                prop_assert_eq!(replayed.transactions(*user, 1_000), wallet.transactions(*user, 1_000));
            }
        }
    }
}
