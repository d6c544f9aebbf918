//! Per-shop quotas through the API: the `Route` rate limit on Redis behind a
//! dispatcher (the refusal's code, its retry time in metadata, nothing changed,
//! a retry after that time passes), the shop's own limit stored with its
//! settings, and each cap on a shop's size refused naming the cap with the
//! shop read back unchanged.

use std::time::Duration;

use fenliu_tests::*;
use fenliu_worker::engine::ShopLimits;
use fenliu_worker::router::Quotas;
use pb::OrderStatus;
use tonic::{Code, Status};

const SHOP: &str = "shop-1";

/// Session ids a snapshot reads: more than any test here opens, so that a
/// session a refused call opened would be seen.
const SESSION_IDS: std::ops::RangeInclusive<u64> = 1..=20;

/// The shop's state and every session in it, to compare before and after a
/// refused call (what moves with the clock alone is left out).
async fn snapshot(client: &mut Client) -> (pb::ShopState, Vec<pb::Session>) {
    let state = comparable(shop_state(client, SHOP).await);
    let mut sessions = Vec::new();
    for id in SESSION_IDS {
        if let Ok(session) = try_get_session(client, SHOP, id).await {
            sessions.push(session);
        }
    }
    (state, sessions)
}

/// Asserts `result` is refused with RESOURCE_EXHAUSTED naming `cap`, and that
/// the shop is as `before`.
async fn assert_cap_refused<T: std::fmt::Debug>(
    client: &mut Client,
    before: &(pb::ShopState, Vec<pb::Session>),
    result: Result<T, Status>,
    cap: &str,
) {
    let status = assert_refused(result, Code::ResourceExhausted, cap);
    assert!(
        status.message().starts_with(&format!("{cap}: ")),
        "{status:?}"
    );
    assert_eq!(
        &snapshot(client).await,
        before,
        "the refused call ({status:?}) changed the shop"
    );
}

#[tokio::test]
async fn route_rate_limit_through_a_dispatcher_on_redis_refuses_with_the_retry_time() {
    bounded(async {
        let node = TestNode::start_on_redis(2).await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 100)
            .online(&["a"])
            .settings(|shop| shop.route_rate_limit_per_second = Some(1))
            .create(&mut client)
            .await;
        // At 1 a second the burst is the minimum, 10: they pass at once, and
        // at most one more per second meanwhile.
        let started = std::time::Instant::now();
        let mut passed = 0u64;
        let (refusal, before, refused_id) = loop {
            // The shop's state alone (one read): a session the call opened
            // would show in its holder's sessions or in a queue.
            let before = comparable(shop_state(&mut client, SHOP).await);
            let request_id = format!("r{passed}");
            let request =
                route_request_with_id(SHOP, &request_id, &request_id, OrderStatus::NoActiveOrder);
            match try_route(&mut client, request).await {
                Ok(_) => passed += 1,
                Err(status) => break (status, before, request_id),
            }
            assert!(passed <= 30, "the limit never refused");
        };
        let seconds = started.elapsed().as_secs();
        assert!(
            (10..=11 + seconds).contains(&passed),
            "{passed} passed in {seconds} s"
        );
        // The worker's refusal reached the caller as it was: the dispatcher did
        // not retry it (a retry would have passed within the second).
        assert_eq!(refusal.code(), Code::ResourceExhausted, "{refusal:?}");
        assert!(
            refusal
                .message()
                .starts_with("route_rate_limit_per_second: "),
            "{refusal:?}"
        );
        let wait = retry_after(&refusal);
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(
            comparable(shop_state(&mut client, SHOP).await),
            before,
            "nothing changed"
        );

        // After the time given, the same request passes, decided afresh: the
        // refusal left no request id behind (R1).
        tokio::time::sleep(wait).await;
        let request =
            route_request_with_id(SHOP, &refused_id, &refused_id, OrderStatus::NoActiveOrder);
        let routed = try_route(&mut client, request).await.unwrap();
        assert!(!routed.replayed);
        assert_assigned(&routed, "a", pb::RouteReason::Even);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_shops_own_rate_limit_is_stored_with_its_settings_and_survives_a_new_owner() {
    bounded(async {
        let mut node = TestNode::start_on_redis(2).await;
        let mut client = node.client().await;
        let created = ShopBuilder::kuaishou(SHOP).create(&mut client).await;
        let limit = |shop: &pb::Shop| shop.settings.as_ref().unwrap().route_rate_limit_per_second;
        assert_eq!(limit(&created), 0, "0: the deployment's default");
        let updated = client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: SHOP.to_owned(),
                route_rate_limit_per_second: Some(7),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(limit(&updated), 7);
        // An upsert that does not name it keeps it.
        let untouched = client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: SHOP.to_owned(),
                bot_enabled: Some(false),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(limit(&untouched), 7);
        // The owner goes; the next one reads the shop from Redis.
        let owner = node.owner_of(SHOP);
        node.stop_worker(owner).await;
        let read = wait_for("the shop to be served by its new owner", || {
            let mut client = client.clone();
            async move { try_get_shop(&mut client, SHOP).await.ok() }
        })
        .await;
        assert_eq!(limit(&read), 7);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn each_cap_on_a_shops_size_is_refused_naming_it_and_changes_nothing() {
    bounded(async {
        let limits = NodeSettings {
            quotas: Quotas {
                shop_limits: ShopLimits {
                    max_accounts: 3,
                    max_groups: 1,
                    max_open_sessions: 4,
                    max_queued_sessions: 1,
                },
                ..Quotas::default()
            },
            ..NodeSettings::default()
        };
        let node = TestNode::start_with(limits).await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .cs("b", 1)
            .group("after", &["b"], &[OrderStatus::AfterSales])
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        route_new(&mut client, SHOP, "b1").await;
        route_new(&mut client, SHOP, "b2").await;
        assert_queued(&route_new(&mut client, SHOP, "b3").await, "shop", 1);

        let before = snapshot(&mut client).await;
        let result = client.upsert_account(cs_account(SHOP, "c", 1)).await;
        assert_cap_refused(&mut client, &before, result, "max_accounts").await;
        let result = client
            .upsert_group(pb::UpsertGroupRequest {
                shop_id: SHOP.to_owned(),
                name: "presale".to_owned(),
                member_account_ids: vec!["a".to_owned()],
                order_statuses: vec![OrderStatus::OrderedNotPaid as i32],
            })
            .await;
        assert_cap_refused(&mut client, &before, result, "max_groups").await;
        let result = try_route(
            &mut client,
            route_request(SHOP, "b4", OrderStatus::NoActiveOrder),
        )
        .await;
        assert_cap_refused(&mut client, &before, result, "max_queued_sessions").await;

        // The fourth open session (addressed, R2) is within the cap; a fifth
        // is not, addressed or not.
        route_addressed(&mut client, SHOP, "b5", "a").await;
        let before = snapshot(&mut client).await;
        let mut addressed = route_request(SHOP, "b6", OrderStatus::NoActiveOrder);
        addressed.addressed_account_id = "a".to_owned();
        let result = try_route(&mut client, addressed).await;
        assert_cap_refused(&mut client, &before, result, "max_open_sessions").await;
        // At its caps the shop keeps working: an open session carries on (R1),
        // and an existing account or group changes.
        assert_eq!(
            route_new(&mut client, SHOP, "b3").await.reason,
            pb::RouteReason::OpenSession
        );
        client
            .upsert_account(cs_account(SHOP, "a", 2))
            .await
            .unwrap();
        node.stop().await;
    })
    .await;
}
