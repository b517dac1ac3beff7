//! The wallet actor: sole writer of balances, transactions and payments, so concurrent charges
//! and payments never lose an update.

use super::keyed::{seal, Keyed};
use super::{answer_settled, answer_when_durable, Mailbox};
use crate::clock::SharedClock;
use crate::domain::wallet::{MoneyTotals, Payment, Transaction, Wallet, WalletEvent};
use crate::domain::{PaymentId, TicketCode, Token, TransactionId, UserId};
use crate::error::{Error, Result};
use crate::persistence::journal::Commit;
use crate::persistence::log::{Partition, PartitionWriter, SharedLog};
use crate::persistence::{Change, Part};
use actix::prelude::*;
use dashmap::DashMap;
use std::sync::Arc;

pub struct WalletActor {
    wallet: Wallet,
    clock: SharedClock,
    stream: PartitionWriter,
    tickets: KnownTickets,
}

/// Whose payment each ticket code is, shared with the handle: a code no payment has (a guess)
/// is answered without the actor, so a flood of guesses never fills the mailbox that charges and
/// payments wait in. Made from the payments at start, never stored.
type KnownTickets = Arc<DashMap<TicketCode, UserId>>;

impl WalletActor {
    /// Decides a command for `user` and answers the new balance once the event (and the keyed
    /// answer) is durable. Every wallet command moves money, so each is refused while the journal
    /// is behind the disk; the check comes before `decide`, because the wallet applies what it
    /// decides and what it applied must be appended.
    fn command(
        &mut self,
        user: UserId,
        keyed: Option<Keyed<i64>>,
        decide: impl FnOnce(&mut Wallet) -> Result<WalletEvent>,
    ) -> ActorResponse<Self, Result<i64>> {
        if !self.stream.has_room() {
            return ActorResponse::reply(Err(Error::unavailable()));
        }
        let decided = match decide(&mut self.wallet) {
            Ok(event) => {
                let balance = self.wallet.balance(user);
                let commit: Commit = self.stream.append([seal(keyed, &balance, Change::Wallet(event))]);
                (Ok(balance), commit)
            }
            // A refusal (a short balance) is a read of the balance: it waits for what it saw.
            Err(refused) => (Err(refused), self.stream.settled()),
        };
        answer_when_durable(decided)
    }
}

impl Actor for WalletActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(super::MAILBOX_CAPACITY);
    }
}

#[derive(Message)]
#[rtype(result = "Result<i64>")]
pub struct Charge {
    pub user: UserId,
    pub amount: i64,
    pub keyed: Option<Keyed<i64>>,
}

impl Handler<Charge> for WalletActor {
    type Result = ActorResponse<Self, Result<i64>>;

    fn handle(&mut self, message: Charge, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        self.command(message.user, message.keyed, |wallet| {
            wallet.charge(message.user, message.amount, TransactionId::random(), now)
        })
    }
}

/// Debits and records a payment; the commit point of the payment saga.
#[derive(Message)]
#[rtype(result = "Result<i64>")]
pub struct Pay {
    pub payment: Payment,
    pub paid_with: Option<Token>,
    pub keyed: Option<Keyed<i64>>,
}

impl Handler<Pay> for WalletActor {
    type Result = ActorResponse<Self, Result<i64>>;

    fn handle(&mut self, message: Pay, _: &mut Context<Self>) -> Self::Result {
        let user = message.payment.user_id;
        let code = TicketCode::of(message.payment.payment_id);
        let tickets = self.tickets.clone();
        self.command(user, message.keyed, |wallet| {
            let paid = wallet.pay(message.payment, TransactionId::random(), message.paid_with)?;
            tickets.insert(code, user);
            Ok(paid)
        })
    }
}

/// An order of several seats: one debit of their sum, a ticket each, in one record.
#[derive(Message)]
#[rtype(result = "Result<i64>")]
pub struct PayOrder {
    pub payments: Vec<Payment>,
    pub paid_with: Token,
    pub keyed: Option<Keyed<i64>>,
}

impl Handler<PayOrder> for WalletActor {
    type Result = ActorResponse<Self, Result<i64>>;

