//! Fault tests on real processes: `fenliu worker` and `fenliu dispatcher` (the
//! `fenliu` binary) against real `redis-server`s on free loopback ports, while a
//! worker is killed (SIGKILL), frozen past its lease (SIGSTOP), joined by another,
//! and while Redis is frozen or stopped; and Redis' own TTL keys for affinity and
//! close delays, read directly.
//!
//! Every test has its own Redis and namespace, is bounded in time, and prints the
//! figures it measures (run with `--nocapture` to see them).
//!
//! `cargo test -p fenliu-cli --test faults -- --nocapture`

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use fenliu_node::link::NOT_OWNER_METADATA;
use tokio::time::Instant;
use tonic::Code;

/// The longest any one test here may run.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// Allowance on top of the lease TTL for a moved shard to be served again: the
/// survivors' next tick (a third of the TTL), the dispatcher's membership refresh
/// and retry backoff, and a loaded CI machine running these tests in parallel.
const FAILOVER_MARGIN: Duration = Duration::from_millis(3000);
/// How long workers may take to start and settle on the rendezvous map.
const SETTLE: Duration = Duration::from_secs(20);
/// Deadline of the client's calls while a worker fails.
const CALL_DEADLINE: Duration = Duration::from_secs(8);

/// Starts `ids.len()` workers and a dispatcher on `redis`, waits until every shard
/// is leased by its rendezvous owner, and returns them with a dispatcher client.
async fn start_deployment(
    redis_port: u16,
    namespace: &str,
    ids: &[&str],
) -> (Vec<Node>, Node, Client) {
    let url = format!("redis://127.0.0.1:{redis_port}/");
    let workers: Vec<Node> = ids
        .iter()
        .map(|id| spawn_worker(&url, namespace, id))
        .collect();
    let dispatcher = spawn_dispatcher(&url, namespace);
    wait_for_rendezvous_leases(redis_port, namespace, ids, SETTLE).await;
    let client = connect(&dispatcher).await;
    (workers, dispatcher, client)
}

/// What one Route of the client task came to.
#[derive(Clone, Debug)]
struct Attempt {
    shop: String,
    buyer: String,
    request_id: String,
    sent_at: Instant,
    answered_at: Instant,
    result: Result<pb::Session, (Code, String)>,
}

