//! The Redis store against a real redis-server: what is committed loads back as
//! the same shop, fencing refuses an old owner, a vanished shop is never half
//! rewritten, a remembered Route replays, and the TTL keys carry the deadlines.

use std::time::Duration;

use fenliu_testkit::RedisServer;
use fenliu_worker::engine::*;
use fenliu_worker::store::redis_store::{CommitOutcome, RedisConnection, RememberedRoute};
use fenliu_worker::store::{RedisStore, StoreError};

const NAMESPACE: &str = "fenliu";
const NOW: Timestamp = Timestamp(1_795_305_600_000);

async fn store(redis: &RedisServer) -> RedisStore {
    let connection = RedisConnection::connect(&[redis.url()], Duration::from_secs(2))
        .await
        .expect("connect");
    RedisStore::new(connection, NAMESPACE)
}

fn start_redis() -> RedisServer {
    RedisServer::start().expect("start redis-server")
}

/// A new buyer's message without an order.
fn request(buyer: &str, request_id: &str) -> RouteRequest {
    RouteRequest {
        buyer: BuyerId::from(buyer),
        request_id: RequestId::from(request_id),
        order_status: OrderStatus::NoActiveOrder,
        addressed: None,
        from_bot: false,
    }
}

/// A shop with an account online, an assigned session, an ended one and a queue.
fn busy_shop() -> ShopState {
    let mut shop = ShopState::new(
        ShopId::from("s1"),
        Profile::Kuaishou,
        AccountId::from("main"),
        NOW,
    );
    shop.update_settings(
        &SettingsPatch {
            close_delay: Some(Duration::from_secs(30)),
            ..Default::default()
        },
        NOW,
    )
    .unwrap();
    let config = AccountConfig {
        display_name: "a".to_owned(),
        roles: [Role::CustomerService].into_iter().collect(),
        non_routing: false,
        max_concurrent: Some(1),
        pool_permission: false,
        main_account_participates: false,
    };
    shop.upsert_account(
        AccountUpsert {
            id: AccountId::from("a"),
            config,
        },
        NOW,
    )
    .unwrap();
    shop.set_account_status(&AccountId::from("a"), AccountStatus::Online, NOW)
        .unwrap();
    for (n, buyer) in ["b1", "b2", "b3"].iter().enumerate() {
        shop.route(&request(buyer, &format!("r{n}")), NOW).unwrap();
    }
    shop.end_session(SessionId(1), None, NOW).unwrap();
    shop
}

/// A snapshot's deadlines (presence, close delays, affinities), and the snapshot
/// without them.
fn split_deadlines(mut snapshot: ShopSnapshot) -> (Vec<Timestamp>, ShopSnapshot) {
    let mut deadlines = Vec::new();
    for account in &mut snapshot.accounts {
        deadlines.extend(account.presence_expires_at.take());
    }
    for session in &mut snapshot.sessions {
        deadlines.extend(session.closes_at.take());
    }
    for (_, affinity) in &mut snapshot.affinities {
        deadlines.push(std::mem::take(&mut affinity.expires_at));
    }
    (deadlines, snapshot)
}

/// Everything the shop would write when created.
fn full_write_set(shop: &ShopState) -> WriteSet {
    let mut writes = WriteSet {
        settings: true,
        ..Default::default()
    };
    writes.accounts = shop.accounts().map(|a| a.id.clone()).collect();
    writes.presence = writes.accounts.clone();
    writes.sessions = shop.sessions().map(|s| s.id).collect();
    writes.affinities = ["b1", "b2", "b3"]
        .iter()
        .map(|b| BuyerId::from(*b))
        .collect();
    writes.groups = shop.groups().map(|g| g.name.clone()).collect();
    writes
}

