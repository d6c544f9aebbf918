//! Running a dispatcher from its configuration. Shared by the `fenliu-dispatcher`
//! binary and `fenliu dispatcher`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::{ShardedWorkers, Workers};
use anyhow::{Context, bail};
use fenliu_worker::cluster::registry::Registry;
use fenliu_worker::store::redis_store::RedisConnection;
use fenliu_worker::telemetry;

/// The dispatcher's configuration: flags, each with an environment variable.
#[derive(Debug, clap::Args)]
pub struct DispatcherConfig {
    /// Address to serve fenliu.v1.Routing on.
    #[arg(long, env = "FENLIU_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Redis where workers register (one URL, or comma-separated Redis Cluster
    /// seeds): each shop then goes to the owner of its shard.
    #[arg(long, env = "FENLIU_REDIS_URL", value_delimiter = ',')]
    pub redis_url: Vec<String>,
    /// Number of virtual shards; must equal the workers' --shards.
    #[arg(long, env = "FENLIU_SHARDS", default_value_t = 1024)]
    pub shards: u32,
    /// Without Redis: the one worker every shop goes to, as a URL.
    #[arg(
        long,
        env = "FENLIU_WORKER_URL",
        default_value = "http://127.0.0.1:50061"
    )]
    pub worker_url: String,
    /// First part of every Redis key; must equal the workers' --redis-namespace.
    #[arg(long, env = "FENLIU_REDIS_NAMESPACE", default_value = "fenliu")]
    pub redis_namespace: String,
    /// How long a Redis call may take, in milliseconds.
    #[arg(long, env = "FENLIU_REDIS_TIMEOUT_MS", default_value_t = 500)]
    pub redis_timeout_ms: u64,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "FENLIU_LOG_JSON")]
    pub log_json: bool,
}

/// Runs a dispatcher with `config` until SIGTERM or Ctrl-C.
pub async fn run(config: DispatcherConfig) -> anyhow::Result<()> {
    if !(1..=65536).contains(&config.shards) {
        bail!(
            "--shards (FENLIU_SHARDS) must be between 1 and 65536, got {}",
            config.shards
        );
    }
    telemetry::init_logging(config.log_json);
    let workers = if config.redis_url.is_empty() {
        let channel = crate::worker_channel(&config.worker_url)
            .with_context(|| format!("--worker-url {}", config.worker_url))?;
        tracing::info!(worker = %config.worker_url, "forwarding every shop to one worker");
        Workers::Fixed(channel)
    } else {
        let connection = RedisConnection::connect(
            &config.redis_url,
            Duration::from_millis(config.redis_timeout_ms),
        )
        .await
        .with_context(|| format!("--redis-url {}: cannot connect", config.redis_url.join(",")))?;
        let sharded = ShardedWorkers::new(
            Registry::new(connection, &config.redis_namespace),
            config.shards,
        );
        let live = sharded
            .refresh()
            .await
            .context("reading the worker membership")?;
        tracing::info!(
            workers = live,
            shards = config.shards,
            "forwarding each shop to its shard's owner"
        );
        Workers::Sharded(sharded)
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("--listen {}", config.listen))?;
    crate::serve_with(listener, workers, telemetry::shutdown_signal()).await?;
    Ok(())
}
