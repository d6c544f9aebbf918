//! Remembered `Route` answers: a retried request replays its first answer, and a
//! group commit carrying one answered request writes nothing and names it.

use fenliu_worker::engine::*;
use fenliu_worker::store::redis_store::{CommitOutcome, RememberedRoute};

use crate::support::{NOW, full_write_set, request, start_redis, stored_busy_shop};

pub(crate) async fn a_remembered_route_replays_instead_of_committing_twice() {
    let redis = start_redis();
    let (store, mut shop) = stored_busy_shop(&redis).await;
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
pub(crate) async fn a_group_commit_with_one_answered_request_writes_nothing_and_names_it() {
    let redis = start_redis();
    let (store, mut shop) = stored_busy_shop(&redis).await;
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
        .unwrap()
        .state;
    assert!(
        loaded.session(fresh_outcome.session.id).is_none(),
        "the fresh route's session was not stored"
    );
}
