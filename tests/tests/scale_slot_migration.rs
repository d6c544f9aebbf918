//! Live slot migration under load: 6 workers and 3 dispatchers on a Redis
//! Cluster of 3 masters with a replica each; while a load runs through every
//! dispatcher, 1,000 hash slots (`SCALE_SLOTS`; `scripts/scale-out` moves a
//! third of them, 5,461, the whole of one master's share) move to another
//! master and back with `redis-cli --cluster reshard`. Every
//! call succeeds or fails `UNAVAILABLE` (and is then retried with its request
//! id), and afterwards every acknowledged session is intact and every retry
//! replays its first answer: a commit (one script over several keys of one
//! slot) was applied once or not at all.

use std::time::{Duration, Instant};

use fenliu_tests::bounded_by;
use fenliu_tests::scale::ScaleDeployment;
use fenliu_tests::scale::audit::assert_nothing_lost;
use fenliu_tests::scale::load::Load;

/// Slots moved each way in CI's reduced form: a third of them (5,461, what
/// `scripts/scale-out` moves) takes about a minute each way on a busy CI
/// machine with a debug build.
const CI_SLOTS: usize = 1000;

fn slots_to_move() -> usize {
    std::env::var("SCALE_SLOTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SLOTS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slots_move_live_to_another_master_and_back_under_load_and_every_acknowledged_session_stays()
 {
    bounded_by(Duration::from_secs(400), async {
        let mut deployment = ScaleDeployment::start_replicated(6, 3, 1).await;
        let shops = deployment.create_shops(48).await;
        let load = Load::start(&deployment.dispatcher_addresses(), &shops, 12).await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let slots = slots_to_move();
        // From the master of the membership's slot: a third of the slots is
        // all of its share, `{meta}` (every lease) included.
        let (from, to) = deployment.cluster_change(|c| {
            let from = c.master_of_key("{meta}").unwrap();
            let masters = c.master_indices().unwrap();
            (from, *masters.iter().find(|&&m| m != from).unwrap())
        });
        let before = deployment.cluster_change(|c| c.slots_of(to).unwrap());
        let timeout = Duration::from_secs(60);
        let started = Instant::now();
        deployment.cluster_change(|c| c.reshard(from, to, slots, timeout).unwrap());
        let there = started.elapsed();
        assert_eq!(
            deployment.cluster_change(|c| c.slots_of(to).unwrap()),
            before + slots
        );
        let started = Instant::now();
        deployment.cluster_change(|c| c.reshard(to, from, slots, timeout).unwrap());
        let back = started.elapsed();
        assert_eq!(
            deployment.cluster_change(|c| c.slots_of(to).unwrap()),
            before
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let report = load.stop().await;
        eprintln!("moved {slots} slots in {there:?} and back in {back:?}");
        assert_nothing_lost(deployment.dispatcher_addresses()[0], &report).await;
        deployment.stop().await;
    })
    .await;
}
