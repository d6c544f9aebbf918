//! A harness for fenliu's integration tests, in the style of quickwit's
//! `cluster_sandbox`: [`TestNode::start`] runs a real worker and a real dispatcher in
//! front of it, each on its own `127.0.0.1:0` listener with its own oneshot shutdown,
//! and the tests drive them through the gRPC API only.
//!
//! - [`TestNode`]: start, connect ([`TestNode::client`] to the dispatcher,
//!   [`TestNode::worker_client`] to the worker), and stop gracefully.
//! - [`ShopBuilder`]: a shop with its accounts, settings, groups and statuses in one
//!   expression.
//! - [`route`] and friends: one call each, unique request ids, panics with context.
//! - [`wait_for`], [`wait_for_session`], [`wait_for_state`]: poll with a bounded
//!   timeout instead of sleeping. Each poll is a call, and a call brings the shop
//!   to the present itself; to show that something happens *with nobody calling*
//!   (a close delay or a presence TTL running out), wait on the shop's `WatchShop`
//!   stream instead ([`watch`], [`next_event`]).
//! - [`bounded`]: every test body runs inside it, so no test can hang.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use fenliu_proto::v1 as pb;
use pb::routing_client::RoutingClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

/// A connected client of the `fenliu.v1.Routing` API.
pub type Client = RoutingClient<Channel>;

/// The longest any one test may run.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest [`wait_for`] waits for something to happen by itself.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a server may take to stop once asked.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`wait_for`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The main account of every shop a [`ShopBuilder`] makes.
pub const MAIN: &str = "main";

/// Runs a test body, failing the test if it takes longer than [`TEST_TIMEOUT`].
pub async fn bounded<F: Future>(test: F) -> F::Output {
    match tokio::time::timeout(TEST_TIMEOUT, test).await {
        Ok(output) => output,
        Err(_) => panic!("the test did not finish within {TEST_TIMEOUT:?}"),
    }
}

// ------------------------------------------------------------------ nodes

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

fn unique_namespace() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("t{}-{n}", std::process::id())
}

impl TestNode {
    /// Starts a worker on the embedded router and a dispatcher forwarding to it.
    pub async fn start() -> TestNode {
        let (worker_address, stop_worker, worker) = start_embedded_worker().await;
        let channel = fenliu_dispatcher::worker_channel(&format!("http://{worker_address}"))
            .expect("a channel to the worker");
        let (dispatcher_address, stop_dispatcher, dispatcher) =
            start_dispatcher(fenliu_dispatcher::Workers::fixed(channel)).await;
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
        let redis = tokio::task::spawn_blocking(fenliu_testkit::RedisServer::start)
            .await
            .expect("start redis")
            .expect("start redis-server");
        let urls = vec![redis.url()];
        Self::start_sharded(workers, &urls, "fenliu", RedisBacking::Single(redis)).await
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
            &unique_namespace(),
            RedisBacking::Cluster(cluster),
        )
        .await
    }

    async fn start_sharded(
        count: usize,
        urls: &[String],
        namespace: &str,
        redis: RedisBacking,
    ) -> TestNode {
        let mut workers = Vec::new();
        let mut ownerships = Vec::new();
        for index in 0..count {
            let name = format!("worker-{index}");
            let (address, stop, task, ownership) = start_redis_worker(urls, namespace, &name).await;
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
            start_dispatcher(fenliu_dispatcher::Workers::Sharded(sharded)).await;
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

async fn start_embedded_worker() -> (SocketAddr, oneshot::Sender<()>, ServerTask) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the worker on 127.0.0.1:0");
    let address = listener.local_addr().expect("worker address");
    let (stop, stopped) = oneshot::channel::<()>();
    let router = fenliu_worker::server::embedded_router();
    let task = tokio::spawn(fenliu_worker::server::serve(listener, router, async {
        let _ = stopped.await;
    }));
    (address, stop, task)
}

/// Starts a worker of a sharded deployment in this process.
pub async fn start_redis_worker(
    urls: &[String],
    namespace: &str,
    worker_id: &str,
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
    let router = Router::new(
        Persistence::Redis(RedisStore::new(connection, namespace)),
        ownership.clone(),
        std::sync::Arc::new(SystemClock),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(fenliu_worker::server::serve_worker(
        listener,
        router,
        Some(ownership.clone()),
        async {
            let _ = stopped.await;
        },
    ));
    (address, stop, task, ownership)
}

async fn start_dispatcher(
    workers: fenliu_dispatcher::Workers,
) -> (SocketAddr, oneshot::Sender<()>, ServerTask) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the dispatcher on 127.0.0.1:0");
    let address = listener.local_addr().expect("dispatcher address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(fenliu_dispatcher::serve_with(listener, workers, async {
        let _ = stopped.await;
    }));
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

