//! R22 reply timeouts: the unanswered reminder, reassignment, and the affinity
//! that moves only with the new holder's reply. Virtual time.

use super::r20_r21::{events, pass};
use super::*;

/// Taobao's reminder: 100 seconds without a reply.
const REMINDER: Duration = Duration::from_secs(100);

/// A shop of three agents (a, b, c; capacity 2) with the reply timeout set.
fn answering_shop(profile: Profile, reassign: bool, max: u32) -> Fixture {
    let mut shop = Fixture::new(profile);
    shop.cs("a", 2)
        .cs("b", 2)
        .cs("c", 2)
        .online(&["a", "b", "c"]);
    shop.settings(SettingsPatch {
        reply_timeout: Some(REMINDER),
        reassign_unanswered: Some(reassign),
        max_reassignments: Some(max),
        ..Default::default()
    });
    shop
}

fn reply(shop: &mut Fixture, session: SessionId, account: &str) -> Result<Session, EngineError> {
    let result = shop
        .state
        .record_reply(session, &id(account), shop.now)
        .cloned();
    shop.state.check_invariants().unwrap();
    result
}

fn unanswered(events: &[ShopEvent]) -> Vec<(SessionId, String, Option<String>)> {
    events
        .iter()
        .filter_map(|event| match event {
            ShopEvent::SessionUnanswered {
                session,
                account,
                reassigned_to,
                ..
            } => Some((
                *session,
                account.0.clone(),
                reassigned_to.as_ref().map(|a| a.0.clone()),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn r22_an_unanswered_session_raises_the_reminder_at_its_deadline_once() {
    for profile in [Profile::Taobao, Profile::Kuaishou] {
        let mut shop = answering_shop(profile, false, 1);
        let routed = shop.route("buyer");
        let session = routed.session.id;
        let due = shop.state.reply_due_at(shop.session(session));
        assert_eq!(due, Some(routed.session.created_at.plus(REMINDER)));
        shop.state.take_events();
        pass(&mut shop, REMINDER - Duration::from_millis(1));
        assert!(unanswered(&events(&mut shop)).is_empty());
        pass(&mut shop, Duration::from_millis(1));
        let timed = shop.state.take_events();
        let reminder = timed
            .iter()
            .find(|t| matches!(t.event, ShopEvent::SessionUnanswered { .. }))
            .expect("the reminder");
        assert_eq!(Some(reminder.at), due, "{profile:?}: at the very moment");
        let ShopEvent::SessionUnanswered {
            account,
            waited,
            reassigned_to,
            candidates,
            ..
        } = &reminder.event
        else {
            unreachable!()
        };
        assert_eq!((account, *waited), (&id("a"), REMINDER));
        assert_eq!((reassigned_to, candidates.len()), (&None, 0));
        // It stays, and is not reminded about again while the buyer is silent.
        let now = shop.session(session);
        assert_eq!(now.account, Some(id("a")));
        assert_eq!(now.timed_out_on, vec![id("a")]);
        pass(&mut shop, hours(1));
        assert!(unanswered(&events(&mut shop)).is_empty(), "{profile:?}");
    }
}

#[test]
fn r22_a_reply_stops_the_wait_and_the_buyers_next_message_starts_it_again() {
    let mut shop = answering_shop(Profile::Taobao, false, 1);
    let session = shop.route("buyer").session.id;
    pass(&mut shop, Duration::from_secs(50));
    let replied = reply(&mut shop, session, "a").unwrap();
    assert_eq!(replied.reply_wait_since, None);
    assert_eq!(shop.state.reply_due_at(&replied), None);
    // Replying again changes nothing.
    shop.state.take_write_set();
    reply(&mut shop, session, "a").unwrap();
    assert!(shop.state.take_write_set().sessions.is_empty());
    pass(&mut shop, Duration::from_secs(200));
    assert!(unanswered(&events(&mut shop)).is_empty());
    // The buyer writes again (R1): a new wait from now.
    let again = shop.route("buyer");
    assert_eq!(again.reason, RouteReason::OpenSession);
    assert_eq!(again.session.reply_wait_since, Some(shop.now));
    let written_at = shop.now;
    pass(&mut shop, REMINDER);
    let timed = shop.state.take_events();
    let reminder = timed
        .iter()
        .find(|t| matches!(t.event, ShopEvent::SessionUnanswered { .. }))
        .unwrap();
    assert_eq!(reminder.at, written_at.plus(REMINDER));
}

#[test]
fn r22_reassignment_moves_by_r9_and_the_affinity_waits_for_the_new_holders_reply() {
    let mut shop = answering_shop(Profile::Kuaishou, true, 1);
    let other = shop.route("other").session.id; // a: b and c are the least loaded
    reply(&mut shop, other, "a").unwrap();
    let session = shop.route("buyer").session.id;
    assert_eq!(shop.session(session).account, Some(id("b")));
    shop.state.take_events();
    pass(&mut shop, REMINDER);
    let happened = events(&mut shop);
    assert_eq!(
        unanswered(&happened),
        vec![(session, "b".to_owned(), Some("c".to_owned()))]
    );
    assert!(happened.contains(&ShopEvent::SessionAssigned {
        session,
        buyer: BuyerId::from("buyer"),
        account: id("c"),
        cause: AssignCause::ReplyTimeout { from: id("b") },
    }));
    let moved = shop.session(session);
    assert_eq!(moved.account, Some(id("c")));
    assert_eq!((moved.reassignments, moved.affinity_pending), (1, true));
    assert_eq!((shop.occupancy("b"), shop.occupancy("c")), (0, 1));
    // Until c replies, the buyer still belongs with b.
    let affinity = |shop: &Fixture| {
        let buyer = BuyerId::from("buyer");
        shop.state
            .affinity(&buyer, shop.now)
            .map(|a| a.account.clone())
    };
    assert_eq!(affinity(&shop), Some(id("b")));
    reply(&mut shop, session, "c").unwrap();
    assert_eq!(affinity(&shop), Some(id("c")));
    assert!(!shop.session(session).affinity_pending);
    let tally = shop.state.account(&id("c")).unwrap().tally;
    assert_eq!(tally.taken(CauseKind::ReplyTimeout), 1);
}

#[test]
fn r22_a_moved_session_that_ends_unanswered_leaves_the_affinity_where_it_was() {
    let mut shop = answering_shop(Profile::Kuaishou, true, 1);
    let session = shop.route("buyer").session.id;
    pass(&mut shop, REMINDER);
    assert_eq!(shop.session(session).account, Some(id("b")));
    shop.end(session);
    let buyer = BuyerId::from("buyer");
    assert_eq!(
        shop.state
            .affinity(&buyer, shop.now)
            .map(|a| a.account.clone()),
        Some(id("a"))
    );
}

#[test]
fn r22_reassignment_never_goes_back_and_stops_after_the_maximum() {
    // Two others to try, three moves allowed: a → b → c, then nobody is left.
    let mut shop = answering_shop(Profile::Kuaishou, true, 3);
    let session = shop.route("buyer").session.id;
    shop.state.take_events();
    pass(&mut shop, REMINDER * 3);
    assert_eq!(
        unanswered(&events(&mut shop)),
        vec![
            (session, "a".to_owned(), Some("b".to_owned())),
            (session, "b".to_owned(), Some("c".to_owned())),
            (session, "c".to_owned(), None),
        ]
    );
    let stayed = shop.session(session);
    assert_eq!(stayed.account, Some(id("c")));
    assert_eq!(stayed.timed_out_on, vec![id("a"), id("b"), id("c")]);
    assert_eq!(stayed.reassignments, 2);
    // At most `max_reassignments`: one move, then reminders only.
    let mut shop = answering_shop(Profile::Taobao, true, 1);
    let session = shop.route("buyer").session.id;
    shop.state.take_events();
    pass(&mut shop, REMINDER * 2);
    assert_eq!(
        unanswered(&events(&mut shop)),
        vec![
            (session, "a".to_owned(), Some("b".to_owned())),
            (session, "b".to_owned(), None),
        ]
    );
    assert_eq!(shop.session(session).reassignments, 1);
}

#[test]
fn r22_a_session_no_other_account_can_take_stays_where_it_is_explained() {
    let mut shop = answering_shop(Profile::Kuaishou, true, 2);
    shop.status("c", AccountStatus::Offline);
    let session = shop.route("buyer").session.id; // a
    for (buyer, holder) in [("x1", "b"), ("x2", "a"), ("x3", "b")] {
        let other = shop.route(buyer).session.id;
        reply(&mut shop, other, holder).unwrap();
    }
    // a and b are full.
    shop.state.take_events();
    pass(&mut shop, REMINDER);
    let happened = events(&mut shop);
    assert_eq!(unanswered(&happened), vec![(session, "a".to_owned(), None)]);
    let Some(ShopEvent::SessionUnanswered { candidates, .. }) = happened
        .iter()
        .find(|e| matches!(e, ShopEvent::SessionUnanswered { .. }))
    else {
        unreachable!()
    };
    let whys: Vec<(&str, Why)> = candidates
        .iter()
        .map(|c| (c.account.as_str(), c.why))
        .collect();
    assert_eq!(
        whys,
        vec![
            ("a", Why::AlreadyTimedOut),
            ("b", Why::Full),
            ("c", Why::Offline),
            (MAIN, Why::NotParticipating),
        ]
    );
    assert_eq!(shop.session(session).account, Some(id("a")));
}

#[test]
fn r22_a_reply_by_an_account_that_does_not_hold_the_session_is_refused() {
    let mut shop = answering_shop(Profile::Kuaishou, false, 1);
    let session = shop.route("buyer").session.id;
    let before = shop.state.snapshot();
    let refused = reply(&mut shop, session, "b").unwrap_err();
    assert!(matches!(refused, EngineError::FailedPrecondition { .. }));
    assert_eq!(refused.field(), "account_id");
    let missing = reply(&mut shop, SessionId(999), "a").unwrap_err();
    assert!(matches!(missing, EngineError::NotFound { .. }));
    assert_eq!(shop.state.snapshot(), before);
    // Nor in a session that waits in a queue or has ended.
    shop.end(session);
    assert!(reply(&mut shop, session, "a").is_err());
}

#[test]
fn r22_turning_the_timeout_on_starts_every_assigned_sessions_wait_now() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 2).online(&["a"]);
    let old = shop.route("old").session.id;
    pass(&mut shop, hours(2));
    assert_eq!(
        shop.session(old).reply_wait_since,
        None,
        "off: nothing kept"
    );
    shop.settings(SettingsPatch {
        reply_timeout: Some(REMINDER),
        ..Default::default()
    });
    assert_eq!(shop.session(old).reply_wait_since, Some(shop.now));
    shop.state.take_events();
    pass(&mut shop, REMINDER);
    assert_eq!(unanswered(&events(&mut shop)).len(), 1);
    // Off again: no deadline left.
    shop.settings(SettingsPatch {
        reply_timeout: Some(Duration::ZERO),
        ..Default::default()
    });
    shop.route("later");
    assert!(shop.state.follow_ups.reply_deadlines.is_empty());
}

#[test]
fn r22_off_by_default_nobody_is_reminded() {
    for profile in [Profile::Taobao, Profile::Kuaishou] {
        let mut shop = Fixture::new(profile);
        shop.cs("a", 2).online(&["a"]);
        let session = shop.route("buyer").session.id;
        assert_eq!(shop.state.reply_due_at(shop.session(session)), None);
        pass(&mut shop, hours(3));
        assert!(unanswered(&events(&mut shop)).is_empty(), "{profile:?}");
        // A reply is still accepted; it changes nothing.
        shop.state.take_write_set();
        reply(&mut shop, session, "a").unwrap();
        assert!(shop.state.take_write_set().sessions.is_empty());
    }
}
