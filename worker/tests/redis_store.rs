//! The Redis store against a real redis-server: what is committed loads back as
//! the same shop, fencing refuses an old owner, a vanished shop is never half
//! rewritten, a remembered Route replays, and the TTL keys carry the deadlines.

use std::time::Duration;

use fenliu_node::redis_connection::RedisConnection;
use fenliu_testkit::RedisServer;
use fenliu_worker::engine::*;
use fenliu_worker::store::redis_store::{CommitOutcome, RememberedRoute};
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

/// Shop s1 with customer-service account `a` online, room for `max_concurrent`.
fn shop_with_account_a_online(max_concurrent: u32) -> ShopState {
    let mut shop = ShopState::new(
        ShopId::from("s1"),
        Profile::Kuaishou,
        AccountId::from("main"),
        NOW,
    );
    let config = AccountConfig {
        display_name: "a".to_owned(),
        roles: [Role::CustomerService].into_iter().collect(),
        non_routing: false,
        max_concurrent: Some(max_concurrent),
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
    shop
}

/// A shop with an account online, an assigned session, an ended one and a queue.
fn busy_shop() -> ShopState {
    let mut shop = shop_with_account_a_online(1);
    shop.update_settings(
        &SettingsPatch {
            close_delay: Some(Duration::from_secs(30)),
            ..Default::default()
        },
        NOW,
    )
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
    writes.new_affinities = writes.affinities.clone();
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

/// The value of `key`, as bytes (`None`: no such key).
async fn get_bytes(store: &RedisStore, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut store.connection())
        .await
        .unwrap()
}

/// How many times Redis ran `command` since the last `CONFIG RESETSTAT`.
fn command_calls(redis: &RedisServer, command: &str) -> u64 {
    let stats = redis.command(&["INFO", "commandstats"]).unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    stats
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

/// The layout: settings in the shop record, written only when they change; the
/// counters in the sessions hash, written with the sessions that moved them; an
/// affinity indexed once. What the engine's own write sets commit loads back as
/// the same shop, and once the shop is gone an update is refused whole.
#[tokio::test]
async fn counters_move_apart_from_the_settings_and_the_shop_loads_back_the_same() {
    let redis = start_redis();
    let store = store(&redis).await;
    // One account with room to spare, which served b1 (now ended).
    let mut shop = shop_with_account_a_online(10);
    shop.route(&request("b1", "r1"), NOW).unwrap();
    shop.end_session(SessionId(1), None, NOW).unwrap();
    let mut writes = shop.take_write_set();
    writes.settings = true;
    store
        .commit(&shop, &writes, 1, NOW, &[], true)
        .await
        .unwrap();
    let shop_record = get_bytes(&store, "fenliu:{s1}:shop").await.unwrap();
    let counters = redis
        .command(&["HGET", "fenliu:{s1}:sessions", "counters"])
        .unwrap();

    // A returning buyer (b1 has an affinity) and a new one, committed together as
    // the engine reports them: the counters move, the settings do not.
    redis.command(&["CONFIG", "RESETSTAT"]).unwrap();
    let returning = request("b1", "again");
    let came_back = shop.route(&returning, NOW).unwrap();
    assert_eq!(came_back.reason, RouteReason::Affinity);
    let mut writes = shop.take_write_set();
    let fresh = request("b7", "first");
    let first = shop.route(&fresh, NOW).unwrap();
    writes.merge(shop.take_write_set());
    assert!(writes.counters && !writes.settings);
    assert_eq!(
        writes.new_affinities,
        [BuyerId::from("b7")].into_iter().collect(),
        "b1's affinity is a refresh"
    );
    let remember = [
        RememberedRoute::new(&returning.request_id, &returning.buyer, &came_back),
        RememberedRoute::new(&fresh.request_id, &fresh.buyer, &first),
    ];
    let outcome = store
        .commit(&shop, &writes, 1, NOW, &remember, false)
        .await
        .unwrap();
    assert!(matches!(outcome, CommitOutcome::Committed), "{outcome:?}");
    assert_eq!(
        get_bytes(&store, "fenliu:{s1}:shop").await.unwrap(),
        shop_record,
        "the shop record is not rewritten for its counters"
    );
    assert_ne!(
        redis
            .command(&["HGET", "fenliu:{s1}:sessions", "counters"])
            .unwrap(),
        counters
    );
    assert_eq!(command_calls(&redis, "evalsha"), 1);
    assert_eq!(command_calls(&redis, "exists"), 0, "the fence tells");
    assert_eq!(command_calls(&redis, "sadd"), 1, "b7 only");
    assert_eq!(command_calls(&redis, "hset"), 2, "accounts, sessions");
    assert_eq!(
        redis
            .command(&["SISMEMBER", "fenliu:{s1}:affinities", "b7"])
            .unwrap(),
        "1"
    );

    // Settings change: the record is rewritten, the counters are not touched.
    shop.update_settings(
        &SettingsPatch {
            bot_enabled: Some(true),
            ..Default::default()
        },
        NOW,
    )
    .unwrap();
    let writes = shop.take_write_set();
    redis.command(&["CONFIG", "RESETSTAT"]).unwrap();
    store
        .commit(&shop, &writes, 1, NOW, &[], false)
        .await
        .unwrap();
    assert_ne!(
        get_bytes(&store, "fenliu:{s1}:shop").await.unwrap(),
        shop_record
    );
    assert_eq!(command_calls(&redis, "hset"), 0);

    let loaded = store
        .load(shop.shop_id(), 1, NOW)
        .await
        .unwrap()
        .expect("the shop exists");
    loaded.check_invariants().unwrap();
    let (_, loaded_rest) = split_deadlines(loaded.snapshot());
    let (_, rest) = split_deadlines(shop.snapshot());
    assert_eq!(loaded_rest, rest);
    assert_eq!(loaded.counters(), shop.counters());

    // Redis loses everything: a route (counters, affinity, remembered answer) is
    // refused and leaves nothing behind, not even its request record.
    redis.command(&["FLUSHALL"]).unwrap();
    let late = request("b8", "late");
    let outcome = shop.route(&late, NOW).unwrap();
    let writes = shop.take_write_set();
    let refused = store
        .commit(
            &shop,
            &writes,
            1,
            NOW,
            &[RememberedRoute::new(
                &late.request_id,
                &late.buyer,
                &outcome,
            )],
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
    assert_eq!(redis.command(&["DBSIZE"]).unwrap(), "0");
    assert!(store.load(shop.shop_id(), 1, NOW).await.unwrap().is_none());
}

/// A commit of hundreds of sessions, affinities and closes (lists longer than one
/// step of the script holds) loads back as the same shop, at each stage.
#[tokio::test]
async fn a_commit_of_hundreds_of_entities_loads_back_the_same() {
    let redis = start_redis();
    let store = store(&redis).await;
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
    for n in 0..3 {
        let id = AccountId::from(format!("a{n}").as_str());
        let config = AccountConfig {
            display_name: id.0.clone(),
            roles: [Role::CustomerService].into_iter().collect(),
            non_routing: false,
            max_concurrent: Some(500),
            pool_permission: false,
            main_account_participates: false,
        };
        shop.upsert_account(
            AccountUpsert {
                id: id.clone(),
                config,
            },
            NOW,
        )
        .unwrap();
        shop.set_account_status(&id, AccountStatus::Online, NOW)
            .unwrap();
    }
    let mut writes = shop.take_write_set();
    writes.settings = true;
    store
        .commit(&shop, &writes, 1, NOW, &[], true)
        .await
        .unwrap();
    let same_when_loaded = |shop: &ShopState, at: Timestamp| {
        let store = store.clone();
        let expected = split_deadlines(shop.snapshot()).1;
        let shop_id = shop.shop_id().clone();
        async move {
            let loaded = store.load(&shop_id, 1, at).await.unwrap().unwrap();
            loaded.check_invariants().unwrap();
            assert_eq!(split_deadlines(loaded.snapshot()).1, expected);
        }
    };

    let mut routes = Vec::new();
    for n in 0..600 {
        let request = request(&format!("b{n}"), &format!("r{n}"));
        let outcome = shop.route(&request, NOW).unwrap();
        routes.push(RememberedRoute::new(
            &request.request_id,
            &request.buyer,
            &outcome,
        ));
    }
    let writes = shop.take_write_set();
    assert_eq!(writes.new_affinities.len(), 600);
    store
        .commit(&shop, &writes, 1, NOW, &routes, false)
        .await
        .unwrap();
    same_when_loaded(&shop, NOW).await;
    assert_eq!(
        redis.command(&["SCARD", "fenliu:{s1}:affinities"]).unwrap(),
        "600"
    );

    for n in 0..600 {
        shop.end_session(SessionId(n + 1), None, NOW).unwrap();
    }
    let writes = shop.take_write_set();
    store
        .commit(&shop, &writes, 1, NOW, &[], false)
        .await
        .unwrap();
    same_when_loaded(&shop, NOW).await;

    // The close delays and the affinity window pass: every session closes and
    // every affinity goes, index included.
    let later = NOW.plus(Duration::from_secs(73 * 3600));
    shop.advance_to(later);
    let writes = shop.take_write_set();
    store
        .commit(&shop, &writes, 1, later, &[], false)
        .await
        .unwrap();
    assert_eq!(
        redis.command(&["HLEN", "fenliu:{s1}:sessions"]).unwrap(),
        "1",
        "only the counters are left"
    );
    assert_eq!(
        redis
            .command(&["EXISTS", "fenliu:{s1}:affinities"])
            .unwrap(),
        "0"
    );
    same_when_loaded(&shop, later).await;
}
