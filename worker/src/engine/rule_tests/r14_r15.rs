//! R14 queues drain by themselves, R15 close delay, and presence running out.

use super::*;

use OrderStatus::{AfterSales, NoActiveOrder, PaidNotShipped};

fn one_slot_shop() -> Fixture {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).online(&["a"]);
    shop
}

fn assigned_from_queue(shop: &mut Fixture) -> Vec<(SessionId, String)> {
    shop.state
        .take_events()
        .into_iter()
        .filter_map(|timed| match timed.event {
            ShopEvent::SessionAssigned {
                session,
                account,
                cause: AssignCause::Queue { .. },
                ..
            } => Some((session, account.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn r14_a_freed_slot_takes_the_oldest_waiting_session_at_once() {
    let mut shop = one_slot_shop();
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    let serving = shop.route("b1");
    let oldest = shop.route("b2");
    let younger = shop.route("b3");
    shop.state.take_events();
    shop.end(serving.session.id);
    assert_eq!(
        assigned_from_queue(&mut shop),
        vec![(oldest.session.id, "a".to_owned())]
    );
    assert_eq!(shop.queue(QueueName::Shop), vec![younger.session.id]);
    assert_eq!(
        shop.state.queue_position(shop.session(younger.session.id)),
        Some(1)
    );
}

#[test]
fn r14_queues_are_first_in_first_out() {
    let mut shop = one_slot_shop();
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    let mut current = shop.route("b0").session.id;
    let waiting: Vec<SessionId> = (1..6)
        .map(|n| shop.route(&format!("b{n}")).session.id)
        .collect();
    for expected in waiting {
        shop.end(current);
        assert_eq!(shop.session(expected).state, SessionState::Assigned);
        current = expected;
    }
}

#[test]
fn r14_an_account_coming_online_takes_waiting_sessions_up_to_its_capacity() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 2);
    let waiting: Vec<SessionId> = (0..3)
        .map(|n| shop.route(&format!("b{n}")).session.id)
        .collect();
    shop.online(&["a"]);
    assert_eq!(shop.occupancy("a"), 2);
    assert_eq!(shop.queue(QueueName::Shop), vec![waiting[2]]);
}

#[test]
fn r14_unsuspending_takes_waiting_sessions() {
    let mut shop = one_slot_shop();
    shop.status("a", AccountStatus::Suspended);
    let waiting = shop.route("b1");
    assert_queued(&waiting, QueueName::Shop);
    shop.status("a", AccountStatus::Online);
    assert_eq!(shop.session(waiting.session.id).account, Some(id("a")));
}

#[test]
fn r14_growing_capacity_takes_waiting_sessions() {
    let mut shop = one_slot_shop();
    shop.route("b1");
    let waiting = shop.route("b2");
    shop.cs("a", 2);
    assert_eq!(shop.session(waiting.session.id).account, Some(id("a")));
}

#[test]
fn r14_joining_a_group_takes_its_waiting_sessions() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("b", 1).online(&["a", "b"]);
    shop.group("after", &["a"], &[AfterSales]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    shop.route_status("b1", AfterSales);
    let waiting = shop.route_status("b2", AfterSales);
    assert_queued(&waiting, QueueName::Status(AfterSales));
    shop.group("after", &["a", "b"], &[AfterSales]);
    assert_eq!(shop.session(waiting.session.id).account, Some(id("b")));
}

#[test]
fn r14_an_account_serves_its_own_groups_queue_before_older_other_queues() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("b", 1).online(&["a", "b"]);
    shop.group("after", &["a"], &[AfterSales]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    let a_serving = shop.route_status("b1", AfterSales);
    shop.route_status("b2", PaidNotShipped); // b takes it (no group)
    let older_other = shop.route_status("b3", PaidNotShipped);
    let own = shop.route_status("b4", AfterSales);
    assert_queued(&older_other, QueueName::Status(PaidNotShipped));
    assert_queued(&own, QueueName::Status(AfterSales));
    shop.end(a_serving.session.id);
    assert_eq!(shop.session(own.session.id).account, Some(id("a")));
    assert_eq!(
        shop.session(older_other.session.id).state,
        SessionState::Queued
    );
}

#[test]
fn r14_a_groups_queue_never_goes_to_a_non_member_while_a_member_is_available() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("b", 1).online(&["a"]);
    shop.group("after", &["a"], &[AfterSales]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    shop.route_status("b1", AfterSales);
    let waiting = shop.route_status("b2", AfterSales);
    shop.online(&["b"]);
    assert_eq!(shop.session(waiting.session.id).state, SessionState::Queued);
    // Once the group's last member leaves, anyone may serve its queue (R7c).
    shop.status("a", AccountStatus::Offline);
    assert_eq!(shop.session(waiting.session.id).account, Some(id("b")));
}

#[test]
fn r14_status_queues_without_a_group_are_served_by_anyone_oldest_first() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("x", 1);
    shop.group("after", &["x"], &[AfterSales]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    let first = shop.route_status("b1", PaidNotShipped);
    let second = shop.route_status("b2", NoActiveOrder);
    shop.online(&["a"]);
    assert_eq!(shop.session(first.session.id).account, Some(id("a")));
    assert_eq!(shop.session(second.session.id).state, SessionState::Queued);
}

#[test]
fn r15_an_ended_session_holds_its_slot_for_the_close_delay_then_frees_it() {
    let mut shop = one_slot_shop();
    let serving = shop.route("b1");
    let waiting = shop.route("b2");
    shop.end(serving.session.id);
    let ended = shop.session(serving.session.id);
    assert_eq!(ended.state, SessionState::Ended);
    assert_eq!(ended.closes_at, Some(shop.now.plus(minutes(20))));
    assert_eq!(shop.occupancy("a"), 1);
    assert_eq!(shop.session(waiting.session.id).state, SessionState::Queued);
    assert_eq!(
        shop.state.next_deadline(),
        Some(shop.now.plus(Duration::from_secs(60))),
        "presence first"
    );
    shop.pass_time_online(minutes(20) - Duration::from_secs(1));
    assert_eq!(shop.session(waiting.session.id).state, SessionState::Queued);
    shop.pass_time_online(Duration::from_secs(1));
    assert_eq!(shop.session(serving.session.id).state, SessionState::Closed);
    assert_eq!(shop.session(waiting.session.id).account, Some(id("a")));
}

#[test]
fn r15_a_close_is_reported_at_the_moment_the_delay_ran_out() {
    let mut shop = one_slot_shop();
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::from_secs(5)),
        ..Default::default()
    });
    let serving = shop.route("b1");
    let waiting = shop.route("b2");
    let ended_at = shop.now;
    shop.end(serving.session.id);
    shop.state.take_events();
    shop.advance(Duration::from_secs(30));
    let events = shop.state.take_events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].at, ended_at.plus(Duration::from_secs(5)));
    assert!(
        matches!(events[0].event, ShopEvent::SessionClosed { session, .. } if session == serving.session.id)
    );
    assert!(
        matches!(&events[1].event, ShopEvent::SessionAssigned { session, cause: AssignCause::Queue { from: QueueName::Shop }, .. } if *session == waiting.session.id)
    );
}

