//! The caps on a shop's size: each refuses only what would grow the shop past
//! it, names itself, and changes nothing; what stays within the caps routes
//! exactly as without them.

use super::*;

fn capped(limits: ShopLimits) -> Fixture {
    let mut shop = Fixture::kuaishou();
    shop.state.set_limits(limits);
    shop
}

/// Asserts `error` is the refusal of `cap`.
fn assert_cap(error: &EngineError, cap: &str) {
    assert!(
        matches!(error, EngineError::ResourceExhausted { .. }),
        "{error:?}"
    );
    assert_eq!(error.field(), cap);
    assert!(
        error.to_string().starts_with(&format!("{cap}: ")),
        "{error}"
    );
}

fn cs_upsert(account: &str) -> AccountUpsert {
    AccountUpsert {
        id: id(account),
        config: Fixture::config(&[Role::CustomerService], Some(1)),
    }
}

#[test]
fn max_accounts_refuses_a_new_account_but_not_a_change_to_one() {
    let mut shop = capped(ShopLimits {
        max_accounts: 2,
        ..ShopLimits::default()
    });
    shop.cs("a", 1);
    let before = shop.state.snapshot();
    let error = shop
        .state
        .upsert_account(cs_upsert("b"), shop.now)
        .unwrap_err();
    assert_cap(&error, "max_accounts");
    assert_eq!(shop.state.snapshot(), before);
    // A change to an existing account is no new account.
    shop.cs("a", 3);
    assert_eq!(
        shop.state.account(&id("a")).unwrap().config.max_concurrent,
        Some(3)
    );
}

#[test]
fn max_groups_refuses_a_new_group_but_not_a_change_to_one() {
    let mut shop = capped(ShopLimits {
        max_groups: 1,
        ..ShopLimits::default()
    });
    shop.cs("a", 1)
        .group("presale", &["a"], &[OrderStatus::NoActiveOrder]);
    let before = shop.state.snapshot();
    let upsert = GroupUpsert {
        name: GroupName::from("after"),
        members: [id("a")].into_iter().collect(),
        order_statuses: [OrderStatus::AfterSales].into_iter().collect(),
    };
    let error = shop.state.upsert_group(upsert, shop.now).unwrap_err();
    assert_cap(&error, "max_groups");
    assert_eq!(shop.state.snapshot(), before);
    shop.group("presale", &[], &[OrderStatus::NoActiveOrder]);
    assert!(
        shop.state
            .group(&GroupName::from("presale"))
            .unwrap()
            .members
            .is_empty()
    );
}

#[test]
fn max_queued_sessions_refuses_a_route_that_would_queue_and_remembers_nothing() {
    let mut shop = capped(ShopLimits {
        max_queued_sessions: 2,
        ..ShopLimits::default()
    });
    shop.cs("a", 1).online(&["a"]);
    assert_assigned(&shop.route("b1"), "a", RouteReason::Even);
    assert_queued(&shop.route("b2"), QueueName::Shop);
    assert_queued(&shop.route("b3"), QueueName::Shop);
    let before = shop.state.snapshot();
    let request = shop.request("b4");
    let error = shop.state.route(&request, shop.now).unwrap_err();
    assert_cap(&error, "max_queued_sessions");
    assert!(
        error.to_string().contains("the shop has 2 queued sessions"),
        "{error}"
    );
    assert_eq!(shop.state.snapshot(), before);
    assert!(!shop.state.remembers_answer(&request.request_id));
    assert!(shop.state.open_session_of(&BuyerId::from("b4")).is_none());
    shop.state.check_invariants().unwrap();
    // A queued buyer's next message joins its open session (R1): never refused.
    let again = shop.route("b3");
    assert_eq!(again.reason, RouteReason::OpenSession);
    // A free slot takes the oldest (R14), and the queue has room again.
    let first = shop.state.open_session_of(&BuyerId::from("b1")).unwrap().id;
    shop.settings(SettingsPatch {
        close_delay: Some(Duration::ZERO),
        ..Default::default()
    });
    shop.end(first);
    assert_queued(&shop.route("b4"), QueueName::Shop);
}

#[test]
fn max_open_sessions_refuses_any_new_session_even_an_addressed_one() {
    let mut shop = capped(ShopLimits {
        max_open_sessions: 2,
        ..ShopLimits::default()
    });
    shop.cs("a", 5).online(&["a"]);
    shop.route("b1");
    shop.route("b2");
    let before = shop.state.snapshot();
    let mut request = shop.request("b3");
    request.addressed = Some(id("a"));
    let error = shop.state.route(&request, shop.now).unwrap_err();
    assert_cap(&error, "max_open_sessions");
    assert_eq!(shop.state.snapshot(), before);
    assert_eq!(shop.occupancy("a"), 2);
    // The open sessions carry on (R1).
    assert_eq!(shop.route("b1").reason, RouteReason::OpenSession);
}

#[test]
fn within_the_caps_routing_decides_as_without_them() {
    let tight = ShopLimits {
        max_accounts: 3,
        max_groups: 1,
        max_open_sessions: 4,
        max_queued_sessions: 2,
    };
    let mut unlimited = Fixture::kuaishou();
    let mut capped_shop = capped(tight);
    for shop in [&mut unlimited, &mut capped_shop] {
        shop.cs("a", 1).cs("b", 1).online(&["a", "b"]);
    }
    for buyer in ["b1", "b2", "b3", "b4", "b2"] {
        let free = unlimited.route(buyer);
        let limited = capped_shop.route(buyer);
        assert_eq!(limited, free);
    }
    assert_eq!(capped_shop.state.snapshot(), unlimited.state.snapshot());
}
