//! R20 wait estimates and R21 queue timeouts, in virtual time.

use super::*;

/// The events produced since the last call, without their times.
pub(super) fn events(shop: &mut Fixture) -> Vec<ShopEvent> {
    shop.state
        .take_events()
        .into_iter()
        .map(|timed| timed.event)
        .collect()
}

/// Lets time pass with heartbeats, checking the shop's invariants after.
pub(super) fn pass(shop: &mut Fixture, duration: Duration) {
    shop.pass_time_online(duration);
    shop.state.check_invariants().unwrap();
}

/// A shop of `accounts` one-slot agents (a0, a1, ...), all online, every one
/// busy, sessions closing at once when ended, and `waiting` buyers in the queue.
fn busy_queue(profile: Profile, accounts: usize, waiting: usize) -> Fixture {
    let mut shop = Fixture::new(profile);
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    for n in 0..accounts {
        let name = format!("a{n}");
        shop.cs(&name, 1).online(&[name.as_str()]);
    }
    for n in 0..accounts + waiting {
        shop.route(&format!("b{n}"));
    }
    shop
}

/// Each online account finishes its session every `interval` (a slot frees and
/// the queue's oldest buyer takes it), for `duration`; new buyers keep the queue
/// as long as it was.
fn serve_steadily(shop: &mut Fixture, interval: Duration, duration: Duration) {
    let until = shop.now.plus(duration);
    while shop.now < until {
        pass(shop, interval);
        let held = shop.state.sessions_by_holder();
        let ending: Vec<SessionId> = shop
            .state
            .accounts()
            .filter(|a| a.is_available())
            .filter_map(|a| held.get(&a.id).and_then(|ids| ids.first().copied()))
            .collect();
        for session in ending {
            shop.end(session);
            // A buyer never seen: named after the session it will open.
            let next = shop.state.counters().next_session_id;
            shop.route(&format!("new{next}"));
        }
    }
}

/// The estimate of the last buyer in the shop queue, and its position.
fn last_in_queue(shop: &Fixture) -> (u32, Option<WaitRange>) {
    let last = *shop.queue(QueueName::Shop).last().unwrap();
    let session = shop.session(last);
    (
        shop.state.queue_position(session).unwrap(),
        shop.state.wait_estimate(session),
    )
}

#[test]
fn r20_a_queued_session_without_recent_frees_has_an_unknown_estimate() {
    for profile in [Profile::Taobao, Profile::Kuaishou] {
        let mut shop = busy_queue(profile, 1, 1);
        let waiting = shop.queue(QueueName::Shop)[0];
        assert_eq!(shop.state.wait_estimate(shop.session(waiting)), None);
        let queued = shop.route("late");
        assert_eq!(queued.session.queued_estimate, None);
        let estimate = events(&mut shop).into_iter().find_map(|event| match event {
            ShopEvent::SessionQueued { estimate, .. } => Some(estimate),
            _ => None,
        });
        assert_eq!(
            estimate,
            Some(None),
            "{profile:?}: the queued event says unknown"
        );
    }
}

#[test]
fn r20_the_estimate_comes_from_the_rate_slots_freed_and_the_position() {
    // 4 agents each free a slot a minute: 4 a minute; the 12th in line waits ~3 min.
    let mut shop = busy_queue(Profile::Kuaishou, 4, 11);
    serve_steadily(&mut shop, minutes(1), minutes(40));
    let (position, estimate) = last_in_queue(&shop);
    assert_eq!(position, 11);
    let estimate = estimate.expect("40 minutes of steady frees are enough data");
    let expected = Duration::from_secs(u64::from(position) * 60 / 4);
    assert!(
        estimate.contains(expected),
        "{estimate:?} should hold {expected:?}"
    );
    assert!(
        estimate.high() - estimate.low() < expected * 2,
        "{estimate:?}"
    );
    // A buyer further ahead is told less.
    let first = shop.queue(QueueName::Shop)[0];
    let ahead = shop.state.wait_estimate(shop.session(first)).unwrap();
    assert!(ahead.high() < estimate.low(), "{ahead:?} vs {estimate:?}");
}

