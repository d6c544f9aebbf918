//! A deployment of real processes with their metrics ports on: a `fenliu
//! worker` and a `fenliu dispatcher` (the binary cargo built for this test) on
//! a real `redis-server`, authentication on, each process its own recorder —
//! what an operator runs, so that each scrape holds exactly that node's calls.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use fenliu_testkit::{ChildProcess, RedisServer, free_port};
use fenliu_tests::{BearerToken, pb, start_redis, try_channel, unique_namespace};
use fenliu_tests::{Client, TEST_AUDIENCE, TEST_ISSUER, TEST_SHARDS, TestAuth};
use tokio::time::Instant;

use super::scrape::scrape;

/// A `fenliu worker` or `fenliu dispatcher` with its two ports.
#[derive(Debug)]
pub struct Node {
    /// Its gRPC port.
    pub grpc: SocketAddr,
    /// Its admin port (`/metrics`).
    pub metrics: SocketAddr,
    /// The process (killed when dropped).
    pub process: ChildProcess,
}

/// One worker, one dispatcher, their Redis and the key their tokens are
/// signed with.
#[derive(Debug)]
pub struct Deployment {
    pub worker: Node,
    pub dispatcher: Node,
    /// Signs the callers' tokens.
    pub auth: TestAuth,
    /// The deployment's key namespace in Redis.
    namespace: String,
    /// Kept running while the nodes use it.
    redis: RedisServer,
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Spawns `fenliu <role> …` with `--metrics-listen` on a port of its own.
fn spawn(role: &str, redis_url: &str, namespace: &str, auth: &TestAuth, extra: &[&str]) -> Node {
    let (grpc, metrics) = (loopback(), loopback());
    let mut args: Vec<String> = vec![
        role.to_owned(),
        "--listen".to_owned(),
        grpc.to_string(),
        "--metrics-listen".to_owned(),
        metrics.to_string(),
        "--redis-url".to_owned(),
        redis_url.to_owned(),
        "--redis-namespace".to_owned(),
        namespace.to_owned(),
        "--shards".to_owned(),
        TEST_SHARDS.to_string(),
        "--auth-jwks-file".to_owned(),
        auth.jwks_path().display().to_string(),
        "--auth-issuer".to_owned(),
        TEST_ISSUER.to_owned(),
        "--auth-audience".to_owned(),
        TEST_AUDIENCE.to_owned(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let process = ChildProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_fenliu")),
        args,
        [("RUST_LOG", fenliu_node::telemetry::DEFAULT_FILTER)],
    )
    .unwrap_or_else(|error| panic!("spawn fenliu {role}: {error:#}"));
    Node {
        grpc,
        metrics,
        process,
    }
}

impl Deployment {
    /// Starts the worker, waits until it holds every shard (its own metrics
    /// say so), then the dispatcher, which so finds it in the membership.
    pub async fn start(label: &str) -> Deployment {
        let redis = start_redis().await;
        let url = redis.url();
        let namespace = unique_namespace(label);
        let auth = TestAuth::new();
        let worker = spawn("worker", &url, &namespace, &auth, &["--worker-id", "w1"]);
        let deadline = Instant::now() + Duration::from_secs(20);
        let shards = f64::from(TEST_SHARDS);
        while scrape(worker.metrics)
            .await
            .value("fenliu_shards_owned", &[])
            < shards
        {
            assert!(
                Instant::now() < deadline,
                "the worker never held every shard; log:\n{}",
                worker.process.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let dispatcher = spawn("dispatcher", &url, &namespace, &auth, &[]);
        Deployment {
            worker,
            dispatcher,
            auth,
            namespace,
            redis,
        }
    }

    /// Another worker of the deployment, joining it.
    pub fn join_worker(&self, id: &str) -> Node {
        let url = self.redis.url();
        spawn(
            "worker",
            &url,
            &self.namespace,
            &self.auth,
            &["--worker-id", id],
        )
    }

    /// A client of the dispatcher sending `token`, once it listens.
    pub async fn client(&self, token: Option<&str>) -> Client {
        let deadline = Instant::now() + Duration::from_secs(15);
        let address = self.dispatcher.grpc;
        loop {
            match try_channel(address, None).await {
                Ok(channel) => {
                    let bearer = BearerToken::new(token).expect("a token is metadata");
                    return pb::routing_client::RoutingClient::with_interceptor(channel, bearer);
                }
                Err(error) => {
                    assert!(
                        Instant::now() < deadline,
                        "the dispatcher never listened: {error}; log:\n{}",
                        self.dispatcher.process.log_tail(30)
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}
