//! `fenliu loadtest`: drives a dispatcher or worker over gRPC with a shop
//! workload — many shops of skewed popularity, buyers new and returning, sessions
//! of several messages ended after a think time, some addressed messages and
//! transfers — in closed loop (`--concurrency`) or open loop (`--rps`), and
//! reports decisions per second and Route latency corrected for coordinated
//! omission, for platforms sizing the router.
//!
//! The run is bounded: set-up, `--warmup` + `--duration` of load, then a drain
//! of the calls in flight of at most `--timeout-ms` + 2 s. Only `--addr` is
//! contacted; shops and request ids carry a per-run id, so runs never meet.

mod cpu;
mod progress;
mod report;
mod stats;
mod workload;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_client::RoutingClient;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};

use progress::Progress;
use report::{RunInfo, check_slo};
use stats::{Call, Failure, Stats};
use workload::{Answer, EndPlan, TransferPlan, Workload, WorkloadConfig};

/// Presence TTL of the generated shops; heartbeats go every third of it.
const PRESENCE_TTL_SECONDS: u32 = 60;
/// Closed-loop tasks when neither `--rps` nor `--concurrency` is given.
const DEFAULT_CONCURRENCY: usize = 64;
/// How much longer than the deadline it sends this side waits for an answer.
/// The server's own deadline normally ends a late call first, with an answer;
/// a call given up here is reset instead, and a client resetting many streams
/// gets its HTTP/2 connection closed by the h2 crate's reset limits (on
/// either side), failing every call on it.
const CLIENT_GRACE: Duration = Duration::from_secs(1);
/// Shops set up at the same time.
const SETUP_PARALLELISM: usize = 32;

#[derive(Debug, clap::Args)]
pub struct LoadtestArgs {
    /// The dispatcher or worker to load (the only address contacted).
    #[arg(long, env = "FENLIU_ADDR", default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// gRPC connections (HTTP/2 channels), used round-robin.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Shops created for the run.
    #[arg(long, default_value_t = 100)]
    pub shops: usize,
    /// Popularity skew: shop k receives a share of buyers ∝ 1/k^s (0: uniform).
    #[arg(long, default_value_t = 1.1)]
    pub zipf_s: f64,
    /// Customer-service accounts per shop, all ONLINE.
    #[arg(long, default_value_t = 20)]
    pub accounts: usize,
    /// Sessions an account serves at once (1..500).
    #[arg(long, default_value_t = 10)]
    pub max_concurrent: u32,
    /// Seconds an ended session keeps its slot (R15; 20 minutes in real shops).
    #[arg(long, default_value_t = 2)]
    pub close_delay_seconds: u32,
    /// Share of sessions started by a buyer seen before in the shop (R5).
    #[arg(long, default_value_t = 0.3)]
    pub returning: f64,
    /// Messages per session: the first routes the buyer, the others hit R1.
    #[arg(long, default_value_t = 3)]
    pub messages_per_session: u32,
    /// Milliseconds between a session's last message and its EndSession.
    #[arg(long, default_value_t = 200)]
    pub think_ms: u64,
    /// Share of sessions whose first message addresses a random account (R2).
    #[arg(long, default_value_t = 0.05)]
    pub addressed: f64,
    /// Share of sessions the main account transfers to another account (R16).
    #[arg(long, default_value_t = 0.02)]
    pub transfers: f64,
    /// Open loop: Route calls per second at fixed intervals, whether or not
    /// earlier calls were answered; latency counts from the scheduled time.
    #[arg(long, conflicts_with = "concurrency")]
    pub rps: Option<f64>,
    /// Closed loop (the default, with 64): tasks each sending their next Route
    /// when the previous one is answered.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before the measurement, left out of the figures.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Seed of the workload's random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Deadline of each call, in milliseconds, sent to the server (which
    /// answers a late call with an error); this side gives up 1 s later.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Exit non-zero when the Route p99 (corrected) is above this many ms.
    #[arg(long)]
    pub slo_p99_ms: Option<f64>,
    /// Report the CPU time this process spends over the measured window, and
    /// per call (Linux). Repeatable: `--cpu-of worker=PID --cpu-of redis=PID`.
    #[arg(long, value_name = "NAME=PID", value_parser = cpu::parse_watched)]
    pub cpu_of: Vec<cpu::Watched>,
}

