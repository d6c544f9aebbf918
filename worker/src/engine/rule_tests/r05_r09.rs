//! R5/R6 returning buyers, R7 group routing, R8 basic routing, R9 even distribution.

use super::*;

use OrderStatus::{AfterSales, NoActiveOrder, PaidNotShipped};

fn basic_shop(profile: Profile) -> Fixture {
    let mut shop = Fixture::new(profile);
    shop.cs("a", 1).cs("b", 1).online(&["a", "b"]);
    shop
}

#[test]
fn r05_returning_buyer_goes_back_to_the_last_account_even_when_it_is_full() {
    let mut shop = basic_shop(Profile::Kuaishou);
    let first = shop.serve_and_end("buyer");
    let last = first.session.account.clone().unwrap();
    // Fill the last account's only slot... it is still held by the ended session.
    assert_eq!(shop.occupancy(last.as_str()), 1);
    let back = shop.route("buyer");
    assert_assigned(&back, last.as_str(), RouteReason::Affinity);
    assert_eq!(
        shop.occupancy(last.as_str()),
        2,
        "over capacity, as R5 allows"
    );
}

#[test]
fn r05_returning_buyer_goes_to_a_suspended_last_account() {
    let mut shop = basic_shop(Profile::Taobao);
    let first = shop.serve_and_end("buyer");
    let last = first.session.account.clone().unwrap();
    shop.status(last.as_str(), AccountStatus::Suspended);
    assert_assigned(&shop.route("buyer"), last.as_str(), RouteReason::Affinity);
}

#[test]
fn r05_taobao_affinity_lasts_24_hours_from_the_last_contact() {
    let mut shop = basic_shop(Profile::Taobao);
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    let first = shop.serve_and_end("buyer");
    let last = first.session.account.clone().unwrap();
    shop.pass_time_online(hours(24) - Duration::from_secs(1));
    let within = shop.route("buyer");
    assert_assigned(&within, last.as_str(), RouteReason::Affinity);
    shop.end(within.session.id);
    // The window restarted at that last contact.
    shop.pass_time_online(hours(24) - Duration::from_secs(1));
    let still = shop.route("buyer");
    assert_eq!(still.reason, RouteReason::Affinity);
    shop.end(still.session.id);
    shop.pass_time_online(hours(24));
    let forgotten = shop.route("buyer");
    assert_eq!(
        forgotten.reason,
        RouteReason::Even,
        "{}",
        forgotten.explanation
    );
}

#[test]
fn r05_kuaishou_affinity_lasts_72_hours() {
    let mut shop = basic_shop(Profile::Kuaishou);
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    let first = shop.serve_and_end("buyer");
    shop.pass_time_online(hours(71));
    let within = shop.route("buyer");
    assert_eq!(within.reason, RouteReason::Affinity);
    assert_eq!(within.session.account, first.session.account);
    shop.end(within.session.id);
    shop.pass_time_online(hours(72));
    assert_eq!(shop.route("buyer").reason, RouteReason::Even);
    assert!(
        shop.state
            .affinity(&BuyerId::from("nobody"), shop.now)
            .is_none()
    );
}

#[test]
fn r05_affinity_is_forgotten_by_itself_when_the_window_passes() {
    let mut shop = basic_shop(Profile::Kuaishou);
    shop.serve_and_end("buyer");
    let buyer = BuyerId::from("buyer");
    assert!(shop.state.affinity(&buyer, shop.now).is_some());
    shop.advance(hours(72));
    assert!(shop.state.affinity(&buyer, shop.now).is_none());
    assert!(shop.state.affinities.is_empty(), "dropped, not just hidden");
}

#[test]
fn r05_returning_buyer_affinity_is_off_while_the_bot_is_enabled() {
    let mut shop = basic_shop(Profile::Kuaishou);
    shop.cs("c", 1).online(&["c"]);
    let first = shop.serve_and_end("buyer");
    shop.settings(SettingsPatch {
        bot_enabled: Some(true),
        ..Default::default()
    });
    let back = shop.route("buyer");
    assert_eq!(back.reason, RouteReason::Even);
    assert_ne!(
        back.session.account, first.session.account,
        "the last account is full"
    );
}

#[test]
fn r06_affinity_account_offline_routes_the_buyer_as_new() {
    let mut shop = basic_shop(Profile::Kuaishou);
    let first = shop.serve_and_end("buyer");
    let last = first.session.account.clone().unwrap();
    shop.status(last.as_str(), AccountStatus::Offline);
    let back = shop.route("buyer");
    assert_eq!(back.reason, RouteReason::Even);
    assert_ne!(back.session.account, Some(last));
}

