//! Membership churn under load: 6 workers and 3 dispatchers on a Redis Cluster
//! with replicas; workers join and leave one at a time, then a dispatcher is
//! killed. Each change moves shards only to or from the worker that changed
//! (rendezvous hashing), every dispatcher converges on the new membership, no
//! call fails for longer than the failover target, and every acknowledged
//! session is intact afterwards.

use std::time::Duration;

use fenliu_tests::scale::ScaleDeployment;
use fenliu_tests::scale::audit::assert_nothing_lost;
use fenliu_tests::scale::load::Load;
use fenliu_tests::{TEST_SHARDS, bounded_by, test_lease_timing};

/// How one membership change went.
enum Change {
    Join,
    Leave(&'static str),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_joining_and_leaving_one_at_a_time_move_only_their_own_shards_and_a_dead_dispatcher_costs_no_call()
 {
    bounded_by(Duration::from_secs(120), async {
        let mut deployment = ScaleDeployment::start_replicated(6, 3, 0).await;
        let shops = deployment.create_shops(48).await;
        let load = Load::start(&deployment.dispatcher_addresses(), &shops, 12).await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        for change in [
            Change::Join,
            Change::Leave("worker-2"),
            Change::Join,
            Change::Leave("worker-0"),
        ] {
            let before = deployment.served_owners();
            let changed = match change {
                Change::Join => deployment.start_worker().await,
                Change::Leave(name) => {
                    deployment.stop_worker(name).await;
                    name.to_owned()
                }
            };
            let took = deployment.wait_converged().await;
            let after = deployment.served_owners();
            assert_eq!(after.len(), TEST_SHARDS as usize);
            let moved: Vec<u32> = (0..TEST_SHARDS)
                .filter(|shard| before.get(shard) != after.get(shard))
                .collect();
            for shard in &moved {
                assert!(
                    before.get(shard) == Some(&changed) || after.get(shard) == Some(&changed),
                    "shard {shard} moved from {:?} to {:?}, though only {changed} changed",
                    before.get(shard),
                    after.get(shard)
                );
            }
            assert!(!moved.is_empty(), "{changed} changed and no shard moved");
            eprintln!(
                "{changed} {}: {} of {TEST_SHARDS} shards moved, converged in {took:?}",
                if matches!(change, Change::Join) {
                    "joined"
                } else {
                    "left"
                },
                moved.len()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        let dead = deployment.dispatcher_addresses()[1];
        load.forget(dead);
        deployment.kill_dispatcher(dead);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let report = load.stop().await;
        assert_nothing_lost(deployment.dispatcher_addresses()[0], &report).await;
        let failover_target = test_lease_timing().lease_ttl * 2;
        assert!(
            report.longest_failing <= failover_target,
            "a call failed for {:?}, past the failover target {failover_target:?}",
            report.longest_failing
        );
        deployment.stop().await;
    })
    .await;
}