    fn handle(&mut self, message: PayOrder, _: &mut Context<Self>) -> Self::Result {
        let user = message.payments.first().expect("an order has a seat").user_id;
        let codes: Vec<TicketCode> = (message.payments.iter())
            .map(|payment| TicketCode::of(payment.payment_id))
            .collect();
        let tickets = self.tickets.clone();
        self.command(user, message.keyed, |wallet| {
            let paid = wallet.pay_order(message.payments, TransactionId::random(), message.paid_with)?;
            for code in codes {
                tickets.insert(code, user);
            }
            Ok(paid)
        })
    }
}

// Reads answer once what they show is durable (`answer_settled`).

#[derive(Message)]
#[rtype(result = "Result<i64>")]
pub struct ReadBalance {
    pub user: UserId,
}

impl Handler<ReadBalance> for WalletActor {
    type Result = ActorResponse<Self, Result<i64>>;

    fn handle(&mut self, message: ReadBalance, _: &mut Context<Self>) -> Self::Result {
        answer_settled(&mut self.stream, self.wallet.balance(message.user))
    }
}

#[derive(Message)]
#[rtype(result = "Result<Vec<Transaction>>")]
pub struct ReadTransactions {
    pub user: UserId,
    pub limit: usize,
}

impl Handler<ReadTransactions> for WalletActor {
    type Result = ActorResponse<Self, Result<Vec<Transaction>>>;

    fn handle(&mut self, message: ReadTransactions, _: &mut Context<Self>) -> Self::Result {
        answer_settled(&mut self.stream, self.wallet.transactions(message.user, message.limit))
    }
}

#[derive(Message)]
#[rtype(result = "Result<Vec<Payment>>")]
pub struct ReadPayments {
    pub user: UserId,
}

impl Handler<ReadPayments> for WalletActor {
    type Result = ActorResponse<Self, Result<Vec<Payment>>>;

    fn handle(&mut self, message: ReadPayments, _: &mut Context<Self>) -> Self::Result {
        answer_settled(&mut self.stream, self.wallet.payments(message.user))
    }
}

/// A ticket as the wallet knows it: the payment that bought it, and its refund once cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub payment: Payment,
    pub refunded: Option<i64>,
}

#[derive(Message)]
#[rtype(result = "Result<Option<TicketRecord>>")]
pub struct ReadTicket {
    pub user: UserId,
    pub code: TicketCode,
}

impl Handler<ReadTicket> for WalletActor {
    type Result = ActorResponse<Self, Result<Option<TicketRecord>>>;

    fn handle(&mut self, message: ReadTicket, _: &mut Context<Self>) -> Self::Result {
        let ticket = (self.wallet.ticket(message.user, message.code)).map(|payment| TicketRecord {
            payment: payment.clone(),
            refunded: self.wallet.refunded(message.user, payment.payment_id),
        });
        answer_settled(&mut self.stream, ticket)
    }
}

/// Gives a ticket's refund back to its buyer; the commit point of a cancellation. A ticket
/// refunded already is answered with the balance, unchanged.
#[derive(Message)]
#[rtype(result = "Result<i64>")]
pub struct Refund {
    pub user: UserId,
    pub payment: PaymentId,
    pub refund: i64,
}

impl Handler<Refund> for WalletActor {
    type Result = ActorResponse<Self, Result<i64>>;

    fn handle(&mut self, message: Refund, _: &mut Context<Self>) -> Self::Result {
        let Refund { user, payment, refund } = message;
        if self.wallet.refunded(user, payment).is_some() {
            let balance = self.wallet.balance(user);
            return answer_settled(&mut self.stream, balance);
        }
        let now = self.clock.now();
        self.command(user, None, |wallet| {
            Ok((wallet.refund(user, payment, refund, TransactionId::random(), now))
                .expect("a ticket not yet refunded is refunded"))
        })
    }
}

#[derive(Message)]
#[rtype(result = "Result<MoneyTotals>")]
pub struct ReadTotals;

impl Handler<ReadTotals> for WalletActor {
    type Result = ActorResponse<Self, Result<MoneyTotals>>;

