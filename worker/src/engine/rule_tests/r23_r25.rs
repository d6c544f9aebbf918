//! R23 priority and aging, R24 the full explanation, R25 fairness and overflow
//! accounting; and a restored shop keeping what R20–R25 need.

use super::r20_r21::pass;
use super::*;

fn route_with(shop: &mut Fixture, buyer: &str, options: RouteOptions) -> RouteOutcome {
    let request = shop.request(buyer);
    let outcome = shop.state.route_with(&request, options, shop.now).unwrap();
    shop.state.check_invariants().unwrap();
    outcome
}

fn priority(level: u8) -> RouteOptions {
    RouteOptions {
        priority: level,
        explain: false,
    }
}

const EXPLAIN: RouteOptions = RouteOptions {
    priority: 0,
    explain: true,
};

/// One busy one-slot agent whose sessions close at once when ended.
fn one_slot(profile: Profile) -> Fixture {
    let mut shop = Fixture::new(profile);
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    shop.cs("a", 1).online(&["a"]);
    shop.route("serving");
    shop
}

/// Ends a's session: the queue serves its next buyer to a. Returns who.
fn free_a_slot(shop: &mut Fixture) -> SessionId {
    let held = shop.state.sessions_by_holder()[&id("a")][0];
    shop.end(held);
    shop.state.sessions_by_holder()[&id("a")][0]
}

// ------------------------------------------------------------------ R23

#[test]
fn r23_higher_priority_is_served_first_and_first_in_first_out_within_a_level() {
    for profile in [Profile::Taobao, Profile::Kuaishou] {
        let mut shop = one_slot(profile);
        let normal_1 = route_with(&mut shop, "n1", priority(0)).session.id;
        let high_1 = route_with(&mut shop, "h1", priority(5)).session.id;
        let normal_2 = route_with(&mut shop, "n2", priority(0)).session.id;
        let high_2 = route_with(&mut shop, "h2", priority(5)).session.id;
        let top = route_with(&mut shop, "t", priority(9)).session.id;
        assert_eq!(shop.session(top).priority, 9);
        assert_eq!(
            shop.state.queue_in_service_order(QueueName::Shop),
            vec![top, high_1, high_2, normal_1, normal_2]
        );
        assert_eq!(shop.state.queue_position(shop.session(normal_1)), Some(4));
        // The queue itself keeps arrival order.
        assert_eq!(
            shop.queue(QueueName::Shop),
            vec![normal_1, high_1, normal_2, high_2, top]
        );
        let served: Vec<SessionId> = (0..5).map(|_| free_a_slot(&mut shop)).collect();
        assert_eq!(
            served,
            vec![top, high_1, high_2, normal_1, normal_2],
            "{profile:?}"
        );
    }
}

#[test]
fn r23_aging_raises_a_waiting_session_one_level_per_interval() {
    let mut shop = one_slot(Profile::Kuaishou);
    shop.settings(SettingsPatch {
        priority_aging: Some(minutes(2)),
        ..Default::default()
    });
    let normal = route_with(&mut shop, "n", priority(0)).session.id;
    pass(&mut shop, minutes(5));
    let session = shop.session(normal).clone();
    assert_eq!(shop.state.effective_priority(&session, shop.now), 2);
    assert_eq!(
        shop.state
            .effective_priority(&session, shop.now.plus(hours(10))),
        MAX_PRIORITY,
        "capped at the top level"
    );
    // A level-1 buyer arriving now ranks below the normal buyer aged to 2;
    // a level-3 one above.
    let one = route_with(&mut shop, "one", priority(1)).session.id;
    let three = route_with(&mut shop, "three", priority(3)).session.id;
    assert_eq!(
        shop.state.queue_in_service_order(QueueName::Shop),
        vec![three, normal, one]
    );
}

