//! Running a worker from its configuration: the embedded default (state in this
//! process) without Redis, or one worker among many with Redis. Shared by the
//! `fenliu-worker` binary and `fenliu worker`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use fenliu_node::auth::AuthOptions;
use fenliu_node::metrics::{MetricsEndpoint, MetricsOptions, Role};
use fenliu_node::registry::Registry;
use fenliu_node::tls::TlsOptions;
use fenliu_node::versions::Versions;
use fenliu_node::{ClusterOptions, ServerLimits, shutdown, telemetry};

use crate::grpc::access::Access;
use crate::ownership::{LeaseTiming, ShardOwnership};
use crate::quota_options::QuotaOptions;
use crate::recording::RecordOptions;
use crate::router::{Persistence, Router, SystemClock};
use crate::server::{self, ServeOptions};
use crate::store::RedisStore;
use crate::store::redis_store::Replication;

/// The worker's configuration: flags, each with an environment variable.
#[derive(Debug, clap::Args)]
pub struct WorkerConfig {
    /// Address to serve fenliu.v1.Routing on.
    #[arg(long, env = "FENLIU_LISTEN", default_value = "127.0.0.1:50061")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub cluster: ClusterOptions,
    /// Who may call: bearer tokens verified with a JWKS (off without one).
    #[command(flatten)]
    pub auth: AuthOptions,
    /// TLS on its port: mutual, only the fleet's dispatchers get in.
    #[command(flatten)]
    pub tls: TlsOptions,
    /// This worker's id in the membership (default: $HOSTNAME, the pod name on
    /// Kubernetes).
    #[arg(long, env = "FENLIU_WORKER_ID")]
    pub worker_id: Option<String>,
    /// Address other nodes reach this worker at, host:port (on Kubernetes the pod
    /// IP). Default: the listen address, which must then not be 0.0.0.0.
    #[arg(long, env = "FENLIU_ADVERTISE_ADDR")]
    pub advertise_addr: Option<String>,
    /// How long a shard lease lasts without renewal, in milliseconds: the longest
    /// a dead worker's shards wait for a new owner (leases are renewed every
    /// third of it, so a worker may miss one renewal without losing them).
    #[arg(long, env = "FENLIU_LEASE_TTL_MS", default_value_t = 1500)]
    pub lease_ttl_ms: u64,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "FENLIU_LOG_JSON")]
    pub log_json: bool,
    /// Acknowledge a decision only once Redis has it on this many replicas
    /// (`WAIT` after each commit); 0: once the primary has it.
    #[arg(long, env = "FENLIU_REDIS_MIN_REPLICAS", default_value_t = 0)]
    pub redis_min_replicas: u32,
    /// How long a commit waits for --redis-min-replicas before the calls it
    /// carried are answered UNAVAILABLE, in ms.
    #[arg(long, env = "FENLIU_REDIS_REPLICA_TIMEOUT_MS", default_value_t = 200)]
    pub redis_replica_timeout_ms: u64,
    /// How far one shop may go: its Route rate and the caps on its size.
    #[command(flatten)]
    pub quotas: QuotaOptions,
    /// What one connection may ask: concurrent streams, request size.
    #[command(flatten)]
    pub server_limits: ServerLimits,
    /// Prometheus metrics on an admin port (off without one).
    #[command(flatten)]
    pub metrics: MetricsOptions,
    /// R26: chosen shops' calls recorded for `fenliu simulate` (off without).
    #[command(flatten)]
    pub record: RecordOptions,
}

impl WorkerConfig {
    /// Refuses a configuration that cannot work, naming the flag.
    pub fn check(&self) -> anyhow::Result<()> {
        self.cluster.check()?;
        self.quotas.check()?;
        if self.redis_min_replicas > 0
            && (self.redis_replica_timeout_ms == 0
                || self.redis_replica_timeout_ms >= self.cluster.redis_timeout_ms)
        {
            bail!(
                "--redis-replica-timeout-ms (FENLIU_REDIS_REPLICA_TIMEOUT_MS) must be above 0 and below --redis-timeout-ms ({}), got {}",
                self.cluster.redis_timeout_ms,
                self.redis_replica_timeout_ms
            );
        }
        self.server_limits.check()?;
        if self.lease_ttl_ms < 300 {
            bail!(
                "--lease-ttl-ms (FENLIU_LEASE_TTL_MS) must be at least 300, got {}",
                self.lease_ttl_ms
            );
        }
        if self.cluster.redis_timeout_ms * 2 > self.lease_ttl_ms {
            bail!(
                "--redis-timeout-ms (FENLIU_REDIS_TIMEOUT_MS) must be at most half the lease TTL, got {}",
                self.cluster.redis_timeout_ms
            );
        }
        Ok(())
    }

