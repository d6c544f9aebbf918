//! One scenario per rule group, through a real dispatcher in front of a real worker:
//! each builds a shop over the API, routes, and asserts the exact account, reason
//! and state. Time-driven rules (affinity window, close delay) run in real time with
//! second-long settings and bounded polling.

use fenliu_tests::*;
use pb::shop_event::Event;
use pb::{AccountStatus, OrderStatus, RouteReason, SessionState};
use tonic::Code;

const SHOP: &str = "shop-1";

fn non_routing(account_id: &str, max_concurrent: u32) -> pb::UpsertAccountRequest {
    pb::UpsertAccountRequest {
        non_routing: true,
        ..cs_account(SHOP, account_id, max_concurrent)
    }
}

/// The accounts holding the given routes, in order.
fn holders(routes: &[Routed]) -> Vec<&str> {
    routes.iter().map(Routed::account).collect()
}

// ------------------------------------------------------------------ R1

#[tokio::test]
async fn r01_a_retried_route_replays_the_first_answer_and_assigns_nothing_twice() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 2)
            .cs("b", 2)
            .online(&["a", "b"])
            .create(&mut client)
            .await;

        let request = route_request(SHOP, "buyer", OrderStatus::NoActiveOrder);
        let first = try_route(&mut client, request.clone()).await.unwrap();
        assert_assigned(&first, "a", RouteReason::Even);
        assert!(!first.replayed);
        let retry = try_route(&mut client, request.clone()).await.unwrap();
        assert!(retry.replayed, "{retry:?}");
        assert_eq!(retry.id(), first.id());
        assert_eq!(retry.account(), "a");
        assert_eq!(retry.reason, RouteReason::Even);

        // A new message of the same buyer joins the open session.
        let again = route_new(&mut client, SHOP, "buyer").await;
        assert!(!again.replayed);
        assert_eq!(again.id(), first.id());
        assert_assigned(&again, "a", RouteReason::OpenSession);

        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(account(&state, "a").session_ids, vec![first.id()]);
        assert_eq!((occupancy(&state, "a"), occupancy(&state, "b")), (1, 0));

        // Even after the buyer's session ended and a new one began, the old request
        // id still answers with the first session.
        end_session(&mut client, SHOP, first.id()).await;
        let next_visit = route_new(&mut client, SHOP, "buyer").await;
        assert_ne!(next_visit.id(), first.id());
        let late_retry = try_route(&mut client, request).await.unwrap();
        assert!(late_retry.replayed);
        assert_eq!(late_retry.id(), first.id());
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r01_a_request_id_reused_for_another_buyer_is_refused_and_changes_nothing() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 2)
            .online(&["a"])
            .create(&mut client)
            .await;
        let mut request = route_request(SHOP, "buyer", OrderStatus::NoActiveOrder);
        try_route(&mut client, request.clone()).await.unwrap();
        let before = comparable(shop_state(&mut client, SHOP).await);

        request.buyer_id = "someone-else".to_owned();
        assert_refused(
            try_route(&mut client, request).await,
            Code::InvalidArgument,
            "request_id",
        );
        assert_eq!(comparable(shop_state(&mut client, SHOP).await), before);
        // The other buyer has no session: a fresh route makes their first one.
        let theirs = route_new(&mut client, SHOP, "someone-else").await;
        assert_eq!(theirs.reason, RouteReason::Even);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r01_a_queued_buyer_writing_again_keeps_their_place() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .online(&["a"])
            .create(&mut client)
            .await;
        route_new(&mut client, SHOP, "first").await;
        let waiting = route_new(&mut client, SHOP, "second").await;
        assert_queued(&waiting, "shop", 1);
        let third = route_new(&mut client, SHOP, "third").await;
        assert_queued(&third, "shop", 2);

        let again = route_new(&mut client, SHOP, "second").await;
        assert_eq!(again.reason, RouteReason::OpenSession);
        assert_eq!(again.id(), waiting.id());
        assert_eq!(again.state(), SessionState::Queued);
        assert_eq!(again.session.queue_position, 1);
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(queue(&state, "shop"), vec![waiting.id(), third.id()]);
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R2, R3

