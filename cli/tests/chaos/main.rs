//! The chaos run: Jepsen's method on a real deployment. Redis (with an
//! append-only file), workers and dispatchers run as processes on loopback, with
//! our own TCP fault proxies between dispatchers and workers and between workers
//! and Redis; client tasks send a random concurrent workload and record every
//! call with its outcome; a nemesis injects faults on a seeded schedule; then
//! everything is healed, the deployment converges, every shop and session is
//! read back, and a checker holds the history and the final state against what
//! fenliu promises. It prints the figures and each invariant, and exits non-zero
//! on a violation (the processes' logs are then kept, and their directory named).
//!
//! A test binary without libtest's harness (so the figures always print):
//! `cargo test -p fenliu-cli --test chaos` runs the short seeded run CI runs;
//! `scripts/chaos` a long one. Settings, from the environment:
//!
//! | variable | default | |
//! |---|---|---|
//! | `FENLIU_CHAOS_SEED` | 1 | the workload's and the nemesis' choices |
//! | `FENLIU_CHAOS_SECONDS` | 75 | how long the faults and the workload go on (the first round of faults, one of each kind, takes about 50 s) |
//! | `FENLIU_CHAOS_FSYNC` | `always` | Redis' `appendfsync`: `always` or `everysec` |
//! | `FENLIU_CHAOS_CLIENTS` | 12 | concurrent clients (client `i` calls shop `i % 6`) |
//! | `FENLIU_CHAOS_WORKERS` | 3 | workers |
//! | `FENLIU_CHAOS_DISPATCHERS` | 2 | dispatchers |
//!
//! Modules: [`calls`] (the fault tests' deadline helpers), [`deployment`] (the processes and proxies), [`shops`], [`workload`]
//! and [`client`] (the calls), [`history`], [`nemesis`], [`leases`] (shard
//! moves), [`event_watch`] (a `WatchShop` per shop, checked for every event once
//! in order), [`final_read`], [`checker`], [`report`], [`rng`].

// The fault tests' deadline helpers (a gRPC deadline, bounded on this side
// too); the rest of that file is theirs.
#[path = "../common/calls.rs"]
#[allow(dead_code)]
mod calls;
mod checker;
mod client;
mod deployment;
mod event_watch;
mod final_read;
mod history;
mod leases;
mod nemesis;
mod report;
mod rng;
mod shops;
mod workload;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fenliu_testkit::AppendFsync;
use fenliu_tests::pb;
use tokio::time::Instant;

use crate::checker::{Evidence, Index, Invariant, LossModel};
use crate::deployment::{Deployment, LEASE_TTL};
use crate::history::History;
use crate::shops::ShopSpec;
use crate::workload::Workload;

/// The run's settings.
#[derive(Clone, Debug)]
struct Config {
    seed: u64,
    /// How long the workload and the nemesis go on.
    chaos: Duration,
    fsync: AppendFsync,
    clients: usize,
    workers: usize,
    dispatchers: usize,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not valid")),
        Err(_) => default,
    }
}

impl Config {
    fn from_env() -> Config {
        let fsync = match std::env::var("FENLIU_CHAOS_FSYNC").as_deref() {
            Ok("everysec") => AppendFsync::EverySec,
            Ok("always") | Err(_) => AppendFsync::Always,
            Ok(other) => panic!("FENLIU_CHAOS_FSYNC={other:?}: always or everysec"),
        };
        Config {
            seed: env_or("FENLIU_CHAOS_SEED", 1),
            chaos: Duration::from_secs(env_or("FENLIU_CHAOS_SECONDS", 75)),
            fsync,
            clients: env_or("FENLIU_CHAOS_CLIENTS", 12),
            workers: env_or("FENLIU_CHAOS_WORKERS", 3),
            dispatchers: env_or("FENLIU_CHAOS_DISPATCHERS", 2),
        }
    }
}

