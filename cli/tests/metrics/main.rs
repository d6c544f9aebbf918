//! The metrics as an operator's Prometheus reads them: real `fenliu worker` and
//! `fenliu dispatcher` processes (one recorder each, as deployed) on a real
//! Redis with authentication on, scraped on their admin ports after a known
//! sequence of calls.
//!
//! - the counters hold exactly what the sequence did: calls by role, method
//!   and code, decisions by reason, over-capacity assignments by rule, queue
//!   waits, load spread, refusals by authentication and by the rate limit,
//!   leases and shards, streams open;
//! - a worker joining takes its share of the shards, and both workers count
//!   the moves and the lease operations of the handover;
//! - every family the README documents is served, with its documented type, by
//!   the roles it names, and nothing undocumented is;
//! - `promtool check metrics` accepts a scrape (skipped, saying so, where
//!   Prometheus' `promtool` is not installed: `scripts/install-deps`
//!   installs it).
//!
//! `cargo test -p fenliu-cli --test metrics`

mod calls;
mod deployment;
mod readme;
mod scrape;

use std::time::Duration;

use calls::{Tally, add_agent, new_shop, online, route, settings, upsert_shop};
use deployment::Deployment;
use fenliu_tests::{bounded_by, pb};
use scrape::{Scrape, http_get, scrape};
use tokio::time::Instant;

const TEST_LIMIT: Duration = Duration::from_secs(90);

