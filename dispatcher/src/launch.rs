//! Running a dispatcher from its configuration. Shared by the `fenliu-dispatcher`
//! binary and `fenliu dispatcher`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use fenliu_node::auth::AuthOptions;
use fenliu_node::metrics::{MetricsOptions, Role};
use fenliu_node::registry::Registry;
use fenliu_node::server_limits::DISPATCHER_OVERLOAD_LATENCY_TARGET;
use fenliu_node::tls::TlsOptions;
use fenliu_node::versions::Versions;
use fenliu_node::{ClusterOptions, ServerLimits, shutdown, telemetry};

use crate::{Admission, DispatcherOptions, ShardedWorkers, WorkerDialer, Workers};

/// `--overload-latency-target-ms` by default.
#[allow(clippy::cast_possible_truncation)] // 10 ms
const DEFAULT_OVERLOAD_LATENCY_TARGET_MS: u64 =
    DISPATCHER_OVERLOAD_LATENCY_TARGET.as_millis() as u64;

/// The dispatcher's configuration: flags, each with an environment variable.
#[derive(Debug, clap::Args)]
pub struct DispatcherConfig {
    /// Address to serve fenliu.v1.Routing on.
    #[arg(long, env = "FENLIU_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Where the workers register, and the shard count they use: each shop then
    /// goes to the owner of its shard.
    #[command(flatten)]
    pub cluster: ClusterOptions,
    /// Who may call: bearer tokens verified with a JWKS (off without one).
    #[command(flatten)]
    pub auth: AuthOptions,
    /// Without Redis: the one worker every shop goes to, as a URL.
    #[arg(
        long,
        env = "FENLIU_WORKER_URL",
        default_value = "http://127.0.0.1:50061"
    )]
    pub worker_url: String,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "FENLIU_LOG_JSON")]
    pub log_json: bool,
    /// What one connection may ask: concurrent streams, request size.
    #[command(flatten)]
    pub server_limits: ServerLimits,
    /// Under overload, lower the bound on calls in flight (--max-in-flight)
    /// until most admitted calls take less than this, in ms; 0: keep the bound
    /// fixed.
    #[arg(long, env = "FENLIU_OVERLOAD_LATENCY_TARGET_MS", default_value_t = DEFAULT_OVERLOAD_LATENCY_TARGET_MS)]
    pub overload_latency_target_ms: u64,
    /// TLS toward callers, and mutual TLS to the workers.
    #[command(flatten)]
    pub tls: TlsOptions,
    /// Prometheus metrics on an admin port (off without one).
    #[command(flatten)]
    pub metrics: MetricsOptions,
    /// Address to serve the live shop console on (`/shops/<shop_id>`); off
    /// without one. Its own port rather than the metrics port: the console acts
    /// on shops with callers' tokens, and is exposed to merchants' admins, where
    /// the metrics port is for the cluster's scraper.
    #[arg(long, env = "FENLIU_CONSOLE_LISTEN")]
    pub console_listen: Option<SocketAddr>,
}

/// Runs a dispatcher with `config` until SIGTERM or Ctrl-C.
pub async fn run(config: DispatcherConfig) -> anyhow::Result<()> {
    config.cluster.check()?;
    config.server_limits.check()?;
    let telemetry = telemetry::init(config.log_json, "fenliu-dispatcher");
    let served = serve_configured(config).await;
    // The spans of the last calls reach the collector before the process ends.
    telemetry.shutdown().await;
    served
}

async fn serve_configured(config: DispatcherConfig) -> anyhow::Result<()> {
    config.auth.log_mode("dispatcher");
    config.tls.log_mode("dispatcher");
    // First, so that everything after records to the recorder.
    let metrics = config.metrics.bind(Role::Dispatcher).await?;
    let latency_target = Some(Duration::from_millis(config.overload_latency_target_ms))
        .filter(|target| !target.is_zero());
    let admission = Admission::new(config.auth.verifier()?).with_latency_target(latency_target);
    let tls = config.tls.tls()?;
    let dialer = WorkerDialer::new(tls.clone()).with_link_versions(Versions::from_env().link);
    let workers = if !config.cluster.uses_redis() {
        let worker = dialer
            .dial(&config.worker_url)
            .with_context(|| format!("--worker-url {}", config.worker_url))?;
        tracing::info!(worker = %config.worker_url, "forwarding every shop to one worker");
        Workers::Fixed(worker)
    } else {
        let connection = config.cluster.connect().await?;
        let registry = Registry::new(connection, &config.cluster.redis_namespace);
        registry.check_shard_count(config.cluster.shards).await?;
        let sharded = ShardedWorkers::new(registry, config.cluster.shards, dialer);
        let live = sharded
            .refresh()
            .await
            .context("reading the worker membership")?;
        tracing::info!(
            workers = live,
            shards = config.cluster.shards,
            "forwarding each shop to its shard's owner"
        );
        Workers::Sharded(sharded)
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("--listen {}", config.listen))?;
    let console = match config.console_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("--console-listen {address}"))?,
        ),
        None => None,
    };
    let options = DispatcherOptions {
        admission,
        limits: config.server_limits,
        tls,
        console,
    };
    let metrics = metrics.map(|metrics| metrics.spawn());
    let served = crate::serve_with(listener, workers, options, shutdown::requested_by_os()).await;
    // The metrics port outlives the drain, so that it can be watched.
    if let Some(metrics) = metrics {
        metrics.stop().await;
    }
    served?;
    Ok(())
}