// ------------------------------------------------------------------ shops

/// A customer-service account with this capacity.
pub fn cs_account(
    shop_id: &str,
    account_id: &str,
    max_concurrent: u32,
) -> pb::UpsertAccountRequest {
    account_with_roles(
        shop_id,
        account_id,
        &[pb::Role::CustomerService],
        max_concurrent,
    )
}

/// An account with these roles and capacity (0: the shop default).
pub fn account_with_roles(
    shop_id: &str,
    account_id: &str,
    roles: &[pb::Role],
    max_concurrent: u32,
) -> pb::UpsertAccountRequest {
    pb::UpsertAccountRequest {
        shop_id: shop_id.to_owned(),
        account_id: account_id.to_owned(),
        display_name: account_id.to_owned(),
        roles: roles.iter().map(|role| *role as i32).collect(),
        non_routing: false,
        max_concurrent,
        pool_permission: false,
        main_account_participates: false,
    }
}

/// Builds a shop through the API: creates it with its profile and main account
/// ([`MAIN`]), adds the accounts, applies the settings, adds the groups, and sets
/// the statuses, in that order (so that settings naming accounts find them, and a
/// short presence TTL is in force before anyone logs in).
#[derive(Clone, Debug)]
pub struct ShopBuilder {
    shop_id: String,
    profile: pb::Profile,
    settings: pb::UpsertShopRequest,
    accounts: Vec<pb::UpsertAccountRequest>,
    groups: Vec<pb::UpsertGroupRequest>,
    statuses: Vec<(String, pb::AccountStatus)>,
}

impl ShopBuilder {
    pub fn new(shop_id: &str, profile: pb::Profile) -> Self {
        ShopBuilder {
            shop_id: shop_id.to_owned(),
            profile,
            settings: pb::UpsertShopRequest {
                shop_id: shop_id.to_owned(),
                ..Default::default()
            },
            accounts: Vec::new(),
            groups: Vec::new(),
            statuses: Vec::new(),
        }
    }

    pub fn taobao(shop_id: &str) -> Self {
        Self::new(shop_id, pb::Profile::Taobao)
    }

    pub fn kuaishou(shop_id: &str) -> Self {
        Self::new(shop_id, pb::Profile::Kuaishou)
    }

    /// Any settings, on the `UpsertShop` request sent once the accounts exist.
    pub fn settings(mut self, change: impl FnOnce(&mut pb::UpsertShopRequest)) -> Self {
        change(&mut self.settings);
        self
    }

    pub fn close_delay(self, seconds: u32) -> Self {
        self.settings(|s| s.close_delay_seconds = Some(seconds))
    }

    pub fn affinity_window(self, seconds: u32) -> Self {
        self.settings(|s| s.affinity_window_seconds = Some(seconds))
    }

    pub fn presence_ttl(self, seconds: u32) -> Self {
        self.settings(|s| s.presence_ttl_seconds = Some(seconds))
    }

    pub fn offline_policy(self, policy: pb::OfflinePolicy) -> Self {
        self.settings(|s| s.offline_policy = Some(policy as i32))
    }

    pub fn routing_mode(self, mode: pb::RoutingMode) -> Self {
        self.settings(|s| s.routing_mode = Some(mode as i32))
    }