/// Scrapes `address` until `ready` holds of the scrape (at most 10 s).
async fn scrape_until(address: std::net::SocketAddr, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let scraped = scrape(address).await;
        if ready(&scraped) || Instant::now() >= deadline {
            return scraped;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_known_sequence_of_calls_are_exact_on_dispatcher_and_worker() {
    bounded_by(TEST_LIMIT, async {
        let deployment = Deployment::start("metrics-seq").await;
        let token = deployment.auth.platform_token();
        let mut client = deployment.client(Some(&token)).await;
        let mut tally = Tally::default();
        let shop = "m-shop";

        // Two agents of one slot each; a closed session frees its slot at once;
        // the shop may Route once a second (bursts of 10).
        upsert_shop(&mut tally, &mut client, new_shop(shop)).await;
        add_agent(&mut tally, &mut client, shop, "a", 1).await;
        add_agent(&mut tally, &mut client, shop, "b", 1).await;
        let limits = settings(shop, |s| {
            s.close_delay_seconds = Some(0);
            s.route_rate_limit_per_second = Some(1);
        });
        upsert_shop(&mut tally, &mut client, limits).await;
        online(&mut tally, &mut client, shop, "a").await;
        online(&mut tally, &mut client, shop, "b").await;
        let watch = client
            .watch_shop(pb::WatchShopRequest {
                shop_id: shop.to_owned(),
                from_sequence: None,
            })
            .await;
        let watch = tally.note("WatchShop", watch).expect("watch the shop");

        // Two buyers fill both slots, the third queues, the first writes again.
        let first = route(&mut tally, &mut client, shop, "buyer-1", "")
            .await
            .unwrap();
        let second = route(&mut tally, &mut client, shop, "buyer-2", "")
            .await
            .unwrap();
        let third = route(&mut tally, &mut client, shop, "buyer-3", "")
            .await
            .unwrap();
        assert_eq!(first.reason, pb::RouteReason::Even);
        assert_eq!(second.reason, pb::RouteReason::Even);
        assert_eq!(third.reason, pb::RouteReason::Queued);
        let queued = scrape(deployment.worker.metrics).await;
        assert_eq!(queued.value("fenliu_queued_sessions", &[]), 1.0);
        assert!(
            queued
                .get("fenliu_queue_oldest_wait_seconds", &[])
                .is_some()
        );
        let again = route(&mut tally, &mut client, shop, "buyer-1", "")
            .await
            .unwrap();
        assert_eq!(again.reason, pb::RouteReason::OpenSession);

        // The first buyer's session ends: its slot takes the queued buyer (R14).
        let (x, y) = (first.account().to_owned(), second.account().to_owned());
        let ended = client
            .end_session(pb::EndSessionRequest {
                shop_id: shop.to_owned(),
                session_id: first.id(),
                actor_account_id: String::new(),
            })
            .await;
        tally
            .note("EndSession", ended)
            .expect("end the first session");
        // The main account moves the second buyer onto x, which is full (R16),
        // and a buyer addresses x, full twice over (R2); another takes y.
        let moved = client
            .transfer(pb::TransferRequest {
                shop_id: shop.to_owned(),
                session_id: second.id(),
                actor_account_id: "main".to_owned(),
                to_account_id: x.clone(),
            })
            .await;
        tally
            .note("Transfer", moved)
            .expect("transfer to a full account");
        let addressed = route(&mut tally, &mut client, shop, "buyer-4", &x)
            .await
            .unwrap();
        assert_eq!(addressed.reason, pb::RouteReason::Addressed);
        let fifth = route(&mut tally, &mut client, shop, "buyer-5", "")
            .await
            .unwrap();
        assert_eq!(
            (fifth.reason, fifth.account()),
            (pb::RouteReason::Even, y.as_str())
        );

        // Refused: no token (at the dispatcher), a read-only token (at the
        // worker), and the shop's rate limit (4 of its burst of 10 are left).
        let mut anonymous = deployment.client(None).await;
        let refused = route(&mut tally, &mut anonymous, shop, "buyer-6", "").await;
        assert_eq!(refused.unwrap_err().code(), tonic::Code::Unauthenticated);
        let reader = deployment
            .auth
            .sign(&deployment.auth.claims(&["*"], "fenliu:read"));
        let mut reader = deployment.client(Some(&reader)).await;
        let refused = route(&mut tally, &mut reader, shop, "buyer-6", "").await;
        assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);
        let mut flood_queued = 0.0;
        for n in 0..8 {
            let buyer = format!("flood-{n}");
            if let Ok(routed) = route(&mut tally, &mut client, shop, &buyer, "").await {
                assert_eq!(routed.reason, pb::RouteReason::Queued);
                flood_queued += 1.0;
            }
        }
        let rate_limited = tally.of("Route", "RESOURCE_EXHAUSTED");
        assert!(
            rate_limited >= 1,
            "the flood went past the limit: {tally:?}"
        );
        let state = client
            .get_shop_state(pb::GetShopStateRequest {
                shop_id: shop.to_owned(),
            })
            .await;
        tally.note("GetShopState", state).expect("read the shop");

        // A shop whose bot holds buyers while nobody is online (R13c), and whose
        // agent's presence runs out after a second with nobody calling.
        let pool = "m-pool";
        upsert_shop(&mut tally, &mut client, new_shop(pool)).await;
        add_agent(&mut tally, &mut client, pool, "c", 1).await;
        let bot = settings(pool, |s| {
            s.bot_enabled = Some(true);
            s.presence_ttl_seconds = Some(1);
        });
        upsert_shop(&mut tally, &mut client, bot).await;
        let pooled = route(&mut tally, &mut client, pool, "buyer-p", "")
            .await
            .unwrap();
        assert_eq!(pooled.reason, pb::RouteReason::MessagePool);
        online(&mut tally, &mut client, pool, "c").await;

        // ------------------------------------------------------------ scrape
        let worker = scrape_until(deployment.worker.metrics, |s| {
            s.value("fenliu_timer_lag_seconds_count", &[]) >= 1.0
        })
        .await;
        // The agent's presence ran out with nobody calling: the timer acted.
        assert!(worker.value("fenliu_timer_lag_seconds_count", &[]) >= 1.0);
        let dispatcher = scrape(deployment.dispatcher.metrics).await;
        assert_calls(&dispatcher, "dispatcher", &tally, &[]);
        // The worker never sees what the dispatcher refused itself.
        assert_calls(&worker, "worker", &tally, &["UNAUTHENTICATED"]);
        assert_eq!(
            dispatcher.value(
                "fenliu_rpc_requests_total",
                &[("role", "dispatcher"), ("method", "Route"), ("code", "OK")]
            ),
            7.0 + flood_queued,
            "buyers 1-5 and buyer-1 again, the pooled buyer, the flood that passed"
        );

        // Decisions by reason; replays and refusals are no decisions.
        let decisions =
            |reason| worker.value("fenliu_route_decisions_total", &[("reason", reason)]);
        assert_eq!(decisions("EVEN"), 3.0);
        assert_eq!(decisions("QUEUED"), 1.0 + flood_queued);
        assert_eq!(decisions("OPEN_SESSION"), 1.0);
        assert_eq!(decisions("ADDRESSED"), 1.0);
        assert_eq!(decisions("MESSAGE_POOL"), 1.0);
        assert_eq!(
            worker.sum("fenliu_route_decisions_total", &[]),
            7.0 + flood_queued
        );
        let over = |rule| worker.value("fenliu_assignments_over_capacity_total", &[("rule", rule)]);
        assert_eq!((over("R16"), over("R2")), (1.0, 1.0));
        assert_eq!(
            worker.sum("fenliu_assignments_over_capacity_total", &[]),
            2.0
        );
        // One buyer waited in a queue and was assigned.
        assert_eq!(worker.value("fenliu_queue_wait_seconds_count", &[]), 1.0);
        // Spread after each decision but R1 (and none where nobody is available):
        // 1 (one full of two), 0, 0, 3 (x at 3 of 1, y empty), 2 (x 3, y 1), then
        // 2 for each flooding buyer queued.
        assert_eq!(
            worker.value("fenliu_load_spread_count", &[]),
            5.0 + flood_queued
        );
        assert_eq!(
            worker.value("fenliu_load_spread_sum", &[]),
            6.0 + 2.0 * flood_queued
        );
        assert_eq!(worker.value("fenliu_queued_sessions", &[]), flood_queued);
        assert_eq!(worker.value("fenliu_message_pool_sessions", &[]), 1.0);
        assert_eq!(
            worker.value("fenliu_rate_limited_total", &[]),
            rate_limited as f64
        );

        // Authentication refusals, each counted once, where it happened.
        let refusals =
            |scrape: &Scrape, code| scrape.value("fenliu_auth_refusals_total", &[("code", code)]);
        assert_eq!(refusals(&dispatcher, "UNAUTHENTICATED"), 1.0);
        assert_eq!(refusals(&dispatcher, "PERMISSION_DENIED"), 0.0);
        assert_eq!(refusals(&worker, "PERMISSION_DENIED"), 1.0);
        assert_eq!(refusals(&worker, "UNAUTHENTICATED"), 0.0);

        // The one worker holds every shard, acquired once; Redis never failed.
        let shards = f64::from(fenliu_tests::TEST_SHARDS);
        assert_eq!(worker.value("fenliu_shards_owned", &[]), shards);
        let leases = |op, result| {
            worker.value(
                "fenliu_lease_operations_total",
                &[("op", op), ("result", result)],
            )
        };
        assert_eq!(leases("acquire", "ok"), shards);
        assert_eq!(leases("renew", "refused"), 0.0);
        assert_eq!(
            worker.value("fenliu_shard_moves_total", &[("direction", "in")]),
            shards
        );
        assert_eq!(
            worker.value("fenliu_shard_moves_total", &[("direction", "out")]),
            0.0
        );
        assert_eq!(worker.value("fenliu_fencing_rejections_total", &[]), 0.0);
        for node in [&worker, &dispatcher] {
            assert_eq!(node.sum("fenliu_redis_errors_total", &[]), 0.0);
            assert_eq!(node.value("fenliu_link_calls_in_flight", &[]), 0.0);
            assert_eq!(node.value("fenliu_watch_streams", &[]), 1.0);
        }
        // Every change went out in a group commit, each timed.
        let commits = worker.value("fenliu_commit_duration_seconds_count", &[]);
        assert!(commits >= 1.0);
        assert_eq!(
            worker.value("fenliu_commit_batch_calls_count", &[]),
            commits
        );
        assert!(worker.value("fenliu_commit_batch_calls_sum", &[]) >= commits);

        // The watcher leaves: no stream stays counted as open.
        drop(watch);
        for node in [&deployment.worker, &deployment.dispatcher] {
            let closed = scrape_until(node.metrics, |s| {
                s.value("fenliu_watch_streams", &[]) == 0.0
            })
            .await;
            assert_eq!(closed.value("fenliu_watch_streams", &[]), 0.0);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_worker_takes_shards_and_both_count_the_moves() {
    bounded_by(TEST_LIMIT, async {
        let deployment = Deployment::start("metrics-join").await;
        let shards = f64::from(fenliu_tests::TEST_SHARDS);
        let joined = deployment.join_worker("w2");
        // Settled: the shards are split between the two, every one owned, and
        // what the second took the first gave up.
        let deadline = Instant::now() + Duration::from_secs(30);
        let (first, second) = loop {
            let first = scrape(deployment.worker.metrics).await;
            let second = scrape(joined.metrics).await;
            let owned = |s: &Scrape| s.value("fenliu_shards_owned", &[]);
            let moved = |s: &Scrape, direction| {
                s.value("fenliu_shard_moves_total", &[("direction", direction)])
            };
            let settled = owned(&second) > 0.0
                && owned(&first) + owned(&second) == shards
                && moved(&first, "out") == owned(&second)
                && moved(&second, "in") == owned(&second);
            if settled {
                break (first, second);
            }
            assert!(
                Instant::now() < deadline,
                "the shards never settled between the workers; second's log:\n{}",
                joined.process.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let taken = second.value("fenliu_shards_owned", &[]);
        assert!(taken < shards, "the first keeps its share");
        let leases = |s: &Scrape, op, result| {
            s.value(
                "fenliu_lease_operations_total",
                &[("op", op), ("result", result)],
            )
        };
        // The first released what it handed over; the second acquired it.
        assert_eq!(leases(&first, "release", "ok"), taken);
        assert_eq!(leases(&second, "acquire", "ok"), taken);
        assert_eq!(
            first.value("fenliu_shard_moves_total", &[("direction", "in")]),
            shards
        );
        // Handing over is no loss: no renewal was refused, nothing fenced.
        for worker in [&first, &second] {
            assert_eq!(leases(worker, "renew", "refused"), 0.0);
            assert_eq!(worker.value("fenliu_fencing_rejections_total", &[]), 0.0);
            assert_eq!(worker.sum("fenliu_redis_errors_total", &[]), 0.0);
        }
    })
    .await;
}

/// `scrape`'s call counters of `role` are the tally's (leaving out `codes`),
/// and each call was timed once.
fn assert_calls(scrape: &Scrape, role: &str, tally: &Tally, codes: &[&str]) {
    for ((method, code), calls) in &tally.calls {
        let expected = if codes.contains(code) { 0 } else { *calls };
        let labels = [("role", role), ("method", method), ("code", code)];
        assert_eq!(
            scrape.value("fenliu_rpc_requests_total", &labels),
            expected as f64,
            "{role} {method} {code}"
        );
    }
    let counted: u64 = tally
        .calls
        .iter()
        .filter(|((_, code), _)| !codes.contains(code))
        .map(|(_, calls)| calls)
        .sum();
    assert_eq!(
        scrape.sum("fenliu_rpc_requests_total", &[("role", role)]),
        counted as f64,
        "{role}: no call counted that the client did not make"
    );
    assert_eq!(
        scrape.sum("fenliu_rpc_duration_seconds_count", &[("role", role)]),
        counted as f64,
        "{role}: every call timed once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_metric_is_served_with_its_type_and_nothing_undocumented() {
    bounded_by(TEST_LIMIT, async {
        let deployment = Deployment::start("metrics-doc").await;
        let documented = readme::documented_families();
        for (role, node) in [
            ("worker", &deployment.worker),
            ("dispatcher", &deployment.dispatcher),
        ] {
            let served = scrape(node.metrics).await;
            for family in documented.iter().filter(|f| f.served_by(role)) {
                assert_eq!(
                    served.types.get(&family.name),
                    Some(&family.kind),
                    "{role} serves {} as documented",
                    family.name
                );
            }
            for name in served.types.keys().filter(|name| name.starts_with("fenliu_")) {
                let row = documented.iter().find(|f| &f.name == name);
                assert!(
                    row.is_some_and(|row| row.served_by(role)),
                    "{role} serves {name}, which the README's table does not list for it"
                );
            }
            // Histograms have buckets, from sub-millisecond up.
            if role == "worker" {
                let first = r#"fenliu_rpc_duration_seconds_bucket{role="worker",method="Route",le="0.000025"}"#;
                assert!(served.text.contains(first), "sub-millisecond buckets");
            }
            // /metrics and nothing else.
            let (status, _) = http_get(node.metrics, "/").await.expect("GET /");
            assert_eq!(status, 404);
            promtool_accepts(role, &served.text);
        }
    })
    .await;
}

/// `promtool check metrics` (Prometheus' own linter) accepts `text`; skipped,
/// saying so, where promtool is not installed.
fn promtool_accepts(role: &str, text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            eprintln!(
                "SKIPPED promtool check of the {role}'s scrape: promtool not runnable ({error}); scripts/install-deps installs it (Debian package prometheus)"
            );
            return;
        }
    };
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(text.as_bytes())
        .expect("write the scrape to promtool");
    let output = child.wait_with_output().expect("promtool ran");
    assert!(
        output.status.success(),
        "promtool check metrics refused the {role}'s scrape:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