    fn handle(&mut self, _: ReadTotals, _: &mut Context<Self>) -> Self::Result {
        answer_settled(&mut self.stream, self.wallet.totals())
    }
}

#[derive(Message)]
#[rtype(result = "Result<u64>")]
pub struct ReadOrders;

impl Handler<ReadOrders> for WalletActor {
    type Result = ActorResponse<Self, Result<u64>>;

    fn handle(&mut self, _: ReadOrders, _: &mut Context<Self>) -> Self::Result {
        answer_settled(&mut self.stream, self.wallet.orders())
    }
}

/// The wallets as a snapshot keeps them.
#[derive(Message)]
#[rtype(result = "Part<Wallet>")]
pub struct CaptureImage;

impl Handler<CaptureImage> for WalletActor {
    type Result = MessageResult<CaptureImage>;

    fn handle(&mut self, _: CaptureImage, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Part {
            seq: self.stream.seq(),
            state: self.wallet.clone(),
        })
    }
}

/// The typed handle of the wallet actor.
#[derive(Clone)]
pub struct WalletHandle {
    mailbox: Mailbox<WalletActor>,
    tickets: KnownTickets,
}

impl WalletHandle {
    /// Starts the actor on recovered wallets, continuing their journal stream.
    pub fn start(
        wallet: Part<Wallet>,
        log: SharedLog,
        clock: SharedClock,
        arbiter: &ArbiterHandle,
        requests_max: usize,
    ) -> Self {
        let tickets: KnownTickets = Arc::new(
            (wallet.state.all_payments())
                .map(|payment| (TicketCode::of(payment.payment_id), payment.user_id))
                .collect(),
        );
        let actor = WalletActor {
            wallet: wallet.state,
            clock,
            stream: PartitionWriter::new(log, Partition::Wallet, wallet.seq),
            tickets: tickets.clone(),
        };
        let address = WalletActor::start_in_arbiter(arbiter, |_| actor);
        Self {
            mailbox: Mailbox::new(address, requests_max),
            tickets,
        }
    }

    /// Charges and returns the new balance; with `keyed`, the answer is journaled with the charge.
    pub async fn charge(&self, user: UserId, amount: i64, keyed: Option<Keyed<i64>>) -> Result<i64> {
        self.mailbox.ask(Charge { user, amount, keyed }).await?
    }

    /// Pays and returns the balance after; with `keyed`, the answer is journaled with the payment.
    pub async fn pay(&self, payment: Payment, paid_with: Option<Token>, keyed: Option<Keyed<i64>>) -> Result<i64> {
        self.mailbox
            .ask(Pay {
                payment,
                paid_with,
                keyed,
            })
            .await?
    }

    /// Pays an order and returns the balance after; with `keyed`, the answer is journaled with it.
    pub async fn pay_order(&self, payments: Vec<Payment>, paid_with: Token, keyed: Option<Keyed<i64>>) -> Result<i64> {
        self.mailbox
            .ask(PayOrder {
                payments,
                paid_with,
                keyed,
            })
            .await?
    }

    pub async fn balance(&self, user: UserId) -> Result<i64> {
        self.mailbox.ask(ReadBalance { user }).await?
    }

    pub async fn transactions(&self, user: UserId, limit: usize) -> Result<Vec<Transaction>> {
        self.mailbox.ask(ReadTransactions { user, limit }).await?
    }

    pub async fn payments(&self, user: UserId) -> Result<Vec<Payment>> {
        self.mailbox.ask(ReadPayments { user }).await?
    }

    /// Refunds a ticket's payment; the balance after.
    pub async fn refund(&self, user: UserId, payment: PaymentId, refund: i64) -> Result<i64> {
        self.mailbox.ask(Refund { user, payment, refund }).await?
    }

    /// The ticket that has `code`, once what it tells is durable.
    pub async fn ticket(&self, code: TicketCode) -> Result<Option<TicketRecord>> {
        // A code no payment has is answered at once.
        let Some(user) = self.tickets.get(&code).map(|entry| *entry.value()) else {
            return Ok(None);
        };
        self.mailbox.ask(ReadTicket { user, code }).await?
    }