    pub fn distribution(self, distribution: pb::Distribution) -> Self {
        self.settings(|s| s.distribution = Some(distribution as i32))
    }

    pub fn bot_enabled(self, enabled: bool) -> Self {
        self.settings(|s| s.bot_enabled = Some(enabled))
    }

    pub fn offline_forwarding(self, on: bool) -> Self {
        self.settings(|s| s.offline_forwarding = Some(on))
    }

    pub fn proxy_account(self, account_id: &str) -> Self {
        self.settings(|s| s.proxy_account_id = Some(account_id.to_owned()))
    }

    pub fn offline_list(self, account_ids: &[&str]) -> Self {
        self.settings(|s| {
            s.offline_list = Some(pb::AccountIdList {
                account_ids: account_ids.iter().map(|id| (*id).to_owned()).collect(),
            });
        })
    }

    /// A customer-service account with this capacity.
    pub fn cs(self, account_id: &str, max_concurrent: u32) -> Self {
        let account = cs_account(&self.shop_id, account_id, max_concurrent);
        self.account(account)
    }

    /// An account as given (its `shop_id` is set to this shop's).
    pub fn account(mut self, mut account: pb::UpsertAccountRequest) -> Self {
        account.shop_id.clone_from(&self.shop_id);
        self.accounts.push(account);
        self
    }

    /// An account with these roles and the shop's default capacity.
    pub fn with_roles(self, account_id: &str, roles: &[pb::Role]) -> Self {
        let account = account_with_roles(&self.shop_id, account_id, roles, 0);
        self.account(account)
    }

    pub fn group(mut self, name: &str, members: &[&str], statuses: &[pb::OrderStatus]) -> Self {
        self.groups.push(pb::UpsertGroupRequest {
            shop_id: self.shop_id.clone(),
            name: name.to_owned(),
            member_account_ids: members.iter().map(|m| (*m).to_owned()).collect(),
            order_statuses: statuses.iter().map(|s| *s as i32).collect(),
        });
        self
    }

    pub fn online(self, account_ids: &[&str]) -> Self {
        self.status(account_ids, pb::AccountStatus::Online)
    }

    pub fn suspended(self, account_ids: &[&str]) -> Self {
        self.status(account_ids, pb::AccountStatus::Suspended)
    }

    fn status(mut self, account_ids: &[&str], status: pb::AccountStatus) -> Self {
        self.statuses
            .extend(account_ids.iter().map(|id| ((*id).to_owned(), status)));
        self
    }

    /// Makes the shop; panics (naming the step) if any call is refused.
    pub async fn create(self, client: &mut Client) -> pb::Shop {
        let shop_id = self.shop_id;
        client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: shop_id.clone(),
                profile: self.profile as i32,
                main_account_id: MAIN.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| panic!("create shop {shop_id}: {status:?}"));
        for account in self.accounts {
            let account_id = account.account_id.clone();
            client
                .upsert_account(account)
                .await
                .unwrap_or_else(|status| {
                    panic!("add account {account_id} to {shop_id}: {status:?}")
                });
        }
        client
            .upsert_shop(self.settings)
            .await
            .unwrap_or_else(|status| panic!("configure shop {shop_id}: {status:?}"));
        for group in self.groups {
            let name = group.name.clone();
            client
                .upsert_group(group)
                .await
                .unwrap_or_else(|status| panic!("add group {name} to {shop_id}: {status:?}"));
        }
        for (account_id, status) in self.statuses {
            set_status(client, &shop_id, &account_id, status).await;
        }
        client
            .get_shop(pb::GetShopRequest {
                shop_id: shop_id.clone(),
            })
            .await
            .unwrap_or_else(|status| panic!("read shop {shop_id}: {status:?}"))
            .into_inner()
    }
}

// ------------------------------------------------------------------ calls

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// A request id no other call of this test process uses.
pub fn next_request_id() -> String {
    format!("req-{}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed))
}

/// A `Route` answer, with the session unwrapped and the enums read.
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    pub session: pb::Session,
    pub reason: pb::RouteReason,
    pub explanation: String,
    pub replayed: bool,
}

