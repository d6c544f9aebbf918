//! What is committed loads back as the same shop: a whole busy shop, and one of
//! hundreds of entities at each stage of its life.

use std::time::Duration;

use fenliu_worker::engine::*;
use fenliu_worker::store::redis_store::{CommitOutcome, RememberedRoute};

use crate::support::{
    NOW, busy_shop, full_write_set, request, split_deadlines, start_redis, store,
};

pub(crate) async fn a_committed_shop_loads_back_as_the_same_shop() {
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
        .expect("the shop exists")
        .state;
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

/// A commit of hundreds of sessions, affinities and closes (lists longer than one
/// step of the script holds) loads back as the same shop, at each stage.
pub(crate) async fn a_commit_of_hundreds_of_entities_loads_back_the_same() {
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
            let loaded = store.load(&shop_id, 1, at).await.unwrap().unwrap().state;
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
