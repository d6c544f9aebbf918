//! What every node of a deployment must agree on, as flags: where the shared
//! state is (Redis), under which key namespace, and how many shards there are.
//! Both roles flatten [`ClusterOptions`] into their configuration.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::redis_connection::RedisConnection;

/// The longest `--redis-namespace`, in bytes: it starts every key.
pub const MAX_NAMESPACE_BYTES: usize = 64;

/// Whether `namespace` may start key names: 1 to [`MAX_NAMESPACE_BYTES`] of
/// `A-Z a-z 0-9 . _ -`. Key names are read by their `{`, `}` and `:` (the shop's
/// hash tag, the separators; see the worker's `store/keys.rs`): a namespace
/// holding one could name another deployment's keys or move the hash tag.
pub fn namespace_is_safe(namespace: &str) -> bool {
    (1..=MAX_NAMESPACE_BYTES).contains(&namespace.len())
        && namespace
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

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
    /// Redis; every node of one deployment must use the same. 1 to 64 of
    /// `A-Z a-z 0-9 . _ -`.
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
        if !namespace_is_safe(&self.redis_namespace) {
            bail!(
                "--redis-namespace (FENLIU_REDIS_NAMESPACE) must be 1 to {MAX_NAMESPACE_BYTES} of A-Z a-z 0-9 . _ -, got {:?}",
                self.redis_namespace
            );
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        cluster: ClusterOptions,
    }

    fn parse(args: &[&str]) -> ClusterOptions {
        Cli::try_parse_from(std::iter::once("fenliu").chain(args.iter().copied()))
            .expect("flags parse")
            .cluster
    }

    #[test]
    fn the_default_namespace_and_the_safe_alphabet_are_accepted() {
        parse(&[]).check().unwrap();
        let longest = "n".repeat(MAX_NAMESPACE_BYTES);
        for namespace in ["fenliu", "t-123-4", "Prod_2.eu", longest.as_str()] {
            parse(&["--redis-namespace", namespace]).check().unwrap();
        }
    }

    #[test]
    fn a_namespace_that_could_break_key_names_is_refused_naming_its_flag() {
        let too_long = "n".repeat(MAX_NAMESPACE_BYTES + 1);
        for namespace in [
            "",
            "a:b",
            "{meta}",
            "a}",
            "a{",
            "a b",
            "命名",
            too_long.as_str(),
        ] {
            let refused = parse(&["--redis-namespace", namespace])
                .check()
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("--redis-namespace (FENLIU_REDIS_NAMESPACE)"),
                "{namespace:?}: {refused}"
            );
        }
    }
}
