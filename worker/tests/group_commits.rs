//! Group commits against a real redis-server: calls that come while a shop's
//! commit is in flight are decided on the state as it will be, go together in the
//! next commit, and are answered only once it has landed. What one commit
//! carries lands whole or not at all, and calls decided on a state whose commit
//! failed are never stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fenliu_node::redis_connection::RedisConnection;
use fenliu_testkit::RedisServer;
use fenliu_worker::engine::*;
use fenliu_worker::router::{
    Clock, NotOwner, Ownership, Persistence, Router, RouterError, SystemClock,
};
use fenliu_worker::store::{RedisStore, StoreError};

const NAMESPACE: &str = "fenliu";
const SHOP: &str = "busy-shop";

async fn store(redis: &RedisServer, timeout: Duration) -> RedisStore {
    let connection = RedisConnection::connect(&[redis.url()], timeout)
        .await
        .expect("connect");
    RedisStore::new(connection, NAMESPACE)
}

/// A router that owns every shop under `token`.
#[derive(Debug)]
struct OwnsAll(u64);

impl Ownership for OwnsAll {
    fn token_for(&self, _shop: &ShopId) -> Result<u64, NotOwner> {
        Ok(self.0)
    }
}

fn router(store: &RedisStore, token: u64) -> Arc<Router> {
    Router::new(
        Persistence::Redis(store.clone()),
        Arc::new(OwnsAll(token)),
        Arc::new(SystemClock),
    )
}