impl Routed {
    pub fn from_response(response: pb::RouteResponse) -> Routed {
        let reason = response.reason();
        Routed {
            session: response
                .session
                .expect("a RouteResponse always carries the session"),
            reason,
            explanation: response.explanation,
            replayed: response.replayed,
        }
    }

    pub fn id(&self) -> u64 {
        self.session.session_id
    }

    pub fn state(&self) -> pb::SessionState {
        self.session.state()
    }

    pub fn account(&self) -> &str {
        &self.session.account_id
    }
}

/// A route request for a buyer with a fresh request id.
pub fn route_request(shop_id: &str, buyer_id: &str, status: pb::OrderStatus) -> pb::RouteRequest {
    pb::RouteRequest {
        shop_id: shop_id.to_owned(),
        buyer_id: buyer_id.to_owned(),
        request_id: next_request_id(),
        order_status: status as i32,
        addressed_account_id: String::new(),
        from_bot: false,
    }
}

/// Sends a route request as given.
pub async fn try_route(client: &mut Client, request: pb::RouteRequest) -> Result<Routed, Status> {
    client
        .route(request)
        .await
        .map(|response| Routed::from_response(response.into_inner()))
}

/// Routes a buyer's message with a fresh request id; panics if refused.
pub async fn route(
    client: &mut Client,
    shop_id: &str,
    buyer_id: &str,
    status: pb::OrderStatus,
) -> Routed {
    let request = route_request(shop_id, buyer_id, status);
    try_route(client, request)
        .await
        .unwrap_or_else(|status| panic!("route {buyer_id} in {shop_id}: {status:?}"))
}

/// Routes a buyer with no active order.
pub async fn route_new(client: &mut Client, shop_id: &str, buyer_id: &str) -> Routed {
    route(client, shop_id, buyer_id, pb::OrderStatus::NoActiveOrder).await
}

/// Routes a buyer's message addressed to an account (R2, R3).
pub async fn route_addressed(
    client: &mut Client,
    shop_id: &str,
    buyer_id: &str,
    account_id: &str,
) -> Routed {
    let mut request = route_request(shop_id, buyer_id, pb::OrderStatus::NoActiveOrder);
    request.addressed_account_id = account_id.to_owned();
    try_route(client, request).await.unwrap_or_else(|status| {
        panic!("route {buyer_id} to {account_id} in {shop_id}: {status:?}")
    })
}

pub async fn set_status(
    client: &mut Client,
    shop_id: &str,
    account_id: &str,
    status: pb::AccountStatus,
) -> pb::AccountState {
    client
        .set_account_status(pb::SetAccountStatusRequest {
            shop_id: shop_id.to_owned(),
            account_id: account_id.to_owned(),
            status: status as i32,
        })
        .await
        .unwrap_or_else(|error| panic!("set {account_id} {status:?} in {shop_id}: {error:?}"))
        .into_inner()
}

