//! The deployment under test, as real processes on loopback: one `redis-server`
//! with an append-only file, `fenliu worker`s and `fenliu dispatcher`s (the
//! `fenliu` binary cargo built for this test), and a [`FaultProxy`] on each path
//! the nemesis cuts:
//!
//! ```text
//!   clients ──► dispatcher d0, d1 ──► front proxy of wN ──► worker wN ──► Redis proxy of wN ──► Redis
//!                    └───────────────────── membership, directly ─────────────────────────────────┘
//! ```
//!
//! A worker registers its front proxy's address as its own (`--advertise-addr`),
//! so dispatchers reach it only through that proxy, and reaches Redis only
//! through its own Redis proxy. Every process keeps its port across restarts,
//! so proxies and clients reconnect to the same address. Processes that died are
//! kept (not dropped) until the end, so their logs can be written out if the run
//! fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fenliu_testkit::{AppendFsync, ChildProcess, FaultMode, FaultProxy, RedisServer, free_port};
use fenliu_tests::TEST_SHARDS;
use tokio::time::Instant;

/// The lease TTL the workers run with (as in the fault tests): a failover takes
/// about this long.
pub const LEASE_TTL: Duration = Duration::from_millis(1500);
/// The Redis timeout of workers and dispatchers.
const REDIS_TIMEOUT_MS: u64 = 300;

/// One worker: its ports, its two proxies and its process (none while killed).
#[derive(Debug)]
pub struct WorkerSlot {
    pub id: String,
    /// Where it listens, across restarts.
    pub listen: SocketAddr,
    /// Dispatchers → this worker (its advertised address).
    pub front: FaultProxy,
    /// This worker → Redis.
    pub redis_link: FaultProxy,
    /// The running process, `None` while killed.
    pub process: Option<ChildProcess>,
    /// Whether it is frozen (SIGSTOP).
    pub paused: bool,
    /// Whether it runs as the next release (`FENLIU_TEST_VERSION_BUMP=1`: link
    /// and record format one higher). Set by the rolling restart, which so
    /// upgrades the fleet under load, and kept across later restarts: a
    /// rollout does not go back.
    pub upgraded: bool,
}

/// One dispatcher: its port and process.
#[derive(Debug)]
pub struct DispatcherSlot {
    pub listen: SocketAddr,
    pub process: Option<ChildProcess>,
}

/// Everything the run started.
#[derive(Debug)]
pub struct Deployment {
    pub namespace: String,
    pub redis: RedisServer,
    pub workers: Vec<WorkerSlot>,
    pub dispatchers: Vec<DispatcherSlot>,
    /// Processes that were killed or stopped, kept for their logs.
    graveyard: Vec<(String, ChildProcess)>,
}

impl Deployment {
    /// Starts Redis, `workers` workers behind their proxies and `dispatchers`
    /// dispatchers, and waits until every shard is leased by its rendezvous owner.
    pub async fn start(
        namespace: &str,
        fsync: AppendFsync,
        workers: usize,
        dispatchers: usize,
    ) -> anyhow::Result<Deployment> {
        let redis =
            tokio::task::spawn_blocking(move || RedisServer::start_with_aof(fsync)).await??;
        let mut deployment = Deployment {
            namespace: namespace.to_owned(),
            redis,
            workers: Vec::new(),
            dispatchers: Vec::new(),
            graveyard: Vec::new(),
        };
        for index in 0..workers {
            let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
            deployment.workers.push(WorkerSlot {
                id: format!("w{index}"),
                listen,
                front: FaultProxy::start(listen).await?,
                redis_link: FaultProxy::start(deployment.redis.addr()).await?,
                process: None,
                paused: false,
                upgraded: false,
            });
            deployment.start_worker(index)?;
        }
        for _ in 0..dispatchers {
            let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
            deployment.dispatchers.push(DispatcherSlot {
                listen,
                process: None,
            });
            deployment.start_dispatcher(deployment.dispatchers.len() - 1)?;
        }
        let ids = deployment.worker_ids();
        let settled = deployment
            .wait_for_rendezvous(&ids, Duration::from_secs(30))
            .await;
        anyhow::ensure!(settled, "the leases never settled on {ids:?}");
        Ok(deployment)
    }

