//! R10 exclusive modes, R11 non-routing accounts, R12 bot, R13 nobody available.

use super::*;

use OrderStatus::{AfterSales, NoActiveOrder};

fn non_routing(max: u32) -> AccountConfig {
    let mut config = Fixture::config(&[Role::CustomerService], Some(max));
    config.non_routing = true;
    config
}

fn policy(shop: &mut Fixture, policy: OfflinePolicy) {
    shop.settings(SettingsPatch {
        offline_policy: Some(policy),
        ..Default::default()
    });
}

#[test]
fn r10_basic_mode_ignores_groups() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 2).cs("b", 2).online(&["a", "b"]);
    shop.group("after", &["b"], &[AfterSales]);
    let outcome = shop.route_status("buyer", AfterSales);
    assert_assigned(&outcome, "a", RouteReason::Even);
}

#[test]
fn r10_group_mode_never_falls_back_to_basic_reasons() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 2).cs("b", 2).online(&["a", "b"]);
    shop.group("after", &["b"], &[AfterSales]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    assert_assigned(
        &shop.route_status("b1", AfterSales),
        "b",
        RouteReason::Group,
    );
    assert_eq!(
        shop.route_status("b2", NoActiveOrder).reason,
        RouteReason::AnyOnline
    );
}

#[test]
fn r10_offline_routing_applies_under_both_modes() {
    for mode in [RoutingMode::Basic, RoutingMode::Group] {
        let mut shop = Fixture::kuaishou();
        shop.cs("a", 2).cs("b", 2);
        shop.group("after", &["b"], &[AfterSales]);
        shop.settings(SettingsPatch {
            routing_mode: Some(mode),
            offline_policy: Some(OfflinePolicy::ProxyAccount),
            proxy_account: Some(Some(id("a"))),
            ..Default::default()
        });
        assert_assigned(
            &shop.route_status("buyer", AfterSales),
            "a",
            RouteReason::Proxy,
        );
    }
}

#[test]
fn r11_non_routing_accounts_never_get_an_even_pick() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1)
        .account("quiet", non_routing(50))
        .online(&["a", "quiet"]);
    assert_assigned(&shop.route("b1"), "a", RouteReason::Even);
    assert_queued(&shop.route("b2"), QueueName::Shop);
    assert_eq!(shop.occupancy("quiet"), 0);
}

#[test]
fn r11_non_routing_accounts_are_not_group_members_for_routing() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1)
        .account("quiet", non_routing(50))
        .online(&["a", "quiet"]);
    shop.group("after", &["quiet"], &[AfterSales]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    assert_assigned(
        &shop.route_status("b1", AfterSales),
        "a",
        RouteReason::AnyOnline,
    );
}

#[test]
fn r11_affinities_of_a_non_routing_account_stop_counting() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 5).cs("b", 5).online(&["a", "b"]);
    let first = shop.serve_and_end("buyer");
    let last = first.session.account.clone().unwrap();
    shop.account(last.as_str(), non_routing(5));
    let back = shop.route("buyer");
    assert_eq!(back.reason, RouteReason::Even);
    assert_ne!(back.session.account, Some(last));
}

#[test]
fn r11_non_routing_accounts_are_skipped_on_the_offline_list() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).account("quiet", non_routing(5));
    shop.settings(SettingsPatch {
        offline_policy: Some(OfflinePolicy::OfflineList),
        offline_list: Some(vec![id("quiet"), id("a")]),
        ..Default::default()
    });
    for buyer in ["b1", "b2", "b3"] {
        assert_assigned(&shop.route(buyer), "a", RouteReason::OfflineList);
    }
}

#[test]
fn r11_non_routing_accounts_are_never_drained_to() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1)
        .account("quiet", non_routing(5))
        .online(&["a"]);
    shop.route("b1");
    let waiting = shop.route("b2");
    shop.online(&["quiet"]);
    assert_eq!(shop.session(waiting.session.id).state, SessionState::Queued);
}

#[test]
fn r12_the_bot_forces_the_message_pool_when_nobody_is_available() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1);
    shop.settings(SettingsPatch {
        bot_enabled: Some(true),
        ..Default::default()
    });
    assert_eq!(shop.state.settings().offline_policy, OfflinePolicy::Queue);
    assert_eq!(
        shop.state.settings().effective_offline_policy(),
        OfflinePolicy::MessagePool
    );
    let outcome = shop.route("buyer");
    assert_eq!(outcome.reason, RouteReason::MessagePool);
    assert_eq!(outcome.session.state, SessionState::Pooled);
}

#[test]
fn r12_proxy_or_main_policy_is_refused_while_the_bot_is_enabled() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1);
    shop.settings(SettingsPatch {
        bot_enabled: Some(true),
        ..Default::default()
    });
    let before = shop.state.settings().clone();
    for refused_policy in [OfflinePolicy::MainAccount, OfflinePolicy::ProxyAccount] {
        let error = shop
            .state
            .update_settings(
                &SettingsPatch {
                    offline_policy: Some(refused_policy),
                    proxy_account: Some(Some(id("a"))),
                    ..Default::default()
                },
                shop.now,
            )
            .unwrap_err();
        assert!(matches!(
            error,
            EngineError::FailedPrecondition {
                field: "offline_policy",
                ..
            }
        ));
        assert_eq!(shop.state.settings(), &before);
    }
    // Once the bot is off, the choice is open again.
    shop.settings(SettingsPatch {
        bot_enabled: Some(false),
        offline_policy: Some(OfflinePolicy::MainAccount),
        ..Default::default()
    });
    assert_assigned(&shop.route("buyer"), MAIN, RouteReason::MainAccount);
}