pub async fn try_end_session(
    client: &mut Client,
    shop_id: &str,
    session_id: u64,
    actor: &str,
) -> Result<pb::Session, Status> {
    client
        .end_session(pb::EndSessionRequest {
            shop_id: shop_id.to_owned(),
            session_id,
            actor_account_id: actor.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Ends a session as the platform (no actor); panics if refused.
pub async fn end_session(client: &mut Client, shop_id: &str, session_id: u64) -> pb::Session {
    try_end_session(client, shop_id, session_id, "")
        .await
        .unwrap_or_else(|status| panic!("end session {session_id} in {shop_id}: {status:?}"))
}

pub async fn try_transfer(
    client: &mut Client,
    shop_id: &str,
    session_id: u64,
    actor: &str,
    to: &str,
) -> Result<pb::Session, Status> {
    client
        .transfer(pb::TransferRequest {
            shop_id: shop_id.to_owned(),
            session_id,
            actor_account_id: actor.to_owned(),
            to_account_id: to.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn try_pull(
    client: &mut Client,
    shop_id: &str,
    account_id: &str,
    queue: &str,
) -> Result<pb::Session, Status> {
    client
        .pull_queued(pb::PullQueuedRequest {
            shop_id: shop_id.to_owned(),
            account_id: account_id.to_owned(),
            queue: queue.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn try_get_session(
    client: &mut Client,
    shop_id: &str,
    session_id: u64,
) -> Result<pb::Session, Status> {
    client
        .get_session(pb::GetSessionRequest {
            shop_id: shop_id.to_owned(),
            session_id,
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn get_session(client: &mut Client, shop_id: &str, session_id: u64) -> pb::Session {
    try_get_session(client, shop_id, session_id)
        .await
        .unwrap_or_else(|status| panic!("get session {session_id} of {shop_id}: {status:?}"))
}

pub async fn try_shop_state(client: &mut Client, shop_id: &str) -> Result<pb::ShopState, Status> {
    client
        .get_shop_state(pb::GetShopStateRequest {
            shop_id: shop_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn shop_state(client: &mut Client, shop_id: &str) -> pb::ShopState {
    try_shop_state(client, shop_id)
        .await
        .unwrap_or_else(|status| panic!("get the state of {shop_id}: {status:?}"))
}

pub async fn try_get_shop(client: &mut Client, shop_id: &str) -> Result<pb::Shop, Status> {
    client
        .get_shop(pb::GetShopRequest {
            shop_id: shop_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn get_shop(client: &mut Client, shop_id: &str) -> pb::Shop {
    try_get_shop(client, shop_id)
        .await
        .unwrap_or_else(|status| panic!("get shop {shop_id}: {status:?}"))
}

// ------------------------------------------------------------------ reading state

/// The account's state in a shop state; panics if it is not there.
pub fn account<'a>(state: &'a pb::ShopState, account_id: &str) -> &'a pb::AccountState {
    state
        .accounts
        .iter()
        .find(|a| {
            a.account
                .as_ref()
                .is_some_and(|c| c.account_id == account_id)
        })
        .unwrap_or_else(|| panic!("no account {account_id} in {state:?}"))
}

pub fn occupancy(state: &pb::ShopState, account_id: &str) -> u32 {
    account(state, account_id).occupancy
}

/// The session ids waiting in a queue, oldest first (empty if the queue is empty).
pub fn queue(state: &pb::ShopState, name: &str) -> Vec<u64> {
    state
        .queues
        .iter()
        .find(|q| q.name == name)
        .map(|q| q.sessions.iter().map(|s| s.session_id).collect())
        .unwrap_or_default()
}

/// The session ids in the message pool, in order.
pub fn pool(state: &pb::ShopState) -> Vec<u64> {
    state.pool.iter().map(|s| s.session_id).collect()
}

/// A shop state with what changes by the clock alone taken out (`now_ms` and
/// presence deadlines), so that two reads of an unchanged shop compare equal.
pub fn comparable(mut state: pb::ShopState) -> pb::ShopState {
    state.now_ms = 0;
    for account in &mut state.accounts {
        account.presence_expires_at_ms = 0;
    }
    state
}

/// Asserts a refusal with this code whose message names `field`; returns it.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    field: &str,
) -> Status {
    let status = match result {
        Ok(value) => panic!("expected {code:?} naming {field}, got Ok({value:?})"),
        Err(status) => status,
    };
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(field),
        "the message should name {field:?}: {:?}",
        status.message()
    );
    status
}

/// Asserts that a route assigned the buyer to `account_id` for `reason`.
#[track_caller]
pub fn assert_assigned(routed: &Routed, account_id: &str, reason: pb::RouteReason) {
    assert_eq!(routed.reason, reason, "{routed:?}");
    assert_eq!(routed.state(), pb::SessionState::Assigned, "{routed:?}");
    assert_eq!(routed.account(), account_id, "{routed:?}");
    assert_eq!(routed.session.queue, "", "{routed:?}");
    assert!(!routed.explanation.is_empty(), "{routed:?}");
}

/// Asserts that a route left the buyer waiting in `queue` at `position`.
#[track_caller]
pub fn assert_queued(routed: &Routed, queue: &str, position: u32) {
    assert_eq!(routed.reason, pb::RouteReason::Queued, "{routed:?}");
    assert_eq!(routed.state(), pb::SessionState::Queued, "{routed:?}");
    assert_eq!(routed.account(), "", "{routed:?}");
    assert_eq!(routed.session.queue, queue, "{routed:?}");
    assert_eq!(routed.session.queue_position, position, "{routed:?}");
    assert!(!routed.explanation.is_empty(), "{routed:?}");
}

// ------------------------------------------------------------------ waiting

/// Polls `probe` until it returns `Some`, for at most [`WAIT_TIMEOUT`].
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {WAIT_TIMEOUT:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls `GetSession` until `condition` holds; returns the session then.
pub async fn wait_for_session(
    client: &Client,
    shop_id: &str,
    session_id: u64,
    what: &str,
    condition: impl Fn(&pb::Session) -> bool,
) -> pb::Session {
    let condition = &condition;
    let mut last = None;
    let last_seen = &mut last;
    let found = tokio::time::timeout(WAIT_TIMEOUT, async move {
        loop {
            let mut client = client.clone();
            let session = get_session(&mut client, shop_id, session_id).await;
            if condition(&session) {
                return session;
            }
            *last_seen = Some(session);
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!("timed out after {WAIT_TIMEOUT:?} waiting for session {session_id} of {shop_id}: {what}; last seen {last:?}")
    })
}

/// Polls `GetShopState` until `condition` holds; returns the state then.
pub async fn wait_for_state(
    client: &Client,
    shop_id: &str,
    what: &str,
    condition: impl Fn(&pb::ShopState) -> bool,
) -> pb::ShopState {
    let condition = &condition;
    let mut last = None;
    let last_seen = &mut last;
    let found = tokio::time::timeout(WAIT_TIMEOUT, async move {
        loop {
            let mut client = client.clone();
            let state = shop_state(&mut client, shop_id).await;
            if condition(&state) {
                return state;
            }
            *last_seen = Some(state);
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!("timed out after {WAIT_TIMEOUT:?} waiting for {shop_id}: {what}; last seen {last:?}")
    })
}

/// Waits until the server's clock (`ShopState.now_ms`) has passed `at_ms`: for
/// what the API cannot show, such as an affinity window running out.
pub async fn wait_until_server_time(client: &Client, shop_id: &str, at_ms: u64) {
    wait_for_state(
        client,
        shop_id,
        &format!("server time past {at_ms}"),
        |state| state.now_ms > at_ms,
    )
    .await;
}

// ------------------------------------------------------------------ events

/// Subscribes to a shop's events.
pub async fn watch(client: &mut Client, shop_id: &str) -> Streaming<pb::ShopEvent> {
    client
        .watch_shop(pb::WatchShopRequest {
            shop_id: shop_id.to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("watch {shop_id}: {status:?}"))
        .into_inner()
}

/// The next event of a stream, within [`WAIT_TIMEOUT`]; panics if the stream ends
/// or fails first.
pub async fn next_event(stream: &mut Streaming<pb::ShopEvent>) -> pb::ShopEvent {
    match tokio::time::timeout(WAIT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(status))) => panic!("the event stream failed: {status:?}"),
        Ok(None) => panic!("the event stream ended"),
        Err(_) => panic!("no event within {WAIT_TIMEOUT:?}"),
    }
}

/// Waits for the stream to end, within [`WAIT_TIMEOUT`]; returns what came before
/// the end (events, or an error status ending it).
pub async fn drain_to_end(
    stream: &mut Streaming<pb::ShopEvent>,
) -> Vec<Result<pb::ShopEvent, Status>> {
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(WAIT_TIMEOUT, async {
        while let Some(item) = stream.next().await {
            seen.push(item);
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the event stream did not end within {WAIT_TIMEOUT:?}; received {seen:?}"
    );
    seen
}