#[test]
fn r06_affinity_account_that_no_longer_participates_routes_the_buyer_as_new() {
    let mut shop = basic_shop(Profile::Kuaishou);
    shop.cs("c", 1).online(&["c"]);
    let first = shop.serve_and_end("buyer");
    let last = first.session.account.clone().unwrap();
    shop.account(last.as_str(), Fixture::config(&[Role::Operations], Some(1)));
    let back = shop.route("buyer");
    assert_eq!(back.reason, RouteReason::Even);
    assert_ne!(back.session.account, Some(last));
}

fn group_shop() -> Fixture {
    let mut shop = Fixture::kuaishou();
    shop.cs("pre1", 1)
        .cs("pre2", 1)
        .cs("post1", 1)
        .cs("other", 1)
        .online(&["pre1", "pre2", "post1", "other"]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    shop.group("presale", &["pre1", "pre2"], &[NoActiveOrder]);
    shop.group("aftersale", &["post1"], &[AfterSales]);
    shop
}

#[test]
fn r07a_a_group_member_with_a_free_slot_gets_the_buyer_most_evenly() {
    let mut shop = group_shop();
    let first = shop.route_status("b1", NoActiveOrder);
    let second = shop.route_status("b2", NoActiveOrder);
    assert_eq!(first.reason, RouteReason::Group);
    assert_eq!(second.reason, RouteReason::Group);
    let mut holders = vec![
        first.session.account.unwrap(),
        second.session.account.unwrap(),
    ];
    holders.sort();
    assert_eq!(holders, vec![id("pre1"), id("pre2")]);
}

#[test]
fn r07b_a_full_group_queues_the_buyer_in_its_status_queue() {
    let mut shop = group_shop();
    shop.route_status("b1", AfterSales);
    let waiting = shop.route_status("b2", AfterSales);
    assert_queued(&waiting, QueueName::Status(AfterSales));
    assert_eq!(shop.occupancy("other"), 0, "not given to a non-member");
}

#[test]
fn r07c_a_status_without_group_goes_to_any_online_account() {
    let mut shop = group_shop();
    let outcome = shop.route_status("b1", PaidNotShipped);
    assert_eq!(outcome.reason, RouteReason::AnyOnline);
    assert_eq!(outcome.session.state, SessionState::Assigned);
}

#[test]
fn r07c_a_group_with_nobody_available_falls_back_to_any_online_account() {
    let mut shop = group_shop();
    shop.status("post1", AccountStatus::Suspended);
    let outcome = shop.route_status("b1", AfterSales);
    assert_eq!(outcome.reason, RouteReason::AnyOnline);
    assert_ne!(outcome.session.account, Some(id("post1")));
}

#[test]
fn r07c_all_available_accounts_full_queues_in_the_status_queue() {
    let mut shop = group_shop();
    for buyer in ["b1", "b2", "b3", "b4"] {
        assert_eq!(
            shop.route_status(buyer, PaidNotShipped).session.state,
            SessionState::Assigned
        );
    }
    let waiting = shop.route_status("b5", PaidNotShipped);
    assert_queued(&waiting, QueueName::Status(PaidNotShipped));
}

#[test]
fn r07d_nobody_available_follows_the_offline_policy() {
    let mut shop = group_shop();
    for account in ["pre1", "pre2", "post1", "other"] {
        shop.status(account, AccountStatus::Offline);
    }
    let outcome = shop.route_status("b1", NoActiveOrder);
    assert_queued(&outcome, QueueName::Status(NoActiveOrder));
    shop.settings(SettingsPatch {
        offline_policy: Some(OfflinePolicy::MainAccount),
        ..Default::default()
    });
    assert_assigned(
        &shop.route_status("b2", AfterSales),
        MAIN,
        RouteReason::MainAccount,
    );
}

#[test]
fn r07_group_routing_keeps_to_the_members_as_accounts_come_and_go() {
    // The engine reaches a group's members by their place among the shop's
    // accounts; adding or removing an account before them moves those places.
    let mut shop = Fixture::kuaishou();
    shop.cs("b", 5)
        .cs("c", 5)
        .cs("d", 5)
        .cs("e", 5)
        .online(&["b", "c", "d", "e"]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    shop.group("presale", &["c", "e"], &[NoActiveOrder]);
    let members = |outcome: &RouteOutcome| {
        assert_eq!(
            outcome.reason,
            RouteReason::Group,
            "{}",
            outcome.explanation
        );
        let holder = outcome.session.account.clone().unwrap();
        assert!(
            [id("c"), id("e")].contains(&holder),
            "{holder} is no member"
        );
    };
    members(&shop.route_status("b1", NoActiveOrder));
    shop.cs("a", 5).online(&["a"]);
    members(&shop.route_status("b2", NoActiveOrder));
    shop.state.remove_account(&id("b"), shop.now).unwrap();
    shop.state.remove_account(&id("d"), shop.now).unwrap();
    members(&shop.route_status("b3", NoActiveOrder));
    shop.state.check_invariants().unwrap();
}

#[test]
fn r07_priority_recent_account_before_order_status_group() {
    let mut shop = group_shop();
    let first = shop.serve_and_end("buyer");
    assert_eq!(first.reason, RouteReason::Group);
    let last = first.session.account.clone().unwrap();
    // The buyer now has an after-sales question; the last account still wins.
    let back = shop.route_status("buyer", AfterSales);
    assert_assigned(&back, last.as_str(), RouteReason::Affinity);
}

#[test]
fn r08_basic_routing_picks_the_least_loaded_available_account() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 5).cs("b", 5).online(&["a", "b"]);
    shop.route_addressed("x", "a");
    shop.route_addressed("y", "a");
    let outcome = shop.route("new");
    assert_assigned(&outcome, "b", RouteReason::Even);
}

