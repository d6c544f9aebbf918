//! R1 open session, R2 addressed, R3 offline forwarding, R4 nobody to route to.

use super::*;

fn shop_with_two_online() -> Fixture {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 2).cs("b", 2).online(&["a", "b"]);
    shop
}

#[test]
fn r01_message_joins_the_open_assigned_session() {
    let mut shop = shop_with_two_online();
    let first = shop.route("buyer");
    let second = shop.route("buyer");
    assert_eq!(second.reason, RouteReason::OpenSession);
    assert_eq!(second.session.id, first.session.id);
    assert_eq!(second.session.account, first.session.account);
    assert_eq!(
        shop.occupancy("a") + shop.occupancy("b"),
        1,
        "nothing assigned twice"
    );
}

#[test]
fn r01_message_joins_a_queued_session_without_moving_it() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).online(&["a"]);
    shop.route("first");
    let waiting = shop.route("second");
    let third = shop.route("third");
    assert_queued(&third, QueueName::Shop);
    let again = shop.route("second");
    assert_eq!(again.reason, RouteReason::OpenSession);
    assert_eq!(again.session.id, waiting.session.id);
    assert_eq!(
        shop.queue(QueueName::Shop),
        vec![waiting.session.id, third.session.id],
        "the buyer keeps their place"
    );
}

#[test]
fn r01_message_joins_a_pooled_session() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1);
    shop.settings(SettingsPatch {
        offline_policy: Some(OfflinePolicy::MessagePool),
        ..Default::default()
    });
    let pooled = shop.route("buyer");
    assert_eq!(pooled.session.state, SessionState::Pooled);
    let again = shop.route("buyer");
    assert_eq!(again.reason, RouteReason::OpenSession);
    assert_eq!(again.session.id, pooled.session.id);
    assert_eq!(shop.state.pool().len(), 1);
}

#[test]
fn r01_retry_with_the_same_request_id_returns_the_first_answer() {
    let mut shop = shop_with_two_online();
    let request = shop.request("buyer");
    let first = shop.route_request(&request);
    let retry = shop.route_request(&request);
    assert!(retry.replayed);
    assert_eq!(retry.session.id, first.session.id);
    assert_eq!(retry.reason, first.reason);
    assert_eq!(retry.session.account, first.session.account);
    assert_eq!(shop.occupancy("a") + shop.occupancy("b"), 1);
    // Even after the session ended and the buyer came back, the old id replays.
    shop.end(first.session.id);
    let next_visit = shop.route("buyer");
    assert_ne!(next_visit.session.id, first.session.id);
    let late_retry = shop.route_request(&request);
    assert_eq!(late_retry.session.id, first.session.id);
    assert_eq!(late_retry.reason, RouteReason::Even);
}

/// Under a store that remembers answers itself (Redis), memory keeps request ids
/// and closed sessions only briefly: a retry within the limit replays from
/// memory, a later one is decided anew here (and the store replays it instead).
#[test]
fn r01_with_limited_memory_retention_request_ids_and_closed_sessions_are_forgotten() {
    let mut shop = shop_with_two_online();
    shop.state.limit_memory_retention(Duration::from_secs(10));
    let request = shop.request("buyer");
    let first = shop.route_request(&request);
    shop.advance(Duration::from_secs(9));
    assert!(shop.route_request(&request).replayed, "within the limit");
    shop.end(first.session.id);
    // The session closes after the close delay, then stays readable 10 s.
    shop.advance(shop.state.settings().close_delay);
    shop.advance(Duration::from_secs(1));
    let closed = shop.state.session(first.session.id).expect("just closed");
    assert_eq!(closed.state, SessionState::Closed);
    shop.advance(Duration::from_secs(10));
    assert!(
        shop.state.session(first.session.id).is_none(),
        "a closed session leaves memory after the limit"
    );
    let late = shop.route_request(&request);
    assert!(!late.replayed, "forgotten here: decided anew");
    assert_ne!(late.session.id, first.session.id);
}

#[test]
fn r01_a_request_id_reused_for_another_buyer_is_refused() {
    let mut shop = shop_with_two_online();
    let mut request = shop.request("buyer");
    shop.route_request(&request);
    request.buyer = BuyerId::from("someone-else");
    let error = shop.state.route(&request, shop.now).unwrap_err();
    assert_eq!(error.field(), "request_id");
    assert!(shop.state.open_session_of(&request.buyer).is_none());
}

#[test]
fn r01_an_ended_session_is_not_open_so_the_buyer_gets_a_new_one() {
    let mut shop = shop_with_two_online();
    let first = shop.serve_and_end("buyer");
    let second = shop.route("buyer");
    assert_ne!(second.session.id, first.session.id);
    assert_eq!(second.reason, RouteReason::Affinity);
}

#[test]
fn r02_an_addressed_online_account_gets_the_session_even_when_full() {
    let mut shop = shop_with_two_online();
    shop.route("x");
    shop.route("y");
    shop.route("z");
    shop.route("w");
    assert_eq!(shop.occupancy("a"), 2);
    let outcome = shop.route_addressed("buyer", "a");
    assert_assigned(&outcome, "a", RouteReason::Addressed);
    assert_eq!(shop.occupancy("a"), 3);
}

#[test]
fn r02_an_addressed_suspended_account_gets_the_session() {
    let mut shop = shop_with_two_online();
    shop.status("a", AccountStatus::Suspended);
    let outcome = shop.route_addressed("buyer", "a");
    assert_assigned(&outcome, "a", RouteReason::Addressed);
}

