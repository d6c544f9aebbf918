//! Two shops with the same account ids, buyer ids and request ids on one node: a
//! call about one shop never sees or changes anything of the other.

use fenliu_tests::*;
use pb::shop_event::Event;
use pb::{AccountStatus, OrderStatus, RouteReason, SessionState};
use tonic::Code;

const A: &str = "shop-a";
const B: &str = "shop-b";

/// The same staff in both shops: a and b with one slot each, and an admin; all
/// offline until [`online`].
async fn twin_shops(client: &mut Client) {
    for shop_id in [A, B] {
        ShopBuilder::kuaishou(shop_id)
            .cs("a", 1)
            .cs("b", 1)
            .with_roles("admin", &[pb::Role::Admin])
            .create(client)
            .await;
    }
}

/// Brings a and b of both shops online.
async fn online(client: &mut Client) {
    for shop_id in [A, B] {
        for account_id in ["a", "b"] {
            set_status(client, shop_id, account_id, AccountStatus::Online).await;
        }
    }
}

/// Reads the two "a, b online" events of a shop; returns the last sequence.
async fn online_events(events: &mut tonic::Streaming<pb::ShopEvent>) -> u64 {
    let mut last = 0;
    for account_id in ["a", "b"] {
        let event = next_event(events).await;
        assert!(
            matches!(&event.event, Some(Event::AccountStatusChanged(c)) if c.account_id == account_id),
            "{event:?}"
        );
        last = event.sequence;
    }
    last
}

#[tokio::test]
async fn busy_calls_about_one_shop_leave_the_other_shops_state_and_events_untouched() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        twin_shops(&mut client).await;
        let mut b_events = watch(&mut client, B).await;
        online(&mut client).await;
        let b_last = online_events(&mut b_events).await;
        let b_before = comparable(shop_state(&mut client, B).await);

        // Shop A: assign, queue, end, transfer, pull, change statuses and settings.
        let mut same_request = route_request(A, "buyer", OrderStatus::NoActiveOrder);
        same_request.request_id = "the-same-request".to_owned();
        let served = try_route(&mut client, same_request.clone()).await.unwrap();
        assert_assigned(&served, "a", RouteReason::Even);
        let second = route_new(&mut client, A, "buyer-2").await;
        assert_assigned(&second, "b", RouteReason::Even);
        let waiting = route_new(&mut client, A, "buyer-3").await;
        assert_queued(&waiting, "shop", 1);
        let pulled = try_pull(&mut client, A, "admin", "shop").await.unwrap();
        assert_eq!(pulled.session_id, waiting.id());
        try_transfer(&mut client, A, second.id(), "admin", "a")
            .await
            .unwrap();
        end_session(&mut client, A, served.id()).await;
        set_status(&mut client, A, "b", AccountStatus::Suspended).await;
        client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: A.to_owned(),
                close_delay_seconds: Some(0),
                bot_enabled: Some(true),
                ..Default::default()
            })
            .await
            .unwrap();
        let a_after = shop_state(&mut client, A).await;
        assert_eq!(occupancy(&a_after, "a"), 2);

        // Shop B is exactly as it was: no session, no occupancy, no queue, no change.
        let b_now = comparable(shop_state(&mut client, B).await);
        assert_eq!(b_now, b_before);
        for account in &b_now.accounts {
            assert_eq!(account.occupancy, 0, "{account:?}");
            assert!(account.session_ids.is_empty(), "{account:?}");
        }
        assert!(b_now.queues.is_empty() && b_now.pool.is_empty());

        // The same buyer and the same request id in shop B: a first answer, not
        // A's replayed, and no affinity carried over from A.
        let mut in_b = same_request.clone();
        in_b.shop_id = B.to_owned();
        let routed_in_b = try_route(&mut client, in_b).await.unwrap();
        assert!(!routed_in_b.replayed);
        assert_assigned(&routed_in_b, "a", RouteReason::Even);
        // Shop A's answer to that request id is unchanged.
        let replay_in_a = try_route(&mut client, same_request).await.unwrap();
        assert!(replay_in_a.replayed);
        assert_eq!(replay_in_a.id(), served.id());

        // B's watcher saw none of A's many events: its first is B's own route.
        let first = next_event(&mut b_events).await;
        assert_eq!(first.sequence, b_last + 1, "{first:?}");
        let Some(Event::SessionAssigned(assigned)) = first.event else {
            panic!("expected B's assignment, got {first:?}");
        };
        assert_eq!(
            (
                assigned.session_id,
                assigned.buyer_id.as_str(),
                assigned.account_id.as_str()
            ),
            (routed_in_b.id(), "buyer", "a")
        );
        drop(b_events);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_session_id_that_exists_only_in_another_shop_is_not_found() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        twin_shops(&mut client).await;
        online(&mut client).await;
        let on_a = route_new(&mut client, A, "buyer").await;
        route_new(&mut client, A, "buyer-2").await;
        let waiting = route_new(&mut client, A, "buyer-3").await;
        assert_queued(&waiting, "shop", 1);
        let a_before = comparable(shop_state(&mut client, A).await);
        let b_before = comparable(shop_state(&mut client, B).await);

        for id in [on_a.id(), waiting.id()] {
            assert_refused(
                try_get_session(&mut client, B, id).await,
                Code::NotFound,
                "session_id",
            );
            assert_refused(
                try_end_session(&mut client, B, id, "").await,
                Code::NotFound,
                "session_id",
            );
            assert_refused(
                try_transfer(&mut client, B, id, "admin", "b").await,
                Code::NotFound,
                "session_id",
            );
            assert_refused(
                try_end_session(&mut client, B, id, "admin").await,
                Code::NotFound,
                "session_id",
            );
        }
        // B's queue is empty even though A's is not.
        assert_refused(
            try_pull(&mut client, B, "a", "shop").await,
            Code::FailedPrecondition,
            "queue",
        );

        assert_eq!(comparable(shop_state(&mut client, A).await), a_before);
        assert_eq!(comparable(shop_state(&mut client, B).await), b_before);
        let session = get_session(&mut client, A, on_a.id()).await;
        assert_eq!(session.state(), SessionState::Assigned);
        assert_eq!(session.account_id, "a");
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_account_status_change_in_one_shop_does_not_touch_the_same_account_id_in_the_other() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        twin_shops(&mut client).await;
        let mut a_events = watch(&mut client, A).await;
        online(&mut client).await;
        let a_last = online_events(&mut a_events).await;

        set_status(&mut client, B, "a", AccountStatus::Offline).await;
        set_status(&mut client, B, "b", AccountStatus::Suspended).await;
        // In B nobody is available now: a Kuaishou shop queues.
        assert_queued(&route_new(&mut client, B, "buyer").await, "shop", 1);

        let a_state = shop_state(&mut client, A).await;
        for id in ["a", "b"] {
            assert_eq!(
                account(&a_state, id).status(),
                AccountStatus::Online,
                "{id}"
            );
            assert!(account(&a_state, id).available, "{id}");
        }
        // In A both are still available: the same buyer is assigned at once.
        let in_a = route_new(&mut client, A, "buyer").await;
        assert_assigned(&in_a, "a", RouteReason::Even);
        let first = next_event(&mut a_events).await;
        assert_eq!(
            first.sequence,
            a_last + 1,
            "A's watcher saw only A: {first:?}"
        );
        assert!(
            matches!(&first.event, Some(Event::SessionAssigned(s)) if s.session_id == in_a.id()),
            "{first:?}"
        );
        drop(a_events);
        node.stop().await;
    })
    .await;
}