#[test]
fn r12_enabling_the_bot_turns_a_main_account_policy_into_the_pool() {
    let mut shop = Fixture::taobao();
    assert_eq!(
        shop.state.settings().offline_policy,
        OfflinePolicy::MainAccount
    );
    shop.settings(SettingsPatch {
        bot_enabled: Some(true),
        ..Default::default()
    });
    assert_eq!(
        shop.state.settings().offline_policy,
        OfflinePolicy::MessagePool
    );
}

#[test]
fn r12_a_buyer_handed_over_by_the_bot_is_distributed_evenly() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 5).cs("b", 5).online(&["a", "b"]);
    let first = shop.serve_and_end("buyer");
    let last = first.session.account.clone().unwrap();
    let mut handover = shop.request("buyer");
    handover.from_bot = true;
    let outcome = shop.route_request(&handover);
    assert_eq!(outcome.reason, RouteReason::Even);
    assert_ne!(
        outcome.session.account,
        Some(last),
        "the least loaded, not the last account"
    );
}

#[test]
fn r13_all_suspended_counts_as_nobody_available() {
    let mut shop = Fixture::taobao();
    shop.cs("a", 5).status("a", AccountStatus::Suspended);
    assert_assigned(&shop.route("buyer"), MAIN, RouteReason::MainAccount);
}

#[test]
fn r13a_queue_policy_waits_until_an_account_becomes_available() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 5);
    let waiting = shop.route("buyer");
    assert_queued(&waiting, QueueName::Shop);
    shop.online(&["a"]);
    let session = shop.session(waiting.session.id);
    assert_eq!(session.state, SessionState::Assigned);
    assert_eq!(session.account, Some(id("a")));
}

#[test]
fn r13a_queue_policy_uses_the_status_queue_in_group_mode() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 5);
    shop.group("after", &["a"], &[AfterSales]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    assert_queued(
        &shop.route_status("buyer", AfterSales),
        QueueName::Status(AfterSales),
    );
}

#[test]
fn r13b_offline_list_is_even_whatever_status_and_occupancy() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("b", 1).cs("c", 1);
    shop.status("b", AccountStatus::Suspended);
    shop.settings(SettingsPatch {
        offline_policy: Some(OfflinePolicy::OfflineList),
        offline_list: Some(vec![id("a"), id("b")]),
        ..Default::default()
    });
    let holders: Vec<String> = (0..4)
        .map(|n| {
            let outcome = shop.route(&format!("buyer-{n}"));
            assert_eq!(outcome.reason, RouteReason::OfflineList);
            outcome.session.account.unwrap().0
        })
        .collect();
    assert_eq!(holders, ["a", "b", "a", "b"], "over capacity, never to c");
}

#[test]
fn r13b_an_empty_offline_list_acts_as_queue() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1);
    policy(&mut shop, OfflinePolicy::OfflineList);
    assert_queued(&shop.route("buyer"), QueueName::Shop);
}

#[test]
fn r13c_nothing_leaves_the_message_pool_automatically() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 5);
    policy(&mut shop, OfflinePolicy::MessagePool);
    let pooled = shop.route("buyer");
    assert_eq!(pooled.reason, RouteReason::MessagePool);
    shop.online(&["a"]);
    shop.pass_time_online(hours(1));
    assert_eq!(shop.session(pooled.session.id).state, SessionState::Pooled);
    assert_eq!(shop.occupancy("a"), 0);
}

#[test]
fn r13d_proxy_account_gets_it_whatever_its_status_and_occupancy() {
    let mut shop = Fixture::taobao();
    shop.cs("a", 1).cs("proxy", 1);
    shop.settings(SettingsPatch {
        offline_policy: Some(OfflinePolicy::ProxyAccount),
        proxy_account: Some(Some(id("proxy"))),
        ..Default::default()
    });
    assert_assigned(&shop.route("b1"), "proxy", RouteReason::Proxy);
    assert_assigned(&shop.route("b2"), "proxy", RouteReason::Proxy);
    assert_eq!(shop.occupancy("proxy"), 2);
}

#[test]
fn r13d_proxy_policy_needs_a_proxy_account() {
    let mut shop = Fixture::taobao();
    let error = shop
        .state
        .update_settings(
            &SettingsPatch {
                offline_policy: Some(OfflinePolicy::ProxyAccount),
                ..Default::default()
            },
            shop.now,
        )
        .unwrap_err();
    assert!(matches!(
        error,
        EngineError::FailedPrecondition {
            field: "proxy_account_id",
            ..
        }
    ));
    assert_eq!(
        shop.state.settings().offline_policy,
        OfflinePolicy::MainAccount
    );
}

#[test]
fn r13e_main_account_gets_it_whatever_its_status() {
    let mut shop = Fixture::taobao();
    shop.cs("a", 1);
    for n in 0..3 {
        assert_assigned(
            &shop.route(&format!("b{n}")),
            MAIN,
            RouteReason::MainAccount,
        );
    }
    assert_eq!(shop.occupancy(MAIN), 3);
}