impl LoadtestArgs {
    fn check(&self) -> anyhow::Result<()> {
        fn share(name: &str, value: f64) -> anyhow::Result<()> {
            anyhow::ensure!(
                (0.0..=1.0).contains(&value),
                "{name}: must be between 0 and 1, got {value}"
            );
            Ok(())
        }
        anyhow::ensure!(
            self.addr.starts_with("http://") || self.addr.starts_with("https://"),
            "--addr: must be a URL such as http://127.0.0.1:50051, got {}",
            self.addr
        );
        anyhow::ensure!(
            (1..=1024).contains(&self.connections),
            "--connections: must be between 1 and 1024, got {}",
            self.connections
        );
        anyhow::ensure!(
            (1..=1_000_000).contains(&self.shops),
            "--shops: must be between 1 and 1000000, got {}",
            self.shops
        );
        anyhow::ensure!(
            self.zipf_s.is_finite() && (0.0..=10.0).contains(&self.zipf_s),
            "--zipf-s: must be between 0 and 10, got {}",
            self.zipf_s
        );
        anyhow::ensure!(
            (1..=10_000).contains(&self.accounts),
            "--accounts: must be between 1 and 10000, got {}",
            self.accounts
        );
        anyhow::ensure!(
            (1..=500).contains(&self.max_concurrent),
            "--max-concurrent: must be between 1 and 500, got {}",
            self.max_concurrent
        );
        anyhow::ensure!(
            self.close_delay_seconds <= 86_400,
            "--close-delay-seconds: at most 86400, got {}",
            self.close_delay_seconds
        );
        share("--returning", self.returning)?;
        share("--addressed", self.addressed)?;
        share("--transfers", self.transfers)?;
        anyhow::ensure!(
            self.messages_per_session >= 1,
            "--messages-per-session: at least 1"
        );
        if let Some(rps) = self.rps {
            anyhow::ensure!(
                rps.is_finite() && (0.1..=10_000_000.0).contains(&rps),
                "--rps: must be between 0.1 and 10000000, got {rps}"
            );
        }
        if let Some(n) = self.concurrency {
            anyhow::ensure!(
                (1..=100_000).contains(&n),
                "--concurrency: must be between 1 and 100000, got {n}"
            );
        }
        anyhow::ensure!(
            self.duration.is_finite() && self.duration > 0.0 && self.duration <= 86_400.0,
            "--duration: must be more than 0 and at most 86400 seconds, got {}",
            self.duration
        );
        anyhow::ensure!(
            self.warmup.is_finite() && (0.0..=3_600.0).contains(&self.warmup),
            "--warmup: must be between 0 and 3600 seconds, got {}",
            self.warmup
        );
        anyhow::ensure!(
            (1..=600_000).contains(&self.timeout_ms),
            "--timeout-ms: must be between 1 and 600000, got {}",
            self.timeout_ms
        );
        if let Some(slo) = self.slo_p99_ms {
            anyhow::ensure!(
                slo.is_finite() && slo > 0.0,
                "--slo-p99-ms: must be more than 0, got {slo}"
            );
        }
        Ok(())
    }
}

pub async fn run(args: LoadtestArgs) -> anyhow::Result<()> {
    args.check()?;
    let clients = connect(&args).await?;
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
    let api = Api {
        clients: clients.into(),
        next_client: Arc::new(AtomicUsize::new(0)),
        timeout,
    };

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
    let cpu = tokio::spawn(cpu_over_window(
        args.cpu_of.clone(),
        origin + warmup,
        origin + warmup + duration,
    ));

    let driven = match args.rps {
        Some(rps) => open_loop_run(&shared, rps).await,
        None => {
            closed_loop_run(&shared, concurrency).await;
            Ok(())
        }
    };
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
    };
    let mut report = lock(&shared.stats).report(run, unfinished as u64);
    report.cpu = cpu.await.context("the CPU sampler")??;
    print!("{}", report.to_text());
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json())
            .with_context(|| format!("--json: writing {}", path.display()))?;
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

/// The watched processes' CPU time between the window's start and end.
async fn cpu_over_window(
    watched: Vec<cpu::Watched>,
    start: Instant,
    end: Instant,
) -> anyhow::Result<Vec<cpu::CpuRow>> {
    if watched.is_empty() {
        return Ok(Vec::new());
    }
    tokio::time::sleep_until(start.into()).await;
    let before = cpu::sample(&watched)?;
    tokio::time::sleep_until(end.into()).await;
    let after = cpu::sample(&watched)?;
    Ok(cpu::spent(&before, &after, &watched))
}

