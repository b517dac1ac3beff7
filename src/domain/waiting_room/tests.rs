use super::*;
use crate::domain::line_view::PlaceInLine;
use crate::domain::TokenSecret;
use proptest::prelude::*;

fn limits(active_max: u32) -> WaitingRoomLimits {
    WaitingRoomLimits {
        active_max,
        active_ttl: Duration::minutes(10),
        waiting_idle_ttl: Duration::minutes(5),
        waiting_max: 1_000,
    }
}

fn start() -> DateTime<Utc> {
    "2026-12-24T10:00:00Z".parse().unwrap()
}

fn issue(room: &mut WaitingRoom, now: DateTime<Utc>) -> Token {
    room.expire_due(now);
    room.issue(UserId::random(), TokenSecret::random(), now).unwrap().0
}

/// Issues a token and returns the events that happened.
fn issue_events(room: &mut WaitingRoom, now: DateTime<Utc>) -> Vec<QueueEvent> {
    let mut events = room.expire_due(now);
    events.extend(room.issue(UserId::random(), TokenSecret::random(), now).unwrap().1);
    events
}

fn status(room: &mut WaitingRoom, token: &Token, now: DateTime<Utc>) -> QueueStatus {
    read(room, token, now).unwrap()
}

/// What the actor does for a read: deadlines first, then the command.
fn read(room: &mut WaitingRoom, token: &Token, now: DateTime<Utc>) -> Result<QueueStatus> {
    room.expire_due(now);
    room.status(token, now)
}

#[test]
fn a_token_is_active_at_once_when_a_slot_is_free_and_nobody_waits() {
    let mut room = WaitingRoom::new(limits(2));
    let token = issue(&mut room, start());
    let seen = status(&mut room, &token, start());
    assert_eq!(seen.status, TokenStatus::Active);
    assert_eq!(seen.position, 0);
    assert_eq!(seen.estimated_wait_seconds, 0);
    assert_eq!(seen.active_until, Some(start() + Duration::minutes(10)));
}

#[test]
fn tokens_are_admitted_strictly_in_issue_order_as_slots_free() {
    let mut room = WaitingRoom::new(limits(1));
    let first = issue(&mut room, start());
    let second = issue(&mut room, start());
    let third = issue(&mut room, start());
    assert_eq!(status(&mut room, &second, start()).position, 1);
    assert_eq!(status(&mut room, &third, start()).position, 2);

    let events = room.leave(&first, start()).unwrap();
    assert!(matches!(events.last(), Some(QueueEvent::TokenAdmitted { seq: 1, .. })));
    assert_eq!(status(&mut room, &second, start()).status, TokenStatus::Active);
    assert_eq!(status(&mut room, &third, start()).position, 1);
    assert_eq!(room.stats().admitted_total, 2);
}

#[test]
fn positions_close_up_when_someone_in_the_middle_leaves() {
    let mut room = WaitingRoom::new(limits(1));
    issue(&mut room, start());
    let tokens: Vec<_> = (0..5).map(|_| issue(&mut room, start())).collect();
    room.leave(&tokens[1], start()).unwrap();
    assert_eq!(status(&mut room, &tokens[4], start()).position, 4);
    assert_eq!(
        read(&mut room, &tokens[1], start()).unwrap_err().code,
        ErrorCode::TokenInvalid
    );
}

#[test]
fn one_live_token_per_user() {
    let mut room = WaitingRoom::new(limits(1));
    let user = UserId::random();
    let (token, _) = room.issue(user, TokenSecret::random(), start()).unwrap();
    let again = room.issue(user, TokenSecret::random(), start()).unwrap_err();
    assert_eq!(again.code, ErrorCode::TokenAlreadyIssued);
    room.leave(&token, start()).unwrap();
    assert!(room.issue(user, TokenSecret::random(), start()).is_ok());
}