#[test]
fn r08_group_mode_without_any_group_is_basic_routing() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).online(&["a"]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    assert_assigned(&shop.route_status("b1", AfterSales), "a", RouteReason::Even);
    assert_queued(&shop.route_status("b2", AfterSales), QueueName::Shop);
}

#[test]
fn r08_all_available_accounts_full_queues_in_the_shop_queue() {
    let mut shop = basic_shop(Profile::Taobao);
    shop.route("b1");
    shop.route("b2");
    let waiting = shop.route("b3");
    assert_queued(&waiting, QueueName::Shop);
    assert_eq!(shop.state.queue_position(&waiting.session), Some(1));
}

#[test]
fn r09_least_loaded_then_least_recently_assigned_goes_round() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 10)
        .cs("b", 10)
        .cs("c", 10)
        .online(&["a", "b", "c"]);
    let holders: Vec<String> = (0..6)
        .map(|n| shop.route(&format!("buyer-{n}")).session.account.unwrap().0)
        .collect();
    assert_eq!(holders, ["a", "b", "c", "a", "b", "c"]);
}

#[test]
fn r09_every_even_pick_has_the_fewest_occupied_slots_among_candidates() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 10)
        .cs("b", 10)
        .cs("c", 10)
        .online(&["a", "b", "c"]);
    shop.route_addressed("x1", "a");
    shop.route_addressed("x2", "a");
    shop.route_addressed("x3", "b");
    for n in 0..4 {
        let outcome = shop.route(&format!("buyer-{n}"));
        let picked = outcome.session.account.unwrap();
        let picked_occupancy = shop.occupancy(picked.as_str()) - 1;
        for other in ["a", "b", "c"] {
            let occupancy = shop.occupancy(other) - u32::from(picked.as_str() == other);
            assert!(
                picked_occupancy <= occupancy,
                "picked {picked} at {picked_occupancy}, {other} had {occupancy}"
            );
        }
    }
}

#[test]
fn r09_round_robin_setting_ignores_load() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 10).cs("b", 10).online(&["a", "b"]);
    shop.settings(SettingsPatch {
        distribution: Some(Distribution::RoundRobin),
        ..Default::default()
    });
    shop.route_addressed("x1", "b");
    shop.route_addressed("x2", "b");
    // a was never assigned, b was just assigned: a, then b despite its load.
    let holders: Vec<String> = (0..3)
        .map(|n| shop.route(&format!("buyer-{n}")).session.account.unwrap().0)
        .collect();
    assert_eq!(holders, ["a", "b", "a"]);
}

#[test]
fn r09_random_setting_spreads_over_available_accounts_only() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 500)
        .cs("b", 500)
        .cs("c", 500)
        .online(&["a", "b"]);
    shop.settings(SettingsPatch {
        distribution: Some(Distribution::Random),
        ..Default::default()
    });
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..60 {
        shop.advance(Duration::from_millis(7));
        seen.insert(shop.route(&format!("buyer-{n}")).session.account.unwrap().0);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["a", "b"]);
}
