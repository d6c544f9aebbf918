//! `fenliu loadtest`: drives a dispatcher or worker over gRPC with a shop
//! workload — many shops of skewed popularity, buyers new and returning, sessions
//! of several messages ended after a think time, some addressed messages and
//! transfers — in closed loop (`--concurrency`) or open loop (`--rps`), and
//! reports decisions per second and Route latency corrected for coordinated
//! omission, for platforms sizing the router.
//!
//! The run is bounded: set-up, `--warmup` + `--duration` of load, then a drain
//! of the calls in flight of at most `--timeout-ms` + 2 s. Only `--addr` is
//! contacted (with `--record`, a node of this process's own instead, recording
//! every call for `fenliu simulate`); shops and request ids carry a per-run id,
//! so runs never meet.
//!
//! Its modules, one concern each:
//! - `args`: the flags and the checks of their values;
//! - `api`: the connections to `--addr` and the calls' deadline;
//! - `shops`: the shops set up before the load and their heartbeats during it;
//! - `shared`: the state the load's tasks share, and the drain of those in
//!   flight;
//! - `drive`: when Routes are sent, in closed or open loop;
//! - `flood`: the noisy tenant of `--flood-shop-rps`, counted apart;
//! - `conversation`: a buyer's Route and what follows it (transfer, end);
//! - `workload`: which buyer sends what, pure and seeded;
//! - `stats` and `report`: the measurements and the report made of them;
//! - `progress` and `cpu`: the live progress bar and the CPU time of
//!   `--cpu-of`.

mod api;
mod args;
mod conversation;
mod cpu;
mod drive;
mod flood;
mod measures;
mod progress;
mod report;
mod shared;
mod shops;
mod stats;
mod workload;

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fenliu_worker::recording::Recorder;

pub use args::LoadtestArgs;

use crate::dev::DevNode;
use api::{Api, CLIENT_GRACE, connect};
use args::DEFAULT_CONCURRENCY;
use drive::{closed_loop_run, open_loop_run, paced};
use flood::Flood;
use progress::{Progress, show_progress};
use report::{RunInfo, check_slo};
use shared::{Shared, lock, us};
use shops::set_up_shops;
use stats::Stats;
use workload::{Workload, WorkloadConfig};

/// Runs `fenliu loadtest`: checks the flags, sets the shops up, drives the
/// load, drains it and prints the report.
pub async fn run(mut args: LoadtestArgs) -> anyhow::Result<()> {
    args.check()?;
    // R26: a recording is exact only when taken by the worker that decides, so
    // `--record` loads a node of this process's own, which records every shop.
    let Some(path) = args.record.clone() else {
        return load(args).await;
    };
    let recorder = Arc::new(Recorder::create(&path, Vec::new())?);
    let node = DevNode::start_recording("127.0.0.1:0".parse()?, Some(recorder), None).await?;
    args.addr = node.url();
    let driven = load(args).await;
    node.stop().await?;
    eprintln!("fenliu loadtest: calls recorded to {}", path.display());
    driven
}