    pub fn worker_ids(&self) -> Vec<String> {
        self.workers.iter().map(|w| w.id.clone()).collect()
    }

    pub fn dispatcher_urls(&self) -> Vec<String> {
        self.dispatchers
            .iter()
            .map(|d| format!("http://{}", d.listen))
            .collect()
    }

    pub fn redis_port(&self) -> u16 {
        self.redis.port()
    }

    /// Starts worker `index` (again) on its port, behind its proxies, as the
    /// next release once it was upgraded.
    pub fn start_worker(&mut self, index: usize) -> anyhow::Result<()> {
        let slot = &self.workers[index];
        let redis_url = format!("redis://{}/", slot.redis_link.addr());
        let args = [
            "worker".to_owned(),
            "--listen".to_owned(),
            slot.listen.to_string(),
            "--advertise-addr".to_owned(),
            slot.front.addr().to_string(),
            "--worker-id".to_owned(),
            slot.id.clone(),
            "--lease-ttl-ms".to_owned(),
            LEASE_TTL.as_millis().to_string(),
        ];
        let process = spawn(&args, &redis_url, &self.namespace, slot.upgraded)?;
        let slot = &mut self.workers[index];
        slot.process = Some(process);
        slot.paused = false;
        Ok(())
    }

    /// Starts dispatcher `index` (again) on its port, reading Redis directly.
    pub fn start_dispatcher(&mut self, index: usize) -> anyhow::Result<()> {
        let listen = self.dispatchers[index].listen;
        let args = [
            "dispatcher".to_owned(),
            "--listen".to_owned(),
            listen.to_string(),
        ];
        let process = spawn(&args, &self.redis.url(), &self.namespace, false)?;
        self.dispatchers[index].process = Some(process);
        Ok(())
    }

    /// SIGKILL worker `index`; its process goes to the graveyard.
    pub fn kill_worker(&mut self, index: usize) -> anyhow::Result<()> {
        let slot = &mut self.workers[index];
        if let Some(mut process) = slot.process.take() {
            process.kill()?;
            self.graveyard.push((slot.id.clone(), process));
        }
        slot.paused = false;
        Ok(())
    }

    /// SIGTERM worker `index` and waits for it to exit (a graceful stop, as in
    /// a rolling restart: it hands its shards over).
    pub fn stop_worker(&mut self, index: usize) -> anyhow::Result<()> {
        let slot = &mut self.workers[index];
        if let Some(mut process) = slot.process.take() {
            let stopped =
                tokio::task::block_in_place(|| process.terminate(Duration::from_secs(10)));
            self.graveyard.push((slot.id.clone(), process));
            stopped?;
        }
        slot.paused = false;
        Ok(())
    }

    pub fn pause_worker(&mut self, index: usize) -> anyhow::Result<()> {
        let slot = &mut self.workers[index];
        if let Some(process) = &slot.process {
            tokio::task::block_in_place(|| process.pause())?;
            slot.paused = true;
        }
        Ok(())
    }

    pub fn resume_worker(&mut self, index: usize) -> anyhow::Result<()> {
        let slot = &mut self.workers[index];
        if let Some(process) = &slot.process {
            process.resume()?;
        }
        slot.paused = false;
        Ok(())
    }

    pub fn kill_dispatcher(&mut self, index: usize) -> anyhow::Result<()> {
        if let Some(mut process) = self.dispatchers[index].process.take() {
            process.kill()?;
            self.graveyard.push((format!("d{index}"), process));
        }
        Ok(())
    }

    /// SIGKILL Redis: what it had not written to its append-only file is lost.
    pub fn kill_redis(&mut self) -> anyhow::Result<()> {
        tokio::task::block_in_place(|| self.redis.kill())
    }

    /// Starts Redis again on its port; it loads its append-only file before it
    /// answers.
    pub fn start_redis(&mut self) -> anyhow::Result<()> {
        tokio::task::block_in_place(|| self.redis.start_again())
    }

