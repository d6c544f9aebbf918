//! Nodes: a worker and a dispatcher (or several workers on Redis behind a
//! sharded dispatcher) served in this process on `127.0.0.1:0`, started,
//! connected to and stopped gracefully.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

use fenliu_proto::v1::routing_client::RoutingClient;

use crate::calls::Client;
use crate::limits::STOP_TIMEOUT;
use crate::waits::wait_for;

type ServerTask = JoinHandle<Result<(), tonic::transport::Error>>;

/// A worker and a dispatcher in front of it, both serving on loopback.
#[derive(Debug)]
pub struct TestNode {
    dispatcher_address: SocketAddr,
    stop_dispatcher: oneshot::Sender<()>,
    dispatcher: ServerTask,
    /// Each worker's address, name, stop signal and task, in start order.
    workers: Vec<(SocketAddr, String, oneshot::Sender<()>, ServerTask)>,
    /// The Redis the workers keep their state in, kept alive with the node.
    _redis: Option<RedisBacking>,
}

/// Where a node's state lives.
#[derive(Debug)]
pub enum RedisBacking {
    /// A redis-server of this node's own.
    Single(fenliu_testkit::RedisServer),
    /// A namespace of its own on the Redis Cluster shared by a test binary.
    Cluster(&'static fenliu_testkit::RedisCluster),
}

/// What a test node's servers allow one shop and one connection: the
/// deployment's defaults unless a test says otherwise.
#[derive(Debug, Clone, Default)]
pub struct NodeLimits {
    /// The workers' per-shop quotas (rate limit and caps).
    pub quotas: fenliu_worker::router::Quotas,
    /// The workers' per-connection limits.
    pub worker: fenliu_node::ServerLimits,
    /// The dispatcher's per-connection limits.
    pub dispatcher: fenliu_node::ServerLimits,
}

/// Shards in test deployments: enough to spread shops, few enough to claim fast.
pub const TEST_SHARDS: u32 = 64;

/// The Redis Cluster of 3 masters shared by every node of a test binary (a
/// cluster takes seconds to form; nodes keep apart by namespace).
fn shared_cluster() -> &'static fenliu_testkit::RedisCluster {
    static CLUSTER: std::sync::OnceLock<fenliu_testkit::RedisCluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| {
        fenliu_testkit::RedisCluster::start(3).expect("start a Redis Cluster of 3 masters")
    })
}

/// A Redis namespace `<label>-<pid>-<n>` that no other node or test (of this or
/// another test process) uses.
pub fn unique_namespace(label: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{label}-{}-{n}", std::process::id())
}

/// Starts a redis-server of the caller's own (off the async threads).
pub async fn start_redis() -> fenliu_testkit::RedisServer {
    tokio::task::spawn_blocking(fenliu_testkit::RedisServer::start)
        .await
        .expect("start redis")
        .expect("start redis-server")
}

impl TestNode {
    /// Starts a worker on the embedded router and a dispatcher forwarding to it.
    pub async fn start() -> TestNode {
        Self::start_limited(NodeLimits::default()).await
    }

    /// [`Self::start`] with the given quotas and per-connection limits.
    pub async fn start_limited(limits: NodeLimits) -> TestNode {
        let (worker_address, stop_worker, worker) = start_embedded_worker(&limits).await;
        let channel = fenliu_dispatcher::worker_channel(&format!("http://{worker_address}"))
            .expect("a channel to the worker");
        let (dispatcher_address, stop_dispatcher, dispatcher) =
            start_dispatcher(fenliu_dispatcher::Workers::fixed(channel), &limits).await;
        TestNode {
            dispatcher_address,
            stop_dispatcher,
            dispatcher,
            workers: vec![(worker_address, "embedded".to_owned(), stop_worker, worker)],
            _redis: None,
        }
    }

    /// Starts `workers` workers keeping state in a redis-server of the node's own,
    /// and a sharded dispatcher in front; returns once every shard is served.
    pub async fn start_on_redis(workers: usize) -> TestNode {
        Self::start_on_redis_limited(workers, NodeLimits::default()).await
    }

