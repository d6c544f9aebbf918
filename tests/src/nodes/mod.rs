//! Nodes: a worker and a dispatcher (or several workers on Redis behind a
//! sharded dispatcher) served in this process on `127.0.0.1:0`, started,
//! connected to and stopped gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use fenliu_node::redis_connection::RedisAccess;
use fenliu_node::versions::Versions;

use crate::auth::TestAuth;
use crate::calls::Client;
use crate::connect::connect_to;
use crate::limits::STOP_TIMEOUT;
use crate::tls::TestTls;
use crate::waits::wait_for;

pub mod mixed_fleet;
mod redis_home;
mod secured;

pub use redis_home::{
    RedisBacking, TEST_SHARDS, redis_connection, start_redis, test_lease_timing, unique_namespace,
};
use redis_home::{RedisHome, shared_cluster};

pub type ServerTask = JoinHandle<Result<(), tonic::transport::Error>>;

/// A worker and a dispatcher in front of it, both serving on loopback.
#[derive(Debug)]
pub struct TestNode {
    dispatcher_address: SocketAddr,
    stop_dispatcher: oneshot::Sender<()>,
    dispatcher: ServerTask,
    /// Each worker's address, name, stop signal and task, in start order.
    workers: Vec<(SocketAddr, String, oneshot::Sender<()>, ServerTask)>,
    /// The Redis the workers keep their state in (kept alive with the node), and
    /// where in it: what [`TestNode::restart`] starts fresh workers on.
    redis: Option<RedisHome>,
    /// What the node's servers were started with, for [`TestNode::restart`].
    settings: NodeSettings,
    /// With authentication on: the platform token [`TestNode::client`] sends.
    token: Option<String>,
    /// Where the dispatcher serves the shop console, when the settings ask.
    console_address: Option<SocketAddr>,
}

/// What a test node's servers are started with: the deployment's defaults
/// unless a test says otherwise.
#[derive(Debug, Clone, Default)]
pub struct NodeSettings {
    /// The workers' per-shop quotas (rate limit and caps).
    pub quotas: fenliu_worker::router::Quotas,
    /// The workers' per-connection limits.
    pub worker: fenliu_node::ServerLimits,
    /// The dispatcher's per-connection limits.
    pub dispatcher: fenliu_node::ServerLimits,
    /// Authentication on, with this key (its JWKS file lives as long as the
    /// node), and [`TestNode::client`] sending a platform token.
    pub auth: Option<Arc<TestAuth>>,
    /// TLS on every gRPC hop, with this fleet CA and node identity; clients of
    /// the node trust the CA.
    pub tls: Option<Arc<TestTls>>,
    /// The password and TLS files the nodes reach Redis with (none by default;
    /// set by [`TestNode::start_on_secured_redis`]).
    pub redis_access: RedisAccess,
    /// Replicas that must have a commit before its calls are answered (the
    /// workers' `--redis-min-replicas`, waited for 200 ms as by default).
    pub redis_min_replicas: u32,
    /// The link and record versions the nodes claim: this build's, or the next
    /// release's ([`Versions::BUMPED`]) for a mixed fleet.
    pub versions: Versions,
    /// The dispatcher serves the shop console too (on its own `127.0.0.1:0`).
    pub console: bool,
}

impl NodeSettings {
    /// Authentication on, everything else the default.
    pub fn with_auth(auth: Arc<TestAuth>) -> NodeSettings {
        NodeSettings {
            auth: Some(auth),
            ..NodeSettings::default()
        }
    }

    fn platform_token(&self) -> Option<String> {
        self.auth.as_ref().map(|auth| auth.platform_token())
    }

    /// A node's TLS from these settings (`None`: plaintext).
    fn node_tls(&self) -> Option<fenliu_node::tls::Tls> {
        self.tls.as_deref().map(TestTls::tls)
    }

    /// How the node's dispatcher reaches its workers.
    pub fn dialer(&self) -> fenliu_dispatcher::WorkerDialer {
        fenliu_dispatcher::WorkerDialer::new(self.node_tls()).with_link_versions(self.versions.link)
    }
}