#[test]
fn r15_a_zero_close_delay_frees_the_slot_at_once() {
    let mut shop = one_slot_shop();
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    let serving = shop.route("b1");
    let waiting = shop.route("b2");
    shop.end(serving.session.id);
    assert_eq!(shop.session(serving.session.id).state, SessionState::Closed);
    assert_eq!(shop.session(waiting.session.id).account, Some(id("a")));
}

#[test]
fn r15_ending_a_queued_session_closes_it_and_it_leaves_the_queue() {
    let mut shop = one_slot_shop();
    shop.route("b1");
    let waiting = shop.route("b2");
    shop.end(waiting.session.id);
    assert_eq!(shop.session(waiting.session.id).state, SessionState::Closed);
    assert!(shop.queue(QueueName::Shop).is_empty());
    let error = shop
        .state
        .end_session(waiting.session.id, None, shop.now)
        .unwrap_err();
    assert!(matches!(
        error,
        EngineError::FailedPrecondition {
            field: "session_id",
            ..
        }
    ));
}

#[test]
fn presence_runs_out_without_heartbeats_and_changes_the_next_decision() {
    let mut shop = Fixture::taobao();
    shop.cs("a", 5).online(&["a"]);
    assert_assigned(&shop.route("b1"), "a", RouteReason::Even);
    shop.advance(Duration::from_secs(59));
    assert_eq!(
        shop.state.account(&id("a")).unwrap().status,
        AccountStatus::Online
    );
    shop.advance(Duration::from_secs(1));
    assert_eq!(
        shop.state.account(&id("a")).unwrap().status,
        AccountStatus::Offline
    );
    let events = shop.state.take_events();
    assert!(events.iter().any(|e| matches!(
        &e.event,
        ShopEvent::AccountStatusChanged {
            to: AccountStatus::Offline,
            presence_expired: true,
            ..
        }
    )));
    assert_assigned(&shop.route("b2"), MAIN, RouteReason::MainAccount);
}

#[test]
fn presence_heartbeats_keep_an_account_online_but_never_log_it_in() {
    let mut shop = Fixture::taobao();
    shop.cs("a", 5).cs("b", 5).online(&["a"]);
    for _ in 0..10 {
        shop.advance(Duration::from_secs(50));
        shop.state.heartbeat(&[id("a"), id("b")], shop.now).unwrap();
    }
    assert_eq!(
        shop.state.account(&id("a")).unwrap().status,
        AccountStatus::Online
    );
    assert_eq!(
        shop.state.account(&id("b")).unwrap().status,
        AccountStatus::Offline
    );
    let error = shop
        .state
        .heartbeat(&[id("a"), id("ghost")], shop.now)
        .unwrap_err();
    assert!(matches!(
        error,
        EngineError::NotFound {
            field: "account_ids",
            ..
        }
    ));
}
