//! The per-shop `Route` rate limit on the worker that owns the shop, on a
//! manual clock: exactly a burst's worth of calls passes at once, the next is
//! refused with the time to retry and changes nothing, and once that time has
//! passed a call passes again. A replay (R1) costs no token; the shop's own
//! limit overrides the deployment's default; the caps reach every shop the
//! router creates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fenliu_worker::engine::*;
use fenliu_worker::router::{Clock, Persistence, Quotas, Router, RouterError, SoleOwner};

/// Milliseconds since the epoch at the test's start.
const START_MS: u64 = 1_795_305_600_000;

/// A clock that moves only when the test moves it.
#[derive(Debug)]
struct ManualClock(AtomicU64);

impl ManualClock {
    fn advance(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap();
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

fn router(quotas: Quotas) -> (Arc<Router>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock(AtomicU64::new(START_MS)));
    let router = Router::with_quotas(
        Persistence::Memory,
        Arc::new(SoleOwner),
        clock.clone(),
        quotas,
    );
    (router, clock)
}

/// A shop with one online account of plenty of slots, and the given rate
/// limit of its own (0: the deployment's).
async fn shop(router: &Router, rate_limit: u32) -> ShopId {
    let shop_id = ShopId::from("limited");
    let now = router.now();
    let mut shop = ShopState::new(
        shop_id.clone(),
        Profile::Kuaishou,
        AccountId::from("main"),
        now,
    );
    let patch = SettingsPatch {
        route_rate_limit_per_second: Some(rate_limit),
        ..SettingsPatch::default()
    };
    shop.update_settings(&patch, now).unwrap();
    let account = AccountId::from("a");
    let config = AccountConfig {
        display_name: "a".to_owned(),
        roles: [Role::CustomerService].into_iter().collect(),
        non_routing: false,
        max_concurrent: Some(500),
        pool_permission: false,
        main_account_participates: false,
    };
    shop.upsert_account(
        AccountUpsert {
            id: account.clone(),
            config,
        },
        now,
    )
    .unwrap();
    shop.set_account_status(&account, AccountStatus::Online, now)
        .unwrap();
    assert!(router.create_shop(shop).await.unwrap());
    shop_id
}

fn request(buyer: &str, request_id: &str) -> RouteRequest {
    RouteRequest {
        buyer: BuyerId::from(buyer),
        request_id: RequestId::from(request_id),
        order_status: OrderStatus::NoActiveOrder,
        addressed: None,
        from_bot: false,
    }
}

async fn route(
    router: &Router,
    shop_id: &ShopId,
    buyer: &str,
    request_id: &str,
) -> Result<RouteOutcome, RouterError> {
    router
        .route(shop_id, &request(buyer, request_id), |_, outcome| {
            outcome.clone()
        })
        .await
}

/// Routes new buyers `b<n>` (request ids `r<n>`) for each `n`; each must pass.
async fn route_new_buyers(router: &Router, shop_id: &ShopId, buyers: std::ops::Range<u32>) {
    for n in buyers {
        route(router, shop_id, &format!("b{n}"), &format!("r{n}"))
            .await
            .unwrap();
    }
}

/// The shop as stored, to show a refused call changed nothing.
async fn snapshot(router: &Router, shop_id: &ShopId) -> ShopSnapshot {
    router
        .with_shop(shop_id, |state, _| Ok(state.snapshot()))
        .await
        .unwrap()
}

/// Asserts `result` is the rate limit's refusal, and returns its retry time.
fn refused(result: Result<RouteOutcome, RouterError>, limit: u32) -> Duration {
    match result {
        Err(RouterError::RateLimited {
            limit: refused_limit,
            retry_after,
        }) => {
            assert_eq!(refused_limit, limit);
            retry_after
        }
        other => panic!("expected the rate limit's refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn route_rate_limit_is_exact_on_the_owner_and_a_refused_call_changes_nothing() {
    let (router, clock) = router(Quotas::default());
    let shop_id = shop(&router, 20).await;
    // A full bucket: one second of the rate (20 calls) at once.
    route_new_buyers(&router, &shop_id, 0..20).await;
    let before = snapshot(&router, &shop_id).await;
    let retry_after = refused(route(&router, &shop_id, "late", "late").await, 20);
    assert_eq!(retry_after, Duration::from_millis(50), "1 s / 20");
    assert_eq!(snapshot(&router, &shop_id).await, before, "nothing changed");
    let remembered = router
        .with_shop(&shop_id, |state, _| {
            Ok(state.remembers_answer(&RequestId::from("late")))
        })
        .await
        .unwrap();
    assert!(!remembered, "the refused request id left nothing behind");

    clock.advance(retry_after - Duration::from_millis(1));
    let retry_after = refused(route(&router, &shop_id, "late", "late").await, 20);
    assert_eq!(retry_after, Duration::from_millis(1));
    clock.advance(retry_after);
    let passed = route(&router, &shop_id, "late", "late").await.unwrap();
    assert!(
        !passed.replayed,
        "decided afresh: the refusal remembered nothing"
    );
    assert_eq!(passed.session.state, SessionState::Assigned);
    refused(route(&router, &shop_id, "later", "later").await, 20);
}

#[tokio::test]
async fn r01_a_replay_is_not_refused_by_the_rate_limit() {
    let (router, _clock) = router(Quotas::default());
    let shop_id = shop(&router, 1).await;
    let first = route(&router, &shop_id, "b0", "r0").await.unwrap();
    route_new_buyers(&router, &shop_id, 1..10).await;
    refused(route(&router, &shop_id, "b10", "r10").await, 1);
    let replayed = route(&router, &shop_id, "b0", "r0").await.unwrap();
    assert!(replayed.replayed);
    assert_eq!(replayed.session.id, first.session.id);
}

#[tokio::test]
async fn the_deployment_default_applies_to_a_shop_without_a_limit_of_its_own() {
    let quotas = Quotas {
        route_rate_limit: 10,
        ..Quotas::default()
    };
    let (router, clock) = router(quotas);
    let shop_id = shop(&router, 0).await;
    route_new_buyers(&router, &shop_id, 0..10).await;
    assert_eq!(
        refused(route(&router, &shop_id, "b10", "r10").await, 10),
        Duration::from_millis(100)
    );
    // The shop's own limit overrides the default, upwards too: the bucket
    // keeps what it holds and refills at the new rate from then on, a token
    // a millisecond at 1,000/s (at the default it would take 100 ms).
    router
        .with_shop(&shop_id, |state, now| {
            let patch = SettingsPatch {
                route_rate_limit_per_second: Some(1000),
                ..SettingsPatch::default()
            };
            state.update_settings(&patch, now)
        })
        .await
        .unwrap();
    clock.advance(Duration::from_millis(1));
    route(&router, &shop_id, "b10", "r10").await.unwrap();
}

#[tokio::test]
async fn a_deployment_default_of_zero_is_unlimited() {
    let quotas = Quotas {
        route_rate_limit: 0,
        ..Quotas::default()
    };
    let (router, _clock) = router(quotas);
    let shop_id = shop(&router, 0).await;
    route_new_buyers(&router, &shop_id, 0..2000).await;
}

#[tokio::test]
async fn the_router_gives_every_shop_it_creates_the_deployments_caps() {
    let quotas = Quotas {
        shop_limits: ShopLimits {
            max_accounts: 2,
            ..ShopLimits::default()
        },
        ..Quotas::default()
    };
    let (router, _clock) = router(quotas);
    let shop_id = shop(&router, 0).await;
    let refused = router
        .with_shop(&shop_id, |state, now| {
            let upsert = AccountUpsert {
                id: AccountId::from("c"),
                config: state.account(&AccountId::from("a")).unwrap().config.clone(),
            };
            state.upsert_account(upsert, now).map(|_| ())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, RouterError::Engine(error) if error.field() == "max_accounts"),
        "{refused:?}"
    );
}
