//! A deployment (a dispatcher in front of 3 workers) on a TLS-only Redis that
//! requires client certificates, logging in as fenliu's ACL user with exactly
//! the README's rule: it works, denies nothing, keeps to its namespace; and when
//! Redis refuses it (a revoked command, a changed password) calls are
//! UNAVAILABLE naming the Redis error and readiness is NOT_SERVING (liveness
//! stays SERVING), until the operator's fix, which needs no restart.

use std::time::Duration;

use fenliu_tests::*;
use pb::OrderStatus;
use tonic::Code;

/// Long enough for a dispatcher to notice that it cannot read the membership
/// (5 missed refreshes of 1 s) and for readiness to follow.
const READINESS_TIMEOUT: Duration = Duration::from_secs(15);

/// Waits until readiness of every node of `node` is `status`, while liveness
/// stays SERVING throughout.
async fn wait_for_readiness(node: &TestNode, status: ServingStatus) {
    let mut addresses = node.worker_addresses();
    addresses.push(node.dispatcher_address());
    let deadline = tokio::time::Instant::now() + READINESS_TIMEOUT;
    loop {
        let mut all = true;
        for address in &addresses {
            assert_eq!(
                health(*address, "").await,
                ServingStatus::Serving as i32,
                "liveness of {address} must stay SERVING"
            );
            all &= health(*address, "fenliu.v1.Routing").await == status as i32;
        }
        if all {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness of {addresses:?} never became {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Routes once for a fresh buyer of a shop with one online account.
async fn create_shop(client: &mut Client, shop_id: &str) {
    ShopBuilder::kuaishou(shop_id)
        .cs("a", 100)
        .online(&["a"])
        .create(client)
        .await;
}

/// A deployment on a secured Redis with one shop (`shop-1`) routed to once.
async fn start_routing() -> (TestNode, Client) {
    let node = TestNode::start_on_secured_redis(3, NodeSettings::default()).await;
    let mut client = node.client().await;
    create_shop(&mut client, "shop-1").await;
    route_new(&mut client, "shop-1", "buyer-1").await;
    (node, client)
}

/// Routes until a call is refused, at most 5 s; returns the refusal.
async fn first_refusal(client: &mut Client, shop_id: &str) -> tonic::Status {
    wait_for("a call to be refused", || {
        let mut client = client.clone();
        async move {
            let request = route_request(shop_id, &next_request_id(), OrderStatus::NoActiveOrder);
            try_route(&mut client, request).await.err()
        }
    })
    .await
}

#[test]
fn the_readme_gives_the_acl_rule_that_the_tests_use() {
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(README_ACL_RULE),
        "README.md must give fenliu's ACL rule exactly as tests/src/secured_redis.rs has it:\n{README_ACL_RULE}"
    );
}

#[tokio::test]
async fn a_deployment_as_the_acl_user_over_tls_is_denied_nothing_and_keeps_to_its_namespace() {
    bounded_by(Duration::from_secs(60), async {
        let node = TestNode::start_on_secured_redis(3, NodeSettings::default()).await;
        let mut client = node.client().await;
        for shop in ["shop-a", "shop-b", "shop-c", "shop-d"] {
            create_shop(&mut client, shop).await;
            let routed = route_new(&mut client, shop, "buyer-1").await;
            assert_eq!(routed.account(), "a");
            end_session(&mut client, shop, routed.id()).await;
            shop_state(&mut client, shop).await;
        }
        let redis = node.secured_redis().expect("a secured redis");
        // Every command fenliu sent, on connect and in scripts, was allowed.
        let denied = redis.server.command(&["ACL", "LOG"]).unwrap();
        assert_eq!(
            denied, "",
            "ACL LOG holds denials: the README's rule lacks a right"
        );
        let keys = redis.server.command(&["KEYS", "*"]).unwrap();
        assert!(!keys.is_empty());
        assert!(
            keys.lines().all(|key| key.starts_with("fenliu:")),
            "a key outside the namespace: {keys}"
        );
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_user_lacking_evalsha_gets_unavailable_naming_noperm_and_not_serving_until_restored() {
    bounded_by(Duration::from_secs(60), async {
        let (node, mut client) = start_routing().await;
        let redis = node.secured_redis().expect("a secured redis");
        redis
            .set_user("fenliu-first-password", &["+evalsha"])
            .unwrap();
        let refused = first_refusal(&mut client, "shop-1").await;
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        assert!(refused.message().contains("NOPERM"), "{refused:?}");
        wait_for_readiness(&node, ServingStatus::NotServing).await;

        redis.set_user("fenliu-first-password", &[]).unwrap();
        wait_for_readiness(&node, ServingStatus::Serving).await;
        route_new(&mut client, "shop-1", "buyer-2").await;
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_changed_password_gets_unavailable_naming_wrongpass_until_the_file_is_rotated() {
    bounded_by(Duration::from_secs(60), async {
        let (node, mut client) = start_routing().await;
        let redis = node.secured_redis().expect("a secured redis");
        // The password changes in Redis and every connection must log in again.
        redis.set_user("fenliu-second-password", &[]).unwrap();
        redis.disconnect_fenliu().unwrap();
        let refused = first_refusal(&mut client, "shop-1").await;
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        assert!(refused.message().contains("WRONGPASS"), "{refused:?}");
        assert!(
            !refused.message().contains("fenliu-first-password"),
            "{refused:?}"
        );
        wait_for_readiness(&node, ServingStatus::NotServing).await;

        // The operator rotates the password file: no restart.
        redis
            .files
            .write_password("fenliu-second-password")
            .unwrap();
        wait_for_readiness(&node, ServingStatus::Serving).await;
        route_new(&mut client, "shop-1", "buyer-2").await;
        node.stop().await;
    })
    .await;
}
