//! Failover measured over many deaths: three `fenliu worker` processes at the
//! default lease (1.5 s) behind a dispatcher, client traffic on two shops of
//! each, and a worker SIGKILLed ten times in turn (restarted and settled back
//! each time). For every kill: how long until each of the victim's shops is
//! served again, and that no shard of a survivor moved (zero spurious moves).
//! Prints the median and the maximum; asserts that every shop came back, that
//! nothing failed but retryably, and that every acknowledged session is kept.
//!
//! `cargo test -p fenliu-cli --test failover -- --nocapture`

// The fault tests' helpers; this binary uses a part of them.
#[allow(dead_code, unused_imports)]
mod common;

use std::time::Duration;

use common::*;
use fenliu_tests::{bounded_by, start_redis, unique_namespace};
use tokio::time::Instant;

/// Deaths measured.
const KILLS: usize = 10;
/// The longest the test may run: ten kills, each a failover and a settle.
const TEST_LIMIT: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_worker_deaths_fail_over_within_the_lease_without_moving_a_survivors_shard() {
    bounded_by(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("flt-ten");
        let ids = ["w1", "w2", "w3"];
        let url = format!("redis://127.0.0.1:{}/", redis.port());
        let (mut workers, _dispatcher, mut client) =
            start_deployment(redis.port(), &ns, &ids).await;
        let shops = shops_on_each(&ns, &ids, 2);
        for shop in &shops {
            fault_shop(shop, 3, 4).create(&mut client).await;
        }
        let traffic = Traffic::start(&client, &shops);
        assert!(traffic.flowing_on(&shops).await, "no traffic before the kills");
        let first_kill = Instant::now();
        let mut failovers = Vec::new();
        for kill in 0..KILLS {
            let index = kill % ids.len();
            let victim = ids[index];
            let victim_shops = shops_owned_by(&format!("{ns}-shop"), victim, &ids, 2);
            let before = read_leases(redis.port(), &ns).await.expect("leases");
            let killed_at = Instant::now();
            workers[index].process.kill().expect("SIGKILL the victim");
            let took = served_again(&traffic.attempts, &victim_shops, killed_at).await;
            let after = read_leases(redis.port(), &ns).await.expect("leases");
            let moved = survivor_shards_moved(&before, &after, victim);
            eprintln!("kill {kill} of {victim}: served again after {took:?}; survivors' shards moved: {moved}");
            assert_eq!(moved, 0, "a survivor's shard moved when {victim} died");
            failovers.push(took);
            workers[index] = spawn_worker(&url, &ns, victim);
            wait_for_rendezvous_leases(redis.port(), &ns, &ids, SETTLE).await;
        }
        let attempts = traffic.stop().await;
        let attempts = attempts.lock().unwrap().clone();
        failovers.sort();
        let median = (failovers[KILLS / 2 - 1] + failovers[KILLS / 2]) / 2;
        eprintln!(
            "FAILOVER over {KILLS} SIGKILLs at the default lease ({LEASE_TTL:?}): median {median:?}, max {:?}; each {failovers:?}",
            failovers[KILLS - 1]
        );
        print_traffic(&attempts);
        let bad = failures_other_than_unavailable(&attempts, first_kill);
        assert!(bad.is_empty(), "routes failed otherwise than UNAVAILABLE: {bad:#?}");
        let acks: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_ok()).collect();
        let acknowledged = assert_acknowledged_sessions_kept(&mut client, &acks).await;
        assert_shops_hold_every_acknowledged_session(&mut client, &shops, &acknowledged).await;
    })
    .await;
}

/// How long after `killed_at` the last of `shops` had a Route sent after the
/// kill acknowledged (waits for it, at most the lease and the failover margin
/// and a few seconds more).
async fn served_again(attempts: &Attempts, shops: &[String], killed_at: Instant) -> Duration {
    let last_back = |attempts: &[Attempt]| {
        shops
            .iter()
            .map(|shop| {
                attempts
                    .iter()
                    .filter(|a| &a.shop == shop && a.sent_at >= killed_at && a.result.is_ok())
                    .map(|a| a.answered_at - killed_at)
                    .min()
            })
            .collect::<Option<Vec<Duration>>>()
            .and_then(|each| each.into_iter().max())
    };
    let back = fenliu_testkit::wait_until(
        LEASE_TTL + FAILOVER_MARGIN + Duration::from_secs(5),
        Duration::from_millis(10),
        || last_back(&attempts.lock().unwrap()).is_some(),
    )
    .await;
    assert!(back, "a shop of the killed worker was never served again");
    last_back(&attempts.lock().unwrap()).expect("checked")
}

/// Shards that a survivor held before the kill and does not hold after it, or
/// holds under a new token (lost and taken again: a move all the same).
fn survivor_shards_moved(before: &LeaseMap, after: &LeaseMap, victim: &str) -> usize {
    (0..before.owners.len())
        .filter(|&shard| {
            before.owners[shard]
                .as_deref()
                .is_some_and(|owner| owner != victim)
        })
        .filter(|&shard| {
            after.owners[shard] != before.owners[shard]
                || after.tokens[shard] != before.tokens[shard]
        })
        .count()
}
