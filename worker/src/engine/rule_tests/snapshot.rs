//! A stored shop restores to the same shop: what a worker taking over a shard
//! relies on.

use super::*;

/// A shop with something of everything: assigned, queued, pooled and ended
/// sessions, affinities, groups, accounts in each status.
fn busy_shop() -> Fixture {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("b", 2).cs("c", 1).online(&["a", "b"]);
    shop.status("c", AccountStatus::Suspended);
    shop.group("after", &["c"], &[OrderStatus::AfterSales]);
    let first = shop.route("b1");
    shop.end(first.session.id);
    for buyer in ["b2", "b3", "b4", "b5"] {
        shop.route(buyer);
    }
    shop.settings(SettingsPatch {
        bot_enabled: Some(true),
        ..Default::default()
    });
    shop.status("a", AccountStatus::Offline)
        .status("b", AccountStatus::Offline);
    shop.route("b6");
    shop.advance(Duration::from_secs(5));
    shop
}

#[test]
fn restore_of_a_snapshot_gives_back_the_same_shop() {
    let shop = busy_shop();
    let state = &shop.state;
    assert!(
        state.queues().count() > 0 && !state.pool().is_empty(),
        "the fixture covers queues and the pool"
    );
    let restored = ShopState::restore(state.snapshot(), shop.now);
    restored.check_invariants().unwrap();
    assert_eq!(restored.snapshot(), state.snapshot());
    for account in state.accounts() {
        let again = restored.account(&account.id).unwrap();
        assert_eq!(
            (again.assigned, again.ending),
            (account.assigned, account.ending)
        );
    }
    let queues: Vec<_> = state.queues().map(|(q, ids)| (q, ids.clone())).collect();
    let restored_queues: Vec<_> = restored.queues().map(|(q, ids)| (q, ids.clone())).collect();
    assert_eq!(queues, restored_queues);
    assert_eq!(restored.pool(), state.pool());
    assert_eq!(restored.next_deadline(), state.next_deadline());
}

#[test]
fn restore_then_routing_decides_as_the_original_would() {
    let mut original = busy_shop();
    let mut restored = Fixture::kuaishou();
    restored.state = ShopState::restore(original.state.snapshot(), original.now);
    restored.now = original.now;
    for buyer in ["b1", "b7", "b3"] {
        let expected = original.route(buyer);
        let actual = restored.route(buyer);
        assert_eq!(actual.session, expected.session);
        assert_eq!(actual.reason, expected.reason);
    }
    original.advance(minutes(30));
    restored.advance(minutes(30));
    assert_eq!(restored.state.snapshot(), original.state.snapshot());
}

#[test]
fn restore_with_a_presence_that_ran_out_turns_the_account_offline_with_its_event() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).online(&["a"]);
    let mut snapshot = shop.state.snapshot();
    // As a store finds it when the presence key expired: logged in, no deadline.
    let account = snapshot
        .accounts
        .iter_mut()
        .find(|a| a.id == id("a"))
        .unwrap();
    assert_eq!(account.status, AccountStatus::Online);
    account.presence_expires_at = None;
    let mut restored = ShopState::restore(snapshot, shop.now);
    restored.advance_to(shop.now);
    assert_eq!(
        restored.account(&id("a")).unwrap().status,
        AccountStatus::Offline
    );
    assert!(restored.take_events().iter().any(|e| matches!(
        e.event,
        ShopEvent::AccountStatusChanged {
            presence_expired: true,
            ..
        }
    )));
}

#[test]
fn r07_a_restored_group_member_without_account_serves_once_the_account_is_created() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("ghost", 1).online(&["a"]);
    shop.settings(SettingsPatch {
        routing_mode: Some(RoutingMode::Group),
        ..Default::default()
    });
    shop.group("after", &["ghost"], &[OrderStatus::AfterSales]);
    // As a store could hold it: the group still names an account that is gone.
    let mut snapshot = shop.state.snapshot();
    snapshot.accounts.retain(|a| a.id != id("ghost"));
    shop.state = ShopState::restore(snapshot, shop.now);
    shop.state.check_invariants().unwrap();
    let outcome = shop.route_status("b1", OrderStatus::AfterSales);
    assert_assigned(&outcome, "a", RouteReason::AnyOnline);
    // Created again, the account serves its group at once.
    shop.cs("ghost", 1).online(&["ghost"]);
    let outcome = shop.route_status("b2", OrderStatus::AfterSales);
    assert_assigned(&outcome, "ghost", RouteReason::Group);
}