    fn advertised_address(&self, bound: SocketAddr) -> anyhow::Result<String> {
        if let Some(address) = &self.advertise_addr {
            return Ok(address.clone());
        }
        if bound.ip().is_unspecified() {
            bail!(
                "--advertise-addr (FENLIU_ADVERTISE_ADDR) is required when listening on {bound}: other nodes cannot reach an unspecified address"
            );
        }
        Ok(bound.to_string())
    }

    fn worker_id(&self, advertised: &str) -> String {
        self.worker_id
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| format!("worker-{advertised}"))
    }
}

/// Runs a worker with `config` until SIGTERM or Ctrl-C.
pub async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    config.check()?;
    let telemetry = telemetry::init(config.log_json, "fenliu-worker");
    let served = serve_configured(config).await;
    // The spans of the last calls reach the collector before the process ends.
    telemetry.shutdown().await;
    served
}

async fn serve_configured(config: WorkerConfig) -> anyhow::Result<()> {
    config.auth.log_mode("worker");
    config.tls.log_mode("worker");
    // First, so that everything after records to the recorder.
    let metrics = config.metrics.bind(Role::Worker).await?;
    let access = Access::new(config.auth.verifier()?);
    let tls = config.tls.tls()?;
    let versions = Versions::from_env();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("--listen {}", config.listen))?;
    if !config.cluster.uses_redis() {
        tracing::info!("no Redis configured: state in memory (embedded default)");
        let options = ServeOptions {
            ownership: None,
            access,
            limits: config.server_limits,
            tls,
            versions,
        };
        let router = server::embedded_router_with(config.quotas.quotas());
        record(&config.record, &router)?;
        let metrics = serve_metrics(metrics, &router);
        let served =
            server::serve_worker(listener, router, options, shutdown::requested_by_os()).await;
        if let Some(metrics) = metrics {
            metrics.stop().await;
        }
        served?;
        return Ok(());
    }
    let bound = listener.local_addr()?;
    let advertised = config.advertised_address(bound)?;
    let worker_id = config.worker_id(&advertised);
    let connection = config.cluster.connect().await?;
    let timing = LeaseTiming {
        lease_ttl: Duration::from_millis(config.lease_ttl_ms),
        safety_margin: Duration::from_millis(
            config.cluster.redis_timeout_ms.max(config.lease_ttl_ms / 5),
        ),
        membership_ttl: Duration::from_millis(config.lease_ttl_ms),
    };
    let registry = Registry::new(connection.clone(), &config.cluster.redis_namespace);
    registry.check_shard_count(config.cluster.shards).await?;
    // Commits and new fencing tokens wait for the same replicas.
    let replication = Replication {
        min_replicas: config.redis_min_replicas,
        timeout: Duration::from_millis(config.redis_replica_timeout_ms),
    };
    let ownership = ShardOwnership::new(
        worker_id.clone(),
        advertised.clone(),
        config.cluster.shards,
        timing,
        registry,
        replication,
    );
    let router = Router::with_quotas(
        Persistence::Redis(
            RedisStore::new(connection, &config.cluster.redis_namespace)
                .requiring_replicas(replication.min_replicas, replication.timeout)
                .with_record_formats(versions.records),
        ),
        ownership.clone() as Arc<_>,
        Arc::new(SystemClock),
        config.quotas.quotas(),
    );
    record(&config.record, &router)?;
    tracing::info!(worker = %worker_id, %advertised, shards = config.cluster.shards, "worker joining with state in Redis");
    let options = ServeOptions {
        ownership: Some(ownership),
        access,
        limits: config.server_limits,
        tls,
        versions,
    };
    let metrics = serve_metrics(metrics, &router);
    let served = server::serve_worker(listener, router, options, shutdown::requested_by_os()).await;
    // The metrics port outlives the drain, so that it can be watched.
    if let Some(metrics) = metrics {
        metrics.stop().await;
    }
    served?;
    Ok(())
}