    pub async fn totals(&self) -> Result<MoneyTotals> {
        self.mailbox.ask(ReadTotals).await?
    }

    /// How many payments were made, a seat or an order of several each.
    pub async fn orders(&self) -> Result<u64> {
        self.mailbox.ask(ReadOrders).await?
    }

    pub async fn image(&self) -> Result<Part<Wallet>> {
        self.mailbox.insist(CaptureImage).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::wallet::WalletLimits;
    use crate::error::ErrorCode;
    use std::sync::Arc;

    /// The wallet actor with no wallets yet, appending to `log`.
    fn empty_wallets_on(log: SharedLog) -> WalletHandle {
        let limits = WalletLimits {
            charge_max: 10_000,
            balance_max: 100_000,
        };
        let wallets = Part {
            seq: 0,
            state: Wallet::new(limits),
        };
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        WalletHandle::start(wallets, log, Arc::new(clock), &Arbiter::current(), 64)
    }

    #[actix_rt::test]
    async fn a_charge_is_refused_and_changes_nothing_while_the_journal_is_behind_then_goes_through() {
        let (log, gate, _dir) = crate::persistence::file_log::FileLog::held_up(64);
        let journal = log.journal().clone();
        let wallet = empty_wallets_on(log);
        let user = UserId::random();
        // As much as the journal has room for, waiting for the disk.
        let queued = journal.append(vec![0; 64]);

        let (refused, balance) = tokio::join!(wallet.charge(user, 500, None), async {
            // The actor takes its messages in order: this read comes after the charge.
            let balance = wallet.balance(user).await.unwrap();
            // Opened whatever the charge did, so that a charge let through fails the test below
            // instead of waiting for the disk forever.
            gate.open();
            balance
        });
        assert_eq!(balance, 0, "the refused charge changed nothing");
        let refused = refused.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Unavailable);
        assert_eq!(refused.retry_after_seconds, Some(1));
        assert!(wallet.transactions(user, 10).await.unwrap().is_empty());

        queued.durable().await.unwrap();
        assert_eq!(wallet.charge(user, 500, None).await.unwrap(), 500);
        assert_eq!(wallet.balance(user).await.unwrap(), 500);
    }

    /// A thousand guessed ticket codes while the actor's one slot is taken: each is answered
    /// at once, none refused for a full mailbox, and the charge that waits goes through.
    #[actix_rt::test]
    async fn guessed_ticket_codes_are_answered_without_the_actor() {
        let (log, gate, _dir) = crate::persistence::file_log::FileLog::held_up(1 << 20);
        let wallets = Part {
            seq: 0,
            state: Wallet::new(WalletLimits {
                charge_max: 10_000,
                balance_max: 100_000,
            }),
        };
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let wallet = WalletHandle::start(wallets, log, Arc::new(clock), &Arbiter::current(), 1);
        let user = UserId::random();
        let (charged, guesses) = tokio::join!(wallet.charge(user, 500, None), async {
            let mut answers = Vec::new();
            for _ in 0..1_000 {
                answers.push(wallet.ticket(TicketCode::of(crate::domain::PaymentId::random())).await);
            }
            gate.open();
            answers
        });
        assert!(
            guesses.iter().all(|answer| matches!(answer, Ok(None))),
            "every guess is no ticket"
        );
        assert_eq!(charged.unwrap(), 500);
    }

    #[actix_rt::test]
    async fn a_balance_is_read_only_once_the_charge_it_shows_is_durable() {
        let (log, gate, _dir) = crate::persistence::file_log::FileLog::held_up(1 << 20);
        let wallet = empty_wallets_on(log);
        let user = UserId::random();
        let charging = actix_rt::spawn({
            let wallet = wallet.clone();
            async move { wallet.charge(user, 500, None).await }
        });
        let reading = actix_rt::spawn({
            let wallet = wallet.clone();
            async move { wallet.balance(user).await }
        });
        // The charge is applied and waits for the disk; the read, asked after it, must too.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!reading.is_finished(), "the read showed a charge that was not durable");
        gate.open();
        assert_eq!(charging.await.unwrap().unwrap(), 500);
        assert_eq!(reading.await.unwrap().unwrap(), 500);
    }
}