#[tokio::test]
async fn r02_an_addressed_logged_in_account_gets_the_buyer_even_when_full_or_suspended() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .cs("b", 1)
            .online(&["a"])
            .suspended(&["b"])
            .create(&mut client)
            .await;
        assert_assigned(
            &route_new(&mut client, SHOP, "x").await,
            "a",
            RouteReason::Even,
        );
        let to_full = route_addressed(&mut client, SHOP, "buyer", "a").await;
        assert_assigned(&to_full, "a", RouteReason::Addressed);
        let to_suspended = route_addressed(&mut client, SHOP, "other", "b").await;
        assert_assigned(&to_suspended, "b", RouteReason::Addressed);

        let state = shop_state(&mut client, SHOP).await;
        assert_eq!((occupancy(&state, "a"), occupancy(&state, "b")), (2, 1));
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r03_a_message_to_an_offline_account_is_an_offline_message_when_forwarding_is_off() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 2)
            .cs("c", 2)
            .online(&["a"])
            .create(&mut client)
            .await;
        let outcome = route_addressed(&mut client, SHOP, "buyer", "c").await;
        assert_assigned(&outcome, "c", RouteReason::AddressedOffline);
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(account(&state, "c").status(), AccountStatus::Offline);
        assert_eq!(account(&state, "c").session_ids, vec![outcome.id()]);
        assert_eq!(occupancy(&state, "a"), 0);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r03_offline_forwarding_routes_away_from_the_offline_account_and_never_back_to_it() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 2)
            .cs("b", 2)
            .cs("c", 2)
            .offline_forwarding(true)
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        let forwarded = route_addressed(&mut client, SHOP, "buyer", "c").await;
        assert_assigned(&forwarded, "a", RouteReason::Even);
        // The main account does not participate: forwarding does not apply to it.
        let to_main = route_addressed(&mut client, SHOP, "boss-fan", MAIN).await;
        assert_assigned(&to_main, MAIN, RouteReason::AddressedOffline);

        // Nobody available and the offline list names the addressed account first:
        // the buyer still goes to the next one on the list.
        set_status(&mut client, SHOP, "a", AccountStatus::Offline).await;
        set_status(&mut client, SHOP, "b", AccountStatus::Offline).await;
        client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: SHOP.to_owned(),
                offline_policy: Some(pb::OfflinePolicy::OfflineList as i32),
                offline_list: Some(pb::AccountIdList {
                    account_ids: vec!["c".to_owned(), "b".to_owned()],
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        let listed = route_addressed(&mut client, SHOP, "late", "c").await;
        assert_assigned(&listed, "b", RouteReason::OfflineList);
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(
            occupancy(&state, "c"),
            0,
            "never back to the offline account"
        );
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R4

#[tokio::test]
async fn r04_a_shop_without_participating_accounts_sends_buyers_to_the_offline_main_account() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .with_roles("ops", &[pb::Role::Operations])
            .account(non_routing("quiet", 5))
            .online(&["ops", "quiet"])
            .create(&mut client)
            .await;
        let outcome = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&outcome, MAIN, RouteReason::NoParticipants);
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(account(&state, MAIN).status(), AccountStatus::Offline);
        assert_eq!(occupancy(&state, MAIN), 1);
        assert_eq!(
            (occupancy(&state, "ops"), occupancy(&state, "quiet")),
            (0, 0)
        );
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R5, R6

#[tokio::test]
async fn r05_a_returning_buyer_goes_back_to_the_full_last_account_until_the_window_passes() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        let shop = ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .cs("b", 5)
            .affinity_window(2)
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        let close_delay_ms = u64::from(shop.settings.unwrap().close_delay_seconds) * 1000;

        let first = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&first, "a", RouteReason::Even);
        end_session(&mut client, SHOP, first.id()).await;
        // a's only slot is still held by the ended session (R15), yet R5 wins.
        let back = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&back, "a", RouteReason::Affinity);
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(occupancy(&state, "a"), 2, "over capacity, as R5 allows");

        let ended = end_session(&mut client, SHOP, back.id()).await;
        // The window runs from that last contact.
        let last_contact_ms = ended.closes_at_ms - close_delay_ms;
        wait_until_server_time(&client, SHOP, last_contact_ms + 2000).await;
        let forgotten = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&forgotten, "b", RouteReason::Even);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r06_a_returning_buyer_whose_last_account_went_offline_is_routed_as_new() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 5)
            .cs("b", 5)
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        let first = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&first, "a", RouteReason::Even);
        end_session(&mut client, SHOP, first.id()).await;

        // Suspended is still logged in: R5 applies.
        set_status(&mut client, SHOP, "a", AccountStatus::Suspended).await;
        let back = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&back, "a", RouteReason::Affinity);
        end_session(&mut client, SHOP, back.id()).await;

        set_status(&mut client, SHOP, "a", AccountStatus::Offline).await;
        let as_new = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&as_new, "b", RouteReason::Even);
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R7