    /// [`Self::start_on_redis`] with the given quotas and per-connection limits.
    pub async fn start_on_redis_limited(workers: usize, limits: NodeLimits) -> TestNode {
        let redis = start_redis().await;
        let urls = vec![redis.url()];
        let backing = RedisBacking::Single(redis);
        Self::start_sharded(workers, &urls, "fenliu", backing, &limits).await
    }

    /// Starts `workers` workers on the shared Redis Cluster (in a namespace of the
    /// node's own), and a sharded dispatcher in front.
    pub async fn start_on_redis_cluster(workers: usize) -> TestNode {
        let cluster = tokio::task::spawn_blocking(shared_cluster)
            .await
            .expect("start the cluster");
        let urls = cluster.urls();
        Self::start_sharded(
            workers,
            &urls,
            &unique_namespace("t"),
            RedisBacking::Cluster(cluster),
            &NodeLimits::default(),
        )
        .await
    }

    async fn start_sharded(
        count: usize,
        urls: &[String],
        namespace: &str,
        redis: RedisBacking,
        limits: &NodeLimits,
    ) -> TestNode {
        let mut workers = Vec::new();
        let mut ownerships = Vec::new();
        for index in 0..count {
            let name = format!("worker-{index}");
            let (address, stop, task, ownership) =
                start_redis_worker(urls, namespace, &name, limits).await;
            workers.push((address, name, stop, task));
            ownerships.push(ownership);
        }
        let connection = redis_connection(urls).await;
        let sharded = fenliu_dispatcher::ShardedWorkers::new(
            fenliu_node::registry::Registry::new(connection, namespace),
            TEST_SHARDS,
        );
        wait_for("every shard to be served by exactly one worker", || {
            let ownerships = ownerships.clone();
            let sharded = sharded.clone();
            async move {
                let served: usize = ownerships.iter().map(|o| o.served_shards().len()).sum();
                let members = sharded.refresh().await.unwrap_or(0);
                (served == TEST_SHARDS as usize && members == ownerships.len()).then_some(())
            }
        })
        .await;
        let (dispatcher_address, stop_dispatcher, dispatcher) =
            start_dispatcher(fenliu_dispatcher::Workers::Sharded(sharded), limits).await;
        TestNode {
            dispatcher_address,
            stop_dispatcher,
            dispatcher,
            workers,
            _redis: Some(redis),
        }
    }

    pub fn dispatcher_address(&self) -> SocketAddr {
        self.dispatcher_address
    }

    /// The index of the worker that serves `shop_id` (rendezvous over the
    /// workers still running, named `worker-<index>`).
    pub fn owner_of(&self, shop_id: &str) -> usize {
        use fenliu_node::sharding::{owner_of, shard_of};
        let names: Vec<String> = self
            .workers
            .iter()
            .map(|(_, name, ..)| name.clone())
            .collect();
        let owner = owner_of(
            shard_of(shop_id, TEST_SHARDS),
            names.iter().map(String::as_str),
        )
        .expect("a worker is running");
        names
            .iter()
            .position(|name| name == owner)
            .expect("a known worker")
    }

    /// Stops one worker gracefully (it releases its leases at once); the others
    /// take over its shards.
    pub async fn stop_worker(&mut self, index: usize) {
        let (_, _, stop, task) = self.workers.remove(index);
        let _ = stop.send(());
        await_server("worker", task).await;
    }

    /// The (first) worker's address.
    pub fn worker_address(&self) -> SocketAddr {
        self.workers[0].0
    }

    /// A client of the dispatcher: the way the platforms call fenliu.
    pub async fn client(&self) -> Client {
        connect(self.dispatcher_address).await
    }

    /// A client of the (first) worker, bypassing the dispatcher.
    pub async fn worker_client(&self) -> Client {
        connect(self.worker_address()).await
    }