#[test]
fn r20_the_estimate_tracks_agents_going_offline_and_a_slower_pace() {
    let mut shop = busy_queue(Profile::Kuaishou, 4, 11);
    serve_steadily(&mut shop, minutes(1), minutes(40));
    let (_, before) = last_in_queue(&shop);
    let before = before.unwrap();
    // Two agents log off: at once, only the other two's rate counts.
    shop.status("a0", AccountStatus::Offline)
        .status("a1", AccountStatus::Offline);
    let (_, halved) = last_in_queue(&shop);
    let halved = halved.unwrap();
    let ratio = halved.middle().as_secs_f64() / before.middle().as_secs_f64();
    assert!((1.8..2.2).contains(&ratio), "{before:?} → {halved:?}");
    // The two left slow down to one free every 3 minutes each: the estimate
    // follows within a few of the rate's horizons.
    serve_steadily(&mut shop, minutes(3), minutes(60));
    let (position, slower) = last_in_queue(&shop);
    let slower = slower.unwrap();
    let expected = Duration::from_secs(u64::from(position) * 3 * 60 / 2);
    assert!(
        slower.contains(expected),
        "{slower:?} should hold {expected:?}"
    );
}

#[test]
fn r20_later_reads_give_a_fresh_estimate() {
    let mut shop = busy_queue(Profile::Kuaishou, 4, 11);
    serve_steadily(&mut shop, minutes(1), minutes(40));
    let last = *shop.queue(QueueName::Shop).last().unwrap();
    let before = shop.state.wait_estimate(shop.session(last)).unwrap();
    // One slot frees: the buyer moves up one place, and is told less.
    let held = shop.state.sessions_by_holder();
    let session = held[&id("a0")][0];
    shop.end(session);
    let after = shop.state.wait_estimate(shop.session(last)).unwrap();
    assert!(after.middle() < before.middle(), "{before:?} → {after:?}");
}

#[test]
fn r20_past_estimates_are_measured_against_the_real_waits() {
    let mut shop = busy_queue(Profile::Taobao, 4, 11);
    assert_eq!(shop.state.estimate_accuracy(), EstimateAccuracy::default());
    shop.state.take_events();
    serve_steadily(&mut shop, minutes(1), minutes(60));
    let warm = shop.state.estimate_accuracy();
    let served = events(&mut shop)
        .iter()
        .filter(|event| {
            matches!(
                event,
                ShopEvent::SessionAssigned {
                    cause: AssignCause::Queue { .. },
                    ..
                }
            )
        })
        .count() as u64;
    assert_eq!(
        warm.samples + warm.unknown,
        served,
        "every served buyer counted"
    );
    assert!(
        warm.unknown >= 11,
        "the first buyers were told: unknown ({warm:?})"
    );
    // A steady hour: every buyer queued last waits 3 minutes (11th, 4 a minute),
    // and the ranges given held nearly every time.
    serve_steadily(&mut shop, minutes(1), minutes(60));
    let steady = shop.state.estimate_accuracy();
    let samples = steady.samples - warm.samples;
    let within = steady.within_range - warm.within_range;
    assert!(samples > 200, "{steady:?}");
    assert!(
        within * 10 > samples * 9,
        "{within} of {samples} within range"
    );
    let error_ms = (steady.absolute_error_ms - warm.absolute_error_ms) / samples;
    assert!(error_ms < 60_000, "mean error {error_ms} ms");
}

#[test]
fn r20_a_group_queue_counts_only_its_members_rate() {
    let mut shop = Fixture::kuaishou();
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    shop.cs("member", 1)
        .cs("other", 1)
        .online(&["member", "other"]);
    shop.group("after", &["member"], &[OrderStatus::AfterSales]);
    shop.route_status("b0", OrderStatus::AfterSales);
    shop.route("b1");
    // Only "other" frees slots; the group's queue learns nothing from it.
    for n in 0..30 {
        let held = shop.state.sessions_by_holder();
        let session = held[&id("other")][0];
        shop.end(session);
        shop.route(&format!("x{n}"));
        pass(&mut shop, Duration::from_secs(20));
    }
    let waiting = shop.route_status("late", OrderStatus::AfterSales);
    assert_queued(&waiting, QueueName::Status(OrderStatus::AfterSales));
    assert_eq!(
        shop.state.wait_estimate(shop.session(waiting.session.id)),
        None
    );
    // A status without a group is served by anyone: "other"'s rate counts.
    let open = shop.route("late-too");
    assert_queued(&open, QueueName::Status(OrderStatus::NoActiveOrder));
    assert!(
        shop.state
            .wait_estimate(shop.session(open.session.id))
            .is_some()
    );
}

