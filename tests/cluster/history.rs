//! The history of what clients asked the cluster and were told, as they saw it in real time, and
//! its check: per seat and per wallet the operations must be linearizable. Linearizability is
//! local (Herlihy and Wing), so each object is checked on its own, with stateright's tester.
//!
//! An operation whose answer never came, or came as a 5xx, may or may not have happened: it stays
//! in flight for ever, and its client goes on under a new thread id.

use parking_lot::Mutex;
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How long the linearizability check of one run may take.
const CHECK_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// A fan, by their index in the test.
pub type FanIndex = usize;

/// What a client asked.
#[derive(Clone, Debug)]
pub enum Asked {
    Charge { fan: FanIndex, amount: i64 },
    ReadWallet { fan: FanIndex },
    Hold { fan: FanIndex, seat: u32 },
    Pay { fan: FanIndex, seat: u32, price: i64 },
    Cancel { fan: FanIndex, seat: u32 },
    ReadSeats { seats: u32 },
}

/// What a client was told, for an operation that was told anything definite.
#[derive(Clone, Debug)]
pub enum Told {
    /// A charge went through, or a wallet was read: the balance.
    Balance(i64),
    Held,
    /// SEAT_UNAVAILABLE.
    Taken,
    Paid {
        balance: i64,
    },
    /// A payment or cancellation turned away with a 4xx.
    Refused,
    Released,
    /// The status of every seat, by number from 1.
    Seats(Vec<SeatStatus>),
    /// Nothing was done: a read turned away (a 503 during a failover, a token that ended), or a
    /// request that never reached a node (its connection was refused).
    Nothing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

impl SeatStatus {
    pub fn parse(status: &str) -> Self {
        match status {
            "AVAILABLE" => Self::Available,
            "HELD" => Self::Held,
            "SOLD" => Self::Sold,
            other => panic!("a seat status: {other}"),
        }
    }
}

#[derive(Clone, Debug)]
enum Event {
    Asked(u64, Asked),
    Told(u64, Told),
}

/// The events of a run in the order they happened, shared by every client task.
#[derive(Clone, Default)]
pub struct History {
    events: Arc<Mutex<Vec<Event>>>,
    threads: Arc<AtomicU64>,
}

/// One client's sequence of operations: one at a time, each asked and then told (or not).
pub struct Thread {
    history: History,
    id: u64,
}

impl History {
    pub fn thread(&self) -> Thread {
        Thread {
            history: self.clone(),
            id: self.threads.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub fn len(&self) -> usize {
        self.events.lock().len()
    }

    /// Panics, naming the object and its history, unless every seat's and every wallet's
    /// operations are linearizable.
    pub fn assert_linearizable(&self) {
        let events = self.events.lock().clone();
        // The search recurses once per operation of an object: a large stack, not a small history.
        let (told, answer) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .stack_size(512 << 20)
            .spawn(move || told.send(check(&events)))
            .expect("a checking thread");
        // The search is exponential in the worst case: a history too tangled to decide in time
        // fails the test rather than hanging the suite.
        let started = std::time::Instant::now();
        let checked = answer.recv_timeout(CHECK_WITHIN);
        eprintln!("the history was checked in {:?}", started.elapsed());
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => panic!("{failure}"),
            Err(_) => panic!("the history could not be checked within {CHECK_WITHIN:?}"),
        }
    }
}

impl Thread {
    pub fn asked(&self, asked: Asked) {
        self.history.events.lock().push(Event::Asked(self.id, asked));
    }

    pub fn told(&self, told: Told) {
        self.history.events.lock().push(Event::Told(self.id, told));
    }