impl TestNode {
    /// Starts a worker on the embedded router and a dispatcher forwarding to it.
    pub async fn start() -> TestNode {
        Self::start_with(NodeSettings::default()).await
    }

    /// [`TestNode::start`] with authentication on: every node verifies tokens
    /// of `auth`'s key, and [`TestNode::client`] sends a platform token.
    pub async fn start_with_auth(auth: Arc<TestAuth>) -> TestNode {
        Self::start_with(NodeSettings::with_auth(auth)).await
    }

    /// [`TestNode::start`] with the given settings.
    pub async fn start_with(settings: NodeSettings) -> TestNode {
        let (worker_address, stop_worker, worker) = start_embedded_worker(&settings).await;
        let to_worker = settings
            .dialer()
            .dial(&format!("http://{worker_address}"))
            .expect("a channel to the worker");
        let (console, console_address) = bind_console(&settings).await;
        let workers = fenliu_dispatcher::Workers::Fixed(to_worker);
        let (dispatcher_address, stop_dispatcher, dispatcher) =
            start_dispatcher(workers, &settings, console).await;
        TestNode {
            console_address,
            dispatcher_address,
            stop_dispatcher,
            dispatcher,
            workers: vec![(worker_address, "embedded".to_owned(), stop_worker, worker)],
            redis: None,
            token: settings.platform_token(),
            settings,
        }
    }

    /// Starts `workers` workers keeping state in a redis-server of the node's own,
    /// and a sharded dispatcher in front; returns once every shard is served.
    pub async fn start_on_redis(workers: usize) -> TestNode {
        Self::start_on_redis_with(workers, NodeSettings::default()).await
    }

    /// [`TestNode::start_on_redis`] with authentication on.
    pub async fn start_on_redis_with_auth(workers: usize, auth: Arc<TestAuth>) -> TestNode {
        Self::start_on_redis_with(workers, NodeSettings::with_auth(auth)).await
    }

    /// [`TestNode::start_on_redis`] with the given settings.
    pub async fn start_on_redis_with(workers: usize, settings: NodeSettings) -> TestNode {
        Self::start_sharded(workers, Self::own_redis().await, settings).await
    }

    /// A redis-server of the node's own, in the default namespace.
    async fn own_redis() -> RedisHome {
        let redis = start_redis().await;
        RedisHome {
            urls: vec![redis.url()],
            namespace: "fenliu".to_owned(),
            _backing: RedisBacking::Single(redis),
        }
    }

    /// Starts `workers` workers on the shared Redis Cluster (in a namespace of the
    /// node's own), and a sharded dispatcher in front.
    pub async fn start_on_redis_cluster(workers: usize) -> TestNode {
        let cluster = tokio::task::spawn_blocking(shared_cluster)
            .await
            .expect("start the cluster");
        let home = RedisHome {
            urls: cluster.urls(),
            namespace: unique_namespace("t"),
            _backing: RedisBacking::Cluster(cluster),
        };
        Self::start_sharded(workers, home, NodeSettings::default()).await
    }

    /// [`TestNode::start_on_redis_cluster`], once the shared cluster has had
    /// [`RESHARDED_SLOTS`](redis_home::RESHARDED_SLOTS) of its slots moved live
    /// to another master (once per test binary): the rule scenarios after a
    /// migration.
    pub async fn start_on_resharded_redis_cluster(workers: usize) -> TestNode {
        tokio::task::spawn_blocking(redis_home::resharded_shared_cluster)
            .await
            .expect("reshard the cluster");
        Self::start_on_redis_cluster(workers).await
    }

    /// Stops the node gracefully and starts as many fresh workers (and a
    /// dispatcher) on the same Redis and namespace: every shop is loaded again
    /// from what was stored, as after a restart of the whole deployment.
    pub async fn restart(self) -> TestNode {
        let count = self.workers.len();
        let settings = self.settings.clone();
        let home = self
            .stop_servers()
            .await
            .expect("only a node on Redis keeps its state across a restart");
        Self::start_sharded(count, home, settings).await
    }

