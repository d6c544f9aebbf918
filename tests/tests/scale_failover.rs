//! Master failover under load: 6 workers and 3 dispatchers with
//! `--redis-min-replicas 1` on a Redis Cluster of 3 masters with a replica
//! each; the master of the membership's slot (`{meta}`: every lease, the
//! hardest one to lose) is killed with SIGKILL mid-load, its replica is
//! promoted, and afterwards no acknowledged decision is missing.

use std::time::Duration;

use fenliu_tests::bounded_by;
use fenliu_tests::scale::ScaleDeployment;
use fenliu_tests::scale::audit::assert_nothing_lost;
use fenliu_tests::scale::load::Load;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_master_is_replaced_by_its_replica_and_with_min_replicas_no_acknowledged_decision_is_lost()
 {
    bounded_by(Duration::from_secs(120), async {
        let mut deployment = ScaleDeployment::start_replicated(6, 3, 1).await;
        let shops = deployment.create_shops(48).await;
        let load = Load::start(&deployment.dispatcher_addresses(), &shops, 12).await;
        tokio::time::sleep(Duration::from_secs(1)).await;

        let (master, replica) = deployment.cluster_change(|c| {
            let master = c.master_of_key("{meta}").unwrap();
            (master, c.replica_of(master).unwrap())
        });
        let promoted = deployment.cluster_change(|c| {
            c.kill_master_and_wait_for_promotion(master, replica, Duration::from_secs(30))
                .unwrap()
        });
        // The killed node comes back (as an orchestrator restarts it) and
        // rejoins as the new master's replica: with `--redis-min-replicas 1`
        // the promoted master's shops take writes again only then.
        let rejoined = std::time::Instant::now();
        deployment.cluster_change(|c| c.rejoin(master, Duration::from_secs(30)).unwrap());
        let rejoined = rejoined.elapsed();
        let converged = deployment.wait_converged().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let report = load.stop().await;
        eprintln!("replica promoted, cluster ok {promoted:?} after the kill; old master rejoined as its replica {rejoined:?} later; workers and dispatchers converged {converged:?} after that");
        let address = deployment.dispatcher_addresses()[0];
        assert_nothing_lost(address, &report).await;
        // What Redis kept, not what the workers remember.
        deployment.restart_workers().await;
        eprintln!("and again with fresh workers, reading what Redis kept:");
        assert_nothing_lost(address, &report).await;
        deployment.stop().await;
    })
    .await;
}