    /// The last operation's outcome is unknown: it stays in flight, and this client goes on as a
    /// new thread.
    pub fn never_told(&mut self) {
        *self = self.history.thread();
    }
}

/// An object of the check: a seat of the date, or a fan's wallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Object {
    Seat(u32),
    Wallet(FanIndex),
}

fn check(events: &[Event]) -> Result<(), String> {
    let mut seats: BTreeMap<u32, LinearizabilityTester<u64, Seat>> = BTreeMap::new();
    let mut wallets: BTreeMap<FanIndex, LinearizabilityTester<u64, Wallet>> = BTreeMap::new();
    let mut asked_by_thread: BTreeMap<u64, Asked> = BTreeMap::new();
    let unanswered = unanswered(events);
    // The tester tries threads in the order of their ids at every step of its search: an
    // operation that may or may not have happened is tried only after every answered one, or
    // the search would order the unanswered ones every which way before each answered one.
    let ordered = |thread: &u64| {
        if unanswered.contains(thread) {
            UNANSWERED_LAST | thread
        } else {
            *thread
        }
    };
    for event in events {
        match event {
            Event::Asked(thread, asked) => {
                let thread = &ordered(thread);
                asked_by_thread.insert(*thread, asked.clone());
                for (object, op) in invocations(asked) {
                    match (object, op) {
                        (Object::Seat(seat), Op::Seat(op)) => {
                            seats.entry(seat).or_default().on_invoke(*thread, op).map(|_| ())
                        }
                        (Object::Wallet(fan), Op::Wallet(op)) => {
                            wallets.entry(fan).or_default().on_invoke(*thread, op).map(|_| ())
                        }
                        _ => unreachable!("an operation goes to its own kind of object"),
                    }?;
                }
            }
            Event::Told(thread, told) => {
                let thread = &ordered(thread);
                let asked = asked_by_thread.remove(thread).ok_or("told without being asked")?;
                for (object, ret) in returns(&asked, told) {
                    match (object, ret) {
                        (Object::Seat(seat), Ret::Seat(ret)) => {
                            seats.entry(seat).or_default().on_return(*thread, ret).map(|_| ())
                        }
                        (Object::Wallet(fan), Ret::Wallet(ret)) => {
                            wallets.entry(fan).or_default().on_return(*thread, ret).map(|_| ())
                        }
                        _ => unreachable!("an answer comes from its own kind of object"),
                    }?;
                }
            }
        }
    }
    for (seat, tester) in &seats {
        if !tester.is_consistent() {
            return Err(format!("seat {seat} is not linearizable: {tester:#?}"));
        }
    }
    for (fan, tester) in &wallets {
        if !tester.is_consistent() {
            return Err(format!("the wallet of fan {fan} is not linearizable: {tester:#?}"));
        }
    }
    Ok(())
}

/// Above every thread id a run hands out.
const UNANSWERED_LAST: u64 = 1 << 40;

/// The threads whose last operation was never answered.
fn unanswered(events: &[Event]) -> std::collections::BTreeSet<u64> {
    let mut waiting = std::collections::BTreeSet::new();
    for event in events {
        match event {
            Event::Asked(thread, _) => waiting.insert(*thread),
            Event::Told(thread, _) => waiting.remove(thread),
        };
    }
    waiting
}

enum Op {
    Seat(SeatOp),
    Wallet(WalletOp),
}

enum Ret {
    Seat(SeatRet),
    Wallet(WalletRet),
}

/// The operation each object sees of what was asked.
fn invocations(asked: &Asked) -> Vec<(Object, Op)> {
    match *asked {
        Asked::Charge { fan, amount } => vec![(Object::Wallet(fan), Op::Wallet(WalletOp::Charge(amount)))],
        Asked::ReadWallet { fan } => vec![(Object::Wallet(fan), Op::Wallet(WalletOp::Read))],
        Asked::Hold { fan, seat } => vec![(Object::Seat(seat), Op::Seat(SeatOp::Hold(fan)))],
        Asked::Pay { fan, seat, price } => vec![
            (Object::Seat(seat), Op::Seat(SeatOp::Pay(fan))),
            (Object::Wallet(fan), Op::Wallet(WalletOp::Pay(price))),
        ],
        Asked::Cancel { fan, seat } => vec![(Object::Seat(seat), Op::Seat(SeatOp::Cancel(fan)))],
        Asked::ReadSeats { seats } => (1..=seats)
            .map(|seat| (Object::Seat(seat), Op::Seat(SeatOp::Read)))
            .collect(),
    }
}

/// The answer each object gave of what was told.
fn returns(asked: &Asked, told: &Told) -> Vec<(Object, Ret)> {
    let seat_ret = |seat: u32, ret: SeatRet| (Object::Seat(seat), Ret::Seat(ret));
    let wallet_ret = |fan: FanIndex, ret: WalletRet| (Object::Wallet(fan), Ret::Wallet(ret));
    match (asked, told) {
        (Asked::Charge { fan, .. } | Asked::ReadWallet { fan }, Told::Balance(balance)) => {
            vec![wallet_ret(*fan, WalletRet::Balance(*balance))]
        }
        (Asked::Hold { seat, .. }, Told::Held) => vec![seat_ret(*seat, SeatRet::Held)],
        (Asked::Hold { seat, .. }, Told::Taken) => vec![seat_ret(*seat, SeatRet::Taken)],
        (Asked::Pay { fan, seat, .. }, Told::Paid { balance }) => vec![
            seat_ret(*seat, SeatRet::Paid),
            wallet_ret(*fan, WalletRet::Balance(*balance)),
        ],
        (Asked::Pay { fan, seat, .. }, Told::Refused) => {
            vec![seat_ret(*seat, SeatRet::Refused), wallet_ret(*fan, WalletRet::Refused)]
        }
        (Asked::Cancel { seat, .. }, Told::Released) => vec![seat_ret(*seat, SeatRet::Released)],
        (Asked::Cancel { seat, .. }, Told::Refused) => vec![seat_ret(*seat, SeatRet::Refused)],
        (Asked::ReadSeats { seats }, Told::Seats(statuses)) => {
            assert_eq!(statuses.len(), *seats as usize, "a status for every seat");
            (1..=*seats)
                .zip(statuses)
                .map(|(seat, status)| seat_ret(seat, SeatRet::Seen(*status)))
                .collect()
        }
        (asked, Told::Nothing) => invocations(asked)
            .into_iter()
            .map(|(object, op)| match op {
                Op::Seat(_) => (object, Ret::Seat(SeatRet::Nothing)),
                Op::Wallet(_) => (object, Ret::Wallet(WalletRet::Nothing)),
            })
            .collect(),
        (asked, told) => panic!("{asked:?} cannot be told {told:?}"),
    }
}

/// A seat, as one fan at a time may hold and pay it.
#[derive(Clone, Debug, Default, PartialEq)]
enum Seat {
    #[default]
    Available,
    Held(FanIndex),
    Sold(FanIndex),
}

#[derive(Clone, Debug)]
enum SeatOp {
    Hold(FanIndex),
    Pay(FanIndex),
    Cancel(FanIndex),
    Read,
}

#[derive(Clone, Debug, PartialEq)]
enum SeatRet {
    Held,
    Taken,
    Paid,
    Refused,
    Released,
    Seen(SeatStatus),
    Nothing,
}

impl SequentialSpec for Seat {
    type Op = SeatOp;
    type Ret = SeatRet;