/// Loads `args.addr` as `args` say.
async fn load(args: LoadtestArgs) -> anyhow::Result<()> {
    let clients = connect(&args, args.connections).await?;
    let run_id = run_id();
    let config = WorkloadConfig {
        run_id: run_id.clone(),
        shops: args.shops,
        accounts: args.accounts,
        zipf_s: args.zipf_s,
        returning: args.returning,
        messages_per_session: args.messages_per_session,
        addressed: args.addressed,
        transfers: args.transfers,
    };
    let shop_ids: Vec<String> = (0..args.shops)
        .map(|shop| workload::shop_id(&run_id, shop))
        .collect();
    let account_ids: Arc<[String]> = (0..args.accounts).map(workload::account_id).collect();
    let open_loop = args.rps.is_some();
    let concurrency = args.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let timeout = Duration::from_millis(args.timeout_ms);
    let api = Api::new(clients, timeout);

    eprintln!(
        "fenliu loadtest: setting up {} shops × {} accounts on {} (run {run_id})",
        args.shops, args.accounts, args.addr
    );
    let setup_started = Instant::now();
    set_up_shops(
        &api,
        &shop_ids,
        &account_ids,
        args.max_concurrent,
        args.close_delay_seconds,
    )
    .await?;
    let flood = match args.flood_shop_rps {
        Some(rps) => Some(Arc::new(
            Flood::set_up(
                Api::new(connect(&args, 1).await?, timeout),
                &run_id,
                &account_ids,
                args.max_concurrent,
                args.close_delay_seconds,
                rps,
                args.flood_shop_limit,
            )
            .await?,
        )),
        None => None,
    };
    eprintln!(
        "fenliu loadtest: set up in {:.1} s; {} s of warm-up, then {} s measured",
        setup_started.elapsed().as_secs_f64(),
        args.warmup,
        args.duration
    );

    // The run's clock starts now that the shops exist.
    let origin = Instant::now();
    let shared = Arc::new(Shared {
        api,
        workload: Mutex::new(Workload::new(config, args.seed)),
        stats: Mutex::new(Stats::new(open_loop, us(warmup), us(warmup + duration))),
        shop_ids,
        account_ids,
        origin,
        end: origin + warmup + duration,
        stopped: AtomicBool::new(false),
        think: Duration::from_millis(args.think_ms),
        in_flight: AtomicUsize::new(0),
    });
    let progress = tokio::spawn(show_progress(
        shared.clone(),
        Progress::new(warmup + duration),
        warmup,
    ));
    let heartbeats = tokio::spawn(shared.clone().heartbeats());
    let cpu = tokio::spawn(cpu::over_window(
        args.cpu_of.clone(),
        origin + warmup,
        origin + warmup + duration,
    ));

    let flooding = flood.clone().map(|flood| {
        let shared = shared.clone();
        let rps = flood.rps();
        tokio::spawn(async move {
            paced(&shared, rps, move |shared, due| {
                let flood = flood.clone();
                async move { flood.route(&shared, due).await }
            })
            .await
        })
    });
    let driven = match args.rps {
        Some(rps) => open_loop_run(&shared, rps).await,
        None => {
            closed_loop_run(&shared, concurrency).await;
            Ok(())
        }
    };
    if let Some(flooding) = flooding {
        flooding.await.context("the flood")??;
    }
    heartbeats.abort();
    let unfinished = shared
        .drain(timeout + CLIENT_GRACE + Duration::from_secs(1))
        .await;
    progress.abort();
    let _ = progress.await;
    driven?;

    let run = RunInfo {
        target: args.addr.clone(),
        run_id,
        mode: if open_loop {
            "open-loop"
        } else {
            "closed-loop"
        },
        concurrency: (!open_loop).then_some(concurrency as u64),
        rps: args.rps,
        connections: args.connections as u64,
        shops: args.shops as u64,
        accounts: args.accounts as u64,
        zipf_s: args.zipf_s,
        seed: args.seed,
        warmup_seconds: args.warmup,
        duration_seconds: args.duration,
        slo_p99_ms: args.slo_p99_ms,
        flags: args.flags(),
    };
    let mut report = lock(&shared.stats).report(run, unfinished as u64);
    report.cpu = cpu.await.context("the CPU sampler")??;
    report.flood = flood.as_deref().map(Flood::report);
    print!("{}", report.to_text());
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json())
            .with_context(|| format!("--json: writing {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, report.to_html())
            .with_context(|| format!("--html: writing {}", path.display()))?;
    }
    anyhow::ensure!(
        report.route_ok() > 0,
        "no Route call was answered OK in the measured window (see the errors above)"
    );
    if let Some(slo) = args.slo_p99_ms
        && let Err(why) = check_slo(&report, slo)
    {
        anyhow::bail!("SLO missed (--slo-p99-ms {slo}): {why}");
    }
    Ok(())
}

/// A per-run prefix for shop and request ids.
fn run_id() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("lt-{}-{}", since_epoch.as_secs(), std::process::id())
}
