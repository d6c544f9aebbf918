//! The router's timer in paused tokio time: what happens by itself, with nobody
//! calling, happens when it is due and not before — a close delay that runs out
//! frees its slot and the queue drains into it (R15, then R14); a presence TTL that
//! runs out takes the account offline.

use std::sync::Arc;
use std::time::Duration;

use fenliu_worker::engine::*;
use fenliu_worker::router::{Clock, Persistence, Router, SoleOwner};
use tokio::time::Instant;

/// Milliseconds since the epoch at the test's start, moved by tokio's paused clock.
const START_MS: u64 = 1_795_305_600_000;

/// The router's clock follows tokio's (paused) time, as the timer's sleeps do.
#[derive(Debug)]
struct PausedClock(Instant);

impl Clock for PausedClock {
    fn now(&self) -> Timestamp {
        let elapsed = u64::try_from(self.0.elapsed().as_millis()).unwrap();
        Timestamp(START_MS + elapsed)
    }
}

const CLOSE_DELAY: Duration = Duration::from_secs(30);
const PRESENCE_TTL: Duration = Duration::from_secs(60);

/// A shop with one customer-service account of one slot, online.
async fn shop_with_one_slot(router: &Router, clock: &PausedClock) -> ShopId {
    let shop_id = ShopId::from("timed");
    let now = clock.now();
    let mut shop = ShopState::new(
        shop_id.clone(),
        Profile::Kuaishou,
        AccountId::from("main"),
        now,
    );
    let patch = SettingsPatch {
        close_delay: Some(CLOSE_DELAY),
        presence_ttl: Some(PRESENCE_TTL),
        ..SettingsPatch::default()
    };
    shop.update_settings(&patch, now).unwrap();
    let config = AccountConfig {
        display_name: "a".to_owned(),
        roles: [Role::CustomerService].into_iter().collect(),
        non_routing: false,
        max_concurrent: Some(1),
        pool_permission: false,
        main_account_participates: false,
    };
    let account = AccountId::from("a");
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

async fn route(router: &Router, shop_id: &ShopId, buyer: &str) -> RouteOutcome {
    let request = RouteRequest {
        buyer: BuyerId::from(buyer),
        request_id: RequestId::from(buyer),
        order_status: OrderStatus::NoActiveOrder,
        addressed: None,
        from_bot: false,
    };
    router
        .route(shop_id, &request, |_, outcome| outcome.clone())
        .await
        .unwrap()
}

async fn session_state(router: &Router, shop_id: &ShopId, id: SessionId) -> SessionState {
    // A direct look at memory, without the read's own advance to "now": what the
    // timer has done, not what a call would do.
    router
        .with_shop(shop_id, |state, _| Ok(state.session(id).unwrap().state))
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn r15_r14_a_close_delay_frees_the_slot_and_the_queue_drains_by_itself() {
    let clock = Arc::new(PausedClock(Instant::now()));
    let router = Router::new(Persistence::Memory, Arc::new(SoleOwner), clock.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let timers = tokio::spawn(router.clone().run_timers(async {
        let _ = stopped.await;
    }));
    let shop_id = shop_with_one_slot(&router, &clock).await;

    let first = route(&router, &shop_id, "first").await;
    assert_eq!(first.session.state, SessionState::Assigned);
    let second = route(&router, &shop_id, "second").await;
    assert_eq!(second.session.state, SessionState::Queued);
    router
        .with_shop(&shop_id, |state, now| {
            state.end_session(first.session.id, None, now).map(|_| ())
        })
        .await
        .unwrap();

    tokio::time::sleep(CLOSE_DELAY - Duration::from_millis(1)).await;
    assert_eq!(
        session_state(&router, &shop_id, second.session.id).await,
        SessionState::Queued,
        "not before the close delay has run out"
    );
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(
        session_state(&router, &shop_id, first.session.id).await,
        SessionState::Closed
    );
    assert_eq!(
        session_state(&router, &shop_id, second.session.id).await,
        SessionState::Assigned,
        "the queued buyer took the freed slot with nobody calling"
    );

    let _ = stop.send(());
    timers.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_account_without_heartbeats_goes_offline_when_its_presence_runs_out() {
    let clock = Arc::new(PausedClock(Instant::now()));
    let router = Router::new(Persistence::Memory, Arc::new(SoleOwner), clock.clone());
    let timers = tokio::spawn(router.clone().run_timers(std::future::pending()));
    let shop_id = shop_with_one_slot(&router, &clock).await;
    let status = |router: Arc<Router>, shop_id: ShopId| async move {
        router
            .with_shop(&shop_id, |state, _| {
                Ok(state.account(&AccountId::from("a")).unwrap().status)
            })
            .await
            .unwrap()
    };

    tokio::time::sleep(PRESENCE_TTL - Duration::from_millis(1)).await;
    assert_eq!(
        status(router.clone(), shop_id.clone()).await,
        AccountStatus::Online
    );
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(
        status(router.clone(), shop_id.clone()).await,
        AccountStatus::Offline,
        "taken offline by the timer"
    );
    timers.abort();
}