#[tokio::test]
async fn a_committed_shop_loads_back_as_the_same_shop() {
    let redis = start_redis();
    let store = store(&redis).await;
    let mut shop = busy_shop();
    shop.take_write_set();
    let outcome = store
        .commit(&shop, &full_write_set(&shop), 1, NOW, &[], true)
        .await
        .unwrap();
    assert!(matches!(outcome, CommitOutcome::Committed));
    let loaded = store
        .load(shop.shop_id(), 1, NOW)
        .await
        .unwrap()
        .expect("the shop exists");
    loaded.check_invariants().unwrap();
    // Deadlines come back from the keys' remaining TTLs, which shrink with the
    // real milliseconds this test takes; everything else comes back exactly.
    let (loaded_deadlines, loaded_rest) = split_deadlines(loaded.snapshot());
    let (deadlines, rest) = split_deadlines(shop.snapshot());
    assert_eq!(loaded_rest, rest);
    assert_eq!(loaded_deadlines.len(), deadlines.len());
    for (loaded, original) in loaded_deadlines.iter().zip(&deadlines) {
        let lost = original.as_millis() - loaded.as_millis();
        assert!(lost < 1000, "a deadline came back {lost} ms early");
    }
    let missing = store.load(&ShopId::from("nobody"), 1, NOW).await.unwrap();
    assert!(missing.is_none());
}

