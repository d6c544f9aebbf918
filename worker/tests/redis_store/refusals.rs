//! Commits refused whole: an old owner's once a new owner loaded the shop (the
//! fence), and an update of a shop gone from Redis.

use fenliu_worker::engine::*;
use fenliu_worker::store::StoreError;

use crate::support::{NOW, start_redis, stored_busy_shop};

pub(crate) async fn an_old_owner_is_fenced_out_once_a_new_owner_loaded_the_shop() {
    let redis = start_redis();
    let (store, mut shop) = stored_busy_shop(&redis).await;
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

pub(crate) async fn an_update_of_a_shop_gone_from_redis_is_refused_and_writes_nothing() {
    let redis = start_redis();
    let (store, mut shop) = stored_busy_shop(&redis).await;
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
