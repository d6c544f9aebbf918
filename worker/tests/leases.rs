//! Shard leases against a real redis-server: claimed in chunks (so that no script
//! holds Redis long), yet every shard of a large claim is answered, in order, and
//! a shard held by one worker is refused to another until released.

use std::time::Duration;

use fenliu_node::redis_connection::RedisConnection;
use fenliu_node::registry::{CLAIM_CHUNK, LeaseState, Registry};
use fenliu_testkit::RedisServer;

async fn registry(redis: &RedisServer) -> Registry {
    let connection = RedisConnection::connect(&[redis.url()], Duration::from_secs(2))
        .await
        .expect("connect");
    Registry::new(connection, "fenliu")
}

#[tokio::test]
async fn a_claim_larger_than_a_chunk_answers_every_shard_and_fences_out_others() {
    let redis = RedisServer::start().expect("start redis-server");
    let registry = registry(&redis).await;
    let shards: Vec<u32> = (0..u32::try_from(CLAIM_CHUNK * 2 + 5).unwrap()).collect();

    let first = registry.claim("w1", 5_000, &shards).await.unwrap();
    assert_eq!(
        first.iter().map(|(shard, _)| *shard).collect::<Vec<_>>(),
        shards,
        "one answer per shard, in order"
    );
    let tokens: Vec<u64> = first
        .iter()
        .map(|(shard, state)| match state {
            LeaseState::Held { token } => *token,
            LeaseState::Taken { owner } => panic!("shard {shard} taken by {owner}"),
        })
        .collect();

    // Renewing keeps the same tokens; another worker gets none of them.
    let renewed = registry.claim("w1", 5_000, &shards).await.unwrap();
    for ((_, state), token) in renewed.iter().zip(&tokens) {
        assert_eq!(state, &LeaseState::Held { token: *token });
    }
    let other = registry.claim("w2", 5_000, &shards).await.unwrap();
    assert!(
        other.iter().all(|(_, state)| state
            == &LeaseState::Taken {
                owner: "w1".to_owned()
            }),
        "{other:?}"
    );

    // Released, they go to the other worker under higher tokens.
    registry.release("w1", &shards).await.unwrap();
    let taken_over = registry.claim("w2", 5_000, &shards).await.unwrap();
    for ((shard, state), old) in taken_over.iter().zip(&tokens) {
        match state {
            LeaseState::Held { token } => assert!(token > old, "shard {shard}: {token} ≤ {old}"),
            LeaseState::Taken { owner } => panic!("shard {shard} still taken by {owner}"),
        }
    }
}