#[tokio::test]
async fn an_old_owner_is_fenced_out_once_a_new_owner_loaded_the_shop() {
    let redis = start_redis();
    let store = store(&redis).await;
    let mut shop = busy_shop();
    shop.take_write_set();
    store
        .commit(&shop, &full_write_set(&shop), 1, NOW, &[], true)
        .await
        .unwrap();
    // A new owner (token 2) loads the shop: the fence rises.
    store.load(shop.shop_id(), 2, NOW).await.unwrap().unwrap();
    let before = redis.command(&["HGETALL", "fenliu:{s1}:sessions"]).unwrap();
    // The old owner decides something and tries to commit it.
    shop.end_session(SessionId(2), None, NOW).unwrap();
    let writes = shop.take_write_set();
    let refused = store
        .commit(&shop, &writes, 1, NOW, &[], false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            StoreError::Fenced {
                fence: 2,
                token: 1,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(
        redis.command(&["HGETALL", "fenliu:{s1}:sessions"]).unwrap(),
        before
    );
    // And it cannot even load the shop any more.
    assert!(matches!(
        store.load(shop.shop_id(), 1, NOW).await,
        Err(StoreError::Fenced { .. })
    ));
}

#[tokio::test]
async fn an_update_of_a_shop_gone_from_redis_is_refused_and_writes_nothing() {
    let redis = start_redis();
    let store = store(&redis).await;
    let mut shop = busy_shop();
    shop.take_write_set();
    store
        .commit(&shop, &full_write_set(&shop), 1, NOW, &[], true)
        .await
        .unwrap();
    redis.command(&["FLUSHALL"]).unwrap();
    shop.end_session(SessionId(2), None, NOW).unwrap();
    let writes = shop.take_write_set();
    let refused = store
        .commit(&shop, &writes, 1, NOW, &[], false)
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
    assert_eq!(
        redis.command(&["DBSIZE"]).unwrap(),
        "0",
        "no partial shop left behind"
    );
}

#[tokio::test]
async fn a_remembered_route_replays_instead_of_committing_twice() {
    let redis = start_redis();
    let store = store(&redis).await;
    let mut shop = busy_shop();
    shop.take_write_set();
    store
        .commit(&shop, &full_write_set(&shop), 1, NOW, &[], true)
        .await
        .unwrap();
    let request = request("b9", "retry-me");
    let first = shop.route(&request, NOW).unwrap();
    let writes = shop.take_write_set();
    let remember = [RememberedRoute::new(
        &request.request_id,
        &request.buyer,
        &first,
    )];
    let committed = store
        .commit(&shop, &writes, 1, NOW, &remember, false)
        .await
        .unwrap();
    assert!(matches!(committed, CommitOutcome::Committed));
    let ttl: i64 = redis
        .command(&["TTL", "fenliu:{s1}:request:retry-me"])
        .unwrap()
        .parse()
        .unwrap();
    assert!((3590..=3600).contains(&ttl), "kept for an hour, got {ttl}");
    let again = store
        .commit(&shop, &writes, 1, NOW, &remember, false)
        .await
        .unwrap();
    let CommitOutcome::Replay {
        route: 0,
        buyer,
        outcome,
    } = again
    else {
        panic!("expected a replay of the first route, got {again:?}");
    };
    assert_eq!(buyer, request.buyer);
    assert_eq!(outcome.session, first.session);
    assert_eq!(outcome.reason, first.reason);
    assert!(outcome.replayed);
}

/// A group commit carries several calls' answers: if any of its request ids was
/// answered before, the script names which and writes nothing at all.
#[tokio::test]
async fn a_group_commit_with_one_answered_request_writes_nothing_and_names_it() {
    let redis = start_redis();
    let store = store(&redis).await;
    let mut shop = busy_shop();
    shop.take_write_set();
    store
        .commit(&shop, &full_write_set(&shop), 1, NOW, &[], true)
        .await
        .unwrap();
    let earlier = request("b8", "answered-before");
    let earlier_outcome = shop.route(&earlier, NOW).unwrap();
    let writes = shop.take_write_set();
    let answered = RememberedRoute::new(&earlier.request_id, &earlier.buyer, &earlier_outcome);
    store
        .commit(
            &shop,
            &writes,
            1,
            NOW,
            std::slice::from_ref(&answered),
            false,
        )
        .await
        .unwrap();

    let fresh = request("b9", "fresh");
    let fresh_outcome = shop.route(&fresh, NOW).unwrap();
    let mut writes = shop.take_write_set();
    writes.merge(full_write_set(&shop));
    let batch = [
        RememberedRoute::new(&fresh.request_id, &fresh.buyer, &fresh_outcome),
        answered,
    ];
    let outcome = store
        .commit(&shop, &writes, 1, NOW, &batch, false)
        .await
        .unwrap();
    let CommitOutcome::Replay {
        route: 1,
        buyer,
        outcome,
    } = outcome
    else {
        panic!("expected the second route to replay, got {outcome:?}");
    };
    assert_eq!(buyer, earlier.buyer);
    assert_eq!(outcome.session, earlier_outcome.session);
    let fresh_key = redis
        .command(&["EXISTS", "fenliu:{s1}:request:fresh"])
        .unwrap();
    assert_eq!(fresh_key, "0", "nothing of the group commit was written");
    let loaded = store
        .load(&ShopId::from("s1"), 1, NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(
        loaded.session(fresh_outcome.session.id).is_none(),
        "the fresh route's session was not stored"
    );
}

#[tokio::test]
async fn presence_affinity_and_close_delay_are_keys_with_their_deadlines_as_ttl() {
    let redis = start_redis();
    let store = store(&redis).await;
    let mut shop = busy_shop();
    shop.take_write_set();
    store
        .commit(&shop, &full_write_set(&shop), 1, NOW, &[], true)
        .await
        .unwrap();
    let pttl = |key: &str| -> i64 { redis.command(&["PTTL", key]).unwrap().parse().unwrap() };
    // Presence: 60 s (Kuaishou default); close delay: 30 s; affinity: 72 h.
    assert!((59_000..=60_000).contains(&pttl("fenliu:{s1}:presence:a")));
    assert!((29_000..=30_000).contains(&pttl("fenliu:{s1}:ending:1")));
    let affinity = pttl("fenliu:{s1}:affinity:b1");
    assert!(
        (72 * 3600 * 1000 - 1000..=72 * 3600 * 1000).contains(&affinity),
        "{affinity}"
    );
    assert_eq!(
        redis.command(&["GET", "fenliu:{s1}:affinity:b1"]).unwrap(),
        "a"
    );
    // A loader long after those deadlines finds them gone, as the keys are.
    redis
        .command(&["DEL", "fenliu:{s1}:presence:a", "fenliu:{s1}:ending:1"])
        .unwrap();
    let later = NOW.plus(Duration::from_secs(120));
    let mut loaded = store.load(shop.shop_id(), 1, later).await.unwrap().unwrap();
    loaded.advance_to(later);
    assert_eq!(
        loaded.account(&AccountId::from("a")).unwrap().status,
        AccountStatus::Offline
    );
    assert_eq!(
        loaded.session(SessionId(1)).unwrap().state,
        SessionState::Closed
    );
}