    /// Undoes every fault: every proxy passes, every process runs, Redis is up.
    pub fn heal(&mut self) -> anyhow::Result<()> {
        if self.redis.pid().is_none() {
            self.start_redis()?;
        }
        for index in 0..self.workers.len() {
            let slot = &self.workers[index];
            slot.front.set_mode(FaultMode::Pass);
            slot.redis_link.set_mode(FaultMode::Pass);
            if slot.process.is_none() {
                self.start_worker(index)?;
            } else if slot.paused {
                self.resume_worker(index)?;
            }
        }
        for index in 0..self.dispatchers.len() {
            if self.dispatchers[index].process.is_none() {
                self.start_dispatcher(index)?;
            }
        }
        Ok(())
    }

    /// Polls the leases until every shard is leased by its rendezvous owner among
    /// `workers`; whether that happened within `timeout`.
    pub async fn wait_for_rendezvous(&self, workers: &[String], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let ids: Vec<&str> = workers.iter().map(String::as_str).collect();
        while Instant::now() < deadline {
            if let Ok(owners) = read_lease_owners(self.redis_port(), &self.namespace).await
                && owners.iter().enumerate().all(|(shard, owner)| {
                    owner.as_deref() == crate::leases::rendezvous(shard as u32, &ids).as_deref()
                })
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Writes every process' log (living and dead) and Redis' into `dir`.
    pub fn keep_logs(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let living = self
            .workers
            .iter()
            .filter_map(|w| w.process.as_ref().map(|p| (w.id.clone(), p)));
        let living = living.chain(
            self.dispatchers
                .iter()
                .enumerate()
                .filter_map(|(i, d)| d.process.as_ref().map(|p| (format!("d{i}"), p))),
        );
        let dead = self.graveyard.iter().map(|(name, p)| (name.clone(), p));
        for (n, (name, process)) in dead.chain(living).enumerate() {
            let path = dir.join(format!("{n:03}-{name}.log"));
            std::fs::write(&path, process.log())?;
            written.push(path);
        }
        let redis_log = dir.join("redis.log");
        std::fs::write(&redis_log, self.redis.log_tail(10_000))?;
        written.push(redis_log);
        Ok(written)
    }
}

/// Spawns `fenliu <args>` on the deployment's Redis URL, namespace, shards and
/// Redis timeout.
fn spawn(
    args: &[String],
    redis_url: &str,
    namespace: &str,
    upgraded: bool,
) -> anyhow::Result<ChildProcess> {
    let mut args = args.to_vec();
    args.extend([
        "--redis-url".to_owned(),
        redis_url.to_owned(),
        "--redis-namespace".to_owned(),
        namespace.to_owned(),
        "--shards".to_owned(),
        TEST_SHARDS.to_string(),
        "--redis-timeout-ms".to_owned(),
        REDIS_TIMEOUT_MS.to_string(),
    ]);
    let mut envs = vec![("RUST_LOG", fenliu_node::telemetry::DEFAULT_FILTER)];
    if upgraded {
        envs.push((fenliu_node::versions::VERSION_BUMP_ENV, "1"));
    }
    ChildProcess::spawn(Path::new(env!("CARGO_BIN_EXE_fenliu")), args, envs)
}

/// `NS:{meta}:lease:<shard>`.
fn lease_key(namespace: &str, shard: u32) -> String {
    format!("{namespace}:{{meta}}:lease:{shard}")
}

/// Every shard's lease owner (`None` when unleased), read from Redis directly in
/// one MGET (off the async threads: the testkit client is blocking).
pub async fn read_lease_owners(
    redis_port: u16,
    namespace: &str,
) -> anyhow::Result<Vec<Option<String>>> {
    let keys: Vec<String> = (0..TEST_SHARDS).map(|s| lease_key(namespace, s)).collect();
    let reply = tokio::task::spawn_blocking(move || {
        let mut args: Vec<&str> = vec!["MGET"];
        args.extend(keys.iter().map(String::as_str));
        fenliu_testkit::resp::command(redis_port, &args)
    })
    .await??;
    let owners: Vec<Option<String>> = reply
        .lines()
        .map(|line| match line {
            "(nil)" => None,
            value => Some(
                value
                    .rsplit_once(':')
                    .map_or(value, |(owner, _token)| owner)
                    .to_owned(),
            ),
        })
        .collect();
    anyhow::ensure!(
        owners.len() == TEST_SHARDS as usize,
        "MGET of {TEST_SHARDS} leases gave {} lines",
        owners.len()
    );
    Ok(owners)
}