/// Whether libtest-style arguments (`cargo test <filter>`, `--skip`, `--list`,
/// `--ignored`) leave this run out.
fn left_out(args: &[String]) -> bool {
    const NAME: &str = "chaos_run";
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => {
                println!("{NAME}: test");
                return true;
            }
            "--ignored" => return true,
            "--skip" if args.next().is_some_and(|skip| NAME.contains(skip.as_str())) => {
                return true;
            }
            // Flags whose value is the next argument, not a filter.
            "--test-threads" | "--logfile" | "--format" | "--color" | "--shuffle-seed" | "-Z" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            filter if !NAME.contains(filter) => return true,
            _ => {}
        }
    }
    false
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if left_out(&args) {
        return ExitCode::SUCCESS;
    }
    let config = Config::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Bounded as a whole: start-up, chaos, heal, read-back and replays (these
    // grow with the history: a 10-minute debug run on a busy 2-core machine
    // spent 5 minutes sending 41,000 acknowledged routes again).
    let limit = config.chaos * 2 + Duration::from_secs(150);
    // On a worker thread of its own, where blocking steps (stopping a process,
    // restarting Redis) may use `block_in_place`.
    let outcome =
        runtime.block_on(async { tokio::time::timeout(limit, tokio::spawn(run(config))).await });
    match outcome {
        Ok(Ok(Ok(true))) => ExitCode::SUCCESS,
        Ok(Ok(Ok(false))) => ExitCode::FAILURE,
        Ok(Ok(Err(error))) => {
            eprintln!("chaos run could not run: {error:#}");
            ExitCode::FAILURE
        }
        Ok(Err(panic)) => {
            eprintln!("chaos run panicked: {panic}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("chaos run took longer than {limit:?}");
            ExitCode::FAILURE
        }
    }
}

/// The whole run; whether every invariant held.
async fn run(config: Config) -> anyhow::Result<bool> {
    println!("== fenliu chaos run: {config:?}, lease TTL {LEASE_TTL:?} ==");
    let misjudged = checker::self_test::run();
    if !misjudged.is_empty() {
        println!("the checker misjudged made-up cases; not running:");
        for case in &misjudged {
            println!("  {case}");
        }
        return Ok(false);
    }
    println!("checker self-test: every made-up case judged as expected");
    let namespace = fenliu_tests::unique_namespace("chaos");
    let setup = Instant::now();
    let mut deployment =
        Deployment::start(&namespace, config.fsync, config.workers, config.dispatchers).await?;
    let specs = shops::shop_specs(&deployment.worker_ids());
    let urls = deployment.dispatcher_urls();
    let created = create_shops(&urls[0], &specs).await?;
    println!(
        "deployment up and {} shops created in {:.1}s",
        specs.len(),
        setup.elapsed().as_secs_f64()
    );

    // The chaos: workload, nemesis, lease watcher and event watchers at once.
    let shop_ids: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
    let event_watchers = event_watch::start(&urls, &shop_ids);
    let history = Arc::new(History::new(Instant::now()));
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(leases::watch(
        deployment.redis_port(),
        namespace.clone(),
        history.started(),
        stop_watch.clone(),
    ));
    let workload = Workload::new(specs.clone(), history.clone());
    let clients = workload.start(config.clients, &urls, config.seed);
    let schedule = nemesis::Schedule::new(config.seed, config.workers, config.dispatchers);
    let started = history.started();
    let chaos = config.chaos;
    let nemesis = tokio::spawn(async move {
        let records = nemesis::run(&mut deployment, schedule, started, chaos).await;
        (deployment, records)
    });
    let (mut deployment, records) = nemesis.await?;
    tokio::time::sleep(chaos.saturating_sub(history.now())).await;
    workload.stop();
    for client in clients {
        client.await?;
    }
    let chaos_end = history.now();

    // Heal, converge, read back.
    let mut recovery = Invariant {
        name: "the deployment recovered from every fault",
        checked: records.len() + 1,
        ..Invariant::default()
    };
    for record in records.iter().filter(|r| r.trouble.is_some()) {
        recovery.violations.push(format!("{record:?}"));
    }
    deployment.heal()?;
    let ids = deployment.worker_ids();
    if !deployment
        .wait_for_rendezvous(&ids, Duration::from_secs(30))
        .await
    {
        recovery
            .violations
            .push("the leases never settled on their rendezvous owners within 30 s".to_owned());
    }
    let converged = history.now() - chaos_end;
    // Let the shops' close delays (at most 2 s) run out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_watch.store(true, Ordering::SeqCst);
    let lease_log = watcher.await?;
    let ops = history.ops();
    let reading = Instant::now();
    let last = final_read::read_back(&urls[0], &shop_ids, &ops).await;
    let replays = final_read::replay_acknowledged(&urls, &ops).await;
    let last_events = last
        .shops
        .iter()
        .map(|(shop, state)| (shop.clone(), state.event_sequence))
        .collect();
    let watched = event_watchers.finish(&last_events, config.fsync).await;
    let read_time = reading.elapsed();

    // Check and report.
    let loss = LossModel {
        fsync: config.fsync,
        kills: records
            .iter()
            .filter(|r| matches!(r.fault, nemesis::Fault::KillRedis { .. }))
            .map(|r| r.began)
            .collect(),
    };
    let evidence = Evidence {
        specs: &specs,
        created: &created,
        ops: &ops,
        index: Index::new(&ops),
        last: &last,
        replays: &replays,
        loss: &loss,
    };
    let mut verdicts = vec![recovery];
    verdicts.extend(checker::check_all(&evidence));
    verdicts.push(watched);
    report::faults(&records);
    report::operations(&ops);
    report::unavailability(&ops, &specs, chaos_end, &records);
    let spurious = report::shard_moves(&lease_log, &records, &ids, LEASE_TTL);
    println!(
        "-- chaos {:.1}s; healed and converged {:.1}s after; read back {} shops and {} sessions and sent {} acknowledged routes again in {:.1}s; whole run {:.1}s --",
        chaos_end.as_secs_f64(),
        converged.as_secs_f64(),
        last.shops.len(),
        last.sessions.len(),
        replays.len(),
        read_time.as_secs_f64(),
        setup.elapsed().as_secs_f64()
    );
    print_redis_expectation(config.fsync);
    let violations = report::invariants(&verdicts);
    // Spurious moves break no promise (fencing keeps one writer), but they are
    // worth a look: the logs say which worker missed its renewals, and why.
    if violations > 0 || spurious > 0 {
        let dir = std::env::temp_dir().join(format!("fenliu-chaos-{namespace}"));
        match deployment.keep_logs(&dir) {
            Ok(files) => println!(
                "logs of every process kept in {} ({} files)",
                dir.display(),
                files.len()
            ),
            Err(error) => println!("could not keep the logs: {error:#}"),
        }
    }
    if violations > 0 {
        println!(
            "RESULT: FAIL, {violations} violations (seed {})",
            config.seed
        );
    } else {
        println!("RESULT: PASS (seed {})", config.seed);
    }
    Ok(violations == 0)
}

/// What the checker expects of the Redis set-up it ran on.
fn print_redis_expectation(fsync: AppendFsync) {
    match fsync {
        AppendFsync::Always => println!(
            "-- Redis appendfsync always: a SIGKILL of Redis may lose nothing acknowledged; the checker excuses nothing --"
        ),
        AppendFsync::EverySec => println!(
            "-- Redis appendfsync everysec: a SIGKILL of Redis may lose what was acknowledged in the {:?} before it; the checker excuses violations involving those (and only those) --",
            checker::EVERYSEC_LOSS
        ),
    }
}

/// Creates the shops through dispatcher `url`, once it routes (at most 20 s).
async fn create_shops(url: &str, specs: &[ShopSpec]) -> anyhow::Result<Vec<pb::Shop>> {
    let mut client = client::lazy_client(url);
    let deadline = Instant::now() + Duration::from_secs(20);
    for spec in specs {
        loop {
            let request = pb::GetShopRequest {
                shop_id: spec.id.clone(),
            };
            match client.get_shop(request).await {
                Err(status) if status.code() == tonic::Code::NotFound => break,
                other => anyhow::ensure!(
                    Instant::now() < deadline,
                    "{} not reachable through the dispatcher: {other:?}",
                    spec.id
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut created = Vec::new();
    for spec in specs {
        created.push(spec.create(&mut client).await);
    }
    Ok(created)
}
