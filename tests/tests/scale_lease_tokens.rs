//! Fencing tokens around a stale takeover of the `{meta}` master, with and
//! without `--redis-min-replicas 1`. The replica of the master that holds the
//! membership and leases falls behind (it saves a snapshot and is killed), a
//! second worker joins and claims its shards under new tokens, it leaves, and
//! the master dies: the stale replica takes over with the tokens as they were
//! before the join, and the first worker takes the shards back.
//!
//! Without `WAIT` the joining worker served under tokens only the dead master
//! had, and the first worker is then issued the same tokens: two workers wrote
//! under one token, which the fence cannot tell apart. With it, a new token is
//! served only once a replica has it: the joining worker serves nothing while
//! the replica is gone, and no token is ever served by two workers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fenliu_tests::scale::ScaleDeployment;
use fenliu_tests::{TEST_SHARDS, bounded_by};

/// The workers seen serving each (shard, token).
#[derive(Debug, Default)]
struct ServedTokens(BTreeMap<(u32, u64), BTreeSet<String>>);

impl ServedTokens {
    fn sample(&mut self, deployment: &ScaleDeployment) {
        for (worker, shard, token) in deployment.served_tokens() {
            self.0.entry((shard, token)).or_default().insert(worker);
        }
    }

    /// Samples every 20 ms for `window`.
    async fn sample_for(&mut self, deployment: &ScaleDeployment, window: Duration) {
        let until = tokio::time::Instant::now() + window;
        while tokio::time::Instant::now() < until {
            self.sample(deployment);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (shard, token) pairs served by more than one worker.
    fn issued_twice(&self) -> Vec<(u32, u64, BTreeSet<String>)> {
        self.0
            .iter()
            .filter(|(_, workers)| workers.len() > 1)
            .map(|((shard, token), workers)| (*shard, *token, workers.clone()))
            .collect()
    }

    /// Shards `worker` was seen serving.
    fn shards_of(&self, worker: &str) -> usize {
        self.0
            .iter()
            .filter(|(_, workers)| workers.contains(worker))
            .map(|((shard, _), _)| shard)
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// What one run saw.
#[derive(Debug)]
struct Run {
    /// Shards the joining worker served while the replica was behind.
    joiner_served: usize,
    /// Tokens served by two workers.
    issued_twice: Vec<(u32, u64, BTreeSet<String>)>,
    /// Shards served at the end (all of them, by the first worker).
    served_at_end: usize,
}

async fn stale_meta_takeover(min_replicas: u32) -> Run {
    let mut deployment = ScaleDeployment::start_replicated(1, 1, min_replicas).await;
    let mut served = ServedTokens::default();
    served.sample(&deployment);
    let (master, replica) = deployment.cluster_change(|c| {
        let master = c.master_of_key("{meta}").unwrap();
        let replica = c.replica_of(master).unwrap();
        c.wait_until_replicated(Duration::from_secs(10)).unwrap();
        c.nodes()[replica].command(&["SAVE"]).unwrap();
        c.nodes_mut()[replica].kill().unwrap();
        (master, replica)
    });

    let joiner = deployment.start_worker().await;
    if min_replicas == 0 {
        // It takes its share (tokens on the master alone) and serves it.
        let expected = deployment
            .expected_owners()
            .values()
            .filter(|owner| **owner == joiner)
            .count();
        fenliu_tests::bounded_by(Duration::from_secs(20), async {
            while served.shards_of(&joiner) < expected {
                served
                    .sample_for(&deployment, Duration::from_millis(100))
                    .await;
            }
        })
        .await;
    } else {
        // Several lease ticks (a third of the 1.5 s lease each).
        served.sample_for(&deployment, Duration::from_secs(3)).await;
    }
    let joiner_served = served.shards_of(&joiner);
    deployment.stop_worker(&joiner).await;
    // Past the lease TTL, so that the snapshot's leases have run out when it
    // takes over: the shards are claimed afresh, under tokens counted from
    // the snapshot's.
    tokio::time::sleep(Duration::from_secs(2)).await;

    deployment.cluster_change(|c| {
        c.nodes_mut()[master].kill().unwrap();
        c.nodes_mut()[replica].start_again().unwrap();
        c.take_over(replica, Duration::from_secs(30)).unwrap();
        // The old master comes back as the new one's replica (with
        // `--redis-min-replicas 1`, no new token is served until then).
        c.rejoin(master, Duration::from_secs(30)).unwrap();
    });
    deployment.wait_converged().await;
    served
        .sample_for(&deployment, Duration::from_millis(200))
        .await;
    let served_at_end = deployment.served_owners().len();
    deployment.stop().await;
    Run {
        joiner_served,
        issued_twice: served.issued_twice(),
        served_at_end,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_min_replicas_a_stale_meta_takeover_issues_a_fencing_token_twice_and_with_one_never()
 {
    bounded_by(Duration::from_secs(150), async {
        let without = stale_meta_takeover(0).await;
        eprintln!("--redis-min-replicas 0: {without:?}");
        assert!(without.joiner_served > 0, "{without:?}");
        assert!(
            !without.issued_twice.is_empty(),
            "the tokens the joiner served were issued again: {without:?}"
        );
        assert_eq!(without.served_at_end, TEST_SHARDS as usize, "{without:?}");

        let with = stale_meta_takeover(1).await;
        eprintln!("--redis-min-replicas 1: {with:?}");
        assert_eq!(
            with.joiner_served, 0,
            "no shard served under a token only the master had: {with:?}"
        );
        assert!(with.issued_twice.is_empty(), "{with:?}");
        assert_eq!(with.served_at_end, TEST_SHARDS as usize, "{with:?}");
    })
    .await;
}