// ------------------------------------------------------------------ R21

/// A one-slot shop with the queue timeout set, one buyer served and one waiting.
fn timing_out(action: QueueTimeoutAction, wait: Duration) -> (Fixture, SessionId) {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("b", 1).online(&["a"]);
    shop.settings(SettingsPatch {
        proxy_account: Some(Some(id("b"))),
        offline_list: Some(vec![id("b")]),
        ..Default::default()
    });
    shop.settings(SettingsPatch {
        max_queue_wait: Some(wait),
        queue_timeout_action: Some(action),
        ..Default::default()
    });
    shop.route("served");
    let waiting = shop.route("waiting");
    assert_queued(&waiting, QueueName::Shop);
    shop.state.take_events();
    (shop, waiting.session.id)
}

#[test]
fn r21_a_session_leaves_its_queue_when_its_wait_runs_out_into_the_pool() {
    let (mut shop, waiting) = timing_out(QueueTimeoutAction::MessagePool, minutes(5));
    let created = shop.session(waiting).created_at;
    let deadline = shop.state.follow_ups.queue_deadlines.first().copied();
    assert_eq!(deadline, Some((created.plus(minutes(5)), waiting)));
    pass(&mut shop, minutes(5) - Duration::from_millis(1));
    assert_eq!(shop.session(waiting).state, SessionState::Queued);
    pass(&mut shop, Duration::from_millis(1));
    let session = shop.session(waiting);
    assert_eq!(session.state, SessionState::Pooled);
    assert_eq!(session.reason, RouteReason::QueueTimeout);
    let timed = shop.state.take_events();
    let pooled = timed
        .iter()
        .find(|e| matches!(e.event, ShopEvent::SessionPooled { .. }))
        .expect("a pooled event");
    assert_eq!(pooled.at, created.plus(minutes(5)), "at the very moment");
    assert!(matches!(
        pooled.event,
        ShopEvent::SessionPooled {
            reason: RouteReason::QueueTimeout,
            ..
        }
    ));
    assert!(shop.state.pool().contains(&waiting));
}

#[test]
fn r21_main_proxy_and_offline_list_take_the_session_whatever_their_status() {
    let cases = [
        (QueueTimeoutAction::MainAccount, MAIN),
        (QueueTimeoutAction::ProxyAccount, "b"),
        (QueueTimeoutAction::OfflineList, "b"),
    ];
    for (action, taker) in cases {
        let (mut shop, waiting) = timing_out(action, minutes(2));
        pass(&mut shop, minutes(2));
        let session = shop.session(waiting);
        assert_eq!(session.state, SessionState::Assigned, "{action:?}");
        assert_eq!(session.account, Some(id(taker)), "{action:?}");
        assert_eq!(session.reason, RouteReason::QueueTimeout);
        let assigned = events(&mut shop).into_iter().any(|event| {
            event
                == ShopEvent::SessionAssigned {
                    session: waiting,
                    buyer: BuyerId::from("waiting"),
                    account: id(taker),
                    cause: AssignCause::QueueTimeout {
                        from: QueueName::Shop,
                    },
                }
        });
        assert!(assigned, "{action:?}");
    }
}

#[test]
fn r21_least_loaded_takes_the_lowest_occupancy_ratio_even_when_full() {
    let mut shop = Fixture::taobao();
    shop.cs("a", 2).cs("b", 4).online(&["a", "b"]);
    shop.settings(SettingsPatch {
        max_queue_wait: Some(minutes(1)),
        queue_timeout_action: Some(QueueTimeoutAction::LeastLoaded),
        ..Default::default()
    });
    for n in 0..6 {
        shop.route(&format!("b{n}"));
    }
    // a: 2 of 2 plus one addressed to it (3/2 = 1.5); b: 4 of 4 (1.0).
    shop.route_addressed("x", "a");
    let waiting = shop.route("waiting");
    assert_queued(&waiting, QueueName::Shop);
    pass(&mut shop, minutes(1));
    let session = shop.session(waiting.session.id);
    assert_eq!(session.account, Some(id("b")));
    assert_eq!(shop.occupancy("b"), 5);
    let tally = shop.state.account(&id("b")).unwrap().tally;
    assert_eq!(tally.overflow(OverflowRule::R21), 1);
    assert_eq!(tally.taken(CauseKind::QueueTimeout), 1);
}