/// A per-run prefix for shop and request ids.
fn run_id() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("lt-{}-{}", since_epoch.as_secs(), std::process::id())
}

async fn connect(args: &LoadtestArgs) -> anyhow::Result<Vec<RoutingClient<Channel>>> {
    let endpoint = Endpoint::from_shared(args.addr.clone())
        .with_context(|| format!("--addr: {} is not a valid URL", args.addr))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    let mut clients = Vec::with_capacity(args.connections);
    // One Endpoint::connect per client: each is its own HTTP/2 connection.
    for _ in 0..args.connections {
        let channel = endpoint.connect().await.with_context(|| {
            format!(
                "cannot connect to {} (is a fenliu dispatcher or worker listening there?)",
                args.addr
            )
        })?;
        clients.push(RoutingClient::new(channel));
    }
    Ok(clients)
}

fn us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The connections to `--addr`, used round-robin, and the calls' deadline.
#[derive(Debug, Clone)]
struct Api {
    clients: Arc<[RoutingClient<Channel>]>,
    next_client: Arc<AtomicUsize>,
    timeout: Duration,
}

impl Api {
    /// The next connection, round-robin.
    fn client(&self) -> RoutingClient<Channel> {
        let i = self.next_client.fetch_add(1, Ordering::Relaxed);
        self.clients[i % self.clients.len()].clone()
    }

    /// A request carrying the deadline, so that a dispatcher forwards it.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeout);
        request
    }

    /// A call bounded on this side too, a little after its deadline.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        match tokio::time::timeout(self.timeout + CLIENT_GRACE, call).await {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                "no answer within --timeout-ms {}",
                self.timeout.as_millis()
            ))),
        }
    }
}

/// Everything the load's tasks share.
#[derive(Debug)]
struct Shared {
    api: Api,
    workload: Mutex<Workload>,
    stats: Mutex<Stats>,
    shop_ids: Vec<String>,
    account_ids: Arc<[String]>,
    /// The run's clock: the first request is scheduled at `origin`.
    origin: Instant,
    /// End of warm-up + duration: nothing new is sent from then on.
    end: Instant,
    /// Set by Ctrl-C: stop early and report what was measured.
    stopped: AtomicBool,
    think: Duration,
    /// Tasks with calls to make (closed-loop tasks, open-loop requests,
    /// pending ends, heartbeats); the drain waits for them.
    in_flight: AtomicUsize,
}

