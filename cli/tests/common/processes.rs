//! Real `fenliu worker` / `fenliu dispatcher` processes (the `fenliu` binary
//! cargo built for this test) on free loopback ports, clients connected to them,
//! a whole deployment started and settled on its leases, and what a worker's log
//! and process state show.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use fenliu_testkit::{ChildProcess, free_port};
use fenliu_tests::pb::routing_client::RoutingClient;
use fenliu_tests::{Client, TEST_SHARDS};
use tokio::time::Instant;
use tonic::transport::Endpoint;

use super::wait_for_rendezvous_leases;

/// The lease TTL the workers run with.
pub const LEASE_TTL: Duration = Duration::from_millis(1500);
/// Allowance on top of the lease TTL for a moved shard to be served again: the
/// survivors' next tick (a third of the TTL), the dispatcher's membership refresh
/// and retry backoff, and a loaded CI machine running these tests in parallel.
pub const FAILOVER_MARGIN: Duration = Duration::from_millis(3000);
/// The Redis timeout of workers and dispatchers.
pub const REDIS_TIMEOUT_MS: u64 = 300;
/// How long workers may take to start and settle on the rendezvous map.
pub const SETTLE: Duration = Duration::from_secs(20);
/// Log filter for the children (the binaries' own default, made explicit so that
/// a `RUST_LOG` of the test environment does not hide the lines we look for).
const LOG_FILTER: &str = fenliu_node::telemetry::DEFAULT_FILTER;

/// The `fenliu` binary under test.
pub fn fenliu_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fenliu"))
}

/// A `fenliu worker` or `fenliu dispatcher` process.
#[derive(Debug)]
pub struct Node {
    pub id: String,
    pub addr: SocketAddr,
    pub process: ChildProcess,
}

impl Node {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many times the log contains `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.process.log().matches(needle).count()
    }
}

/// Spawns `fenliu worker --worker-id <id>` on a free port.
pub fn spawn_worker(redis_url: &str, namespace: &str, id: &str) -> Node {
    let role_args = [
        "--lease-ttl-ms".to_owned(),
        LEASE_TTL.as_millis().to_string(),
        "--worker-id".to_owned(),
        id.to_owned(),
    ];
    spawn(
        "worker",
        id,
        &format!("worker {id}"),
        redis_url,
        namespace,
        &role_args,
    )
}

/// Spawns `fenliu dispatcher` on a free port.
pub fn spawn_dispatcher(redis_url: &str, namespace: &str) -> Node {
    spawn(
        "dispatcher",
        "dispatcher",
        "dispatcher",
        redis_url,
        namespace,
        &[],
    )
}

/// Spawns `fenliu <command>` listening on a free port, on the Redis at
/// `redis_url` under `namespace`, with the deployment's shards and Redis
/// timeout, and `role_args` after those.
fn spawn(
    command: &str,
    id: &str,
    what: &str,
    redis_url: &str,
    namespace: &str,
    role_args: &[String],
) -> Node {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut args = vec![
        command.to_owned(),
        "--listen".to_owned(),
        addr.to_string(),
        "--redis-url".to_owned(),
        redis_url.to_owned(),
        "--shards".to_owned(),
        TEST_SHARDS.to_string(),
        "--redis-timeout-ms".to_owned(),
        REDIS_TIMEOUT_MS.to_string(),
        "--redis-namespace".to_owned(),
        namespace.to_owned(),
    ];
    args.extend_from_slice(role_args);
    let process = ChildProcess::spawn(fenliu_bin(), args, [("RUST_LOG", LOG_FILTER)])
        .unwrap_or_else(|e| panic!("spawn {what}: {e:#}"));
    Node {
        id: id.to_owned(),
        addr,
        process,
    }
}

/// Connects to a node, retrying until it listens (at most 15 s).
///
/// Unlike `fenliu_tests::connect`, which connects once to a server already
/// listening in this process, a child process takes a while to start listening;
/// and on failure this names the node and shows the tail of its log.
pub async fn connect(node: &Node) -> Client {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let endpoint = Endpoint::from_shared(node.url())
            .expect("endpoint")
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(1));
        match endpoint.connect().await {
            Ok(channel) => {
                return RoutingClient::with_interceptor(
                    channel,
                    fenliu_tests::BearerToken::default(),
                );
            }
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "{} at {} never accepted a connection: {error}; log tail:\n{}",
                    node.id,
                    node.addr,
                    node.process.log_tail(30)
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Starts `ids.len()` workers and a dispatcher on `redis`, waits until every shard
/// is leased by its rendezvous owner, and returns them with a dispatcher client.
pub async fn start_deployment(
    redis_port: u16,
    namespace: &str,
    ids: &[&str],
) -> (Vec<Node>, Node, Client) {
    let url = format!("redis://127.0.0.1:{redis_port}/");
    let workers: Vec<Node> = ids
        .iter()
        .map(|id| spawn_worker(&url, namespace, id))
        .collect();
    let dispatcher = spawn_dispatcher(&url, namespace);
    wait_for_rendezvous_leases(redis_port, namespace, ids, SETTLE).await;
    let client = connect(&dispatcher).await;
    (workers, dispatcher, client)
}

/// How many times a worker has logged stepping down, by either of its lines.
#[derive(Clone, Copy, Debug)]
pub struct StepDownLines {
    lost: usize,
    handed: usize,
}

impl StepDownLines {
    pub fn count(worker: &Node) -> Self {
        StepDownLines {
            lost: worker.log_count("lost shard leases"),
            handed: worker.log_count("handed shards over"),
        }
    }
}

/// The resumed worker logs stepping down (within 5 s), and keeps running.
pub async fn assert_stepped_down_and_still_running(victim: &Node, before: StepDownLines) {
    let stepped_down =
        fenliu_testkit::wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            victim.log_count("lost shard leases") > before.lost
                || victim.log_count("handed shards over") > before.handed
        })
        .await;
    assert!(
        stepped_down,
        "the resumed worker never logged stepping down; log:\n{}",
        victim.process.log_tail(30)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        matches!(victim.process.state(), Some('R' | 'S' | 'D')),
        "the resumed worker is not running: {:?}; log:\n{}",
        victim.process.state(),
        victim.process.log_tail(30)
    );
}
