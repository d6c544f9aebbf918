//! Admission control through the API: past a bound on calls in flight (the
//! dispatcher's, or one shop's at its worker) a call is refused at once with
//! `RESOURCE_EXHAUSTED`, the bound named in `fenliu-overloaded` and a time to
//! retry in `fenliu-retry-after-ms`; a refused call changed nothing (every
//! buyer with an answer holds a session, no other buyer does), and sent again
//! after that time it goes through.

use std::time::Duration;

use fenliu_node::overload::OVERLOADED_METADATA;
use fenliu_tests::*;
use fenliu_worker::router::Quotas;
use pb::OrderStatus;
use tonic::Code;

const SHOP: &str = "shop-1";
/// Routes sent at once: far more than the bound of 1 the tests set.
const BURST: usize = 48;

/// Sends `BURST` Routes for distinct buyers at once; returns the sessions
/// answered and the buyers refused, after checking that every failure is an
/// overload refusal of `bound`, retryable after a stated time.
async fn burst(client: &Client, bound: &str) -> (Vec<u64>, Vec<String>) {
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..BURST {
        let mut client = client.clone();
        calls.spawn(async move {
            let buyer = format!("buyer-{i}");
            let request = route_request(SHOP, &buyer, OrderStatus::NoActiveOrder);
            (buyer, try_route(&mut client, request).await)
        });
    }
    let mut answered = Vec::new();
    let mut refused = Vec::new();
    for (buyer, result) in calls.join_all().await {
        match result {
            Ok(routed) => answered.push(routed.id()),
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert_eq!(
                    status.metadata().get(OVERLOADED_METADATA).unwrap(),
                    bound,
                    "{status:?}"
                );
                let wait = retry_after(&status);
                assert!(
                    (Duration::from_millis(1)..=Duration::from_secs(1)).contains(&wait),
                    "{status:?}"
                );
                refused.push(buyer);
            }
        }
    }
    (answered, refused)
}

/// The sessions the shop's accounts hold.
async fn held_sessions(client: &mut Client) -> Vec<u64> {
    let state = shop_state(client, SHOP).await;
    let mut sessions: Vec<u64> = state
        .accounts
        .iter()
        .flat_map(|account| account.session_ids.iter().copied())
        .collect();
    sessions.sort();
    sessions
}

/// Refusals changed nothing, and each goes through when sent again after its
/// time to retry.
async fn refused_calls_changed_nothing_and_pass_later(
    client: &mut Client,
    mut answered: Vec<u64>,
    refused: Vec<String>,
) {
    assert!(
        !refused.is_empty(),
        "{BURST} Routes at once past a bound of 1: some must be refused"
    );
    assert!(!answered.is_empty(), "the bound admits one at a time");
    answered.sort();
    assert_eq!(
        held_sessions(client).await,
        answered,
        "a refused Route opened a session"
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    for buyer in &refused {
        route(client, SHOP, buyer, OrderStatus::NoActiveOrder).await;
    }
    assert_eq!(held_sessions(client).await.len(), BURST);
}

async fn create_shop(client: &mut Client) {
    ShopBuilder::kuaishou(SHOP)
        .cs("a", 500)
        .online(&["a"])
        .create(client)
        .await;
}

#[tokio::test]
async fn a_dispatcher_past_its_calls_in_flight_refuses_at_once_retryably() {
    bounded(async {
        let settings = NodeSettings {
            dispatcher: fenliu_node::ServerLimits {
                max_in_flight: Some(1),
                ..Default::default()
            },
            ..NodeSettings::default()
        };
        let node = TestNode::start_on_redis_with(1, settings).await;
        let mut client = node.client().await;
        create_shop(&mut client).await;
        let (answered, refused) = burst(&client, "node").await;
        refused_calls_changed_nothing_and_pass_later(&mut client, answered, refused).await;
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_shop_past_its_calls_in_flight_at_its_worker_is_refused_retryably_and_others_are_not() {
    bounded(async {
        let settings = NodeSettings {
            quotas: Quotas {
                max_in_flight_per_shop: 1,
                ..Quotas::default()
            },
            ..NodeSettings::default()
        };
        let node = TestNode::start_on_redis_with(1, settings).await;
        let mut client = node.client().await;
        create_shop(&mut client).await;
        let (answered, refused) = burst(&client, "shop").await;
        refused_calls_changed_nothing_and_pass_later(&mut client, answered, refused).await;
        // The bound is the shop's own: another shop's calls, one at a time, pass.
        ShopBuilder::kuaishou("shop-2")
            .cs("b", 10)
            .online(&["b"])
            .create(&mut client)
            .await;
        for i in 0..5 {
            route(
                &mut client,
                "shop-2",
                &format!("other-{i}"),
                OrderStatus::NoActiveOrder,
            )
            .await;
        }
        node.stop().await;
    })
    .await;
}
