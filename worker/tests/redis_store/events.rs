//! The shop's stored events: a commit appends them to the shop's stream under
//! their sequence, a load says where the numbering stands, they read back in
//! order (never past the bound asked for), and a commit numbered behind the
//! stream (a commit whose answer was lost landed after all) writes nothing,
//! remembered answers included, and says so (its calls are decided again).

use fenliu_worker::store::redis_store::{
    CommitExtras, CommitOutcome, RememberedRoute, StoredEvent,
};

use crate::support::{NOW, request, start_redis, stored_busy_shop};

fn events(sequences: std::ops::RangeInclusive<u64>) -> Vec<StoredEvent> {
    sequences
        .map(|sequence| StoredEvent {
            sequence,
            bytes: format!("event {sequence}").into_bytes(),
        })
        .collect()
}

pub(crate) async fn events_are_stored_with_the_commit_and_numbered_on_across_loads() {
    let redis = start_redis();
    let (store, mut shop) = stored_busy_shop(&redis).await;
    let shop_id = shop.shop_id().clone();
    let loaded = store.load(&shop_id, 1, NOW).await.unwrap().unwrap();
    assert_eq!(loaded.last_event_sequence, 0, "no event stored yet");

    let first = shop.route(&request("b9", "r-1"), NOW).unwrap();
    let writes = shop.take_write_set();
    let routes = [RememberedRoute::new(&"r-1".into(), &"b9".into(), &first)];
    let stored = events(1..=3);
    let extras = CommitExtras {
        routes: &routes,
        events: &stored,
    };
    let prepared = store.prepare_commit(&shop, &writes, 1, NOW, extras, false);
    let outcome = store.send_commit(prepared).await.unwrap();
    assert!(matches!(outcome, CommitOutcome::Committed), "{outcome:?}");

    let loaded = store.load(&shop_id, 1, NOW).await.unwrap().unwrap();
    assert_eq!(
        loaded.last_event_sequence, 3,
        "the next owner numbers on from 3"
    );
    assert_eq!(
        store.events_after(&shop_id, 0, 3, 10).await.unwrap(),
        stored
    );
    assert_eq!(
        store.events_after(&shop_id, 1, 3, 1).await.unwrap(),
        events(2..=2)
    );
    assert_eq!(
        store.events_after(&shop_id, 0, 2, 10).await.unwrap(),
        events(1..=2),
        "none past the bound"
    );
    assert!(
        store
            .events_after(&shop_id, 3, 5, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Numbered behind the stream: refused before anything is written.
    let second = shop.route(&request("b8", "r-2"), NOW).unwrap();
    let writes = shop.take_write_set();
    let routes = [RememberedRoute::new(&"r-2".into(), &"b8".into(), &second)];
    let behind = events(3..=4);
    let sessions_before = redis.command(&["HGETALL", "fenliu:{s1}:sessions"]).unwrap();
    let extras = CommitExtras {
        routes: &routes,
        events: &behind,
    };
    let prepared = store.prepare_commit(&shop, &writes, 1, NOW, extras, false);
    let refused = store.send_commit(prepared).await;
    assert!(matches!(refused, Ok(CommitOutcome::Behind)), "{refused:?}");
    assert_eq!(
        redis.command(&["HGETALL", "fenliu:{s1}:sessions"]).unwrap(),
        sessions_before,
        "no write landed"
    );
    assert_eq!(
        redis
            .command(&["EXISTS", "fenliu:{s1}:request:r-2"])
            .unwrap(),
        "0",
        "the answer it remembered was taken back"
    );
    assert_eq!(
        store.events_after(&shop_id, 0, 9, 10).await.unwrap(),
        stored
    );
}