/// Counts a task in `in_flight` until dropped.
#[derive(Debug)]
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    fn running(&self) -> bool {
        !self.stopped.load(Ordering::Acquire) && Instant::now() < self.end
    }

    fn at(&self, t: Instant) -> u64 {
        us(t.saturating_duration_since(self.origin))
    }

    /// One buyer's message: Route, then what follows from the answer (a
    /// transfer at once, the session's end after the think time). `intended` is
    /// the scheduled time in open loop, the send time in closed loop.
    async fn route(self: &Arc<Self>, intended: Instant) {
        let message = lock(&self.workload).next_message();
        let conversation = &message.conversation;
        let request = pb::RouteRequest {
            shop_id: self.shop_ids[conversation.shop].clone(),
            buyer_id: workload::buyer_id(conversation.buyer),
            request_id: message.request_id.clone(),
            order_status: message.order_status,
            addressed_account_id: message
                .addressed_account()
                .map(|account| self.account_ids[account].clone())
                .unwrap_or_default(),
            from_bot: false,
        };
        let sent = Instant::now();
        let api = &self.api;
        let result = api.bounded(api.client().route(api.request(request))).await;
        let done = Instant::now();
        let (outcome, answer) = match &result {
            Ok(response) => {
                let session = response.session.clone().unwrap_or_default();
                let assigned = session.state == pb::SessionState::Assigned as i32;
                (
                    Ok(response.reason),
                    Some(Answer {
                        session_id: session.session_id,
                        assigned_to: assigned.then_some(session.account_id),
                    }),
                )
            }
            Err(status) => (Err(Failure::from(status)), None),
        };
        lock(&self.stats).record_route(self.at(intended), self.at(sent), self.at(done), outcome);
        let next = lock(&self.workload).answered(message, answer.as_ref());
        if let Some(transfer) = next.transfer {
            self.transfer(transfer).await;
        }
        if let Some(end) = next.end {
            self.end_later(end);
        }
    }

    async fn transfer(&self, plan: TransferPlan) {
        let sent = Instant::now();
        let api = &self.api;
        let result = api
            .bounded(api.client().transfer(api.request(pb::TransferRequest {
                shop_id: self.shop_ids[plan.shop].clone(),
                session_id: plan.session_id,
                actor_account_id: workload::MAIN_ACCOUNT.to_owned(),
                to_account_id: self.account_ids[plan.to_account].clone(),
            })))
            .await;
        lock(&self.stats).record_call(
            Call::Transfer,
            self.at(sent),
            result.map(drop).map_err(|status| Failure::from(&status)),
        );
    }

    /// Ends the session after the think time (unless the run is over by
    /// then: the session is left open), then lets its buyer come back.
    fn end_later(self: &Arc<Self>, plan: EndPlan) {
        let guard = self.begin();
        let shared = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            if plan.session_id != 0 {
                let at = Instant::now() + shared.think;
                if at >= shared.end || shared.stopped.load(Ordering::Acquire) {
                    return;
                }
                tokio::time::sleep_until(at.into()).await;
                let sent = Instant::now();
                let api = &shared.api;
                let result = api
                    .bounded(api.client().end_session(api.request(pb::EndSessionRequest {
                        shop_id: shared.shop_ids[plan.shop].clone(),
                        session_id: plan.session_id,
                        actor_account_id: String::new(),
                    })))
                    .await;
                lock(&shared.stats).record_call(
                    Call::EndSession,
                    shared.at(sent),
                    result.map(drop).map_err(|status| Failure::from(&status)),
                );
            }
            lock(&shared.workload).ended(&plan);
        });
    }

    /// Keeps every account's presence alive: one Heartbeat per shop every
    /// third of the presence TTL (SetAccountStatus at set-up counted as the
    /// first). Aborted when the load ends.
    async fn heartbeats(self: Arc<Self>) {
        let every = Duration::from_secs(u64::from(PRESENCE_TTL_SECONDS) / 3);
        let mut next = self.origin + every;
        while next < self.end {
            tokio::time::sleep_until(next.into()).await;
            for shop_id in &self.shop_ids {
                let guard = self.begin();
                let shared = self.clone();
                let shop_id = shop_id.clone();
                tokio::spawn(async move {
                    let _guard = guard;
                    let sent = Instant::now();
                    let api = &shared.api;
                    let result = api
                        .bounded(api.client().heartbeat(api.request(pb::HeartbeatRequest {
                            shop_id,
                            account_ids: shared.account_ids.to_vec(),
                        })))
                        .await;
                    lock(&shared.stats).record_call(
                        Call::Heartbeat,
                        shared.at(sent),
                        result.map(drop).map_err(|status| Failure::from(&status)),
                    );
                });
            }
            next += every;
        }
    }

    /// Waits for the calls in flight, at most `limit`; returns how many tasks
    /// were still running then (they are abandoned).
    async fn drain(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let left = self.in_flight.load(Ordering::Acquire);
            if left == 0 || Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Ctrl-C: stop sending and close the measured window now.
    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        let now = self.at(Instant::now());
        lock(&self.stats).close_window(now);
    }
}