#[test]
fn r23_a_normal_buyer_is_never_starved_by_later_high_priority_ones() {
    let mut shop = one_slot(Profile::Kuaishou);
    shop.settings(SettingsPatch {
        priority_aging: Some(minutes(1)),
        ..Default::default()
    });
    let normal = route_with(&mut shop, "normal", priority(0)).session.id;
    // A stream of urgent buyers, one a minute; a slot frees every minute.
    let mut overtaken = 0;
    for n in 0.. {
        route_with(&mut shop, &format!("urgent{n}"), priority(MAX_PRIORITY));
        pass(&mut shop, minutes(1));
        if free_a_slot(&mut shop) == normal {
            break;
        }
        overtaken += 1;
        assert!(n < 20, "the normal buyer waits for ever");
    }
    // Once it has waited MAX_PRIORITY intervals, nobody later goes first.
    assert!(overtaken <= usize::from(MAX_PRIORITY), "{overtaken}");
}

#[test]
fn r23_without_priorities_queues_stay_first_in_first_out_even_with_aging() {
    let mut shop = one_slot(Profile::Taobao);
    shop.settings(SettingsPatch {
        priority_aging: Some(Duration::from_secs(1)),
        ..Default::default()
    });
    let waiting: Vec<SessionId> = (0..4)
        .map(|n| {
            pass(&mut shop, Duration::from_secs(7));
            shop.route(&format!("b{n}")).session.id
        })
        .collect();
    assert!(shop.state.follow_ups.raised.is_empty());
    let served: Vec<SessionId> = (0..4).map(|_| free_a_slot(&mut shop)).collect();
    assert_eq!(served, waiting);
}

#[test]
fn r23_priority_never_overrides_r1_to_r5() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("b", 1).online(&["a", "b"]);
    let first = shop.serve_and_end("returning");
    assert_eq!(first.session.account, Some(id("a")));
    // a still holds the ended session's slot, x takes b's: the returning buyer
    // still goes to a (R5), full.
    shop.route("x");
    let back = route_with(&mut shop, "returning", priority(9));
    assert_assigned(&back, "a", RouteReason::Affinity);
    // And the open session stays as it is (R1), its priority too.
    let again = route_with(&mut shop, "returning", priority(3));
    assert_eq!(again.reason, RouteReason::OpenSession);
    assert_eq!(again.session.priority, 9);
}

#[test]
fn r23_a_priority_above_9_is_refused_and_changes_nothing() {
    let mut shop = one_slot(Profile::Kuaishou);
    let before = shop.state.snapshot();
    let request = shop.request("b");
    let refused = shop
        .state
        .route_with(&request, priority(10), shop.now)
        .unwrap_err();
    assert!(matches!(refused, EngineError::InvalidArgument { .. }));
    assert_eq!(refused.field(), "priority");
    assert_eq!(shop.state.snapshot(), before);
    assert!(!shop.state.remembers_answer(&request.request_id));
}

#[test]
fn r23_pulling_takes_the_first_by_priority() {
    let mut shop = one_slot(Profile::Kuaishou);
    shop.cs("puller", 1);
    route_with(&mut shop, "n", priority(0));
    let high = route_with(&mut shop, "h", priority(4)).session.id;
    let pulled = shop
        .state
        .pull_queued(&id("puller"), QueueName::Shop, shop.now)
        .unwrap()
        .id;
    assert_eq!(pulled, high);
}

// ------------------------------------------------------------------ R24

fn whys(outcome: &RouteOutcome) -> Vec<(&str, Why)> {
    outcome
        .candidates
        .iter()
        .map(|c| (c.account.as_str(), c.why))
        .collect()
}

#[test]
fn r24_every_account_is_explained_and_exactly_the_chosen_one_is_marked() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("b", 2).cs("c", 2).cs("d", 1).cs("e", 1);
    shop.account(
        "f",
        AccountConfig {
            non_routing: true,
            ..Fixture::config(&[Role::CustomerService], Some(1))
        },
    );
    shop.online(&["a", "b", "c", "f"]);
    shop.status("e", AccountStatus::Suspended);
    shop.route("x1"); // a: full
    shop.route("x2"); // b
    let outcome = route_with(&mut shop, "buyer", EXPLAIN);
    assert_assigned(&outcome, "c", RouteReason::Even);
    assert_eq!(
        whys(&outcome),
        vec![
            ("a", Why::Full),
            ("b", Why::MoreLoaded),
            ("c", Why::Chosen),
            ("d", Why::Offline),
            ("e", Why::Suspended),
            ("f", Why::NonRouting),
            (MAIN, Why::NotParticipating),
        ]
    );
    let chosen: Vec<&Candidate> = outcome.candidates.iter().filter(|c| c.chosen()).collect();
    assert_eq!(chosen.len(), 1);
    // Equal loads: the one assigned more recently lost the tie-break.
    let tie = route_with(&mut shop, "buyer-2", EXPLAIN);
    assert_assigned(&tie, "b", RouteReason::Even);
    assert_eq!(whys(&tie)[2], ("c", Why::LostTieBreak));
}