#[test]
fn a_token_with_a_live_number_and_another_secret_is_no_token() {
    let mut room = WaitingRoom::new(limits(1));
    let token = issue(&mut room, start());
    let forged = Token::new(token.seq(), TokenSecret::random());
    assert_eq!(
        read(&mut room, &forged, start()).unwrap_err().code,
        ErrorCode::TokenInvalid
    );
    assert_eq!(room.leave(&forged, start()).unwrap_err().code, ErrorCode::TokenInvalid);
    let events = room.end_after_payment(&forged, UserId::random(), start());
    assert!(
        matches!(events[..], [QueueEvent::TokenPaid { .. }]),
        "a forged token ends nothing"
    );
    assert_eq!(room.deadline(&forged), None);
    assert_eq!(status(&mut room, &token, start()).status, TokenStatus::Active);
}

#[test]
fn an_active_token_expires_after_its_ttl_and_frees_its_slot() {
    let mut room = WaitingRoom::new(limits(1));
    let first = issue(&mut room, start());
    let second = issue(&mut room, start());
    // Reading keeps the waiting token from idling out meanwhile.
    status(&mut room, &second, start() + Duration::minutes(4));
    status(&mut room, &second, start() + Duration::minutes(8));
    let later = start() + Duration::minutes(10);
    assert_eq!(
        read(&mut room, &first, later).unwrap_err().code,
        ErrorCode::TokenInvalid
    );
    let admitted = status(&mut room, &second, later);
    assert_eq!(admitted.status, TokenStatus::Active);
    assert_eq!(admitted.active_until, Some(later + Duration::minutes(10)));
    assert_eq!(room.stats().expired_total, 1);
}

#[test]
fn an_unread_waiting_token_is_dropped_and_a_read_one_is_kept() {
    let mut room = WaitingRoom::new(limits(1));
    issue(&mut room, start());
    let idle = issue(&mut room, start());
    let reader = issue(&mut room, start());
    status(&mut room, &reader, start() + Duration::minutes(4));
    let after = start() + Duration::minutes(5);
    assert_eq!(read(&mut room, &idle, after).unwrap_err().code, ErrorCode::TokenInvalid);
    assert_eq!(status(&mut room, &reader, after).position, 1);
}

#[test]
fn peeking_at_a_waiting_token_does_not_keep_it_alive() {
    let mut room = WaitingRoom::new(limits(1));
    issue(&mut room, start());
    let waiting = issue(&mut room, start());
    room.expire_due(start() + Duration::minutes(4));
    assert_eq!(room.peek(&waiting, start() + Duration::minutes(4)).unwrap().position, 1);
    let after = start() + Duration::minutes(5);
    assert_eq!(
        read(&mut room, &waiting, after).unwrap_err().code,
        ErrorCode::TokenInvalid
    );
}

#[test]
fn the_waiting_room_refuses_past_waiting_max() {
    let mut room = WaitingRoom::new(WaitingRoomLimits {
        waiting_max: 1,
        ..limits(1)
    });
    issue(&mut room, start());
    issue(&mut room, start());
    let full = room
        .issue(UserId::random(), TokenSecret::random(), start())
        .unwrap_err();
    assert_eq!(full.code, ErrorCode::QueueFull);
    assert_eq!(room.stats().waiting, 1);
}

#[test]
fn estimated_wait_assumes_ttl_over_active_max_before_any_admission() {
    let mut room = WaitingRoom::new(limits(100));
    for _ in 0..100 {
        issue(&mut room, start());
    }
    let waiting = issue(&mut room, start());
    // 600 s / 100 slots = 6 s an admission.
    assert_eq!(status(&mut room, &waiting, start()).estimated_wait_seconds, 6);
}

#[test]
fn estimated_wait_follows_the_observed_admission_rate() {
    let mut room = WaitingRoom::new(limits(1));
    let mut ahead = issue(&mut room, start());
    let rest: Vec<_> = (0..20).map(|_| issue(&mut room, start())).collect();
    // Ten admissions from the line over ten seconds: one a second.
    for (i, next) in rest.iter().take(10).enumerate() {
        let at = start() + Duration::seconds(i as i64 + 1);
        room.expire_due(at);
        room.leave(&ahead, at).unwrap();
        ahead = *next;
    }
    let now = start() + Duration::seconds(10);
    let last = status(&mut room, &rest[19], now);
    assert_eq!(last.position, 10);
    assert_eq!(last.estimated_wait_seconds, 10);
}