/// Creates the shops, a few at a time, each with its calls in order; the first
/// failure stops everything.
async fn set_up_shops(
    api: &Api,
    shop_ids: &[String],
    account_ids: &Arc<[String]>,
    max_concurrent: u32,
    close_delay_seconds: u32,
) -> anyhow::Result<()> {
    let semaphore = Arc::new(Semaphore::new(SETUP_PARALLELISM));
    let mut tasks = JoinSet::new();
    for shop_id in shop_ids {
        let permit = semaphore.clone().acquire_owned().await?;
        let api = api.clone();
        let shop_id = shop_id.clone();
        let account_ids = account_ids.clone();
        tasks.spawn(async move {
            let _permit = permit;
            set_up_shop(
                &api,
                &shop_id,
                &account_ids,
                max_concurrent,
                close_delay_seconds,
            )
            .await
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// A Kuaishou shop (BASIC routing, offline policy QUEUE) with a short close
/// delay and `account_ids` customer-service accounts, all ONLINE.
async fn set_up_shop(
    api: &Api,
    shop_id: &str,
    account_ids: &[String],
    max_concurrent: u32,
    close_delay_seconds: u32,
) -> anyhow::Result<()> {
    let failed = |call: &str, status: tonic::Status| {
        anyhow::anyhow!(
            "setting up shop {shop_id}: {call}: {}: {}",
            stats::code_name(status.code()),
            status.message()
        )
    };
    api.bounded(api.client().upsert_shop(api.request(pb::UpsertShopRequest {
        shop_id: shop_id.to_owned(),
        profile: pb::Profile::Kuaishou as i32,
        main_account_id: workload::MAIN_ACCOUNT.to_owned(),
        close_delay_seconds: Some(close_delay_seconds),
        presence_ttl_seconds: Some(PRESENCE_TTL_SECONDS),
        ..Default::default()
    })))
    .await
    .map_err(|status| failed("UpsertShop", status))?;
    for account_id in account_ids {
        api.bounded(
            api.client()
                .upsert_account(api.request(pb::UpsertAccountRequest {
                    shop_id: shop_id.to_owned(),
                    account_id: account_id.clone(),
                    display_name: account_id.clone(),
                    roles: vec![pb::Role::CustomerService as i32],
                    max_concurrent,
                    ..Default::default()
                })),
        )
        .await
        .map_err(|status| failed("UpsertAccount", status))?;
        api.bounded(
            api.client()
                .set_account_status(api.request(pb::SetAccountStatusRequest {
                    shop_id: shop_id.to_owned(),
                    account_id: account_id.clone(),
                    status: pb::AccountStatus::Online as i32,
                })),
        )
        .await
        .map_err(|status| failed("SetAccountStatus", status))?;
    }
    Ok(())
}

/// Closed loop: `concurrency` tasks, each sending its next Route when the
/// previous one (and its transfer, if any) is answered, until the end or
/// Ctrl-C.
async fn closed_loop_run(shared: &Arc<Shared>, concurrency: usize) {
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let guard = shared.begin();
        let shared = shared.clone();
        tasks.spawn(async move {
            let _guard = guard;
            while shared.running() {
                shared.route(Instant::now()).await;
            }
        });
    }
    // The tasks stop by themselves at the end; the drain waits for them.
    tasks.detach_all();
    tokio::select! {
        () = tokio::time::sleep_until(shared.end.into()) => {}
        _ = tokio::signal::ctrl_c() => shared.stop(),
    }
}

/// Open loop: request i is due at origin + i/rps, and sent then whether or not
/// earlier requests were answered. A dedicated thread paces them (a sleeping
/// OS thread wakes within tens of microseconds, tokio's timer only by the
/// millisecond) and spawns each request on the runtime; a late thread sends
/// the overdue requests at once, each still measured from its due time.
async fn open_loop_run(shared: &Arc<Shared>, rps: f64) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Handle::current();
    let pacer_shared = shared.clone();
    let mut pacer = tokio::task::spawn_blocking(move || {
        let shared = pacer_shared;
        let mut i: u64 = 0;
        loop {
            let due = shared.origin + Duration::from_secs_f64(i as f64 / rps);
            if due >= shared.end || shared.stopped.load(Ordering::Acquire) {
                return;
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let guard = shared.begin();
            let task = shared.clone();
            runtime.spawn(async move {
                let _guard = guard;
                task.route(due).await;
            });
            i += 1;
        }
    });
    tokio::select! {
        joined = &mut pacer => joined.context("the open-loop pacer")?,
        _ = tokio::signal::ctrl_c() => {
            shared.stop();
            pacer.await.context("the open-loop pacer")?;
        }
    }
    Ok(())
}

/// Redraws the progress bar about four times a second until aborted.
async fn show_progress(shared: Arc<Shared>, progress: Progress, warmup: Duration) {
    struct Clear(Progress);
    impl Drop for Clear {
        fn drop(&mut self) {
            self.0.finish();
        }
    }
    let progress = Clear(progress);
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    let mut last = (Instant::now(), 0u64);
    loop {
        ticks.tick().await;
        let now = Instant::now();
        let (ok, latency, errors) = {
            let stats = lock(&shared.stats);
            (
                stats.route_ok_all(),
                stats.latency_snapshot(),
                stats.failures(),
            )
        };
        let p99 = latency.p99_ms();
        let dt = now.saturating_duration_since(last.0).as_secs_f64();
        let rate = if dt > 0.0 {
            (ok - last.1) as f64 / dt
        } else {
            0.0
        };
        last = (now, ok);
        let elapsed = now.saturating_duration_since(shared.origin);
        let phase = if elapsed < warmup {
            "warm-up"
        } else if now < shared.end {
            "run"
        } else {
            "drain"
        };
        progress.0.update(
            elapsed,
            progress::status_line(phase, elapsed, rate, p99, errors),
        );
    }
}