#[test]
fn r24_group_routing_and_forwarding_are_explained() {
    let mut shop = Fixture::kuaishou();
    shop.cs("x", 2).cs("y", 2).cs("z", 2).cs("gone", 2);
    shop.online(&["x", "y", "z"]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        offline_forwarding: Some(true),
        ..Default::default()
    });
    shop.group("after", &["x", "y", "gone"], &[OrderStatus::AfterSales]);
    let mut request = shop.request("buyer");
    request.order_status = OrderStatus::AfterSales;
    request.addressed = Some(id("gone"));
    let outcome = shop.state.route_with(&request, EXPLAIN, shop.now).unwrap();
    assert_assigned(&outcome, "x", RouteReason::Group);
    assert_eq!(
        whys(&outcome),
        vec![
            ("gone", Why::ExcludedAddressed),
            (MAIN, Why::NotParticipating),
            ("x", Why::Chosen),
            ("y", Why::LostTieBreak),
            ("z", Why::NotInGroup),
        ]
    );
}

#[test]
fn r24_rules_before_any_pick_are_reported_as_such() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 2).cs("b", 2).online(&["a", "b"]);
    let first = route_with(&mut shop, "buyer", EXPLAIN);
    let again = route_with(&mut shop, "buyer", EXPLAIN);
    assert_eq!(again.reason, RouteReason::OpenSession);
    assert_eq!(
        whys(&again),
        vec![
            ("a", Why::Chosen),
            ("b", Why::EarlierRule),
            (MAIN, Why::EarlierRule)
        ]
    );
    // A replayed answer has no explanation: the shop has moved on since.
    let request = RouteRequest {
        request_id: RequestId("req-1".to_owned()),
        ..shop.request("buyer")
    };
    let replayed = shop.state.route_with(&request, EXPLAIN, shop.now).unwrap();
    assert!(replayed.replayed && replayed.candidates.is_empty());
    assert_eq!(replayed.session.id, first.session.id);
    // Queued: nobody is chosen.
    shop.cs("a", 1).cs("b", 1);
    shop.route("filler"); // b: both full
    let queued = route_with(&mut shop, "late", EXPLAIN);
    assert_queued(&queued, QueueName::Shop);
    assert!(queued.candidates.iter().all(|c| !c.chosen()));
    assert_eq!(whys(&queued)[..2], [("a", Why::Full), ("b", Why::Full)]);
}

#[test]
fn r24_asking_for_the_explanation_changes_nothing_in_the_decision() {
    let mut plain = Fixture::taobao();
    plain.cs("a", 1).cs("b", 1).online(&["a"]);
    let mut explained = Fixture::taobao();
    explained.state = plain.state.clone();
    for buyer in ["b1", "b2", "b3", "b1"] {
        let expected = route_with(&mut plain, buyer, RouteOptions::default());
        let actual = route_with(&mut explained, buyer, EXPLAIN);
        assert_eq!(actual.session, expected.session);
        assert_eq!(actual.reason, expected.reason);
        assert!(expected.candidates.is_empty());
        assert_eq!(actual.candidates.len(), 3);
    }
    assert_eq!(explained.state.snapshot(), plain.state.snapshot());
}

// ------------------------------------------------------------------ R25