#[tokio::test]
async fn r07_group_routing_serves_each_status_from_its_group_then_any_online_then_its_queue() {
    use OrderStatus::{AfterSales, NoActiveOrder, PaidNotShipped};
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("pre1", 1)
            .cs("pre2", 1)
            .cs("post1", 1)
            .cs("other", 1)
            .routing_mode(pb::RoutingMode::Group)
            .close_delay(0)
            .group("presale", &["pre1", "pre2"], &[NoActiveOrder])
            .group("aftersale", &["post1"], &[AfterSales])
            .online(&["pre1", "pre2", "post1", "other"])
            .create(&mut client)
            .await;

        // R7a: the group of the status, most evenly.
        let p1 = route(&mut client, SHOP, "p1", NoActiveOrder).await;
        let p2 = route(&mut client, SHOP, "p2", NoActiveOrder).await;
        assert_assigned(&p1, "pre1", RouteReason::Group);
        assert_assigned(&p2, "pre2", RouteReason::Group);
        let s1 = route(&mut client, SHOP, "s1", AfterSales).await;
        assert_assigned(&s1, "post1", RouteReason::Group);
        // R7b: the group is full; "other" has a free slot but is not a member.
        let s2 = route(&mut client, SHOP, "s2", AfterSales).await;
        assert_queued(&s2, "AFTER_SALES", 1);
        // R7c: no group for the status: any available account with a free slot.
        let x1 = route(&mut client, SHOP, "x1", PaidNotShipped).await;
        assert_assigned(&x1, "other", RouteReason::AnyOnline);
        // R7c: everybody available is full: the status's own queue.
        let x2 = route(&mut client, SHOP, "x2", PaidNotShipped).await;
        assert_queued(&x2, "PAID_NOT_SHIPPED", 1);

        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(queue(&state, "AFTER_SALES"), vec![s2.id()]);
        assert_eq!(queue(&state, "PAID_NOT_SHIPPED"), vec![x2.id()]);
        assert_eq!(queue(&state, "shop"), Vec::<u64>::new());

        // R14 in group mode: other's freed slot takes the younger x2, since the
        // after-sales queue belongs to post1's group while post1 is available.
        end_session(&mut client, SHOP, x1.id()).await;
        let x2_now = get_session(&mut client, SHOP, x2.id()).await;
        assert_eq!(x2_now.state(), SessionState::Assigned);
        assert_eq!(x2_now.account_id, "other");
        assert_eq!(
            get_session(&mut client, SHOP, s2.id()).await.state(),
            SessionState::Queued
        );
        end_session(&mut client, SHOP, s1.id()).await;
        let s2_now = get_session(&mut client, SHOP, s2.id()).await;
        assert_eq!(s2_now.state(), SessionState::Assigned);
        assert_eq!(s2_now.account_id, "post1");

        // R7c: a group with nobody available falls back to any available account.
        set_status(&mut client, SHOP, "post1", AccountStatus::Suspended).await;
        end_session(&mut client, SHOP, p1.id()).await;
        let s3 = route(&mut client, SHOP, "s3", AfterSales).await;
        assert_assigned(&s3, "pre1", RouteReason::AnyOnline);
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R8, R9

#[tokio::test]
async fn r09_new_buyers_are_spread_evenly_in_turn_over_equally_loaded_accounts() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 10)
            .cs("b", 10)
            .cs("c", 10)
            .online(&["a", "b", "c"])
            .create(&mut client)
            .await;
        let mut routes = Vec::new();
        for n in 0..9 {
            let routed = route_new(&mut client, SHOP, &format!("buyer-{n}")).await;
            assert_eq!(routed.reason, RouteReason::Even, "{routed:?}");
            routes.push(routed);
        }
        assert_eq!(
            holders(&routes),
            ["a", "b", "c", "a", "b", "c", "a", "b", "c"]
        );
        let state = shop_state(&mut client, SHOP).await;
        for id in ["a", "b", "c"] {
            assert_eq!(occupancy(&state, id), 3, "{id}");
        }
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r09_least_loaded_serves_the_accounts_with_fewest_occupied_slots_first() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 10)
            .cs("b", 10)
            .cs("c", 10)
            .online(&["a", "b", "c"])
            .create(&mut client)
            .await;
        route_addressed(&mut client, SHOP, "x", "a").await;
        route_addressed(&mut client, SHOP, "y", "a").await;
        let mut routes = Vec::new();
        for n in 0..5 {
            routes.push(route_new(&mut client, SHOP, &format!("buyer-{n}")).await);
        }
        assert_eq!(holders(&routes), ["b", "c", "b", "c", "a"]);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r09_round_robin_distribution_takes_turns_whatever_the_load() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 10)
            .cs("b", 10)
            .cs("c", 10)
            .distribution(pb::Distribution::RoundRobin)
            .online(&["a", "b", "c"])
            .create(&mut client)
            .await;
        route_addressed(&mut client, SHOP, "x", "a").await;
        route_addressed(&mut client, SHOP, "y", "a").await;
        let mut routes = Vec::new();
        for n in 0..5 {
            routes.push(route_new(&mut client, SHOP, &format!("buyer-{n}")).await);
        }
        assert_eq!(holders(&routes), ["b", "c", "a", "b", "c"]);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r08_when_every_available_account_is_full_buyers_wait_in_the_shop_queue_in_order() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .cs("b", 1)
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        assert_assigned(
            &route_new(&mut client, SHOP, "b1").await,
            "a",
            RouteReason::Even,
        );
        assert_assigned(
            &route_new(&mut client, SHOP, "b2").await,
            "b",
            RouteReason::Even,
        );
        let third = route_new(&mut client, SHOP, "b3").await;
        assert_queued(&third, "shop", 1);
        let fourth = route_new(&mut client, SHOP, "b4").await;
        assert_queued(&fourth, "shop", 2);
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(queue(&state, "shop"), vec![third.id(), fourth.id()]);
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R10 to R13