    /// Stops the dispatcher, then the workers behind it (as `fenliu dev` does), each
    /// within [`STOP_TIMEOUT`], and asserts all returned `Ok`.
    pub async fn stop(self) {
        let TestNode {
            stop_dispatcher,
            dispatcher,
            workers,
            _redis,
            ..
        } = self;
        let _ = stop_dispatcher.send(());
        await_server("dispatcher", dispatcher).await;
        for (_, _, stop, task) in workers {
            let _ = stop.send(());
            await_server("worker", task).await;
        }
    }
}

/// The test deployments' lease timing: short, so that tests of failover are quick.
pub fn test_lease_timing() -> fenliu_worker::ownership::LeaseTiming {
    fenliu_worker::ownership::LeaseTiming {
        lease_ttl: Duration::from_millis(1500),
        safety_margin: Duration::from_millis(400),
        membership_ttl: Duration::from_millis(1500),
    }
}

async fn redis_connection(urls: &[String]) -> fenliu_node::redis_connection::RedisConnection {
    fenliu_node::redis_connection::RedisConnection::connect(urls, Duration::from_millis(400))
        .await
        .expect("connect to redis")
}

async fn start_embedded_worker(
    limits: &NodeLimits,
) -> (SocketAddr, oneshot::Sender<()>, ServerTask) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the worker on 127.0.0.1:0");
    let address = listener.local_addr().expect("worker address");
    let (stop, stopped) = oneshot::channel::<()>();
    let router = fenliu_worker::server::embedded_router_with(limits.quotas);
    let task = tokio::spawn(fenliu_worker::server::serve_worker_limited(
        listener,
        router,
        None,
        limits.worker.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    (address, stop, task)
}

/// Starts a worker of a sharded deployment in this process.
pub async fn start_redis_worker(
    urls: &[String],
    namespace: &str,
    worker_id: &str,
    limits: &NodeLimits,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    ServerTask,
    std::sync::Arc<fenliu_worker::ownership::ShardOwnership>,
) {
    use fenliu_node::registry::Registry;
    use fenliu_worker::ownership::ShardOwnership;
    use fenliu_worker::router::{Persistence, Router, SystemClock};
    use fenliu_worker::store::RedisStore;

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the worker on 127.0.0.1:0");
    let address = listener.local_addr().expect("worker address");
    let connection = redis_connection(urls).await;
    let ownership = ShardOwnership::new(
        worker_id.to_owned(),
        address.to_string(),
        TEST_SHARDS,
        test_lease_timing(),
        Registry::new(connection.clone(), namespace),
    );
    let router = Router::with_quotas(
        Persistence::Redis(RedisStore::new(connection, namespace)),
        ownership.clone(),
        std::sync::Arc::new(SystemClock),
        limits.quotas,
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(fenliu_worker::server::serve_worker_limited(
        listener,
        router,
        Some(ownership.clone()),
        limits.worker.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    (address, stop, task, ownership)
}

async fn start_dispatcher(
    workers: fenliu_dispatcher::Workers,
    limits: &NodeLimits,
) -> (SocketAddr, oneshot::Sender<()>, ServerTask) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the dispatcher on 127.0.0.1:0");
    let address = listener.local_addr().expect("dispatcher address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(fenliu_dispatcher::serve_limited(
        listener,
        workers,
        limits.dispatcher.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    (address, stop, task)
}

async fn await_server(name: &str, task: ServerTask) {
    match tokio::time::timeout(STOP_TIMEOUT, task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => panic!("the {name} stopped with an error: {error}"),
        Ok(Err(join_error)) => panic!("the {name} task failed: {join_error}"),
        Err(_) => panic!("the {name} did not stop within {STOP_TIMEOUT:?} of being asked to"),
    }
}

/// Connects to a server on loopback.
pub async fn connect(address: SocketAddr) -> Client {
    RoutingClient::new(channel(address).await)
}

/// A connected channel to a server on loopback, for hand-made calls.
pub async fn channel(address: SocketAddr) -> Channel {
    assert!(
        address.ip().is_loopback(),
        "tests only use loopback addresses"
    );
    Endpoint::from_shared(format!("http://{address}"))
        .expect("a valid endpoint")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_or_else(|error| panic!("connect to {address}: {error}"))
}