/// Serves the metrics port, if configured, with the gauges over `router`'s
/// shops brought up to date at each scrape.
/// Starts recording the shops `--record-shops` names, if it names any.
fn record(options: &RecordOptions, router: &Router) -> anyhow::Result<()> {
    if let Some(recorder) = options.recorder()? {
        tracing::info!(shops = ?options.record_shops, file = ?options.record_file, "recording calls (R26)");
        router.record_to(recorder)?;
    }
    Ok(())
}

fn serve_metrics(
    metrics: Option<MetricsEndpoint>,
    router: &Arc<Router>,
) -> Option<fenliu_node::metrics::ServingEndpoint> {
    let mut metrics = metrics?;
    let router = Arc::downgrade(router);
    metrics.on_scrape(move || {
        if let Some(router) = router.upgrade() {
            router.publish_gauges();
        }
    });
    Some(metrics.spawn())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        config: WorkerConfig,
    }

    fn parse(args: &[&str]) -> WorkerConfig {
        Cli::try_parse_from(std::iter::once("fenliu-worker").chain(args.iter().copied()))
            .expect("flags parse")
            .config
    }

    fn refusal(args: &[&str]) -> String {
        parse(args).check().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid_and_mean_the_embedded_default() {
        let config = parse(&[]);
        config.check().unwrap();
        assert!(!config.cluster.uses_redis());
        assert_eq!(config.cluster.shards, 1024);
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_flag_and_variable() {
        assert!(refusal(&["--shards", "0"]).contains("--shards (FENLIU_SHARDS)"));
        assert!(refusal(&["--lease-ttl-ms", "100"]).contains("--lease-ttl-ms"));
        assert!(refusal(&["--redis-timeout-ms", "4000"]).contains("--redis-timeout-ms"));
        assert!(refusal(&["--redis-url", "http://x"]).contains("--redis-url (FENLIU_REDIS_URL)"));
        assert!(
            refusal(&[
                "--redis-min-replicas",
                "1",
                "--redis-replica-timeout-ms",
                "900"
            ])
            .contains("--redis-replica-timeout-ms (FENLIU_REDIS_REPLICA_TIMEOUT_MS)")
        );
        assert!(
            refusal(&["--max-queued-sessions-per-shop", "0"])
                .contains("--max-queued-sessions-per-shop (FENLIU_MAX_QUEUED_SESSIONS_PER_SHOP)")
        );
        assert!(refusal(&["--max-request-bytes", "12"]).contains("--max-request-bytes"));
    }

    #[test]
    fn quota_flags_become_the_routers_quotas() {
        let defaults = parse(&[]).quotas.quotas();
        assert_eq!(defaults, crate::router::Quotas::default());
        let quotas = parse(&[
            "--route-rate-limit",
            "0",
            "--max-accounts-per-shop",
            "7",
            "--max-groups-per-shop",
            "8",
            "--max-open-sessions-per-shop",
            "9",
            "--max-queued-sessions-per-shop",
            "6",
        ])
        .quotas
        .quotas();
        assert_eq!(quotas.route_rate_limit, 0);
        assert_eq!(
            quotas.shop_limits,
            crate::engine::ShopLimits {
                max_accounts: 7,
                max_groups: 8,
                max_open_sessions: 9,
                max_queued_sessions: 6,
            }
        );
    }

    #[test]
    fn several_redis_urls_are_cluster_seeds() {
        let config = parse(&["--redis-url", "redis://a:1/,redis://b:2/"]);
        config.check().unwrap();
        assert_eq!(config.cluster.redis_url, ["redis://a:1/", "redis://b:2/"]);
    }

    #[test]
    fn an_unspecified_listen_address_needs_an_advertised_one() {
        let config = parse(&["--listen", "0.0.0.0:50061"]);
        let bound: SocketAddr = "0.0.0.0:50061".parse().unwrap();
        let refused = config.advertised_address(bound).unwrap_err().to_string();
        assert!(refused.contains("--advertise-addr (FENLIU_ADVERTISE_ADDR)"));
        let config = parse(&[
            "--listen",
            "0.0.0.0:50061",
            "--advertise-addr",
            "10.1.2.3:50061",
        ]);
        assert_eq!(config.advertised_address(bound).unwrap(), "10.1.2.3:50061");
    }
}