#[tokio::test]
async fn r10_basic_mode_ignores_groups_and_group_mode_uses_them() {
    use OrderStatus::{AfterSales, NoActiveOrder};
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 5)
            .cs("b", 5)
            .group("after", &["b"], &[AfterSales])
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        let basic = route(&mut client, SHOP, "b1", AfterSales).await;
        assert_assigned(&basic, "a", RouteReason::Even);

        client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: SHOP.to_owned(),
                routing_mode: Some(pb::RoutingMode::Group as i32),
                ..Default::default()
            })
            .await
            .unwrap();
        let grouped = route(&mut client, SHOP, "b2", AfterSales).await;
        assert_assigned(&grouped, "b", RouteReason::Group);
        let ungrouped = route(&mut client, SHOP, "b3", NoActiveOrder).await;
        assert_eq!(ungrouped.reason, RouteReason::AnyOnline, "{ungrouped:?}");
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r11_a_non_routing_account_never_receives_a_session_automatically() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .account(non_routing("quiet", 50))
            .online(&["a", "quiet"])
            .create(&mut client)
            .await;
        assert_assigned(
            &route_new(&mut client, SHOP, "b1").await,
            "a",
            RouteReason::Even,
        );
        let waiting = route_new(&mut client, SHOP, "b2").await;
        assert_queued(&waiting, "shop", 1);
        let state = shop_state(&mut client, SHOP).await;
        let quiet = account(&state, "quiet");
        assert!(!quiet.available);
        assert_eq!(quiet.occupancy, 0);
        assert_eq!(queue(&state, "shop"), vec![waiting.id()]);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r12_with_the_bot_on_nobody_available_means_the_pool_and_nothing_leaves_it_by_itself() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        let shop = ShopBuilder::kuaishou(SHOP)
            .cs("a", 5)
            .bot_enabled(true)
            .create(&mut client)
            .await;
        let settings = shop.settings.unwrap();
        assert_eq!(settings.offline_policy(), pb::OfflinePolicy::Queue);
        assert_eq!(
            settings.effective_offline_policy(),
            pb::OfflinePolicy::MessagePool
        );

        let pooled = route_new(&mut client, SHOP, "buyer").await;
        assert_eq!(pooled.reason, RouteReason::MessagePool, "{pooled:?}");
        assert_eq!(pooled.state(), SessionState::Pooled);
        assert_eq!(pooled.account(), "");

        set_status(&mut client, SHOP, "a", AccountStatus::Online).await;
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(pool(&state), vec![pooled.id()]);
        assert_eq!(occupancy(&state, "a"), 0);
        assert_eq!(
            get_session(&mut client, SHOP, pooled.id()).await.state(),
            SessionState::Pooled
        );
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r12_a_buyer_handed_over_by_the_bot_is_distributed_evenly_not_by_affinity() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 5)
            .cs("b", 5)
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        let first = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&first, "a", RouteReason::Even);
        end_session(&mut client, SHOP, first.id()).await;

        let mut handover = route_request(SHOP, "buyer", OrderStatus::NoActiveOrder);
        handover.from_bot = true;
        let outcome = try_route(&mut client, handover).await.unwrap();
        assert_assigned(&outcome, "b", RouteReason::Even);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r13a_the_queue_policy_holds_buyers_until_an_account_comes_online() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 5)
            .create(&mut client)
            .await;
        let waiting = route_new(&mut client, SHOP, "buyer").await;
        assert_queued(&waiting, "shop", 1);
        set_status(&mut client, SHOP, "a", AccountStatus::Online).await;
        let session = get_session(&mut client, SHOP, waiting.id()).await;
        assert_eq!(session.state(), SessionState::Assigned);
        assert_eq!(session.account_id, "a");
        assert_eq!(
            session.reason(),
            RouteReason::Queued,
            "first placement kept"
        );
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r13b_the_offline_list_takes_turns_whatever_status_and_occupancy() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .cs("b", 1)
            .cs("c", 1)
            .offline_policy(pb::OfflinePolicy::OfflineList)
            .offline_list(&["a", "b"])
            .suspended(&["b"])
            .create(&mut client)
            .await;
        let mut routes = Vec::new();
        for n in 0..4 {
            let routed = route_new(&mut client, SHOP, &format!("buyer-{n}")).await;
            assert_eq!(routed.reason, RouteReason::OfflineList, "{routed:?}");
            routes.push(routed);
        }
        assert_eq!(holders(&routes), ["a", "b", "a", "b"]);
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(occupancy(&state, "c"), 0);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r13d_the_proxy_account_receives_buyers_when_nobody_is_available_even_when_full() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::taobao(SHOP)
            .cs("a", 1)
            .cs("proxy", 1)
            .proxy_account("proxy")
            .offline_policy(pb::OfflinePolicy::ProxyAccount)
            .create(&mut client)
            .await;
        for buyer in ["b1", "b2"] {
            let routed = route_new(&mut client, SHOP, buyer).await;
            assert_assigned(&routed, "proxy", RouteReason::Proxy);
        }
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(occupancy(&state, "proxy"), 2);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r13e_a_taobao_shop_sends_buyers_to_the_main_account_when_all_are_suspended() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::taobao(SHOP)
            .cs("a", 5)
            .suspended(&["a"])
            .create(&mut client)
            .await;
        for buyer in ["b1", "b2"] {
            let routed = route_new(&mut client, SHOP, buyer).await;
            assert_assigned(&routed, MAIN, RouteReason::MainAccount);
        }
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(occupancy(&state, MAIN), 2);
        assert_eq!(account(&state, MAIN).status(), AccountStatus::Offline);
        assert_eq!(occupancy(&state, "a"), 0);
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R14, R15