/// A shop of `accounts` online customer-service accounts with room for 100 each.
async fn create_shop(router: &Router, accounts: usize) {
    let now = router.now();
    let mut shop = ShopState::new(
        ShopId::from(SHOP),
        Profile::Kuaishou,
        AccountId::from("main"),
        now,
    );
    for n in 0..accounts {
        let id = AccountId(format!("cs{n}"));
        let config = AccountConfig {
            display_name: id.0.clone(),
            roles: [Role::CustomerService].into_iter().collect(),
            non_routing: false,
            max_concurrent: Some(100),
            pool_permission: false,
            main_account_participates: false,
        };
        shop.upsert_account(
            AccountUpsert {
                id: id.clone(),
                config,
            },
            now,
        )
        .unwrap();
        shop.set_account_status(&id, AccountStatus::Online, now)
            .unwrap();
    }
    shop.take_events();
    assert!(router.create_shop(shop).await.unwrap(), "a new shop");
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

/// Routes every request at once, each from a task of its own (they wait for the
/// shop in turn); the answers come back in the requests' order.
async fn route_all(
    router: &Arc<Router>,
    requests: &[RouteRequest],
) -> Vec<Result<RouteOutcome, RouterError>> {
    let mut calls = tokio::task::JoinSet::new();
    for (index, request) in requests.iter().cloned().enumerate() {
        let router = router.clone();
        calls.spawn(async move {
            let answer = router
                .route(&ShopId::from(SHOP), &request, |_, outcome| outcome.clone())
                .await;
            (index, answer)
        });
    }
    let mut answers: Vec<_> = calls.join_all().await;
    answers.sort_by_key(|(index, _)| *index);
    answers.into_iter().map(|(_, answer)| answer).collect()
}

/// How many scripts Redis has run (loads and commits), from INFO commandstats.
fn scripts_run(redis: &RedisServer) -> u64 {
    let stats = redis.command(&["INFO", "commandstats"]).unwrap();
    stats
        .lines()
        .filter(|line| line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:"))
        .filter_map(|line| {
            let calls = line.split("calls=").nth(1)?.split(',').next()?;
            calls.parse::<u64>().ok()
        })
        .sum()
}

async fn stored_shop(store: &RedisStore, token: u64) -> ShopState {
    let now = SystemClock.now();
    store
        .load(&ShopId::from(SHOP), token, now)
        .await
        .unwrap()
        .expect("the shop is stored")
        .state
}

/// R9 and R1 through group commits: 64 buyers writing to one shop at once are
/// stored in fewer commits than calls; every answer is exactly what was stored,
/// and the new buyers are still spread evenly.
#[tokio::test]
async fn r09_concurrent_routes_share_commits_and_every_answer_is_what_was_stored() {
    let redis = RedisServer::start().expect("start redis-server");
    let store = store(&redis, Duration::from_secs(2)).await;
    let router = router(&store, 1);
    create_shop(&router, 4).await;
    let requests: Vec<RouteRequest> = (0..64)
        .map(|n| request(&format!("buyer-{n}"), &format!("req-{n}")))
        .collect();

    let scripts_before = scripts_run(&redis);
    let answers = route_all(&router, &requests).await;
    let commits = scripts_run(&redis) - scripts_before;

    assert!(
        (1..64).contains(&commits),
        "64 concurrent calls on one shop should share commits, took {commits}"
    );
    let stored = stored_shop(&store, 1).await;
    let mut per_account: HashMap<AccountId, usize> = HashMap::new();
    for (request, answer) in requests.iter().zip(&answers) {
        let outcome = answer.as_ref().expect("routed");
        assert_eq!(outcome.session.buyer, request.buyer);
        assert_eq!(outcome.session.state, SessionState::Assigned);
        let kept = stored
            .session(outcome.session.id)
            .expect("every answered session is stored");
        assert_eq!(kept.buyer, request.buyer);
        assert_eq!(kept.account, outcome.session.account, "stored as answered");
        *per_account
            .entry(outcome.session.account.clone().unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_account.len(), 4, "{per_account:?}");
    assert!(
        per_account.values().all(|&n| n == 16),
        "even spread: {per_account:?}"
    );
}

/// R1 across owners: a retry that reaches a new owner in the same commit as other
/// calls replays the first owner's answer, and the calls it shared the commit with
/// are decided again on the stored truth (none is lost, none is stored twice).
#[tokio::test]
async fn r01_a_retry_batched_with_other_calls_replays_and_the_others_are_decided_again() {
    let redis = RedisServer::start().expect("start redis-server");
    let store = store(&redis, Duration::from_secs(2)).await;
    let first_owner = router(&store, 1);
    create_shop(&first_owner, 2).await;
    let answered = route_all(&first_owner, &[request("returning", "retry-me")])
        .await
        .pop()
        .unwrap()
        .unwrap();

    // A new owner (a higher token) that never saw the answer, then a batch of
    // calls: the retry among fresh buyers.
    let new_owner = router(&store, 2);
    let mut requests: Vec<RouteRequest> = (0..8)
        .map(|n| request(&format!("fresh-{n}"), &format!("fresh-req-{n}")))
        .collect();
    requests.insert(3, request("returning", "retry-me"));
    let answers = route_all(&new_owner, &requests).await;

    let retried = answers[3].as_ref().expect("the retry is answered");
    assert!(retried.replayed, "the retry replays");
    assert_eq!(retried.session.id, answered.session.id);
    assert_eq!(retried.session.account, answered.session.account);
    let stored = stored_shop(&store, 2).await;
    for (request, answer) in requests.iter().zip(&answers) {
        let outcome = answer.as_ref().expect("every call is answered");
        let kept = stored.session(outcome.session.id).expect("stored");
        assert_eq!(kept.buyer, request.buyer);
        assert_eq!(kept.account, outcome.session.account);
    }
    let returning_sessions = stored
        .sessions()
        .filter(|s| s.buyer == BuyerId::from("returning"))
        .count();
    assert_eq!(
        returning_sessions, 1,
        "the retry did not open a second session"
    );
    assert_eq!(stored.sessions().count(), 9, "one session per buyer");
}

/// A commit that fails fails every call decided on the state it was built from:
/// the calls waiting behind it are never sent, so none of them is stored, and the
/// shop is reloaded from the truth afterwards.
#[tokio::test]
async fn calls_decided_behind_a_failed_commit_fail_and_are_never_stored() {
    let redis = RedisServer::start().expect("start redis-server");
    let store = store(&redis, Duration::from_millis(300)).await;
    let router = router(&store, 1);
    create_shop(&router, 2).await;
    let shop = ShopId::from(SHOP);

    redis.pause().unwrap();
    let first = request("first", "req-first");
    let behind: Vec<RouteRequest> = (0..5)
        .map(|n| request(&format!("behind-{n}"), &format!("req-behind-{n}")))
        .collect();
    let first_call = router.route(&shop, &first, |_, outcome: &RouteOutcome| outcome.clone());
    let behind_calls = async {
        // Decided while the first call's commit is in flight.
        tokio::time::sleep(Duration::from_millis(50)).await;
        route_all(&router, &behind).await
    };
    let (first_answer, behind_answers) = tokio::join!(first_call, behind_calls);
    redis.resume().unwrap();

    assert!(
        matches!(
            first_answer,
            Err(RouterError::Store(StoreError::Unavailable(_)))
        ),
        "{first_answer:?}"
    );
    for answer in &behind_answers {
        assert!(
            matches!(answer, Err(RouterError::Store(StoreError::Unavailable(_)))),
            "{answer:?}"
        );
    }
    let stored = stored_shop(&store, 1).await;
    for request in &behind {
        assert!(
            stored.sessions().all(|s| s.buyer != request.buyer),
            "{} was decided behind a failed commit and must not be stored",
            request.buyer
        );
    }
    // The router reloads the truth: the next call is decided on it and stored.
    let after = route_all(&router, &[request("after", "req-after")]).await;
    let outcome = after[0].as_ref().expect("routed after Redis came back");
    let stored = stored_shop(&store, 1).await;
    assert!(stored.session(outcome.session.id).is_some());
}