#[test]
fn raising_active_max_admits_waiters_at_once() {
    let mut room = WaitingRoom::new(limits(1));
    issue(&mut room, start());
    let waiting = issue(&mut room, start());
    room.set_active_max(2, start());
    assert_eq!(status(&mut room, &waiting, start()).status, TokenStatus::Active);
}

#[test]
fn the_operators_active_max_is_an_event_that_replay_and_a_snapshot_keep() {
    let mut room = WaitingRoom::new(limits(1));
    let mut events = [issue_events(&mut room, start()), issue_events(&mut room, start())].concat();
    events.extend(room.set_active_max(5, start()));
    assert!(events.contains(&QueueEvent::ActiveMaxChanged {
        active_max: 5,
        at: start()
    }));
    let mut replayed = WaitingRoom::new(limits(1));
    for event in &events {
        replayed.apply(event);
    }
    assert_eq!(replayed.stats(), room.stats());
    let restored = WaitingRoom::restore(limits(2), room.image());
    assert_eq!(
        restored.stats().active_max,
        5,
        "the operator's choice stands over the flag"
    );
    let untouched = WaitingRoom::restore(limits(2), WaitingRoom::new(limits(1)).image());
    assert_eq!(untouched.stats().active_max, 2, "without a choice the flag stands");
}

#[test]
fn a_payment_ends_the_users_token() {
    let mut room = WaitingRoom::new(limits(1));
    let user = UserId::random();
    let (token, _) = room.issue(user, TokenSecret::random(), start()).unwrap();
    let events = room.end_after_payment(&token, user, start());
    assert_eq!(
        events[0],
        QueueEvent::TokenPaid {
            token,
            user,
            at: start()
        },
        "remembered before it ends, so it is never nobody's"
    );
    assert!(matches!(
        events[1],
        QueueEvent::TokenEnded {
            reason: TokenEnd::Paid,
            ..
        }
    ));
    assert_eq!(room.paid_by(&token), Some(user));
    assert_eq!(
        read(&mut room, &token, start()).unwrap_err().code,
        ErrorCode::TokenInvalid
    );
    assert_eq!(room.stats().expired_total, 0);
}

#[test]
fn replaying_the_events_rebuilds_the_same_room() {
    let mut live = WaitingRoom::new(limits(2));
    let mut journal = Vec::new();
    let mut tokens = Vec::new();
    for _ in 0..6 {
        let (token, events) = live.issue(UserId::random(), TokenSecret::random(), start()).unwrap();
        tokens.push(token);
        journal.extend(events);
    }
    journal.extend(live.leave(&tokens[0], start()).unwrap());
    journal.extend(live.expire_due(start() + Duration::minutes(3)));

    let mut replayed = WaitingRoom::new(limits(2));
    for event in &journal {
        replayed.apply(event);
    }
    assert_eq!(replayed.stats(), live.stats());
    let now = start() + Duration::minutes(3);
    for token in &tokens[1..] {
        assert_eq!(replayed.status(token, now).unwrap(), live.status(token, now).unwrap());
    }
}

#[derive(Debug, Clone)]
enum Command {
    Issue,
    Leave(usize),
    Read(usize),
    Pay(usize),
    Wait(u16),
    SetActiveMax(u8),
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => Just(Command::Issue),
        2 => any::<usize>().prop_map(Command::Leave),
        2 => any::<usize>().prop_map(Command::Read),
        1 => any::<usize>().prop_map(Command::Pay),
        2 => (0u16..700).prop_map(Command::Wait),
        1 => (1u8..6).prop_map(Command::SetActiveMax),
    ]
}

