//! The crash model run against the engine itself: the actors, the journal, the payment saga and
//! recovery exactly as the server runs them. Commands go through the services; the process dies
//! with the last command's records cut at any byte; a new engine starts on the dir. Everything
//! acknowledged before the crash is there, the command under way is there whole or not at all,
//! no payment is left half done, no charge is on disk without its answer, and money adds up.

use super::engine_driver::{
    config, cut_copy, is_payment_recorded, record_ends_from, recover, run_in_system, Command, Engine, Told, FANS,
};
use crate::clock::{Clock, ManualClock};
use crate::domain::seat_map::ReservationStatus;
use crate::persistence::recovery::CutShort;
use proptest::prelude::*;
use std::path::Path;

fn command() -> impl Strategy<Value = Command> {
    // Past the fans `begin` registers, a fan is one a registration added, or one of the first
    // again; a seat past the dates' is refused.
    let fan = 0..2 * FANS;
    prop_oneof![
        1 => Just(Command::Register),
        1 => (1u32..6).prop_map(|seats| Command::CreateConcert { seats }),
        1 => fan.clone().prop_map(|fan| Command::Issue { fan }),
        2 => (fan.clone(), 500i64..4_000).prop_map(|(fan, amount)| Command::Charge { fan, amount }),
        3 => (fan.clone(), 0..4usize, 0..=6i64).prop_map(|(fan, date, seat)| Command::Hold { fan, date, seat }),
        3 => (0..8usize).prop_map(|hold| Command::Pay { hold }),
        2 => [0..8usize, 0..8usize, 0..8usize].prop_map(|holds| Command::PayOrder { holds }),
        1 => (0..8usize).prop_map(|hold| Command::Cancel { hold }),
        1 => fan.prop_map(|fan| Command::Leave { fan }),
        1 => (1i64..4).prop_map(|minutes| Command::Advance { minutes }),
        1 => Just(Command::Snapshot),
    ]
}