    fn invoke(&mut self, op: &SeatOp) -> SeatRet {
        match (op, self.clone()) {
            (SeatOp::Hold(fan), Seat::Available) => {
                *self = Seat::Held(*fan);
                SeatRet::Held
            }
            (SeatOp::Hold(_), _) => SeatRet::Taken,
            (SeatOp::Pay(fan), Seat::Held(holder)) if holder == *fan => {
                *self = Seat::Sold(*fan);
                SeatRet::Paid
            }
            (SeatOp::Cancel(fan), Seat::Held(holder)) if holder == *fan => {
                *self = Seat::Available;
                SeatRet::Released
            }
            (SeatOp::Pay(_) | SeatOp::Cancel(_), _) => SeatRet::Refused,
            (SeatOp::Read, seat) => SeatRet::Seen(match seat {
                Seat::Available => SeatStatus::Available,
                Seat::Held(_) => SeatStatus::Held,
                Seat::Sold(_) => SeatStatus::Sold,
            }),
        }
    }

    fn is_valid_step(&mut self, op: &SeatOp, ret: &SeatRet) -> bool {
        *ret == SeatRet::Nothing || self.invoke(op) == *ret
    }
}

/// A wallet's balance.
#[derive(Clone, Debug, Default, PartialEq)]
struct Wallet {
    balance: i64,
}

#[derive(Clone, Debug)]
enum WalletOp {
    Charge(i64),
    Pay(i64),
    Read,
}

#[derive(Clone, Debug, PartialEq)]
enum WalletRet {
    Balance(i64),
    /// Short of money, or refused for the seat's sake.
    Refused,
    Nothing,
}

impl SequentialSpec for Wallet {
    type Op = WalletOp;
    type Ret = WalletRet;

    fn invoke(&mut self, op: &WalletOp) -> WalletRet {
        match *op {
            WalletOp::Charge(amount) => self.balance += amount,
            WalletOp::Pay(price) if price <= self.balance => self.balance -= price,
            WalletOp::Pay(_) => return WalletRet::Refused,
            WalletOp::Read => {}
        }
        WalletRet::Balance(self.balance)
    }