proptest! {
    #[test]
    fn admission_order_is_issue_order_and_active_never_exceeds_the_max(
        commands in proptest::collection::vec(command(), 1..200)
    ) {
        let mut room = WaitingRoom::new(WaitingRoomLimits { waiting_max: 50, ..limits(3) });
        let mut now = start();
        let mut issued: Vec<(UserId, Token)> = Vec::new();
        let mut events = Vec::new();
        // When each waiting token was last issued or read: it idles out exactly one TTL later.
        let mut kept_since: HashMap<Token, DateTime<Utc>> = HashMap::new();
        for command in commands {
            events.extend(room.expire_due(now));
            prop_assert!(room.next_deadline().is_none_or(|at| at > now), "everything due was processed");
            assert_view_agrees(&mut room, &issued, now)?;
            match command {
                Command::Issue => {
                    let user = UserId::random();
                    if let Ok((token, happened)) = room.issue(user, TokenSecret::random(), now) {
                        events.extend(happened);
                        issued.push((user, token));
                        kept_since.insert(token, now);
                    }
                }
                Command::Leave(i) if !issued.is_empty() => {
                    if let Ok(happened) = room.leave(&issued[i % issued.len()].1, now) {
                        events.extend(happened);
                    }
                }
                Command::Read(i) if !issued.is_empty() => {
                    let token = issued[i % issued.len()].1;
                    if room.status(&token, now).is_ok_and(|seen| seen.status == TokenStatus::Waiting) {
                        kept_since.insert(token, now);
                    }
                }
                Command::Pay(i) if !issued.is_empty() => {
                    let (user, token) = issued[i % issued.len()];
                    events.extend(room.end_after_payment(&token, user, now));
                }
                Command::Wait(seconds) => now += Duration::seconds(i64::from(seconds)),
                Command::SetActiveMax(max) => events.extend(room.set_active_max(u32::from(max), now)),
                _ => {}
            }
            let stats = room.stats();
            // Work-conserving: nobody waits while a slot is free.
            prop_assert!(stats.waiting == 0 || stats.active >= u64::from(stats.active_max));
        }
        let admitted: Vec<u64> = events.iter().filter_map(|e| match e {
            QueueEvent::TokenAdmitted { seq, .. } => Some(*seq),
            _ => None,
        }).collect();
        prop_assert!(admitted.windows(2).all(|pair| pair[0] < pair[1]), "admitted out of order: {admitted:?}");
        for event in &events {
            if let QueueEvent::TokenEnded { token, at, reason: TokenEnd::IdledOut, .. } = event {
                prop_assert_eq!(*at, kept_since[token] + Duration::minutes(5), "idled out one TTL after its last read");
            }
        }
        let mut replayed = WaitingRoom::new(WaitingRoomLimits { waiting_max: 50, ..limits(3) });
        for event in &events {
            replayed.apply(event);
        }
        prop_assert_eq!(replayed.stats().active_max, room.stats().active_max);
        prop_assert_eq!(replayed.stats().waiting, room.stats().waiting);
        prop_assert_eq!(replayed.stats().active, room.stats().active);
    }
}

/// Every issued token stands in the line's view where the room says it stands: the same
/// position and estimate while it waits, out of the line once admitted or ended.
fn assert_view_agrees(
    room: &mut WaitingRoom,
    issued: &[(UserId, Token)],
    now: DateTime<Utc>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let view = room.line_view(now);
    for (_, token) in issued {
        let expected = match room.peek(token, now) {
            Ok(status) if status.status == TokenStatus::Waiting => PlaceInLine::Waiting {
                position: status.position,
                estimated_wait_seconds: status.estimated_wait_seconds,
            },
            _ => PlaceInLine::Out,
        };
        prop_assert_eq!(view.place(token.seq()), expected, "token {}", token.seq());
    }
    Ok(())
}

#[test]
fn a_restored_room_views_the_line_as_the_room_it_was_taken_from() {
    let mut room = WaitingRoom::new(limits(1));
    let tokens: Vec<Token> = (0..6)
        .map(|_| room.issue(UserId::random(), TokenSecret::random(), start()).unwrap().0)
        .collect();
    room.leave(&tokens[2], start()).unwrap();
    room.leave(&tokens[4], start()).unwrap();
    let mut restored = WaitingRoom::restore(limits(1), room.image());
    let view = restored.line_view(start());
    assert_eq!(view, room.line_view(start()));
    assert_eq!((view.front, &view.gaps[..]), (1, &[2, 4][..]));
}