#[tokio::test]
async fn r14_queue_drains_by_itself_when_close_delay_passes() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .close_delay(1)
            .online(&["a"])
            .create(&mut client)
            .await;
        let serving = route_new(&mut client, SHOP, "b1").await;
        let oldest = route_new(&mut client, SHOP, "b2").await;
        let younger = route_new(&mut client, SHOP, "b3").await;
        assert_queued(&oldest, "shop", 1);
        assert_queued(&younger, "shop", 2);

        let mut events = watch(&mut client, SHOP).await;
        let ended = end_session(&mut client, SHOP, serving.id()).await;
        assert_eq!(ended.state(), SessionState::Ended);
        assert!(
            matches!(
                next_event(&mut events).await.event,
                Some(Event::SessionEnded(_))
            ),
            "the end is the shop's next event"
        );
        // R15: the ended session still holds a's slot. (Reading the state now is
        // the last call until the queue has drained.)
        let state = shop_state(&mut client, SHOP).await;
        assert!(
            state.now_ms < ended.closes_at_ms,
            "the 1 s close delay cannot have passed already"
        );
        let a = account(&state, "a");
        assert_eq!((a.assigned, a.ending, a.occupancy), (0, 1, 1));
        assert_eq!(queue(&state, "shop"), vec![oldest.id(), younger.id()]);

        // No call is made (polling would advance the shop itself): the slot frees
        // by itself and the oldest buyer gets it, as the shop's events tell.
        let (closed, drained) = (next_event(&mut events).await, next_event(&mut events).await);
        assert_eq!(
            closed.event,
            Some(Event::SessionClosed(pb::SessionClosed {
                session_id: serving.id(),
                account_id: "a".to_owned(),
            }))
        );
        assert!(closed.at_ms >= ended.closes_at_ms, "{closed:?}");
        let Some(Event::SessionAssigned(drained)) = drained.event else {
            panic!("expected the queue to drain: {drained:?}");
        };
        assert_eq!(
            (
                drained.session_id,
                drained.account_id.as_str(),
                drained.cause()
            ),
            (oldest.id(), "a", pb::AssignCause::Queue)
        );
        let assigned = get_session(&mut client, SHOP, oldest.id()).await;
        assert_eq!(assigned.state(), SessionState::Assigned);
        assert_eq!(assigned.account_id, "a");

        let state = shop_state(&mut client, SHOP).await;
        assert!(state.now_ms >= ended.closes_at_ms);
        let a = account(&state, "a");
        assert_eq!((a.assigned, a.ending, a.occupancy), (1, 0, 1));
        assert_eq!(queue(&state, "shop"), vec![younger.id()]);
        assert_eq!(
            get_session(&mut client, SHOP, serving.id()).await.state(),
            SessionState::Closed
        );
        let younger_now = get_session(&mut client, SHOP, younger.id()).await;
        assert_eq!(younger_now.state(), SessionState::Queued);
        assert_eq!(younger_now.queue_position, 1);
        drop(events);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r14_a_group_queue_drains_at_once_when_capacity_grows_or_a_member_joins() {
    use OrderStatus::NoActiveOrder;
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .cs("c", 1)
            .routing_mode(pb::RoutingMode::Group)
            .group("presale", &["a"], &[NoActiveOrder])
            .online(&["a"])
            .create(&mut client)
            .await;
        assert_assigned(
            &route(&mut client, SHOP, "b1", NoActiveOrder).await,
            "a",
            RouteReason::Group,
        );
        let b2 = route(&mut client, SHOP, "b2", NoActiveOrder).await;
        let b3 = route(&mut client, SHOP, "b3", NoActiveOrder).await;
        assert_queued(&b2, "NO_ACTIVE_ORDER", 1);
        assert_queued(&b3, "NO_ACTIVE_ORDER", 2);

        // a's capacity grows: the oldest waiting buyer is assigned at once.
        client
            .upsert_account(cs_account(SHOP, "a", 2))
            .await
            .unwrap();
        let b2_now = get_session(&mut client, SHOP, b2.id()).await;
        assert_eq!(
            (b2_now.state(), b2_now.account_id.as_str()),
            (SessionState::Assigned, "a")
        );

        // c comes online but is no member while a is available: b3 keeps waiting.
        set_status(&mut client, SHOP, "c", AccountStatus::Online).await;
        let b3_now = get_session(&mut client, SHOP, b3.id()).await;
        assert_eq!(b3_now.state(), SessionState::Queued);
        assert_eq!(b3_now.queue_position, 1);

        // c joins the group: b3 is assigned to it at once.
        client
            .upsert_group(pb::UpsertGroupRequest {
                shop_id: SHOP.to_owned(),
                name: "presale".to_owned(),
                member_account_ids: vec!["a".to_owned(), "c".to_owned()],
                order_statuses: vec![NoActiveOrder as i32],
            })
            .await
            .unwrap();
        let b3_now = get_session(&mut client, SHOP, b3.id()).await;
        assert_eq!(
            (b3_now.state(), b3_now.account_id.as_str()),
            (SessionState::Assigned, "c")
        );
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r14_a_groups_queue_opens_to_anyone_once_no_member_is_available() {
    use OrderStatus::AfterSales;
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("post", 1)
            .cs("other", 1)
            .routing_mode(pb::RoutingMode::Group)
            .group("aftersale", &["post"], &[AfterSales])
            .online(&["post", "other"])
            .create(&mut client)
            .await;
        assert_assigned(
            &route(&mut client, SHOP, "s1", AfterSales).await,
            "post",
            RouteReason::Group,
        );
        let waiting = route(&mut client, SHOP, "s2", AfterSales).await;
        assert_queued(&waiting, "AFTER_SALES", 1);

        set_status(&mut client, SHOP, "post", AccountStatus::Offline).await;
        let session = get_session(&mut client, SHOP, waiting.id()).await;
        assert_eq!(
            (session.state(), session.account_id.as_str()),
            (SessionState::Assigned, "other")
        );
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r15_a_zero_close_delay_frees_the_slot_at_once() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .close_delay(0)
            .online(&["a"])
            .create(&mut client)
            .await;
        let serving = route_new(&mut client, SHOP, "b1").await;
        let waiting = route_new(&mut client, SHOP, "b2").await;
        assert_queued(&waiting, "shop", 1);
        let closed = end_session(&mut client, SHOP, serving.id()).await;
        assert_eq!(closed.state(), SessionState::Closed);
        assert_refused(
            try_end_session(&mut client, SHOP, serving.id(), "").await,
            Code::FailedPrecondition,
            "session_id",
        );
        let session = get_session(&mut client, SHOP, waiting.id()).await;
        assert_eq!(session.state(), SessionState::Assigned);
        assert_eq!(session.account_id, "a");
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R16 to R19

/// a and b (one slot each, online), an admin, a CS admin, an operations account,
/// and a non-routing account.
async fn staffed_shop(client: &mut Client) {
    ShopBuilder::kuaishou(SHOP)
        .cs("a", 1)
        .cs("b", 1)
        .with_roles("admin", &[pb::Role::Admin])
        .with_roles("csadmin", &[pb::Role::CsAdmin])
        .with_roles("ops", &[pb::Role::Operations])
        .account(non_routing("quiet", 1))
        .online(&["a", "b"])
        .create(client)
        .await;
}

#[tokio::test]
async fn r16_a_manager_transfers_to_a_full_account_and_the_buyers_affinity_follows() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        staffed_shop(&mut client).await;
        let on_a = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&on_a, "a", RouteReason::Even);
        assert_assigned(
            &route_new(&mut client, SHOP, "other").await,
            "b",
            RouteReason::Even,
        );

        let moved = try_transfer(&mut client, SHOP, on_a.id(), "admin", "b")
            .await
            .unwrap();
        assert_eq!(moved.account_id, "b");
        assert_eq!(moved.state(), SessionState::Assigned);
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!((occupancy(&state, "a"), occupancy(&state, "b")), (0, 2));

        end_session(&mut client, SHOP, on_a.id()).await;
        let back = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&back, "b", RouteReason::Affinity);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r16_the_holder_transfers_its_own_session() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        staffed_shop(&mut client).await;
        let on_a = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&on_a, "a", RouteReason::Even);
        let moved = try_transfer(&mut client, SHOP, on_a.id(), "a", "quiet")
            .await
            .unwrap();
        assert_eq!(moved.account_id, "quiet");
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(account(&state, "quiet").session_ids, vec![on_a.id()]);
        assert_eq!(occupancy(&state, "a"), 0);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r16_a_cs_admin_assigns_a_queued_session_to_a_non_routing_account() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        staffed_shop(&mut client).await;
        route_new(&mut client, SHOP, "b1").await;
        route_new(&mut client, SHOP, "b2").await;
        let waiting = route_new(&mut client, SHOP, "b3").await;
        assert_queued(&waiting, "shop", 1);
        let assigned = try_transfer(&mut client, SHOP, waiting.id(), "csadmin", "quiet")
            .await
            .unwrap();
        assert_eq!(assigned.state(), SessionState::Assigned);
        assert_eq!(assigned.account_id, "quiet");
        assert_eq!(assigned.queue, "");
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(queue(&state, "shop"), Vec::<u64>::new());
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r17_any_account_pulls_the_oldest_waiting_session_even_beyond_its_capacity() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        staffed_shop(&mut client).await;
        route_new(&mut client, SHOP, "b1").await;
        route_new(&mut client, SHOP, "b2").await;
        let oldest = route_new(&mut client, SHOP, "b3").await;
        let younger = route_new(&mut client, SHOP, "b4").await;

        let pulled = try_pull(&mut client, SHOP, "quiet", "shop").await.unwrap();
        assert_eq!(pulled.session_id, oldest.id());
        assert_eq!(pulled.account_id, "quiet");
        let again = try_pull(&mut client, SHOP, "quiet", "shop").await.unwrap();
        assert_eq!(again.session_id, younger.id());
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(occupancy(&state, "quiet"), 2, "quiet has one slot");
        assert_eq!(queue(&state, "shop"), Vec::<u64>::new());
        assert_refused(
            try_pull(&mut client, SHOP, "quiet", "shop").await,
            Code::FailedPrecondition,
            "queue",
        );
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r18_only_the_main_account_or_pool_permission_takes_sessions_out_of_the_pool() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 5)
            .with_roles("admin", &[pb::Role::Admin])
            .with_roles("csadmin", &[pb::Role::CsAdmin])
            .account(pb::UpsertAccountRequest {
                pool_permission: true,
                ..cs_account(SHOP, "pooler", 1)
            })
            .bot_enabled(true)
            .create(&mut client)
            .await;
        let first = route_new(&mut client, SHOP, "b1").await;
        let second = route_new(&mut client, SHOP, "b2").await;
        assert_eq!(first.state(), SessionState::Pooled);
        assert_eq!(second.state(), SessionState::Pooled);
        let before = comparable(shop_state(&mut client, SHOP).await);

        for actor in ["admin", "csadmin", "a"] {
            assert_refused(
                try_transfer(&mut client, SHOP, first.id(), actor, "a").await,
                Code::PermissionDenied,
                "actor_account_id",
            );
        }
        assert_eq!(comparable(shop_state(&mut client, SHOP).await), before);

        let by_pooler = try_transfer(&mut client, SHOP, first.id(), "pooler", "a")
            .await
            .unwrap();
        assert_eq!(by_pooler.account_id, "a");
        let by_main = try_transfer(&mut client, SHOP, second.id(), MAIN, "a")
            .await
            .unwrap();
        assert_eq!(by_main.account_id, "a");
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(pool(&state), Vec::<u64>::new());
        assert_eq!(occupancy(&state, "a"), 2);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r19_an_account_without_permission_is_refused_and_changes_nothing() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        staffed_shop(&mut client).await;
        let on_a = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&on_a, "a", RouteReason::Even);
        let before = comparable(shop_state(&mut client, SHOP).await);

        for actor in ["b", "ops", "quiet"] {
            assert_refused(
                try_transfer(&mut client, SHOP, on_a.id(), actor, "b").await,
                Code::PermissionDenied,
                "actor_account_id",
            );
            assert_refused(
                try_end_session(&mut client, SHOP, on_a.id(), actor).await,
                Code::PermissionDenied,
                "actor_account_id",
            );
        }
        assert_eq!(comparable(shop_state(&mut client, SHOP).await), before);
        let session = get_session(&mut client, SHOP, on_a.id()).await;
        assert_eq!(session.state(), SessionState::Assigned);
        assert_eq!(session.account_id, "a");

        // The holder itself may end it.
        let ended = try_end_session(&mut client, SHOP, on_a.id(), "a")
            .await
            .unwrap();
        assert_eq!(ended.state(), SessionState::Ended);
        node.stop().await;
    })
    .await;
}
