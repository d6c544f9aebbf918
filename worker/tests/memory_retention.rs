//! A worker on Redis keeps answered request ids in memory only briefly (the
//! memory of a busy worker would otherwise grow by an hour of traffic), yet R1's
//! promise holds for the hour: a retry this worker no longer remembers is
//! replayed from Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fenliu_node::redis_connection::RedisConnection;
use fenliu_testkit::RedisServer;
use fenliu_worker::engine::*;
use fenliu_worker::router::{Clock, Persistence, Router, SoleOwner};
use fenliu_worker::store::RedisStore;

/// A clock the test moves by hand.
#[derive(Debug)]
struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

impl ManualClock {
    fn advance(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap();
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn r01_a_retry_after_memory_forgot_it_is_replayed_from_redis() {
    let redis = RedisServer::start().expect("start redis-server");
    let connection = RedisConnection::connect(&[redis.url()], Duration::from_secs(2))
        .await
        .expect("connect");
    let clock = Arc::new(ManualClock(AtomicU64::new(1_795_305_600_000)));
    let router = Router::new(
        Persistence::Redis(RedisStore::new(connection, "fenliu")),
        Arc::new(SoleOwner),
        clock.clone(),
    );
    let shop_id = ShopId::from("shop");
    let mut shop = ShopState::new(
        shop_id.clone(),
        Profile::Kuaishou,
        AccountId::from("main"),
        clock.now(),
    );
    for account in ["a", "b"] {
        let config = AccountConfig {
            display_name: account.to_owned(),
            roles: [Role::CustomerService].into_iter().collect(),
            non_routing: false,
            max_concurrent: Some(5),
            pool_permission: false,
            main_account_participates: false,
        };
        let id = AccountId::from(account);
        shop.upsert_account(
            AccountUpsert {
                id: id.clone(),
                config,
            },
            clock.now(),
        )
        .unwrap();
        shop.set_account_status(&id, AccountStatus::Online, clock.now())
            .unwrap();
    }
    shop.take_events();
    assert!(router.create_shop(shop).await.unwrap());

    let request = RouteRequest {
        buyer: BuyerId::from("buyer"),
        request_id: RequestId::from("once"),
        order_status: OrderStatus::NoActiveOrder,
        addressed: None,
        from_bot: false,
    };
    let route = |request: RouteRequest| {
        let router = router.clone();
        let shop_id = shop_id.clone();
        async move {
            router
                .route(&shop_id, &request, |_, outcome| outcome.clone())
                .await
                .unwrap()
        }
    };
    let first = route(request.clone()).await;
    assert!(!first.replayed);

    // Long past the memory limit (and the session ended, so a fresh decision
    // would open a new session), still within R1's hour.
    clock.advance(Duration::from_secs(30));
    router
        .with_shop(&shop_id, |state, now| {
            state.heartbeat(&[AccountId::from("a"), AccountId::from("b")], now)?;
            state.end_session(first.session.id, None, now).map(|_| ())
        })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(30));
    let retry = route(request).await;
    assert!(retry.replayed, "replayed from Redis");
    assert_eq!(retry.session.id, first.session.id);
    assert_eq!(retry.session.account, first.session.account);
    let open_sessions = router
        .read_shop(&shop_id, |state| {
            state
                .sessions()
                .filter(|s| s.buyer == BuyerId::from("buyer"))
                .filter(|s| s.state != SessionState::Closed)
                .count()
        })
        .await
        .unwrap();
    assert_eq!(
        open_sessions, 1,
        "only the first (ended) session: the retry opened none"
    );
}