// ------------------------------------------------------------------ 1. SIGKILL

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_traffic_is_replaced_within_the_lease_and_no_acknowledged_session_is_lost()
 {
    bounded(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("kill");
        let ids = ["w1", "w2", "w3"];
        let (mut workers, _dispatcher, mut client) =
            start_deployment(redis.port(), &ns, &ids).await;

        // Two shops on each worker; w2 is the one killed.
        let victim = "w2";
        let mut shops = Vec::new();
        for id in ids {
            shops.extend(shops_owned_by(&format!("{ns}-shop"), id, &ids, 2));
        }
        let victim_shops: Vec<String> = shops_owned_by(&format!("{ns}-shop"), victim, &ids, 2);
        let leases = read_leases(redis.port(), &ns).await.unwrap();
        for shop in &victim_shops {
            assert_eq!(
                leases.owners[shard(shop) as usize].as_deref(),
                Some(victim),
                "{shop} (shard {}) is not leased by {victim}: {:?}",
                shard(shop),
                leases.summary()
            );
        }
        // 3 accounts of 4 slots: 12 slots per shop, then buyers queue.
        let max_concurrent = 4;
        for shop in &shops {
            create_shop(&mut client, shop, 3, max_concurrent, |_| {}).await;
        }

        // One task per shop routes new buyers, one after the other, with unique
        // request ids, until told to stop.
        let stop = Arc::new(AtomicBool::new(false));
        let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for shop in shops.clone() {
            let mut client = client.clone();
            let stop = stop.clone();
            let attempts = attempts.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let buyer = format!("buyer-{n}");
                    let request_id = format!("{shop}-req-{n}");
                    let sent_at = Instant::now();
                    let result = route(
                        &mut client,
                        route_request(&shop, &buyer, &request_id),
                        CALL_DEADLINE,
                    )
                    .await;
                    let answered_at = Instant::now();
                    let result = match result {
                        Ok(response) => Ok(response.session.expect("a routed session")),
                        Err(status) => Err((status.code(), status.message().to_owned())),
                    };
                    attempts.lock().unwrap().push(Attempt {
                        shop: shop.clone(),
                        buyer,
                        request_id,
                        sent_at,
                        answered_at,
                        result,
                    });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }

        // Traffic flows on every shop, then the victim dies mid-flight.
        let flowing = fenliu_testkit::wait_until(
            Duration::from_secs(10),
            Duration::from_millis(20),
            || {
                let attempts = attempts.lock().unwrap();
                shops.iter().all(|shop| {
                    attempts
                        .iter()
                        .filter(|a| &a.shop == shop && a.result.is_ok())
                        .count()
                        >= 3
                })
            },
        )
        .await;
        assert!(flowing, "the client's routes were not acknowledged before the kill");
        let victim_index = ids.iter().position(|id| *id == victim).unwrap();
        // Make sure calls are in flight at the victim when it dies: freeze it a
        // moment (its sockets stay open), send one more Route per shop of it,
        // then kill it.
        workers[victim_index].process.pause().expect("SIGSTOP the victim");
        let mut in_flight = Vec::new();
        for shop in victim_shops.clone() {
            let mut client = client.clone();
            let attempts = attempts.clone();
            in_flight.push(tokio::spawn(async move {
                let (buyer, request_id) = ("buyer-in-flight".to_owned(), format!("{shop}-in-flight"));
                let sent_at = Instant::now();
                let result = route(
                    &mut client,
                    route_request(&shop, &buyer, &request_id),
                    CALL_DEADLINE,
                )
                .await;
                let attempt = Attempt {
                    shop,
                    buyer,
                    request_id,
                    sent_at,
                    answered_at: Instant::now(),
                    result: result
                        .map(|r| r.session.expect("a routed session"))
                        .map_err(|s| (s.code(), s.message().to_owned())),
                };
                attempts.lock().unwrap().push(attempt.clone());
                attempt
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let killed_at = Instant::now();
        workers[victim_index].process.kill().expect("SIGKILL the victim");

        // Failover: the first decision on each of the victim's shops asked for
        // after the kill.
        let first_after_kill = |attempts: &[Attempt], shop: &str| {
            attempts
                .iter()
                .filter(|a| a.shop == shop && a.sent_at >= killed_at && a.result.is_ok())
                .map(|a| a.answered_at - killed_at)
                .min()
        };
        let served = fenliu_testkit::wait_until(
            LEASE_TTL + FAILOVER_MARGIN + Duration::from_secs(5),
            Duration::from_millis(10),
            || {
                let attempts = attempts.lock().unwrap();
                victim_shops
                    .iter()
                    .all(|shop| first_after_kill(&attempts, shop).is_some())
            },
        )
        .await;
        let failover: Vec<(String, Option<Duration>)> = {
            let attempts = attempts.lock().unwrap();
            victim_shops
                .iter()
                .map(|shop| (shop.clone(), first_after_kill(&attempts, shop)))
                .collect()
        };
        let first = failover.iter().filter_map(|(_, d)| *d).min();
        eprintln!(
            "FAILOVER (SIGKILL of {victim}, lease TTL {LEASE_TTL:?}): first successful decision on a moved shard {first:?} after the kill; per shop: {failover:?}"
        );
        assert!(served, "a shop of the killed worker was never served again: {failover:?}");
        for (shop, took) in &failover {
            let took = took.expect("checked above");
            assert!(
                took <= LEASE_TTL + FAILOVER_MARGIN,
                "{shop} was served again only {took:?} after the kill (lease TTL {LEASE_TTL:?} + margin {FAILOVER_MARGIN:?})"
            );
        }

        // A little more traffic on the new owners, then stop.
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.expect("client task");
        }
        let mut in_flight_results = Vec::new();
        for call in in_flight {
            in_flight_results.push(call.await.expect("in-flight call"));
        }
        eprintln!(
            "SIGKILL: Routes in flight at the victim when it was killed came to: {:?}",
            in_flight_results
                .iter()
                .map(|a| (
                    &a.shop,
                    a.result.as_ref().map(|s| s.session_id),
                    a.answered_at.saturating_duration_since(killed_at)
                ))
                .collect::<Vec<_>>()
        );
        let attempts = attempts.lock().unwrap().clone();

        // The victim's shards now belong to the survivors, as the rendezvous says.
        let survivors = ["w1", "w3"];
        let leases =
            wait_for_rendezvous_leases(redis.port(), &ns, &survivors, Duration::from_secs(10))
                .await;
        assert_eq!(leases.count_of(victim), 0);

        let failures: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_err()).collect();
        let acks: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_ok()).collect();
        eprintln!(
            "SIGKILL traffic: {} routes, {} acknowledged, {} failed ({:?})",
            attempts.len(),
            acks.len(),
            failures.len(),
            failures
                .iter()
                .map(|a| a.result.as_ref().unwrap_err())
                .collect::<Vec<_>>()
        );
        // Checked at the end: a Route is idempotent, so the dispatcher retries it
        // on the shop's new owner when its worker dies mid-call; the caller sees
        // at most UNAVAILABLE (or its deadline), never another failure.
        let bad_failures: Vec<String> = failures
            .iter()
            .filter(|a| {
                !matches!(
                    a.result.as_ref().unwrap_err().0,
                    Code::Unavailable | Code::DeadlineExceeded
                )
            })
            .map(|a| {
                format!(
                    "{} {} sent {} the SIGKILL, failed after {:?}: {:?}",
                    a.shop,
                    a.request_id,
                    if a.sent_at < killed_at {
                        format!("{:?} before", killed_at - a.sent_at)
                    } else {
                        format!("{:?} after", a.sent_at - killed_at)
                    },
                    a.answered_at - a.sent_at,
                    a.result.as_ref().unwrap_err()
                )
            })
            .collect();

        // Every acknowledged session is there, with the same account and buyer,
        // and no two buyers were given the same session.
        let mut ids_per_shop: BTreeMap<&str, BTreeMap<u64, &str>> = BTreeMap::new();
        for ack in &acks {
            let session = ack.result.as_ref().unwrap();
            if let Some(other) = ids_per_shop
                .entry(&ack.shop)
                .or_default()
                .insert(session.session_id, &ack.buyer)
            {
                panic!(
                    "{}: session {} was given to both {other} and {}",
                    ack.shop, session.session_id, ack.buyer
                );
            }
            let now = get_session(&mut client, &ack.shop, session.session_id)
                .await
                .unwrap_or_else(|s| {
                    panic!("acknowledged session lost: {ack:?}: GetSession says {s:?}")
                });
            assert_eq!(now.buyer_id, ack.buyer, "{ack:?} vs {now:?}");
            assert_eq!(
                now.account_id, session.account_id,
                "acknowledged session changed account: {ack:?} now {now:?}"
            );
            assert_eq!(now.state, session.state, "{ack:?} now {now:?}");
        }

        // No session is held twice, nobody is over capacity, and every
        // acknowledged session is in the shop's state.
        for shop in &shops {
            let found: BTreeSet<u64> = check_shop_invariants(&mut client, shop)
                .await
                .into_iter()
                .collect();
            for (session_id, buyer) in &ids_per_shop[shop.as_str()] {
                assert!(
                    found.contains(session_id),
                    "{shop}: acknowledged session {session_id} of {buyer} is neither held nor queued"
                );
            }
        }

        // Idempotency across the failover: every acknowledged Route, retried with
        // its request id, returns its session.
        let mut replayed_across_failover = 0;
        for ack in &acks {
            let first = ack.result.as_ref().unwrap();
            let again = route(
                &mut client,
                route_request(&ack.shop, &ack.buyer, &ack.request_id),
                CALL_DEADLINE,
            )
            .await
            .unwrap_or_else(|s| panic!("retry of {ack:?}: {s:?}"));
            let session = again.session.as_ref().expect("session");
            assert_eq!(
                session.session_id, first.session_id,
                "retry of an acknowledged route gave another session: {ack:?} then {again:?}"
            );
            assert!(again.replayed, "retry not marked replayed: {again:?}");
            if victim_shops.contains(&ack.shop) && ack.answered_at < killed_at {
                replayed_across_failover += 1;
            }
        }
        eprintln!(
            "SIGKILL: {replayed_across_failover} routes acknowledged by {victim} before its death replayed by its successors"
        );
        assert!(replayed_across_failover > 0);
        assert!(
            bad_failures.is_empty(),
            "routes failed otherwise than UNAVAILABLE around the SIGKILL: {bad_failures:#?}"
        );
        for call in &in_flight_results {
            assert!(
                call.result.is_ok(),
                "a Route in flight at the killed worker was not answered by its successor: {call:?}"
            );
        }
    })
    .await;
}

