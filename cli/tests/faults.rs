//! Fault tests on real processes: `fenliu worker` and `fenliu dispatcher` (the
//! `fenliu` binary) against real `redis-server`s on free loopback ports, while a
//! worker is killed (SIGKILL), frozen past its lease (SIGSTOP), joined by another,
//! and while Redis is frozen or stopped; and Redis' own TTL keys for affinity and
//! close delays, read directly.
//!
//! Every test has its own Redis and namespace, is bounded in time, and prints the
//! figures it measures (run with `--nocapture` to see them). Each reads as its
//! phases, in order; the phases follow it, each named after what it does and
//! asserts.
//!
//! `cargo test -p fenliu-cli --test faults -- --nocapture`

mod common;

use std::time::Duration;

use common::*;
use fenliu_node::link::NOT_OWNER_METADATA;
use fenliu_tests::{
    Client, TEST_SHARDS, bounded_by, check_shop_invariants, comparable, end_session, get_session,
    pb, shop_state, start_redis, try_get_session, unique_namespace,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::Code;

/// The longest any one test here may run.
const TEST_LIMIT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------ 1. SIGKILL

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_traffic_is_replaced_within_the_lease_and_no_acknowledged_session_is_lost()
 {
    bounded_by(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("flt-kill");
        let ids = ["w1", "w2", "w3"];
        let (mut workers, _dispatcher, mut client) =
            start_deployment(redis.port(), &ns, &ids).await;

        // Two shops on each worker; w2 is the one killed.
        let victim = "w2";
        let shops = shops_on_each(&ns, &ids, 2);
        let victim_shops = shops_owned_by(&format!("{ns}-shop"), victim, &ids, 2);
        assert_leased_by(redis.port(), &ns, &victim_shops, victim).await;
        // 3 accounts of 4 slots: 12 slots per shop, then buyers queue.
        for shop in &shops {
            fault_shop(shop, 3, 4).create(&mut client).await;
        }

        // Traffic flows on every shop, then the victim dies mid-flight.
        let traffic = Traffic::start(&client, &shops);
        assert!(
            traffic.flowing_on(&shops).await,
            "the client's routes were not acknowledged before the kill"
        );
        let victim_index = ids.iter().position(|id| *id == victim).unwrap();
        let (in_flight, killed_at) =
            kill_with_routes_in_flight(&mut workers[victim_index], &client, &traffic, &victim_shops)
                .await;
        assert_served_again_within_the_lease(&traffic.attempts, &victim_shops, killed_at, victim)
            .await;

        // A little more traffic on the new owners, then stop.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let attempts = traffic.stop().await;
        let in_flight = answers_to_routes_in_flight(in_flight, killed_at).await;
        let attempts = attempts.lock().unwrap().clone();

        // The victim's shards now belong to the survivors, as the rendezvous says.
        let survivors = ["w1", "w3"];
        let leases =
            wait_for_rendezvous_leases(redis.port(), &ns, &survivors, Duration::from_secs(10))
                .await;
        assert_eq!(leases.count_of(victim), 0);

        print_traffic(&attempts);
        // Checked at the end.
        let bad_failures = failures_other_than_unavailable(&attempts, killed_at);
        let acks: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_ok()).collect();
        let acknowledged = assert_acknowledged_sessions_kept(&mut client, &acks).await;
        assert_shops_hold_every_acknowledged_session(&mut client, &shops, &acknowledged).await;
        let replayed_across_failover =
            assert_acknowledged_routes_replay(&mut client, &acks, &victim_shops, killed_at).await;
        eprintln!(
            "SIGKILL: {replayed_across_failover} routes acknowledged by {victim} before its death replayed by its successors"
        );
        assert!(replayed_across_failover > 0);
        assert!(
            bad_failures.is_empty(),
            "routes failed otherwise than UNAVAILABLE around the SIGKILL: {bad_failures:#?}"
        );
        for call in &in_flight {
            assert!(
                call.result.is_ok(),
                "a Route in flight at the killed worker was not answered by its successor: {call:?}"
            );
        }
    })
    .await;
}

