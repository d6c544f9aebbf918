//! Acknowledged means durable: with `--redis-min-replicas`, a worker answers a
//! call only once its commit is on that many replicas (`WAIT` on the same
//! connection as the commit). A commit the replicas did not get in time is
//! answered UNAVAILABLE and the shop is dropped from memory; what the primary
//! has anyway is found again on the next call (a retry of the Route replays it).

use std::sync::Arc;
use std::time::Duration;

use fenliu_node::redis_connection::RedisConnection;
use fenliu_testkit::RedisServer;
use fenliu_worker::engine::*;
use fenliu_worker::router::{Persistence, Router, RouterError, SoleOwner, SystemClock};
use fenliu_worker::store::{RedisStore, StoreError};

const SHOP: &str = "durable-shop";

/// A primary with one replica that has caught up.
fn primary_and_replica() -> (RedisServer, RedisServer) {
    let primary = RedisServer::start().expect("start the primary");
    let replica = RedisServer::start().expect("start the replica");
    replica
        .command(&["REPLICAOF", "127.0.0.1", &primary.port().to_string()])
        .expect("REPLICAOF");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = primary
            .command(&["INFO", "replication"])
            .unwrap_or_default();
        if info.contains("connected_slaves:1") && info.contains("state=online") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica did not attach: {info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (primary, replica)
}

async fn router_requiring(primary: &RedisServer, replicas: u32) -> Arc<Router> {
    let connection = RedisConnection::connect(&[primary.url()], Duration::from_millis(800))
        .await
        .expect("connect");
    let store = RedisStore::new(connection, "fenliu")
        .requiring_replicas(replicas, Duration::from_millis(200));
    Router::new(
        Persistence::Redis(store),
        Arc::new(SoleOwner),
        Arc::new(SystemClock),
    )
}

async fn create_shop(router: &Router) {
    let now = router.now();
    let mut shop = ShopState::new(SHOP.into(), Profile::Kuaishou, "main".into(), now);
    let config = AccountConfig {
        display_name: "a".to_owned(),
        roles: [Role::CustomerService].into_iter().collect(),
        non_routing: false,
        max_concurrent: Some(10),
        pool_permission: false,
        main_account_participates: false,
    };
    shop.upsert_account(
        AccountUpsert {
            id: "a".into(),
            config,
        },
        now,
    )
    .unwrap();
    shop.set_account_status(&"a".into(), AccountStatus::Online, now)
        .unwrap();
    shop.take_events();
    assert!(router.create_shop(shop).await.unwrap());
}

fn request(buyer: &str) -> RouteRequest {
    RouteRequest {
        buyer: buyer.into(),
        request_id: format!("request-{buyer}").as_str().into(),
        order_status: OrderStatus::NoActiveOrder,
        addressed: None,
        from_bot: false,
    }
}

async fn route(router: &Router, buyer: &str) -> Result<RouteOutcome, RouterError> {
    router
        .route(&SHOP.into(), &request(buyer), |_, outcome| outcome.clone())
        .await
}

#[tokio::test]
async fn a_decision_is_acknowledged_once_a_replica_has_it_and_refused_when_none_does() {
    let (primary, replica) = tokio::task::spawn_blocking(primary_and_replica)
        .await
        .unwrap();
    let router = router_requiring(&primary, 1).await;
    create_shop(&router).await;
    let first = route(&router, "first")
        .await
        .expect("acknowledged with a replica");
    assert_eq!(first.session.account, Some("a".into()));

    // The replica stops: the primary takes the commit, no replica confirms it.
    replica.pause().unwrap();
    let started = tokio::time::Instant::now();
    let refused = route(&router, "second").await.unwrap_err();
    assert!(
        matches!(
            refused,
            RouterError::Store(StoreError::NotReplicated { wanted: 1, got: 0 })
        ),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "refused within the replica timeout, not the caller's deadline"
    );

    // Back: the decision the primary had is the answer to a retry (R1), not a
    // second session.
    replica.resume().unwrap();
    let retry = route(&router, "second").await.expect("acknowledged now");
    assert!(retry.replayed, "the primary had it: a retry replays it");
    let sessions = router
        .read_shop(&SHOP.into(), |state| state.sessions().count())
        .await
        .unwrap();
    assert_eq!(sessions, 2, "one session per buyer");
}

#[tokio::test]
async fn without_required_replicas_a_lone_primary_acknowledges_at_once() {
    let primary = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap()
        .unwrap();
    let router = router_requiring(&primary, 0).await;
    create_shop(&router).await;
    route(&router, "buyer").await.expect("no replica needed");
    // Requiring a replica a lone primary does not have: refused, in time.
    let strict = router_requiring(&primary, 1).await;
    let refused = route(&strict, "other").await.unwrap_err();
    assert!(
        matches!(
            refused,
            RouterError::Store(StoreError::NotReplicated { .. })
        ),
        "{refused:?}"
    );
}