// ------------------------------------------------------------------ 2. SIGSTOP

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_paused_past_its_lease_is_replaced_and_after_resuming_refuses_its_former_shops() {
    bounded(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("pause");
        let ids = ["w1", "w2", "w3"];
        let (workers, _dispatcher, mut client) = start_deployment(redis.port(), &ns, &ids).await;
        let victim = &workers[1];
        assert_eq!(victim.id, "w2");
        let shop = shops_owned_by(&format!("{ns}-shop"), &victim.id, &ids, 1).remove(0);
        create_shop(&mut client, &shop, 2, 5, |_| {}).await;
        let before_pause = route(
            &mut client,
            route_request(&shop, "buyer-0", "req-0"),
            CALL_DEADLINE,
        )
        .await
        .expect("route before the pause");
        let mut direct = connect(victim).await;

        let pause = Duration::from_secs(4);
        let paused_at = Instant::now();
        victim.process.pause().expect("SIGSTOP");
        assert_eq!(victim.process.state(), Some('T'));

        // Meanwhile the shop is served by another worker: the client retries its
        // route (same request id) with a short deadline until it is answered.
        let poll_deadline = Duration::from_millis(1000);
        let mut tries = Vec::new();
        let during = loop {
            let result = route(
                &mut client,
                route_request(&shop, "buyer-1", "req-1"),
                poll_deadline,
            )
            .await;
            match result {
                Ok(response) => break response,
                Err(status) => {
                    tries.push(format!("{:?} after {:?}", status.code(), paused_at.elapsed()));
                    assert!(
                        paused_at.elapsed() < pause - poll_deadline,
                        "{shop} not served by anyone while its owner was frozen: {tries:?}"
                    );
                }
            }
        };
        let served_after = paused_at.elapsed();
        eprintln!(
            "PAUSE: {shop} (shard {}) served by another worker {served_after:?} after SIGSTOP of {} (failed tries before: {tries:?})",
            shard(&shop),
            victim.id
        );
        assert!(
            served_after <= LEASE_TTL + FAILOVER_MARGIN,
            "served only after {served_after:?}"
        );
        let leases = read_leases(redis.port(), &ns).await.unwrap();
        let new_owner = leases.owners[shard(&shop) as usize].clone();
        assert!(
            new_owner.is_some() && new_owner.as_deref() != Some(victim.id.as_str()),
            "shard {} leased by {new_owner:?} while {} is frozen",
            shard(&shop),
            victim.id
        );
        assert!(leases.count_of(&victim.id) == 0, "{:?}", leases.summary());

        let remaining = pause.saturating_sub(paused_at.elapsed());
        tokio::time::sleep(remaining).await;
        let before = normalized(shop_state(&mut client, &shop).await.expect("state"));
        let lost_before = victim.log_count("lost shard leases");
        let handed_before = victim.log_count("handed shards over");

        victim.process.resume().expect("SIGCONT");
        let resumed_at = Instant::now();
        // Straight to the resumed worker, for the shop it served before the pause.
        let refused = route(
            &mut direct,
            route_request(&shop, "buyer-direct", "req-direct"),
            Duration::from_secs(3),
        )
        .await;
        eprintln!(
            "PAUSE: direct Route to the resumed {} answered {:?} after {:?}",
            victim.id,
            refused.as_ref().map(|r| r.reason).map_err(|s| s.code()),
            resumed_at.elapsed()
        );
        match refused {
            Ok(response) => panic!(
                "the resumed worker decided for a shop it no longer owns: {response:?}\nits log:\n{}",
                victim.process.log_tail(30)
            ),
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(
                    status.metadata().get(NOT_OWNER_METADATA).is_some(),
                    "refusal without {NOT_OWNER_METADATA}: {status:?}"
                );
            }
        }
        // It changed nothing.
        let after = normalized(shop_state(&mut client, &shop).await.expect("state"));
        assert_eq!(before, after, "the refused call changed the shop");
        let remembered = redis_cmd(
            redis.port(),
            &["EXISTS", &format!("{ns}:{{{shop}}}:request:req-direct")],
        )
        .await
        .unwrap();
        assert_eq!(remembered, "0", "the refused route was stored");

        // It stepped down, and keeps running.
        let stepped_down = fenliu_testkit::wait_until(
            Duration::from_secs(5),
            Duration::from_millis(20),
            || {
                victim.log_count("lost shard leases") > lost_before
                    || victim.log_count("handed shards over") > handed_before
            },
        )
        .await;
        assert!(
            stepped_down,
            "the resumed worker never logged stepping down; log:\n{}",
            victim.process.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            matches!(victim.process.state(), Some('R' | 'S' | 'D')),
            "the resumed worker is not running: {:?}; log:\n{}",
            victim.process.state(),
            victim.process.log_tail(30)
        );
        // The deployment settles back on the three workers, and the shop still
        // answers with both sessions where they were.
        wait_for_rendezvous_leases(redis.port(), &ns, &ids, Duration::from_secs(10)).await;
        for response in [&before_pause, &during] {
            let session = response.session.as_ref().unwrap();
            let now = get_session(&mut client, &shop, session.session_id)
                .await
                .expect("session");
            assert_eq!(now.account_id, session.account_id);
        }
        check_shop_invariants(&mut client, &shop).await;
    })
    .await;
}