#[test]
fn r02_an_addressed_non_routing_account_gets_the_session() {
    let mut shop = shop_with_two_online();
    let mut config = Fixture::config(&[Role::CustomerService], Some(3));
    config.non_routing = true;
    shop.account("quiet", config).online(&["quiet"]);
    let outcome = shop.route_addressed("buyer", "quiet");
    assert_assigned(&outcome, "quiet", RouteReason::Addressed);
}

#[test]
fn r02_an_unknown_addressed_account_is_refused_and_changes_nothing() {
    let mut shop = shop_with_two_online();
    let mut request = shop.request("buyer");
    request.addressed = Some(id("ghost"));
    let error = shop.state.route(&request, shop.now).unwrap_err();
    assert!(matches!(
        error,
        EngineError::NotFound {
            field: "addressed_account_id",
            ..
        }
    ));
    assert!(shop.state.open_session_of(&request.buyer).is_none());
    assert_eq!(shop.state.sessions().count(), 0);
}

#[test]
fn r03_offline_addressed_account_gets_an_offline_message_when_forwarding_is_off() {
    let mut shop = shop_with_two_online();
    shop.cs("c", 2);
    let outcome = shop.route_addressed("buyer", "c");
    assert_assigned(&outcome, "c", RouteReason::AddressedOffline);
}

#[test]
fn r03_forwarding_routes_an_offline_participating_address_to_an_available_account() {
    let mut shop = shop_with_two_online();
    shop.cs("c", 2);
    shop.settings(SettingsPatch {
        offline_forwarding: Some(true),
        ..Default::default()
    });
    let outcome = shop.route_addressed("buyer", "c");
    assert_eq!(outcome.reason, RouteReason::Even);
    assert_ne!(outcome.session.account, Some(id("c")));
    assert_eq!(shop.occupancy("c"), 0);
}

#[test]
fn r03_forwarding_never_gives_the_buyer_back_to_the_offline_account() {
    // Nobody available and the offline list names the addressed account first.
    let mut shop = Fixture::kuaishou();
    shop.cs("c", 2).cs("d", 2);
    shop.settings(SettingsPatch {
        offline_forwarding: Some(true),
        offline_policy: Some(OfflinePolicy::OfflineList),
        offline_list: Some(vec![id("c"), id("d")]),
        ..Default::default()
    });
    let outcome = shop.route_addressed("buyer", "c");
    assert_assigned(&outcome, "d", RouteReason::OfflineList);
}

#[test]
fn r03_forwarding_with_only_the_addressed_account_on_the_list_queues() {
    let mut shop = Fixture::kuaishou();
    shop.cs("c", 2);
    shop.settings(SettingsPatch {
        offline_forwarding: Some(true),
        offline_policy: Some(OfflinePolicy::OfflineList),
        offline_list: Some(vec![id("c")]),
        ..Default::default()
    });
    let outcome = shop.route_addressed("buyer", "c");
    assert_queued(&outcome, QueueName::Shop);
}

#[test]
fn r03_forwarding_does_not_apply_to_a_non_participating_addressed_account() {
    // Taobao's example: the main account does not participate, so a message to it
    // while offline stays with it.
    let mut shop = shop_with_two_online();
    shop.settings(SettingsPatch {
        offline_forwarding: Some(true),
        ..Default::default()
    });
    let outcome = shop.route_addressed("buyer", MAIN);
    assert_assigned(&outcome, MAIN, RouteReason::AddressedOffline);
}

#[test]
fn r03_forwarding_does_not_apply_to_a_suspended_addressed_account() {
    let mut shop = shop_with_two_online();
    shop.cs("c", 2).status("c", AccountStatus::Suspended);
    shop.settings(SettingsPatch {
        offline_forwarding: Some(true),
        ..Default::default()
    });
    let outcome = shop.route_addressed("buyer", "c");
    assert_assigned(&outcome, "c", RouteReason::Addressed);
}

#[test]
fn r04_no_participating_account_sends_everything_to_main_whatever_its_status() {
    let mut shop = Fixture::kuaishou();
    shop.account("ops", Fixture::config(&[Role::Operations], Some(5)));
    shop.online(&["ops"]);
    let outcome = shop.route("buyer");
    assert_assigned(&outcome, MAIN, RouteReason::NoParticipants);
    assert_eq!(
        shop.state.account(&id(MAIN)).unwrap().status,
        AccountStatus::Offline
    );
}

#[test]
fn r04_only_non_routing_customer_service_still_means_no_participants() {
    let mut shop = Fixture::kuaishou();
    let mut config = Fixture::config(&[Role::CustomerService], Some(5));
    config.non_routing = true;
    shop.account("quiet", config).online(&["quiet"]);
    let outcome = shop.route("buyer");
    assert_assigned(&outcome, MAIN, RouteReason::NoParticipants);
}

#[test]
fn r04_a_participating_main_account_is_routed_like_any_other() {
    let mut shop = Fixture::taobao();
    let mut config = Fixture::config(&[Role::Main], Some(1));
    config.main_account_participates = true;
    config.pool_permission = true;
    shop.account(MAIN, config).online(&[MAIN]);
    assert_assigned(&shop.route("first"), MAIN, RouteReason::Even);
    assert_queued(&shop.route("second"), QueueName::Shop);
}

#[test]
fn r04_comes_before_the_bot_a_shop_without_customer_service_uses_main() {
    let mut shop = Fixture::kuaishou();
    shop.settings(SettingsPatch {
        bot_enabled: Some(true),
        ..Default::default()
    });
    let outcome = shop.route("buyer");
    assert_assigned(&outcome, MAIN, RouteReason::NoParticipants);
    assert!(shop.state.pool().is_empty());
}