    async fn start_sharded(count: usize, home: RedisHome, settings: NodeSettings) -> TestNode {
        let (urls, namespace) = (home.urls.as_slice(), home.namespace.as_str());
        let mut workers = Vec::new();
        let mut ownerships = Vec::new();
        for index in 0..count {
            let name = format!("worker-{index}");
            let (address, stop, task, ownership) =
                start_redis_worker_with(urls, namespace, &name, &settings).await;
            workers.push((address, name, stop, task));
            ownerships.push(ownership);
        }
        let connection = redis_connection(urls, &settings.redis_access).await;
        let sharded = fenliu_dispatcher::ShardedWorkers::new(
            fenliu_node::registry::Registry::new(connection, namespace),
            TEST_SHARDS,
            settings.dialer(),
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
        let (console, console_address) = bind_console(&settings).await;
        let sharded = fenliu_dispatcher::Workers::Sharded(sharded);
        let (dispatcher_address, stop_dispatcher, dispatcher) =
            start_dispatcher(sharded, &settings, console).await;
        TestNode {
            console_address,
            dispatcher_address,
            stop_dispatcher,
            dispatcher,
            workers,
            redis: Some(home),
            token: settings.platform_token(),
            settings,
        }
    }

    /// Where the shop console is served (settings with `console` only).
    pub fn console_address(&self) -> SocketAddr {
        self.console_address
            .expect("a node started with console: true")
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

    /// A client of the dispatcher: the way the platforms call fenliu (with the
    /// node's platform token when authentication is on).
    pub async fn client(&self) -> Client {
        self.client_with_token(self.token()).await
    }

    /// A client of the dispatcher that sends `token` (or none).
    pub async fn client_with_token(&self, token: Option<&str>) -> Client {
        let tls = self.settings.tls.as_ref().map(|tls| tls.client_config());
        connect_to(self.dispatcher_address, tls, token).await
    }

    /// A client of the (first) worker, bypassing the dispatcher.
    /// With TLS it presents the node certificate: a worker takes only the fleet.
    pub async fn worker_client(&self) -> Client {
        let tls = self
            .settings
            .tls
            .as_ref()
            .map(|tls| tls.client_config_with(&tls.node_identity()));
        connect_to(self.worker_address(), tls, self.token()).await
    }

    /// The platform token of a node with authentication on.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Stops the dispatcher, then the workers behind it (as `fenliu dev` does), each
    /// within [`STOP_TIMEOUT`], and asserts all returned `Ok`.
    pub async fn stop(self) {
        drop(self.stop_servers().await);
    }

    /// [`TestNode::stop`], handing back where the state is (none: embedded).
    async fn stop_servers(self) -> Option<RedisHome> {
        let TestNode {
            stop_dispatcher,
            dispatcher,
            workers,
            redis,
            ..
        } = self;
        let _ = stop_dispatcher.send(());
        await_server("dispatcher", dispatcher).await;
        for (_, _, stop, task) in workers {
            let _ = stop.send(());
            await_server("worker", task).await;
        }
        redis
    }
}

/// The console's listener and address, when `settings` ask for a console.
async fn bind_console(settings: &NodeSettings) -> (Option<TcpListener>, Option<SocketAddr>) {
    if !settings.console {
        return (None, None);
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the console");
    let address = listener.local_addr().expect("console address");
    (Some(listener), Some(address))
}

/// How a worker with `settings` serves.
fn serve_options(
    settings: &NodeSettings,
    ownership: Option<Arc<fenliu_worker::ownership::ShardOwnership>>,
) -> fenliu_worker::server::ServeOptions {
    let verifier = settings.auth.as_deref().map(TestAuth::verifier);
    fenliu_worker::server::ServeOptions {
        ownership,
        access: fenliu_worker::grpc::access::Access::new(verifier),
        limits: settings.worker.clone(),
        tls: settings.node_tls(),
        versions: settings.versions,
    }
}

async fn start_embedded_worker(
    settings: &NodeSettings,
) -> (SocketAddr, oneshot::Sender<()>, ServerTask) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the worker on 127.0.0.1:0");
    let address = listener.local_addr().expect("worker address");
    let router = fenliu_worker::server::embedded_router_with(settings.quotas);
    let (stop, task) = spawn_worker(listener, router, serve_options(settings, None));
    (address, stop, task)
}

/// Serves a worker on `listener` until its stop signal is sent.
fn spawn_worker(
    listener: TcpListener,
    router: Arc<fenliu_worker::router::Router>,
    options: fenliu_worker::server::ServeOptions,
) -> (oneshot::Sender<()>, ServerTask) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(fenliu_worker::server::serve_worker(
        listener,
        router,
        options,
        async {
            let _ = stopped.await;
        },
    ));
    (stop, task)
}

/// A worker of a sharded deployment: its address, stop signal, task and leases.
pub type RedisWorker = (
    SocketAddr,
    oneshot::Sender<()>,
    ServerTask,
    Arc<fenliu_worker::ownership::ShardOwnership>,
);

/// Starts a worker of a sharded deployment in this process, with `settings`.
pub async fn start_redis_worker_with(
    urls: &[String],
    namespace: &str,
    worker_id: &str,
    settings: &NodeSettings,
) -> RedisWorker {
    use fenliu_node::registry::Registry;
    use fenliu_worker::ownership::ShardOwnership;
    use fenliu_worker::router::{Persistence, Router, SystemClock};
    use fenliu_worker::store::RedisStore;

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the worker on 127.0.0.1:0");
    let address = listener.local_addr().expect("worker address");
    let connection = redis_connection(urls, &settings.redis_access).await;
    let ownership = ShardOwnership::new(
        worker_id.to_owned(),
        address.to_string(),
        TEST_SHARDS,
        test_lease_timing(),
        Registry::new(connection.clone(), namespace),
        fenliu_worker::store::redis_store::Replication {
            min_replicas: settings.redis_min_replicas,
            timeout: Duration::from_millis(200),
        },
    );
    let router = Router::with_quotas(
        Persistence::Redis(
            RedisStore::new(connection, namespace)
                .requiring_replicas(settings.redis_min_replicas, Duration::from_millis(200))
                .with_record_formats(settings.versions.records),
        ),
        ownership.clone(),
        std::sync::Arc::new(SystemClock),
        settings.quotas,
    );
    let options = serve_options(settings, Some(ownership.clone()));
    let (stop, task) = spawn_worker(listener, router, options);
    (address, stop, task, ownership)
}

/// A dispatcher with `settings`, serving the shop console on `console` too.
pub async fn start_dispatcher(
    workers: fenliu_dispatcher::Workers,
    settings: &NodeSettings,
    console: Option<TcpListener>,
) -> (SocketAddr, oneshot::Sender<()>, ServerTask) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the dispatcher on 127.0.0.1:0");
    let address = listener.local_addr().expect("dispatcher address");
    let (stop, stopped) = oneshot::channel::<()>();
    let options = fenliu_dispatcher::DispatcherOptions {
        admission: fenliu_dispatcher::Admission::new(
            settings.auth.as_deref().map(TestAuth::verifier),
        ),
        limits: settings.dispatcher.clone(),
        tls: settings.node_tls(),
        console,
    };
    let task = tokio::spawn(fenliu_dispatcher::serve_with(
        listener,
        workers,
        options,
        async {
            let _ = stopped.await;
        },
    ));
    (address, stop, task)
}

pub async fn await_server(name: &str, task: ServerTask) {
    match tokio::time::timeout(STOP_TIMEOUT, task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => panic!("the {name} stopped with an error: {error}"),
        Ok(Err(join_error)) => panic!("the {name} task failed: {join_error}"),
        Err(_) => panic!("the {name} did not stop within {STOP_TIMEOUT:?} of being asked to"),
    }
}
