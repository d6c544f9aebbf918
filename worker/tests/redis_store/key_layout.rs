//! Where a shop's parts land in Redis: deadlines as the TTLs of their keys, the
//! counters apart from the settings, an affinity indexed once, and how many
//! commands a commit costs.

use std::time::Duration;

use fenliu_testkit::RedisServer;
use fenliu_worker::engine::*;
use fenliu_worker::store::redis_store::{CommitOutcome, RememberedRoute};
use fenliu_worker::store::{RedisStore, StoreError};

use crate::support::{
    NOW, request, shop_with_account_a_online, split_deadlines, start_redis, store, stored_busy_shop,
};

pub(crate) async fn presence_affinity_and_close_delay_are_keys_with_their_deadlines_as_ttl() {
    let redis = start_redis();
    let (store, shop) = stored_busy_shop(&redis).await;
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
    let mut loaded = store
        .load(shop.shop_id(), 1, later)
        .await
        .unwrap()
        .unwrap()
        .state;
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
pub(crate) async fn counters_move_apart_from_the_settings_and_the_shop_loads_back_the_same() {
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
        .expect("the shop exists")
        .state;
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