#[test]
fn a_churn_of_fans_leaving_from_inside_the_line_makes_the_view_say_to_ask_the_room() {
    let mut room = WaitingRoom::new(WaitingRoomLimits {
        waiting_max: 100_000,
        ..limits(1)
    });
    let mut issue = || room.issue(UserId::random(), TokenSecret::random(), start()).unwrap().0;
    let active = issue();
    let front = issue();
    let churned: Vec<Token> = (0..=crate::domain::line_view::GAPS_IN_A_VIEW_MAX)
        .map(|_| issue())
        .collect();
    let last = issue();
    for token in &churned {
        room.leave(token, start()).unwrap();
    }
    let view = room.line_view(start());
    assert!(!view.complete && view.gaps.is_empty(), "a bounded copy");
    assert_eq!(view.place(last.seq()), PlaceInLine::Unknown);
    // Once the front moves past them, the gaps are dropped and the view is whole again.
    room.leave(&front, start()).unwrap();
    room.leave(&active, start()).unwrap();
    let view = room.line_view(start());
    assert!(view.complete);
    assert_eq!(view.place(last.seq()), PlaceInLine::Out, "admitted");
}

#[test]
fn a_watched_token_is_kept_alive_when_its_idle_deadline_comes_and_an_unwatched_one_idles_out() {
    let mut room = WaitingRoom::new(limits(1));
    let issue = |room: &mut WaitingRoom| room.issue(UserId::random(), TokenSecret::random(), start()).unwrap().0;
    let (_active, watched, unwatched) = (issue(&mut room), issue(&mut room), issue(&mut room));
    let due = start() + Duration::minutes(5);
    let renewed = room.keep_watched_alive(due, |seq| (seq == watched.seq()).then(|| due + Duration::minutes(5)));
    assert_eq!(renewed, [watched]);
    let ended: Vec<Token> = room
        .expire_due(due)
        .into_iter()
        .filter_map(|event| match event {
            QueueEvent::TokenEnded { token, .. } => Some(token),
            _ => None,
        })
        .collect();
    assert_eq!(ended, [unwatched]);
    assert_eq!(room.peek(&watched, due).unwrap().position, 1);
    assert_eq!(room.deadline(&watched), Some(due + Duration::minutes(5)));
}

#[test]
fn a_waiting_token_costs_the_room_80_bytes_of_record() {
    // A million of these sit in place in the room's slab; a field that grows them shows here.
    assert_eq!(std::mem::size_of::<Option<TokenRecord>>(), 80);
}

#[test]
fn a_paid_token_is_forgotten_by_its_own_deadline_a_day_later() {
    let mut room = WaitingRoom::new(limits(1));
    let user = UserId::random();
    let (token, _) = room.issue(user, TokenSecret::random(), start()).unwrap();
    room.end_after_payment(&token, user, start());
    let forgotten_at = start() + PAID_TOKEN_MEMORY;
    assert_eq!(room.next_deadline(), Some(forgotten_at));
    assert!(room.expire_due(forgotten_at - Duration::seconds(1)).is_empty());
    assert_eq!(room.paid_by(&token), Some(user));
    let events = room.expire_due(forgotten_at);
    assert_eq!(
        events,
        [QueueEvent::PaidTokenForgotten {
            token,
            at: forgotten_at
        }]
    );
    assert_eq!(room.paid_by(&token), None);
    assert_eq!(room.next_deadline(), None);
    let mut replayed = WaitingRoom::restore(limits(1), WaitingRoom::new(limits(1)).image());
    replayed.apply(&QueueEvent::TokenPaid {
        token,
        user,
        at: start(),
    });
    replayed.apply(&events[0]);
    assert_eq!(replayed.paid_by(&token), None);
}