/// Makes sure calls are in flight at the victim when it dies: freezes it a
/// moment (its sockets stay open), sends one more Route per shop of it, then
/// kills it. Returns those calls and when the kill was.
async fn kill_with_routes_in_flight(
    victim: &mut Node,
    client: &Client,
    traffic: &Traffic,
    victim_shops: &[String],
) -> (Vec<JoinHandle<Attempt>>, Instant) {
    victim.process.pause().expect("SIGSTOP the victim");
    let mut in_flight = Vec::new();
    for shop in victim_shops {
        let (buyer, request_id) = ("buyer-in-flight".to_owned(), format!("{shop}-in-flight"));
        in_flight.push(traffic.send_one(client, shop.clone(), buyer, request_id));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed_at = Instant::now();
    victim.process.kill().expect("SIGKILL the victim");
    (in_flight, killed_at)
}

// ------------------------------------------------------------------ 2. SIGSTOP

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_paused_past_its_lease_is_replaced_and_after_resuming_refuses_its_former_shops() {
    bounded_by(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("flt-pause");
        let ids = ["w1", "w2", "w3"];
        let (workers, _dispatcher, mut client) = start_deployment(redis.port(), &ns, &ids).await;
        let victim = &workers[1];
        assert_eq!(victim.id, "w2");
        let shop = shops_owned_by(&format!("{ns}-shop"), &victim.id, &ids, 1).remove(0);
        fault_shop(&shop, 2, 5).create(&mut client).await;
        let before_pause = route_within(&mut client, &shop, "buyer-0", "req-0", CALL_DEADLINE)
            .await
            .expect("route before the pause");
        let mut direct = connect(victim).await;

        let pause = Duration::from_secs(4);
        let paused_at = Instant::now();
        victim.process.pause().expect("SIGSTOP");
        assert_eq!(victim.process.state(), Some('T'));

        // Meanwhile the shop is served by another worker.
        let during =
            route_until_served_by_another(&mut client, &shop, victim, paused_at, pause).await;
        assert_shard_leased_away_from(redis.port(), &ns, &shop, victim).await;

        let remaining = pause.saturating_sub(paused_at.elapsed());
        tokio::time::sleep(remaining).await;
        let before = comparable(shop_state(&mut client, &shop).await);
        let stepped_down_before = StepDownLines::count(victim);
        resume_and_assert_it_refuses_its_former_shop(&mut direct, victim, &shop).await;
        // It changed nothing.
        let after = comparable(shop_state(&mut client, &shop).await);
        assert_eq!(before, after, "the refused call changed the shop");
        let keys = ShopKeys::new(redis.port(), &ns, &shop);
        let remembered = keys.exists(&keys.key("request:req-direct")).await;
        assert_eq!(remembered, "0", "the refused route was stored");
        assert_stepped_down_and_still_running(victim, stepped_down_before).await;

        // The deployment settles back on the three workers, and the shop still
        // answers with both sessions where they were.
        wait_for_rendezvous_leases(redis.port(), &ns, &ids, Duration::from_secs(10)).await;
        for response in [&before_pause, &during] {
            let session = response.session.as_ref().unwrap();
            let now = get_session(&mut client, &shop, session.session_id).await;
            assert_eq!(now.account_id, session.account_id);
        }
        check_shop_invariants(&mut client, &shop).await;
    })
    .await;
}

