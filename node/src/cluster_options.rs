//! What every node of a deployment must agree on, as flags: where the shared
//! state is (Redis), under which key namespace, and how many shards there are.
//! Both roles flatten [`ClusterOptions`] into their configuration.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::redis_connection::RedisConnection;

/// What every node of a deployment must agree on: where the shared state is,
/// under which key namespace, and how many shards there are. Shared by the
/// worker's and the dispatcher's configuration.
#[derive(Debug, clap::Args)]
pub struct ClusterOptions {
    /// Redis holding the shared state: one URL, or several comma-separated seed
    /// nodes of a Redis Cluster. Without it, a worker keeps its state in memory
    /// and a dispatcher forwards to --worker-url.
    #[arg(long, env = "FENLIU_REDIS_URL", value_delimiter = ',')]
    pub redis_url: Vec<String>,
    /// First part of every Redis key, so that several deployments can share a
    /// Redis; every node of one deployment must use the same.
    #[arg(long, env = "FENLIU_REDIS_NAMESPACE", default_value = "fenliu")]
    pub redis_namespace: String,
    /// How long a Redis call may take before it fails as UNAVAILABLE, in ms.
    #[arg(long, env = "FENLIU_REDIS_TIMEOUT_MS", default_value_t = 500)]
    pub redis_timeout_ms: u64,
    /// Number of virtual shards; must be the same on every node, for the life of
    /// the deployment.
    #[arg(long, env = "FENLIU_SHARDS", default_value_t = 1024)]
    pub shards: u32,
}

impl ClusterOptions {
    /// Refuses options that cannot work, naming the flag.
    pub fn check(&self) -> anyhow::Result<()> {
        if !(1..=65536).contains(&self.shards) {
            bail!(
                "--shards (FENLIU_SHARDS) must be between 1 and 65536, got {}",
                self.shards
            );
        }
        if self.redis_timeout_ms == 0 {
            bail!("--redis-timeout-ms (FENLIU_REDIS_TIMEOUT_MS) must be above 0");
        }
        for url in &self.redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                bail!("--redis-url (FENLIU_REDIS_URL): {url:?} is not a redis:// or rediss:// URL");
            }
        }
        Ok(())
    }

    /// Whether a Redis is configured (else: the embedded default).
    pub fn uses_redis(&self) -> bool {
        !self.redis_url.is_empty()
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    /// Connects to the configured Redis.
    pub async fn connect(&self) -> anyhow::Result<RedisConnection> {
        RedisConnection::connect(&self.redis_url, self.redis_timeout())
            .await
            .with_context(|| format!("--redis-url {}: cannot connect", self.redis_url.join(",")))
    }
}
