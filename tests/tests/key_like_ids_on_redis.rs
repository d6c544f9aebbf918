//! Shop isolation on Redis whatever the ids: a shop's keys carry its id inside a
//! hash tag (`fenliu:{<shop>}:<key>`), and ids may hold any character, `}` and `:`
//! included. Shops whose ids extend another's with the key layout's own pieces
//! (`s}:request:r1`), and ids of that other shop that end like keys
//! (`r1}:shop`), must not meet: each call about one shop answers as usual and
//! changes nothing of the others, and every shop's stored state reads back whole
//! when another worker loads it.

use fenliu_tests::*;
use pb::{AccountStatus, OrderStatus};

/// What each neighbour's id adds to the shop's: `request:`, `affinity:` and
/// `presence:` keys of the shop followed by an id the shop uses.
const NEIGHBOUR_SUFFIXES: [&str; 3] = ["}:request:r1", "}:affinity:b1", "}:presence:a"];

/// A shop id whose neighbours and itself are all served by worker 0 (so that
/// stopping worker 0 makes worker 1 load every one of them from Redis).
fn shop_on_first_worker(node: &TestNode) -> String {
    (0..1000)
        .map(|n| format!("s{n}"))
        .find(|shop| {
            node.owner_of(shop) == 0
                && NEIGHBOUR_SUFFIXES
                    .iter()
                    .all(|suffix| node.owner_of(&format!("{shop}{suffix}")) == 0)
        })
        .expect("some shop id of a thousand hashes to worker 0 with its neighbours")
}

#[tokio::test]
async fn shops_whose_ids_meet_in_the_redis_key_layout_stay_apart() {
    bounded(async {
        let mut node = TestNode::start_on_redis(2).await;
        let mut client = node.client().await;
        let shop = shop_on_first_worker(&node);
        let neighbours: Vec<String> = NEIGHBOUR_SUFFIXES
            .iter()
            .map(|suffix| format!("{shop}{suffix}"))
            .collect();
        for neighbour in &neighbours {
            ShopBuilder::kuaishou(neighbour)
                .cs("a", 2)
                .online(&["a"])
                .create(&mut client)
                .await;
            route_new(&mut client, neighbour, "b1").await;
        }
        let neighbours_before = states(&mut client, &neighbours).await;

        // The shop's ids end like its neighbours' keys: request ids (the shop's
        // `request:r1}:shop` is the first neighbour's record), a buyer (its
        // affinity), an account (its presence).
        ShopBuilder::kuaishou(&shop)
            .cs("a", 10)
            .cs("a}:fence", 10)
            .online(&["a", "a}:fence"])
            .create(&mut client)
            .await;
        let mut routed = Vec::new();
        for (buyer, request_id) in [
            ("b7", "r1}:shop"),
            ("b8", "r1}:fence"),
            ("b9", "r1}:accounts"),
        ] {
            let request =
                route_request_with_id(&shop, buyer, request_id, OrderStatus::NoActiveOrder);
            let answer = try_route(&mut client, request)
                .await
                .unwrap_or_else(|status| panic!("route with request id {request_id}: {status:?}"));
            assert!(!answer.replayed, "a first route is no replay: {answer:?}");
            routed.push((buyer, request_id, answer.id()));
        }
        for buyer in ["b1}:fence", "b1}:shop"] {
            route_new(&mut client, &shop, buyer).await;
        }
        set_status(&mut client, &shop, "a}:fence", AccountStatus::Suspended).await;
        assert_eq!(
            states(&mut client, &neighbours).await,
            neighbours_before,
            "calls about {shop} changed a neighbour"
        );
        // A shop created after the ids above were used is made whole.
        let late = format!("{shop}}}:affinity:b1}}:fence");
        ShopBuilder::kuaishou(&late)
            .cs("a", 1)
            .create(&mut client)
            .await;

        // Worker 1 loads every shop from Redis: each reads back as it was, and the
        // shop's remembered routes replay.
        let shop_before = comparable(shop_state(&mut client, &shop).await);
        node.stop_worker(0).await;
        assert_eq!(
            comparable(shop_state(&mut client, &shop).await),
            shop_before
        );
        assert_eq!(states(&mut client, &neighbours).await, neighbours_before);
        get_shop(&mut client, &late).await;
        for (buyer, request_id, session) in routed {
            let request =
                route_request_with_id(&shop, buyer, request_id, OrderStatus::NoActiveOrder);
            let replay = try_route(&mut client, request).await.unwrap();
            assert!(replay.replayed, "{replay:?}");
            assert_eq!(replay.id(), session);
        }
        node.stop().await;
    })
    .await;
}

async fn states(client: &mut Client, shops: &[String]) -> Vec<pb::ShopState> {
    let mut states = Vec::new();
    for shop in shops {
        states.push(comparable(shop_state(client, shop).await));
    }
    states
}