/// A client does not know a worker froze: its call, sent with an ordinary
/// deadline, goes to the frozen owner (the dispatcher still has it in its
/// membership). The shop's shard moves to another worker within the lease TTL,
/// so the call must be answered by that successor within the TTL and a margin,
/// as calls to a killed worker are, rather than wait out its whole deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_sent_to_a_frozen_worker_is_answered_by_its_successor_within_the_lease() {
    bounded(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("frozen-call");
        let ids = ["w1", "w2"];
        let (workers, _dispatcher, mut client) =
            start_deployment(redis.port(), &ns, &ids).await;
        let shop = shops_owned_by(&format!("{ns}-shop"), "w2", &ids, 1).remove(0);
        create_shop(&mut client, &shop, 2, 5, |_| {}).await;
        route(
            &mut client,
            route_request(&shop, "buyer-0", "req-0"),
            CALL_DEADLINE,
        )
        .await
        .expect("route before the freeze");

        workers[1].process.pause().expect("SIGSTOP");
        let paused_at = Instant::now();
        let answer = route(
            &mut client,
            route_request(&shop, "buyer-1", "req-1"),
            CALL_DEADLINE,
        )
        .await;
        let took = paused_at.elapsed();
        eprintln!(
            "FROZEN CALL: Route sent right after SIGSTOP of the shop's owner, deadline {CALL_DEADLINE:?}: {:?} after {took:?}",
            answer.as_ref().map(|r| r.reason).map_err(|s| (s.code(), s.message().to_owned()))
        );
        let new_owner = read_leases(redis.port(), &ns).await.unwrap().owners[shard(&shop) as usize].clone();
        workers[1].process.resume().expect("SIGCONT");
        assert_eq!(new_owner.as_deref(), Some("w1"), "the shard never moved");
        let answer = answer.unwrap_or_else(|status| {
            panic!(
                "the shard moved to w1, yet the call sent to the frozen w2 was never answered: {status:?} after {took:?}"
            )
        });
        assert!(
            took <= LEASE_TTL + FAILOVER_MARGIN,
            "answered only after {took:?}: {answer:?}"
        );
    })
    .await;
}