#[test]
fn r21_an_action_whose_target_is_gone_leaves_a_message_in_the_pool() {
    // The offline list's only account is removed while a buyer waits.
    let (mut shop, waiting) = timing_out(QueueTimeoutAction::OfflineList, minutes(2));
    shop.settings(SettingsPatch {
        proxy_account: Some(None),
        ..Default::default()
    });
    shop.state.remove_account(&id("b"), shop.now).unwrap();
    pass(&mut shop, minutes(2));
    assert_eq!(shop.session(waiting).state, SessionState::Pooled);
    // LEAST_LOADED with nobody available.
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1);
    shop.settings(SettingsPatch {
        max_queue_wait: Some(minutes(1)),
        queue_timeout_action: Some(QueueTimeoutAction::LeastLoaded),
        ..Default::default()
    });
    let waiting = shop.route("waiting");
    shop.advance(minutes(1));
    assert_eq!(shop.session(waiting.session.id).state, SessionState::Pooled);
}

#[test]
fn r21_an_action_without_its_target_is_refused_and_changes_nothing() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1);
    let before = shop.state.settings().clone();
    for (action, field) in [
        (QueueTimeoutAction::ProxyAccount, "queue_timeout_action"),
        (QueueTimeoutAction::OfflineList, "queue_timeout_action"),
    ] {
        let refused = shop
            .state
            .update_settings(
                &SettingsPatch {
                    max_queue_wait: Some(minutes(1)),
                    queue_timeout_action: Some(action),
                    ..Default::default()
                },
                shop.now,
            )
            .unwrap_err();
        assert!(matches!(refused, EngineError::FailedPrecondition { .. }));
        assert_eq!(refused.field(), field);
        assert_eq!(shop.state.settings(), &before);
    }
    // With the action in force, its target cannot be taken away.
    shop.settings(SettingsPatch {
        proxy_account: Some(Some(id("a"))),
        max_queue_wait: Some(minutes(1)),
        queue_timeout_action: Some(QueueTimeoutAction::ProxyAccount),
        ..Default::default()
    });
    let refused = shop
        .state
        .update_settings(
            &SettingsPatch {
                proxy_account: Some(None),
                ..Default::default()
            },
            shop.now,
        )
        .unwrap_err();
    assert_eq!(refused.field(), "proxy_account_id");
    let too_long = SettingsPatch {
        max_queue_wait: Some(hours(25)),
        ..Default::default()
    };
    let refused = shop.state.update_settings(&too_long, shop.now).unwrap_err();
    assert_eq!(refused.field(), "max_queue_wait_seconds");
}

#[test]
fn r21_off_by_default_a_session_waits_for_ever() {
    for profile in [Profile::Taobao, Profile::Kuaishou] {
        let mut shop = busy_queue(profile, 1, 1);
        assert!(shop.state.settings().max_queue_wait.is_zero());
        let waiting = shop.queue(QueueName::Shop)[0];
        pass(&mut shop, hours(48));
        assert_eq!(
            shop.session(waiting).state,
            SessionState::Queued,
            "{profile:?}"
        );
    }
}

#[test]
fn r21_a_session_served_in_time_never_times_out() {
    let (mut shop, waiting) = timing_out(QueueTimeoutAction::MainAccount, minutes(5));
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    pass(&mut shop, minutes(4));
    let served = shop.state.sessions_by_holder()[&id("a")][0];
    shop.end(served);
    assert_eq!(shop.session(waiting).account, Some(id("a")));
    assert!(shop.state.follow_ups.queue_deadlines.is_empty());
    pass(&mut shop, minutes(30));
    let session = shop.session(waiting);
    assert_eq!(session.account, Some(id("a")));
    assert_eq!(session.reason, RouteReason::Queued);
}

#[test]
fn r21_turning_the_maximum_on_times_out_buyers_already_waiting_that_long() {
    let mut shop = busy_queue(Profile::Kuaishou, 1, 2);
    pass(&mut shop, minutes(10));
    shop.settings(SettingsPatch {
        max_queue_wait: Some(minutes(5)),
        ..Default::default()
    });
    shop.advance(Duration::ZERO);
    assert!(shop.queue(QueueName::Shop).is_empty());
    assert_eq!(shop.state.pool().len(), 2);
}