    /// A payment refused for its seat leaves the wallet as it was, whatever the balance.
    fn is_valid_step(&mut self, op: &WalletOp, ret: &WalletRet) -> bool {
        match (op, ret) {
            (WalletOp::Pay(_), WalletRet::Refused) | (_, WalletRet::Nothing) => true,
            _ => self.invoke(op) == *ret,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(history: &History, asked: Asked, told: Told) {
        let thread = history.thread();
        thread.asked(asked);
        thread.told(told);
    }

    fn linearizable(history: &History) -> bool {
        check(&history.events.lock()).is_ok()
    }

    #[test]
    fn a_seat_held_by_one_fan_then_refused_to_the_next_is_linearizable() {
        let history = History::default();
        one(&history, Asked::Hold { fan: 0, seat: 1 }, Told::Held);
        one(&history, Asked::Hold { fan: 1, seat: 1 }, Told::Taken);
        one(&history, Asked::Charge { fan: 0, amount: 1_000 }, Told::Balance(1_000));
        let pay = Asked::Pay {
            fan: 0,
            seat: 1,
            price: 1_000,
        };
        one(&history, pay, Told::Paid { balance: 0 });
        let seen = vec![SeatStatus::Sold, SeatStatus::Available];
        one(&history, Asked::ReadSeats { seats: 2 }, Told::Seats(seen));
        assert!(linearizable(&history));
    }

    #[test]
    fn a_seat_held_by_two_fans_one_after_the_other_is_not() {
        let history = History::default();
        one(&history, Asked::Hold { fan: 0, seat: 1 }, Told::Held);
        one(&history, Asked::Hold { fan: 1, seat: 1 }, Told::Held);
        assert!(!linearizable(&history));
    }

    #[test]
    fn a_read_that_misses_a_hold_already_told_is_not() {
        let history = History::default();
        one(&history, Asked::Hold { fan: 0, seat: 1 }, Told::Held);
        one(
            &history,
            Asked::ReadSeats { seats: 1 },
            Told::Seats(vec![SeatStatus::Available]),
        );
        assert!(!linearizable(&history));
    }

    #[test]
    fn a_read_concurrent_with_a_hold_may_see_it_or_not() {
        for seen in [SeatStatus::Available, SeatStatus::Held] {
            let history = History::default();
            let (holder, reader) = (history.thread(), history.thread());
            holder.asked(Asked::Hold { fan: 0, seat: 1 });
            reader.asked(Asked::ReadSeats { seats: 1 });
            reader.told(Told::Seats(vec![seen]));
            holder.told(Told::Held);
            assert!(linearizable(&history), "{seen:?}");
        }
    }

    #[test]
    fn an_unanswered_hold_may_have_happened_or_not() {
        for seen in [SeatStatus::Available, SeatStatus::Held] {
            let history = History::default();
            let mut holder = history.thread();
            holder.asked(Asked::Hold { fan: 0, seat: 1 });
            holder.never_told();
            one(&history, Asked::ReadSeats { seats: 1 }, Told::Seats(vec![seen]));
            assert!(linearizable(&history), "{seen:?}");
        }
        let history = History::default();
        let mut holder = history.thread();
        holder.asked(Asked::Hold { fan: 0, seat: 1 });
        holder.never_told();
        one(
            &history,
            Asked::ReadSeats { seats: 1 },
            Told::Seats(vec![SeatStatus::Held]),
        );
        one(
            &history,
            Asked::ReadSeats { seats: 1 },
            Told::Seats(vec![SeatStatus::Available]),
        );
        assert!(!linearizable(&history), "a hold seen cannot be unseen");
    }

    #[test]
    fn a_balance_read_from_before_an_acknowledged_charge_is_not_linearizable() {
        let history = History::default();
        one(&history, Asked::Charge { fan: 0, amount: 1_000 }, Told::Balance(1_000));
        one(&history, Asked::Charge { fan: 0, amount: 10 }, Told::Balance(1_010));
        one(&history, Asked::ReadWallet { fan: 0 }, Told::Balance(1_000));
        assert!(!linearizable(&history));
    }

    #[test]
    fn a_payment_debits_once_even_when_told_through_a_retry() {
        let history = History::default();
        one(&history, Asked::Charge { fan: 0, amount: 3_000 }, Told::Balance(3_000));
        one(&history, Asked::Hold { fan: 0, seat: 1 }, Told::Held);
        let pay = Asked::Pay {
            fan: 0,
            seat: 1,
            price: 1_000,
        };
        one(&history, pay, Told::Paid { balance: 2_000 });
        one(&history, Asked::ReadWallet { fan: 0 }, Told::Balance(1_000));
        assert!(!linearizable(&history), "a second debit nobody asked for");
    }
}