// ------------------------------------------------------------------ 3. joining

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_worker_takes_only_its_rendezvous_share_from_the_others() {
    bounded(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("join");
        let url = redis.url();
        let _w1 = spawn_worker(&url, &ns, "w1");
        let _w2 = spawn_worker(&url, &ns, "w2");
        let before = wait_for_rendezvous_leases(redis.port(), &ns, &["w1", "w2"], SETTLE).await;
        assert!(before.all_leased());

        let w3 = spawn_worker(&url, &ns, "w3");
        let joined_at = Instant::now();
        // Stable: every shard leased, w3 holding some, and the same map on three
        // reads in a row (each tick is a third of the lease TTL apart).
        let mut stable_reads = 0;
        let mut last: Option<LeaseMap> = None;
        let deadline = Instant::now() + Duration::from_secs(20);
        let after = loop {
            let map = read_leases(redis.port(), &ns).await.unwrap();
            if map.all_leased() && map.count_of("w3") > 0 && last.as_ref() == Some(&map) {
                stable_reads += 1;
            } else {
                stable_reads = 0;
            }
            if stable_reads >= 3 {
                break map;
            }
            assert!(
                Instant::now() < deadline,
                "the lease map never settled after w3 joined: {:?}; w3 log:\n{}",
                map.summary(),
                w3.process.log_tail(20)
            );
            last = Some(map);
            tokio::time::sleep(LEASE_TTL / 3).await;
        };
        let settled_after = joined_at.elapsed();

        let mut moved = 0;
        for shard in 0..SHARDS as usize {
            let (old, new) = (&before.owners[shard], &after.owners[shard]);
            if old != new {
                moved += 1;
                assert_eq!(
                    new.as_deref(),
                    Some("w3"),
                    "shard {shard} moved from {old:?} to {new:?}, not to the new worker"
                );
            }
        }
        let ideal_share = (0..SHARDS)
            .filter(|s| rendezvous(*s, &["w1", "w2", "w3"]).as_deref() == Some("w3"))
            .count();
        eprintln!(
            "JOIN: {moved} of {SHARDS} shards moved to w3 (rendezvous share {ideal_share}, even share {:.1}); settled {settled_after:?} after start; map {:?}",
            f64::from(SHARDS) / 3.0,
            after.summary()
        );
        assert_eq!(moved, after.count_of("w3"));
        assert_eq!(
            moved, ideal_share,
            "w3 took {moved} shards, the rendezvous gives it {ideal_share}"
        );
        assert!(after.matches_rendezvous(&["w1", "w2", "w3"]));
        assert!(
            (12..=30).contains(&moved),
            "{moved} moved, far from the even share 64/3"
        );
    })
    .await;
}

// ------------------------------------------------------------------ 4. Redis