/// While the shop's owner is frozen, the client retries its route (same request
/// id) with a short deadline until it is answered, which must be before the pause
/// ends and within the lease TTL and [`FAILOVER_MARGIN`]; returns the answer.
async fn route_until_served_by_another(
    client: &mut Client,
    shop: &str,
    victim: &Node,
    paused_at: Instant,
    pause: Duration,
) -> pb::RouteResponse {
    let poll_deadline = Duration::from_millis(1000);
    let mut tries = Vec::new();
    let during = loop {
        let result = route_within(client, shop, "buyer-1", "req-1", poll_deadline).await;
        match result {
            Ok(response) => break response,
            Err(status) => {
                tries.push(format!(
                    "{:?} after {:?}",
                    status.code(),
                    paused_at.elapsed()
                ));
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
        shard(shop),
        victim.id
    );
    assert!(
        served_after <= LEASE_TTL + FAILOVER_MARGIN,
        "served only after {served_after:?}"
    );
    during
}

/// Resumes the frozen worker and routes straight to it, for the shop it served
/// before the pause: it must refuse, UNAVAILABLE and marked not the owner.
async fn resume_and_assert_it_refuses_its_former_shop(
    direct: &mut Client,
    victim: &Node,
    shop: &str,
) {
    victim.process.resume().expect("SIGCONT");
    let resumed_at = Instant::now();
    let refused = route_within(
        direct,
        shop,
        "buyer-direct",
        "req-direct",
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
}

/// A client does not know a worker froze: its call, sent with an ordinary
/// deadline, goes to the frozen owner (the dispatcher still has it in its
/// membership). The shop's shard moves to another worker within the lease TTL,
/// so the call must be answered by that successor within the TTL and a margin,
/// as calls to a killed worker are, rather than wait out its whole deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_sent_to_a_frozen_worker_is_answered_by_its_successor_within_the_lease() {
    bounded_by(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("flt-frozen-call");
        let ids = ["w1", "w2"];
        let (workers, _dispatcher, mut client) = start_deployment(redis.port(), &ns, &ids).await;
        let shop = shops_owned_by(&format!("{ns}-shop"), "w2", &ids, 1).remove(0);
        fault_shop(&shop, 2, 5).create(&mut client).await;
        route_within(&mut client, &shop, "buyer-0", "req-0", CALL_DEADLINE)
            .await
            .expect("route before the freeze");

        workers[1].process.pause().expect("SIGSTOP");
        let paused_at = Instant::now();
        let answer = route_within(&mut client, &shop, "buyer-1", "req-1", CALL_DEADLINE).await;
        let took = paused_at.elapsed();
        eprintln!(
            "FROZEN CALL: Route sent right after SIGSTOP of the shop's owner, deadline {CALL_DEADLINE:?}: {:?} after {took:?}",
            answer
                .as_ref()
                .map(|r| r.reason)
                .map_err(|s| (s.code(), s.message().to_owned()))
        );
        let new_owner = read_leases(redis.port(), &ns).await.unwrap().owners
            [shard(&shop) as usize]
            .clone();
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
    bounded_by(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("flt-join");
        let url = redis.url();
        let _w1 = spawn_worker(&url, &ns, "w1");
        let _w2 = spawn_worker(&url, &ns, "w2");
        let before = wait_for_rendezvous_leases(redis.port(), &ns, &["w1", "w2"], SETTLE).await;
        assert!(before.all_leased());

        let w3 = spawn_worker(&url, &ns, "w3");
        let joined_at = Instant::now();
        let after = wait_for_a_stable_map_with(redis.port(), &ns, &w3).await;
        let settled_after = joined_at.elapsed();

        let mut moved = 0;
        for shard in 0..TEST_SHARDS as usize {
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
        let ideal_share = (0..TEST_SHARDS)
            .filter(|s| rendezvous(*s, &["w1", "w2", "w3"]).as_deref() == Some("w3"))
            .count();
        eprintln!(
            "JOIN: {moved} of {TEST_SHARDS} shards moved to w3 (rendezvous share {ideal_share}, even share {:.1}); settled {settled_after:?} after start; map {:?}",
            f64::from(TEST_SHARDS) / 3.0,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_redis_makes_calls_fail_unavailable_without_answering_unstored_decisions_and_the_system_recovers()
 {
    bounded_by(TEST_LIMIT, async {
        let redis = start_redis().await;
        let ns = unique_namespace("flt-redis-pause");
        let ids = ["w1", "w2"];
        let (_workers, _dispatcher, mut client) = start_deployment(redis.port(), &ns, &ids).await;
        let shops = [
            shops_owned_by(&format!("{ns}-shop"), "w1", &ids, 1).remove(0),
            shops_owned_by(&format!("{ns}-shop"), "w2", &ids, 1).remove(0),
        ];
        for shop in &shops {
            roomy_shop(&mut client, shop).await;
        }
        let mut buyers = NewBuyers::default();
        let mut answered = route_three_buyers_on_each(&mut client, &shops, &mut buyers).await;

        // Redis hangs (SIGSTOP): connections stay open, nothing is answered.
        redis.pause().expect("SIGSTOP redis");
        let paused_at = Instant::now();
        let outage = Duration::from_millis(3500);
        let during =
            route_through_the_outage(&mut client, &shops, &mut buyers, paused_at, outage).await;
        tokio::time::sleep(outage.saturating_sub(paused_at.elapsed())).await;
        redis.resume().expect("SIGCONT redis");
        let resumed_at = Instant::now();
        assert_every_route_failed_as_an_outage(&during);

        answered
            .extend(route_again_once_recovered(&mut client, &shops, &mut buyers, resumed_at).await);
        // Every session answered OK is stored, with its account.
        for (shop, buyer, _, session) in &answered {
            let now = try_get_session(&mut client, shop, session.session_id)
                .await
                .unwrap_or_else(|s| panic!("{shop}/{buyer}: answered session not stored: {s:?}"));
            assert_eq!(&now.buyer_id, buyer);
            assert_eq!(now.account_id, session.account_id);
        }
        assert_refused_routes_get_one_answer_each(&mut client, &during).await;
        for shop in &shops {
            check_shop_invariants(&mut client, shop).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_redis_makes_calls_fail_unavailable_and_the_workers_recover_by_themselves() {
    bounded_by(TEST_LIMIT, async {
        let mut redis = start_redis().await;
        let port = redis.port();
        let ns = unique_namespace("flt-redis-restart");
        let ids = ["w1", "w2"];
        let (workers, _dispatcher, mut client) = start_deployment(port, &ns, &ids).await;

        // A shop that lives through the restart in its owner's memory only, and
        // one that is busy; both routed once.
        let old_shop = shop_leased_under_token_1(port, &ns).await;
        let busy_shop = format!("{ns}-busy");
        roomy_shop(&mut client, &old_shop).await;
        roomy_shop(&mut client, &busy_shop).await;
        for shop in [&old_shop, &busy_shop] {
            route_within(&mut client, shop, "buyer-0", "req-0", CALL_DEADLINE)
                .await
                .expect("route before the restart");
        }

        let stopped_at = Instant::now();
        tokio::task::block_in_place(|| redis.stop()).expect("stop redis");
        let stop_took = stopped_at.elapsed();
        let down = Duration::from_millis(2500);
        let deadline = Duration::from_millis(1000);
        let during =
            call_while_redis_is_down(&mut client, &ns, &busy_shop, stopped_at, down, deadline)
                .await;
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
        assert_registered_again(port, &ns, &workers).await;
        let new_shop = format!("{ns}-after");
        // Creating a shop and routing work again.
        create_a_shop_once_redis_is_back(&mut client, &new_shop, deadline).await;
        let routed = route_within(
            &mut client,
            &new_shop,
            "buyer-new",
            "req-new",
            CALL_DEADLINE,
        )
        .await
        .expect("route on a shop created after the restart");
        eprintln!(
            "REDIS STOP: leases back {leases_back:?} and a new shop routed {:?} after the restart",
            restarted_at.elapsed()
        );
        let session = routed.session.unwrap();
        let stored = get_session(&mut client, &new_shop, session.session_id).await;
        assert_eq!(stored.account_id, session.account_id);

        // The shops created before the restart were lost with Redis' data: no
        // worker may keep answering for them out of its memory, since nothing it
        // decides for them is stored as a shop.
        for shop in [&busy_shop, &old_shop] {
            assert_lost_shop_comes_to_not_found(&mut client, port, &ns, shop, shop == &old_shop)
                .await;
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
    bounded_by(TEST_LIMIT, async {
        let redis = start_redis().await;
        let port = redis.port();
        let ns = unique_namespace("flt-ttl");
        let (_workers, _dispatcher, mut client) = start_deployment(port, &ns, &["w1"]).await;
        let shop = format!("{ns}-shop");
        let affinity_window = Duration::from_secs(2);
        let close_delay = Duration::from_secs(1);
        fault_shop(&shop, 1, 5)
            .affinity_window(2)
            .close_delay(1)
            .create(&mut client)
            .await;
        let keys = ShopKeys::new(port, &ns, &shop);

        assert_a_buyer_back_within_the_window_goes_by_affinity(&mut client, &shop).await;
        let routed = route_within(&mut client, &shop, "buyer-1", "req-1", CALL_DEADLINE)
            .await
            .unwrap();
        let session = routed.session.unwrap();
        assert_eq!(session.state, pb::SessionState::Assigned as i32);
        let affinity_key = keys.key("affinity:buyer-1");
        let ending_key = keys.key(&format!("ending:{}", session.session_id));
        let ttl = keys.pttl(&affinity_key).await;
        assert!(
            ttl > 0 && ttl <= 2000,
            "PTTL {affinity_key} = {ttl} after the route"
        );

        let ended_at = end_and_assert_both_keys_expire_in_time(
            &mut client,
            &keys,
            session.session_id,
            &affinity_key,
            &ending_key,
        )
        .await;
        let margin = Duration::from_millis(1500);
        let (ending_gone, record_gone) = wait_for_the_session_to_close(
            &mut client,
            &keys,
            session.session_id,
            &ending_key,
            ended_at,
            close_delay,
            margin,
        )
        .await;
        let affinity_gone =
            wait_for_the_affinity_key_to_go(&keys, &affinity_key, ended_at, affinity_window, margin)
                .await;
        eprintln!(
            "TTL: ending key gone {ending_gone:?}, session record gone {record_gone:?}, affinity key gone {affinity_gone:?} after EndSession (close delay {close_delay:?}, window {affinity_window:?})"
        );
        // The buyer is new again.
        let again = route_within(&mut client, &shop, "buyer-1", "req-2", CALL_DEADLINE)
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

/// Control: a buyer coming back within the window goes by affinity.
async fn assert_a_buyer_back_within_the_window_goes_by_affinity(client: &mut Client, shop: &str) {
    let control = route_within(client, shop, "buyer-control", "req-c1", CALL_DEADLINE)
        .await
        .unwrap();
    end_session(client, shop, control.session.unwrap().session_id).await;
    let back = route_within(client, shop, "buyer-control", "req-c2", CALL_DEADLINE)
        .await
        .unwrap();
    assert_eq!(
        back.reason,
        pb::RouteReason::Affinity as i32,
        "control: {back:?}"
    );
}

/// Ends the session: its affinity key expires within the window (2 s) and its
/// ending key within the close delay (1 s). Returns when it ended.
async fn end_and_assert_both_keys_expire_in_time(
    client: &mut Client,
    keys: &ShopKeys,
    session_id: u64,
    affinity_key: &str,
    ending_key: &str,
) -> Instant {
    let ended = end_session(client, &keys.shop, session_id).await;
    let ended_at = Instant::now();
    assert_eq!(ended.state, pb::SessionState::Ended as i32);
    let affinity_ttl = keys.pttl(affinity_key).await;
    let ending_ttl = keys.pttl(ending_key).await;
    eprintln!("TTL: after EndSession PTTL affinity {affinity_ttl} ms, ending {ending_ttl} ms");
    assert!(
        affinity_ttl > 0 && affinity_ttl <= 2000,
        "PTTL {affinity_key} = {affinity_ttl}"
    );
    assert!(
        ending_ttl > 0 && ending_ttl <= 1000,
        "PTTL {ending_key} = {ending_ttl}"
    );
    assert_eq!(keys.exists(ending_key).await, "1");
    ended_at
}

/// The close delay passes: the ending key is gone and, with nobody calling, the
/// session is closed and removed from the stored sessions, within the delay and
/// `margin`. Returns how long after the end each was gone.
async fn wait_for_the_session_to_close(
    client: &mut Client,
    keys: &ShopKeys,
    session_id: u64,
    ending_key: &str,
    ended_at: Instant,
    close_delay: Duration,
    margin: Duration,
) -> (Option<Duration>, Option<Duration>) {
    let sessions_key = keys.key("sessions");
    let session_field = session_id.to_string();
    let mut ending_gone = None;
    let mut record_gone = None;
    while ending_gone.is_none() || record_gone.is_none() {
        if ending_gone.is_none() && keys.exists(ending_key).await == "0" {
            ending_gone = Some(ended_at.elapsed());
        }
        if record_gone.is_none() && keys.hexists(&sessions_key, &session_field).await == "0" {
            record_gone = Some(ended_at.elapsed());
        }
        assert!(
            ended_at.elapsed() < close_delay + margin,
            "close delay {close_delay:?} passed {margin:?} ago: ending key gone {ending_gone:?}, session record gone {record_gone:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closed = get_session(client, &keys.shop, session_id).await;
    assert_eq!(closed.state, pb::SessionState::Closed as i32, "{closed:?}");
    (ending_gone, record_gone)
}

/// The affinity window passes: the key is gone within the window and `margin`.
/// Returns how long after the end it was gone.
async fn wait_for_the_affinity_key_to_go(
    keys: &ShopKeys,
    affinity_key: &str,
    ended_at: Instant,
    affinity_window: Duration,
    margin: Duration,
) -> Option<Duration> {
    let mut affinity_gone = None;
    while affinity_gone.is_none() {
        if keys.exists(affinity_key).await == "0" {
            affinity_gone = Some(ended_at.elapsed());
        }
        assert!(
            ended_at.elapsed() < affinity_window + margin,
            "affinity window {affinity_window:?} passed {margin:?} ago and {affinity_key} still exists (PTTL {})",
            keys.pttl(affinity_key).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    affinity_gone
}