#[test]
fn r25_sessions_are_counted_by_cause_and_overflow_by_the_rule_that_allowed_it() {
    let mut shop = Fixture::kuaishou();
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    shop.cs("a", 1).cs("b", 1).online(&["a", "b"]);
    let served = shop.serve_and_end("returning"); // a, by R8
    assert_eq!(served.session.account, Some(id("a")));
    shop.route("x"); // b (R8: a was assigned more recently)
    shop.route("y"); // a (R8)
    shop.route_addressed("addressing", "a"); // R2: a beyond capacity
    shop.route("returning"); // R5: a beyond capacity
    let waiting = shop.route("waiting").session.id; // queued
    let pulled = shop
        .state
        .pull_queued(&id("b"), QueueName::Shop, shop.now)
        .unwrap()
        .id;
    assert_eq!(pulled, waiting); // R17: b beyond capacity
    shop.state
        .transfer(pulled, &id(MAIN), &id("a"), shop.now)
        .unwrap(); // R16
    let tally = |shop: &Fixture, account: &str| shop.state.account(&id(account)).unwrap().tally;
    let a = tally(&shop, "a");
    assert_eq!(a.taken(CauseKind::Rule), 4);
    assert_eq!(a.taken(CauseKind::Transfer), 1);
    assert_eq!(
        a.overflow_by_rule().collect::<Vec<_>>(),
        vec![
            (OverflowRule::R2, 1),
            (OverflowRule::R5, 1),
            (OverflowRule::R16, 1)
        ]
    );
    let b = tally(&shop, "b");
    assert_eq!(b.taken(CauseKind::Pull), 1);
    assert_eq!(
        b.overflow_by_rule().collect::<Vec<_>>(),
        vec![(OverflowRule::R17, 1)]
    );
    // A session taken from the queue into a freed slot is no overflow.
    let b_held = shop.state.sessions_by_holder()[&id("b")].clone();
    let late = shop.route("late").session.id;
    for session in b_held {
        shop.end(session);
    }
    assert_eq!(shop.session(late).account, Some(id("b")));
    let b = tally(&shop, "b");
    assert_eq!((b.taken(CauseKind::Queue), b.overflow_total()), (1, 1));
}

#[test]
fn r25_the_spread_of_load_among_available_accounts() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 4).cs("b", 2).cs("c", 2).online(&["a", "b"]);
    assert_eq!(shop.state.load_spread(), 0.0);
    shop.route("x1"); // a 1/4
    shop.route("x2"); // b 1/2
    shop.route("x3"); // a 2/4
    assert_eq!(shop.state.load_spread(), 0.0);
    shop.route("x4"); // b 2/2
    assert_eq!(shop.state.load_spread(), 0.5);
    // Offline accounts do not count.
    shop.status("b", AccountStatus::Offline);
    assert_eq!(shop.state.load_spread(), 0.0);
}

// ------------------------------------------------------------------ restore

#[test]
fn r20_to_r25_a_restored_shop_keeps_deadlines_priorities_counts_and_rates() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("b", 1).online(&["a", "b"]);
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        max_queue_wait: Some(minutes(10)),
        queue_timeout_action: Some(QueueTimeoutAction::MainAccount),
        reply_timeout: Some(minutes(2)),
        reassign_unanswered: Some(true),
        priority_aging: Some(minutes(1)),
        ..Default::default()
    });
    for n in 0..6 {
        let session = shop.route(&format!("x{n}")).session.id;
        shop.end(session);
    }
    shop.route("held-a");
    shop.route("held-b");
    route_with(&mut shop, "waiting", priority(4));
    route_with(&mut shop, "waiting-2", priority(0));
    // The reminders go out (nobody else has a free slot); the queue waits on.
    pass(&mut shop, minutes(3));
    let mut restored = Fixture::kuaishou();
    restored.state = ShopState::restore(shop.state.snapshot(), shop.now);
    restored.now = shop.now;
    restored.state.check_invariants().unwrap();
    assert_eq!(restored.state.snapshot(), shop.state.snapshot());
    assert_eq!(restored.state.next_deadline(), shop.state.next_deadline());
    assert_eq!(restored.state.follow_ups, shop.state.follow_ups);
    let last = *shop.queue(QueueName::Shop).last().unwrap();
    assert_eq!(
        restored.state.wait_estimate(restored.session(last)),
        shop.state.wait_estimate(shop.session(last))
    );
    shop.state.take_events();
    pass(&mut shop, minutes(10));
    pass(&mut restored, minutes(10));
    assert_eq!(restored.state.snapshot(), shop.state.snapshot());
    assert_eq!(restored.state.take_events(), shop.state.take_events());
}