/// A KUAISHOU shop with 2 accounts of 50 slots: every new buyer is assigned.
async fn roomy_shop(client: &mut Client, shop: &str) {
    create_shop(client, shop, 2, 50, |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_redis_makes_calls_fail_unavailable_without_answering_unstored_decisions_and_the_system_recovers()
 {
    bounded(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("redis-pause");
        let ids = ["w1", "w2"];
        let (_workers, _dispatcher, mut client) = start_deployment(redis.port(), &ns, &ids).await;
        let shops = [
            shops_owned_by(&format!("{ns}-shop"), "w1", &ids, 1).remove(0),
            shops_owned_by(&format!("{ns}-shop"), "w2", &ids, 1).remove(0),
        ];
        for shop in &shops {
            roomy_shop(&mut client, shop).await;
        }
        let mut ok: Vec<(String, String, String, pb::Session)> = Vec::new();
        let mut n = 0;
        for shop in &shops {
            for _ in 0..3 {
                n += 1;
                let (buyer, rid) = (format!("buyer-{n}"), format!("req-{n}"));
                let response = route(&mut client, route_request(shop, &buyer, &rid), CALL_DEADLINE)
                    .await
                    .expect("route before the outage");
                ok.push((shop.clone(), buyer, rid, response.session.unwrap()));
            }
        }

        // Redis hangs (SIGSTOP): connections stay open, nothing is answered.
        redis.pause().expect("SIGSTOP redis");
        let paused_at = Instant::now();
        let outage = Duration::from_millis(3500);
        let deadline = Duration::from_millis(1000);
        let mut during: Vec<(String, String, String, Result<pb::RouteResponse, tonic::Status>)> =
            Vec::new();
        // Calls until well past the lease TTL, each over before the resume.
        while paused_at.elapsed() + deadline + Duration::from_millis(200) < outage {
            let shop = &shops[n % 2];
            n += 1;
            let (buyer, rid) = (format!("buyer-{n}"), format!("req-{n}"));
            let result = route(&mut client, route_request(shop, &buyer, &rid), deadline).await;
            during.push((shop.clone(), buyer, rid, result));
        }
        let calls_done_at = paused_at.elapsed();
        let codes: Vec<String> = during
            .iter()
            .map(|(_, _, _, r)| match r {
                Ok(_) => "OK".to_owned(),
                Err(s) => format!("{:?}", s.code()),
            })
            .collect();
        eprintln!(
            "REDIS PAUSE: {} routes during the outage (all over {calls_done_at:?} after SIGSTOP): {codes:?}",
            during.len()
        );
        tokio::time::sleep(outage.saturating_sub(paused_at.elapsed())).await;
        redis.resume().expect("SIGCONT redis");
        let resumed_at = Instant::now();

        assert!(during.len() >= 2, "too few calls during the outage");
        for (shop, buyer, _, result) in &during {
            match result {
                Ok(response) => panic!(
                    "{shop}/{buyer}: a decision was answered while Redis was frozen: {response:?}"
                ),
                Err(status) => assert!(
                    is_outage_code(status),
                    "{shop}/{buyer}: failed otherwise than unavailable: {status:?}"
                ),
            }
        }

        // Recovery by itself: routes succeed again, on both shops.
        let mut recovered = Vec::new();
        for shop in &shops {
            let deadline_at = Instant::now() + Duration::from_secs(15);
            loop {
                n += 1;
                let (buyer, rid) = (format!("buyer-{n}"), format!("req-{n}"));
                match route(
                    &mut client,
                    route_request(shop, &buyer, &rid),
                    Duration::from_secs(2),
                )
                .await
                {
                    Ok(response) => {
                        ok.push((shop.clone(), buyer, rid, response.session.unwrap()));
                        recovered.push((shop.clone(), resumed_at.elapsed()));
                        break;
                    }
                    Err(status) => assert!(
                        Instant::now() < deadline_at,
                        "{shop}: still failing 15 s after Redis resumed: {status:?}"
                    ),
                }
            }
        }
        eprintln!("REDIS PAUSE: recovered after resume: {recovered:?}");

        // Every session answered OK is stored, with its account.
        for (shop, buyer, _, session) in &ok {
            let now = get_session(&mut client, shop, session.session_id)
                .await
                .unwrap_or_else(|s| panic!("{shop}/{buyer}: answered session not stored: {s:?}"));
            assert_eq!(&now.buyer_id, buyer);
            assert_eq!(now.account_id, session.account_id);
        }
        // The calls refused during the outage, retried with their request ids,
        // get one consistent answer each.
        for (shop, buyer, rid, _) in &during {
            let first = route(&mut client, route_request(shop, buyer, rid), CALL_DEADLINE)
                .await
                .unwrap_or_else(|s| panic!("{shop}/{buyer}: retry after recovery: {s:?}"));
            let again = route(&mut client, route_request(shop, buyer, rid), CALL_DEADLINE)
                .await
                .unwrap();
            assert_eq!(
                first.session.as_ref().unwrap().session_id,
                again.session.as_ref().unwrap().session_id
            );
        }
        for shop in &shops {
            check_shop_invariants(&mut client, shop).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_redis_makes_calls_fail_unavailable_and_the_workers_recover_by_themselves() {
    bounded(TEST_LIMIT, async {
        let mut redis = start_redis().await;
        let port = redis.port();
        let ns = unique_namespace("redis-restart");
        let ids = ["w1", "w2"];
        let (workers, _dispatcher, mut client) = start_deployment(port, &ns, &ids).await;

        // A shop that lives through the restart in its owner's memory only: its
        // shard's lease token is 1, so that the token claimed on the empty Redis
        // after the restart (INCR from nothing) is the same number again.
        let leases = read_leases(port, &ns).await.unwrap();
        let mut old_shop = None;
        for i in 0.. {
            let shop = format!("{ns}-old-{i}");
            if leases.tokens[shard(&shop) as usize] == Some(1) {
                old_shop = Some(shop);
                break;
            }
            if i > 10_000 {
                break;
            }
        }
        let old_shop = old_shop.expect("a shard leased under token 1");
        let busy_shop = format!("{ns}-busy");
        roomy_shop(&mut client, &old_shop).await;
        roomy_shop(&mut client, &busy_shop).await;
        for shop in [&old_shop, &busy_shop] {
            route(
                &mut client,
                route_request(shop, "buyer-0", "req-0"),
                CALL_DEADLINE,
            )
            .await
            .expect("route before the restart");
        }

        let stopped_at = Instant::now();
        tokio::task::block_in_place(|| redis.stop()).expect("stop redis");
        let stop_took = stopped_at.elapsed();
        let down = Duration::from_millis(2500);
        let deadline = Duration::from_millis(1000);
        let mut during = Vec::new();
        let mut n = 0;
        while stopped_at.elapsed() + deadline + Duration::from_millis(200) < down {
            n += 1;
            let result = route(
                &mut client,
                route_request(&busy_shop, &format!("buyer-{n}"), &format!("req-{n}")),
                deadline,
            )
            .await;
            during.push(result.map(|r| r.session));
            let create = pb::UpsertShopRequest {
                shop_id: format!("{ns}-created-during-{n}"),
                main_account_id: MAIN.to_owned(),
                ..Default::default()
            };
            let result = call(deadline, client.upsert_shop(with_deadline(create, deadline))).await;
            during.push(result.map(|_| None));
        }
        eprintln!(
            "REDIS STOP: stop took {stop_took:?}; {} calls while down: {:?}",
            during.len(),
            during
                .iter()
                .map(|r| r.as_ref().map(|_| "OK").map_err(|s| s.code()))
                .collect::<Vec<_>>()
        );
        assert!(!during.is_empty());
        if let Some(answer) = during.iter().find_map(|r| r.as_ref().ok()) {
            panic!("answered while Redis was down: {answer:?}");
        }
        // Checked at the end, after the recovery: each of these calls must have
        // failed UNAVAILABLE (a Redis that refuses connections is a transient
        // failure, reported within --redis-timeout-ms, and the dispatcher returns
        // the last UNAVAILABLE before the caller's deadline).
        let not_unavailable: Vec<String> = during
            .iter()
            .filter_map(|r| r.as_ref().err())
            .filter(|s| s.code() != Code::Unavailable)
            .map(|s| format!("{:?}: {}", s.code(), s.message()))
            .collect();
        tokio::time::sleep(down.saturating_sub(stopped_at.elapsed())).await;
        tokio::task::block_in_place(|| redis.start_again()).expect("start redis again");
        let restarted_at = Instant::now();

        // The workers re-register and re-acquire every shard by themselves.
        wait_for_rendezvous_leases(port, &ns, &ids, Duration::from_secs(15)).await;
        let leases_back = restarted_at.elapsed();
        for worker in &workers {
            let member = redis_cmd(port, &["EXISTS", &format!("{ns}:{{meta}}:member:{}", worker.id)])
                .await
                .unwrap();
            assert_eq!(member, "1", "{} did not re-register", worker.id);
        }
        // Creating a shop and routing work again.
        let new_shop = format!("{ns}-after");
        let recovered_deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let create = pb::UpsertShopRequest {
                shop_id: new_shop.clone(),
                profile: pb::Profile::Kuaishou as i32,
                main_account_id: MAIN.to_owned(),
                ..Default::default()
            };
            match call(deadline, client.upsert_shop(with_deadline(create, deadline))).await {
                Ok(_) => break,
                Err(status) => assert!(
                    Instant::now() < recovered_deadline,
                    "creating a shop still fails 15 s after Redis restarted: {status:?}"
                ),
            }
        }
        roomy_shop(&mut client, &new_shop).await;
        let routed = route(
            &mut client,
            route_request(&new_shop, "buyer-new", "req-new"),
            CALL_DEADLINE,
        )
        .await
        .expect("route on a shop created after the restart");
        eprintln!(
            "REDIS STOP: leases back {leases_back:?} and a new shop routed {:?} after the restart",
            restarted_at.elapsed()
        );
        let session = routed.session.unwrap();
        let stored = get_session(&mut client, &new_shop, session.session_id)
            .await
            .expect("stored");
        assert_eq!(stored.account_id, session.account_id);

        // The shops created before the restart were lost with Redis' data: no
        // worker may keep answering for them out of its memory, since nothing it
        // decides for them is stored as a shop.
        for shop in [&busy_shop, &old_shop] {
            let mut answers = Vec::new();
            let gone = loop {
                let answer = route(
                    &mut client,
                    route_request(shop, "buyer-after", "req-after"),
                    CALL_DEADLINE,
                )
                .await;
                let keys = redis_cmd(port, &["KEYS", &format!("{ns}:{{{shop}}}:*")])
                    .await
                    .unwrap();
                match answer {
                    Ok(response) => panic!(
                        "{shop}: a worker decided for a shop that no longer exists in Redis (its keys now: {keys:?}): {response:?}"
                    ),
                    Err(status) if status.code() == Code::NotFound => break true,
                    Err(status) => {
                        assert!(
                            is_outage_code(&status),
                            "{shop}: lost shop answered {status:?}"
                        );
                        answers.push(format!("{:?}: {}", status.code(), status.message()));
                    }
                }
                if answers.len() >= 5 {
                    break false;
                }
            };
            eprintln!(
                "REDIS STOP: after the restart, the lost shop {shop} (shard {}, leased under token 1 before: {}) answered {answers:?} then NOT_FOUND: {gone}",
                shard(shop),
                shop == &old_shop
            );
            assert!(gone, "{shop}: never NOT_FOUND after the data loss: {answers:?}");
        }
        assert!(
            not_unavailable.is_empty(),
            "while Redis was down, calls failed otherwise than UNAVAILABLE: {not_unavailable:?}"
        );
    })
    .await;
}

// ------------------------------------------------------------------ 5. TTL keys

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affinity_and_close_delay_keys_disappear_from_redis_when_their_windows_pass() {
    bounded(TEST_LIMIT, async {
        let redis = start_redis().await;
        let port = redis.port();
        let ns = unique_namespace("ttl");
        let (_workers, _dispatcher, mut client) = start_deployment(port, &ns, &["w1"]).await;
        let shop = format!("{ns}-shop");
        let affinity_window = Duration::from_secs(2);
        let close_delay = Duration::from_secs(1);
        create_shop(&mut client, &shop, 1, 5, |request| {
            request.affinity_window_seconds = Some(2);
            request.close_delay_seconds = Some(1);
        })
        .await;
        let key = |suffix: String| format!("{ns}:{{{shop}}}:{suffix}");
        let pttl = |k: String| async move {
            redis_cmd(port, &["PTTL", &k])
                .await
                .unwrap()
                .parse::<i64>()
                .unwrap()
        };
        let exists = |k: String| async move { redis_cmd(port, &["EXISTS", &k]).await.unwrap() };

        // Control: a buyer coming back within the window goes by affinity.
        let control = route(
            &mut client,
            route_request(&shop, "buyer-control", "req-c1"),
            CALL_DEADLINE,
        )
        .await
        .unwrap();
        let end = |session_id: u64| pb::EndSessionRequest {
            shop_id: shop.clone(),
            session_id,
            actor_account_id: String::new(),
        };
        call(
            CALL_DEADLINE,
            client.end_session(with_deadline(
                end(control.session.unwrap().session_id),
                CALL_DEADLINE,
            )),
        )
        .await
        .unwrap();
        let back = route(
            &mut client,
            route_request(&shop, "buyer-control", "req-c2"),
            CALL_DEADLINE,
        )
        .await
        .unwrap();
        assert_eq!(
            back.reason,
            pb::RouteReason::Affinity as i32,
            "control: {back:?}"
        );

        let routed = route(
            &mut client,
            route_request(&shop, "buyer-1", "req-1"),
            CALL_DEADLINE,
        )
        .await
        .unwrap();
        let session = routed.session.unwrap();
        assert_eq!(session.state, pb::SessionState::Assigned as i32);
        let affinity_key = key("affinity:buyer-1".to_owned());
        let ending_key = key(format!("ending:{}", session.session_id));
        let ttl = pttl(affinity_key.clone()).await;
        assert!(
            ttl > 0 && ttl <= 2000,
            "PTTL {affinity_key} = {ttl} after the route"
        );

        let ended = call(
            CALL_DEADLINE,
            client.end_session(with_deadline(end(session.session_id), CALL_DEADLINE)),
        )
        .await
        .unwrap();
        let ended_at = Instant::now();
        assert_eq!(ended.state, pb::SessionState::Ended as i32);
        let affinity_ttl = pttl(affinity_key.clone()).await;
        let ending_ttl = pttl(ending_key.clone()).await;
        eprintln!("TTL: after EndSession PTTL affinity {affinity_ttl} ms, ending {ending_ttl} ms");
        assert!(
            affinity_ttl > 0 && affinity_ttl <= 2000,
            "PTTL {affinity_key} = {affinity_ttl}"
        );
        assert!(
            ending_ttl > 0 && ending_ttl <= 1000,
            "PTTL {ending_key} = {ending_ttl}"
        );
        assert_eq!(exists(ending_key.clone()).await, "1");

        // The close delay passes: the ending key is gone and, with nobody calling,
        // the session is closed and removed from the stored sessions.
        let margin = Duration::from_millis(1500);
        let sessions_key = key("sessions".to_owned());
        let session_field = session.session_id.to_string();
        let mut ending_gone = None;
        let mut record_gone = None;
        while ending_gone.is_none() || record_gone.is_none() {
            if ending_gone.is_none() && exists(ending_key.clone()).await == "0" {
                ending_gone = Some(ended_at.elapsed());
            }
            if record_gone.is_none()
                && redis_cmd(port, &["HEXISTS", &sessions_key, &session_field])
                    .await
                    .unwrap()
                    == "0"
            {
                record_gone = Some(ended_at.elapsed());
            }
            assert!(
                ended_at.elapsed() < close_delay + margin,
                "close delay {close_delay:?} passed {margin:?} ago: ending key gone {ending_gone:?}, session record gone {record_gone:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let closed = get_session(&mut client, &shop, session.session_id)
            .await
            .expect("closed session");
        assert_eq!(closed.state, pb::SessionState::Closed as i32, "{closed:?}");

        // The affinity window passes: the key is gone, and the buyer is new again.
        let mut affinity_gone = None;
        while affinity_gone.is_none() {
            if exists(affinity_key.clone()).await == "0" {
                affinity_gone = Some(ended_at.elapsed());
            }
            assert!(
                ended_at.elapsed() < affinity_window + margin,
                "affinity window {affinity_window:?} passed {margin:?} ago and {affinity_key} still exists (PTTL {})",
                pttl(affinity_key.clone()).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "TTL: ending key gone {ending_gone:?}, session record gone {record_gone:?}, affinity key gone {affinity_gone:?} after EndSession (close delay {close_delay:?}, window {affinity_window:?})"
        );
        let again = route(
            &mut client,
            route_request(&shop, "buyer-1", "req-2"),
            CALL_DEADLINE,
        )
        .await
        .unwrap();
        assert_ne!(
            again.reason,
            pb::RouteReason::Affinity as i32,
            "routed by an affinity whose window passed: {again:?}"
        );
        assert_ne!(again.session.unwrap().session_id, session.session_id);
    })
    .await;
}