fn length(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

fn start_time() -> ManualClock {
    ManualClock::starting_at("2026-12-01T10:00:00Z".parse().unwrap())
}

/// Runs `commands`, then `under_way`, and dies with the records written after the last
/// acknowledged command cut at `kept_per_mille` of their length; checks the engine that starts.
async fn crash_and_restart(commands: &[Command], under_way: &Command, kept_per_mille: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::begin(config(dir.path()), start_time()).await;
    let mut told = Told::default();
    for command in commands {
        engine.run(command, &mut told).await;
    }
    let before = engine.observe(&told).await;
    let segment = engine.last_segment();
    let acknowledged = length(&segment);
    // The command under way finds the holds acknowledged before it; its own answer never came.
    engine.run(under_way, &mut told.clone()).await;
    let after = engine.observe(&told).await;
    let crashed = engine.crash().await;
    let written = length(&segment);
    let cut = acknowledged + (written - acknowledged) * kept_per_mille / 1000;
    let file = std::fs::OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len(cut).unwrap();
    drop(file);

    let engine = Engine::restart(dir.path(), &crashed);
    engine.assert_consistent(&told, Some(under_way)).await;
    let seen = engine.observe(&told).await;
    // A departure ends the token, then gives its holds back one cancellation at a time: a crash
    // in between keeps some of them.
    if !matches!(under_way, Command::Leave { .. }) {
        assert!(
            seen == before || seen == after,
            "the command under way is there whole or not at all:\n{seen}\nbefore it:\n{before}\nafter it:\n{after}"
        );
    }
    let crashed = engine.crash().await;
    let again = Engine::restart(dir.path(), &crashed);
    assert_eq!(again.observe(&told).await, seen, "a second start sees the same");
    again.crash().await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn after_a_crash_at_any_moment_the_engine_keeps_every_acknowledged_answer(
        commands in proptest::collection::vec(command(), 1..60),
        under_way in command(),
        kept_per_mille in 0u64..=1000,
    ) {
        run_in_system(crash_and_restart(&commands, &under_way, kept_per_mille));
    }
}

#[test]
fn a_payment_cut_short_after_the_wallets_record_is_finished_when_the_engine_starts() {
    use Command::*;
    let day = [
        Charge { fan: 0, amount: 2_000 },
        Hold {
            fan: 0,
            date: 0,
            seat: 2,
        },
    ];
    run_in_system(async {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::begin(config(dir.path()), start_time()).await;
        let mut told = Told::default();
        for command in &day {
            engine.run(command, &mut told).await;
        }
        let segment = engine.last_segment();
        let before = std::fs::read(&segment).unwrap().len();
        engine.run(&Pay { hold: 0 }, &mut told).await;
        assert_eq!(told.paid.len(), 1, "the payment was acknowledged");
        let crashed = engine.crash().await;
        let written = std::fs::read(&segment).unwrap();
        let ends = record_ends_from(&written, before, is_payment_recorded);
        // What the fan's answer did not wait for (the sale, the token remembered, the token
        // ended), lost at every record boundary in turn.
        assert!(ends.len() >= 4, "the payment wrote its records: {ends:?}");
        let (_, reservation, key) = told.holds[0];
        for &kept in &ends {
            let cut = cut_copy(dir.path(), &segment, &written[..kept]);
            if kept == ends[0] {
                // Replay alone leaves the sale and the token's end to the start.
                let (recovered, _) = recover(cut.path()).unwrap();
                let cut_short = CutShort::of(&recovered, crashed.clock.now());
                assert_eq!(cut_short.seats[&key].len(), 1, "the seat is to be sold");
                assert_eq!(cut_short.tokens.len(), 1, "the token is to be ended");
            }
            let engine = Engine::restart(cut.path(), &crashed);
            engine.assert_consistent(&told, None).await;
            let handle = engine.services.catalog.date(key.0, key.1).unwrap();
            let view = handle.reservation(reservation, engine.users[0]).await.unwrap();
            assert_eq!(view.status, ReservationStatus::Confirmed, "kept {kept} bytes");
            engine.crash().await;
        }
    });
}

#[test]
fn an_order_cut_at_any_record_is_there_whole_or_not_at_all_when_the_engine_starts() {
    use Command::*;
    let day = [
        Charge { fan: 0, amount: 3_000 },
        Hold {
            fan: 0,
            date: 0,
            seat: 2,
        },
        Hold {
            fan: 0,
            date: 1,
            seat: 3,
        },
    ];
    run_in_system(async {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::begin(config(dir.path()), start_time()).await;
        let mut told = Told::default();
        for command in &day {
            engine.run(command, &mut told).await;
        }
        let unpaid = told.clone();
        let segment = engine.last_segment();
        let before = std::fs::read(&segment).unwrap().len();
        engine.run(&PayOrder { holds: [0, 1, 0] }, &mut told).await;
        assert_eq!(told.paid.len(), 2, "the order of two seats was acknowledged");
        let crashed = engine.crash().await;
        let written = std::fs::read(&segment).unwrap();
        let ends = record_ends_from(&written, before, |_| true);
        let committed = record_ends_from(&written, before, is_payment_recorded)[0];
        assert!(
            ends.len() >= 6,
            "the order wrote its marks, its record and the rest: {ends:?}"
        );
        for &kept in ends.iter().chain([&before]) {
            let cut = cut_copy(dir.path(), &segment, &written[..kept]);
            let engine = Engine::restart(cut.path(), &crashed);
            let paid = kept >= committed;
            engine.assert_consistent(if paid { &told } else { &unpaid }, None).await;
            let expected = match paid {
                true => ReservationStatus::Confirmed,
                false => ReservationStatus::Held,
            };
            for &(_, reservation, key) in &told.holds {
                let handle = engine.services.catalog.date(key.0, key.1).unwrap();
                let view = handle.reservation(reservation, engine.users[0]).await.unwrap();
                assert_eq!(
                    view.status, expected,
                    "kept {kept} bytes (the record ends at {committed})"
                );
            }
            engine.crash().await;
        }
    });
}

#[test]
fn a_cancellation_cut_short_after_the_wallets_refund_frees_the_seat_when_the_engine_starts() {
    use Command::*;
    let day = [
        Charge { fan: 0, amount: 2_000 },
        Hold {
            fan: 0,
            date: 0,
            seat: 2,
        },
        Pay { hold: 0 },
    ];
    run_in_system(async {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::begin(config(dir.path()), start_time()).await;
        let mut told = Told::default();
        for command in &day {
            engine.run(command, &mut told).await;
        }
        let (_, reservation, key) = told.holds[0];
        let user = engine.users[0];
        let payment = engine.services.wallet.payments(user).await.unwrap()[0].clone();
        // The cancellation's commit point, and a crash before the seat heard of it.
        let balance = engine
            .services
            .wallet
            .refund(user, payment.payment_id, 700)
            .await
            .unwrap();
        told.balances.insert(user, balance);
        let crashed = engine.crash().await;
        let (recovered, _) = recover(dir.path()).unwrap();
        let cut_short = CutShort::of(&recovered, crashed.clock.now());
        assert_eq!(
            cut_short.refunded_seats,
            [(key, reservation, 700)],
            "the seat is to be freed"
        );

        let engine = Engine::restart(dir.path(), &crashed);
        let handle = engine.services.catalog.date(key.0, key.1).unwrap();
        let mut status = ReservationStatus::Confirmed;
        for _ in 0..100 {
            status = handle.reservation(reservation, user).await.unwrap().status;
            if status == ReservationStatus::Cancelled {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(status, ReservationStatus::Cancelled, "the start freed the seat");
        let totals = engine.services.wallet.totals().await.unwrap();
        let counts = handle.counts().await.unwrap();
        assert_eq!(
            (counts.sold, counts.revenue, totals.revenue),
            (0, 300, 300),
            "the fee stays"
        );
        engine.crash().await;
    });
}
