//! Helpers for the fault tests: real `fenliu worker` / `fenliu dispatcher`
//! processes (the `fenliu` binary cargo built for this test) on free loopback
//! ports against a real `redis-server`, gRPC clients with deadlines, direct reads
//! of the lease keys, and shops set up for routing.
//!
//! Every wait here is a bounded poll; nothing sleeps for a fixed long time.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fenliu_node::sharding::{ShardId, owner_of, shard_of};
pub use fenliu_proto::v1 as pb;
use fenliu_testkit::{ChildProcess, RedisServer, free_port};
use pb::routing_client::RoutingClient;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// A client of the `fenliu.v1.Routing` API.
pub type Client = RoutingClient<Channel>;

/// Shards of every deployment in these tests.
pub const SHARDS: u32 = 64;
/// The lease TTL the workers run with.
pub const LEASE_TTL: Duration = Duration::from_millis(1500);
/// The Redis timeout of workers and dispatchers.
pub const REDIS_TIMEOUT_MS: u64 = 300;
/// The main account of every shop created here.
pub const MAIN: &str = "main";
/// Log filter for the children (the binaries' own default, made explicit so that
/// a `RUST_LOG` of the test environment does not hide the lines we look for).
const LOG_FILTER: &str = "warn,fenliu_worker=info,fenliu_dispatcher=info,fenliu_cli=info";

/// The `fenliu` binary under test.
pub fn fenliu_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fenliu"))
}

/// A Redis namespace no other test (of this or another run) uses.
pub fn unique_namespace(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("flt-{label}-{}-{n}", std::process::id())
}

/// Runs a test body, failing the test if it takes longer than `limit`.
pub async fn bounded<F: Future>(limit: Duration, test: F) -> F::Output {
    match tokio::time::timeout(limit, test).await {
        Ok(output) => output,
        Err(_) => panic!("the test did not finish within {limit:?}"),
    }
}

/// Starts a redis-server of the test's own (off the async threads).
pub async fn start_redis() -> RedisServer {
    tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("join redis start")
        .expect("start redis-server")
}

/// One command to the Redis on `127.0.0.1:port`, run off the async threads
/// (the testkit client is blocking). Never call it while that Redis is paused.
pub async fn redis_cmd(port: u16, args: &[&str]) -> anyhow::Result<String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fenliu_testkit::resp::command(port, &refs)
    })
    .await
    .expect("join redis command")
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
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let args = vec![
        "worker".to_owned(),
        "--listen".to_owned(),
        addr.to_string(),
        "--redis-url".to_owned(),
        redis_url.to_owned(),
        "--shards".to_owned(),
        SHARDS.to_string(),
        "--lease-ttl-ms".to_owned(),
        LEASE_TTL.as_millis().to_string(),
        "--redis-timeout-ms".to_owned(),
        REDIS_TIMEOUT_MS.to_string(),
        "--worker-id".to_owned(),
        id.to_owned(),
        "--redis-namespace".to_owned(),
        namespace.to_owned(),
    ];
    let process = ChildProcess::spawn(fenliu_bin(), args, [("RUST_LOG", LOG_FILTER)])
        .unwrap_or_else(|e| panic!("spawn worker {id}: {e:#}"));
    Node {
        id: id.to_owned(),
        addr,
        process,
    }
}

/// Spawns `fenliu dispatcher` on a free port.
pub fn spawn_dispatcher(redis_url: &str, namespace: &str) -> Node {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let args = vec![
        "dispatcher".to_owned(),
        "--listen".to_owned(),
        addr.to_string(),
        "--redis-url".to_owned(),
        redis_url.to_owned(),
        "--shards".to_owned(),
        SHARDS.to_string(),
        "--redis-timeout-ms".to_owned(),
        REDIS_TIMEOUT_MS.to_string(),
        "--redis-namespace".to_owned(),
        namespace.to_owned(),
    ];
    let process = ChildProcess::spawn(fenliu_bin(), args, [("RUST_LOG", LOG_FILTER)])
        .unwrap_or_else(|e| panic!("spawn dispatcher: {e:#}"));
    Node {
        id: "dispatcher".to_owned(),
        addr,
        process,
    }
}

/// Connects to a node, retrying until it listens (at most 15 s).
pub async fn connect(node: &Node) -> Client {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let endpoint = Endpoint::from_shared(node.url())
            .expect("endpoint")
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(1));
        match endpoint.connect().await {
            Ok(channel) => return RoutingClient::new(channel),
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

/// A request carrying a gRPC deadline.
pub fn with_deadline<T>(message: T, deadline: Duration) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(deadline);
    request
}

/// Awaits a call, bounding it also on our side (2 s past its gRPC deadline), so
/// a hung server makes the call fail rather than the test hang. A call cut off
/// here is reported as DEADLINE_EXCEEDED.
pub async fn call<T, F>(deadline: Duration, call: F) -> Result<T, Status>
where
    F: Future<Output = Result<tonic::Response<T>, Status>>,
{
    match tokio::time::timeout(deadline + Duration::from_secs(2), call).await {
        Ok(result) => result.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within {:?} (test-side bound)",
            deadline + Duration::from_secs(2)
        ))),
    }
}

/// The shard lease keys, read from Redis: `owner[shard]` (None when unleased) and
/// each lease's fencing token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseMap {
    pub owners: Vec<Option<String>>,
    pub tokens: Vec<Option<u64>>,
}

impl LeaseMap {
    pub fn all_leased(&self) -> bool {
        self.owners.iter().all(Option::is_some)
    }

    pub fn count_of(&self, worker: &str) -> usize {
        self.owners
            .iter()
            .filter(|o| o.as_deref() == Some(worker))
            .count()
    }

    /// Whether every shard is leased by its rendezvous owner among `workers`.
    pub fn matches_rendezvous(&self, workers: &[&str]) -> bool {
        self.owners
            .iter()
            .enumerate()
            .all(|(shard, owner)| owner.as_deref() == rendezvous(shard as u32, workers).as_deref())
    }

    pub fn summary(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for owner in &self.owners {
            *counts
                .entry(owner.clone().unwrap_or_else(|| "(none)".to_owned()))
                .or_insert(0) += 1;
        }
        counts
    }
}

/// `NS:{meta}:lease:<shard>`.
pub fn lease_key(namespace: &str, shard: u32) -> String {
    format!("{namespace}:{{meta}}:lease:{shard}")
}

/// Reads every shard's lease key in one MGET.
pub async fn read_leases(redis_port: u16, namespace: &str) -> anyhow::Result<LeaseMap> {
    let keys: Vec<String> = (0..SHARDS).map(|s| lease_key(namespace, s)).collect();
    let mut args: Vec<&str> = vec!["MGET"];
    args.extend(keys.iter().map(String::as_str));
    let reply = redis_cmd(redis_port, &args).await?;
    let lines: Vec<&str> = reply.lines().collect();
    anyhow::ensure!(
        lines.len() == SHARDS as usize,
        "MGET of {SHARDS} leases gave {} lines: {reply:?}",
        lines.len()
    );
    let mut owners = Vec::new();
    let mut tokens = Vec::new();
    for line in lines {
        if line == "(nil)" {
            owners.push(None);
            tokens.push(None);
        } else {
            let (owner, token) = line
                .rsplit_once(':')
                .ok_or_else(|| anyhow::anyhow!("lease value {line:?} is not worker:token"))?;
            owners.push(Some(owner.to_owned()));
            tokens.push(token.parse().ok());
        }
    }
    Ok(LeaseMap { owners, tokens })
}

/// The rendezvous owner of `shard` among `workers`.
pub fn rendezvous(shard: u32, workers: &[&str]) -> Option<String> {
    owner_of(ShardId(shard), workers.iter().copied()).map(str::to_owned)
}

/// The shard of a shop.
pub fn shard(shop: &str) -> u32 {
    shard_of(shop, SHARDS).0
}

/// Polls the lease keys until every shard is leased by its rendezvous owner among
/// `workers` (at most `timeout`); returns the map.
pub async fn wait_for_rendezvous_leases(
    redis_port: u16,
    namespace: &str,
    workers: &[&str],
    timeout: Duration,
) -> LeaseMap {
    let deadline = Instant::now() + timeout;
    loop {
        let map = read_leases(redis_port, namespace).await;
        if let Ok(map) = &map
            && map.matches_rendezvous(workers)
        {
            return map.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the leases never settled on the rendezvous owners among {workers:?} within {timeout:?}; last read: {:?}",
            map.map(|m| m.summary())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` shop ids (starting with `prefix`) whose shards the rendezvous gives to
/// `owner` among `workers`, each on a different shard.
pub fn shops_owned_by(prefix: &str, owner: &str, workers: &[&str], n: usize) -> Vec<String> {
    let mut shops: Vec<String> = Vec::new();
    let mut shards = Vec::new();
    for i in 0.. {
        let shop = format!("{prefix}-{i}");
        let s = shard(&shop);
        if rendezvous(s, workers).as_deref() == Some(owner) && !shards.contains(&s) {
            shards.push(s);
            shops.push(shop);
            if shops.len() == n {
                break;
            }
        }
    }
    shops
}

/// How a shop is set up: customer-service accounts `cs-0..cs-{n-1}`, each with
/// `max_concurrent`, all ONLINE with a long presence TTL; a KUAISHOU shop (offline
/// policy QUEUE: nobody is given a session beyond capacity).
pub async fn create_shop(
    client: &mut Client,
    shop: &str,
    accounts: usize,
    max_concurrent: u32,
    tweak: impl FnOnce(&mut pb::UpsertShopRequest),
) {
    let deadline = Duration::from_secs(8);
    let mut request = pb::UpsertShopRequest {
        shop_id: shop.to_owned(),
        profile: pb::Profile::Kuaishou as i32,
        main_account_id: MAIN.to_owned(),
        offline_policy: Some(pb::OfflinePolicy::Queue as i32),
        presence_ttl_seconds: Some(3600),
        ..Default::default()
    };
    tweak(&mut request);
    call(
        deadline,
        client.upsert_shop(with_deadline(request, deadline)),
    )
    .await
    .unwrap_or_else(|s| panic!("UpsertShop {shop}: {s:?}"));
    for i in 0..accounts {
        let account = format!("cs-{i}");
        let request = pb::UpsertAccountRequest {
            shop_id: shop.to_owned(),
            account_id: account.clone(),
            display_name: account.clone(),
            roles: vec![pb::Role::CustomerService as i32],
            max_concurrent,
            ..Default::default()
        };
        call(
            deadline,
            client.upsert_account(with_deadline(request, deadline)),
        )
        .await
        .unwrap_or_else(|s| panic!("UpsertAccount {shop}/{account}: {s:?}"));
        let request = pb::SetAccountStatusRequest {
            shop_id: shop.to_owned(),
            account_id: account.clone(),
            status: pb::AccountStatus::Online as i32,
        };
        call(
            deadline,
            client.set_account_status(with_deadline(request, deadline)),
        )
        .await
        .unwrap_or_else(|s| panic!("SetAccountStatus {shop}/{account}: {s:?}"));
    }
}

/// A new buyer's message (no address, no order status).
pub fn route_request(shop: &str, buyer: &str, request_id: &str) -> pb::RouteRequest {
    pb::RouteRequest {
        shop_id: shop.to_owned(),
        buyer_id: buyer.to_owned(),
        request_id: request_id.to_owned(),
        ..Default::default()
    }
}

pub async fn route(
    client: &mut Client,
    request: pb::RouteRequest,
    deadline: Duration,
) -> Result<pb::RouteResponse, Status> {
    call(deadline, client.route(with_deadline(request, deadline))).await
}

pub async fn get_session(
    client: &mut Client,
    shop: &str,
    session_id: u64,
) -> Result<pb::Session, Status> {
    let deadline = Duration::from_secs(8);
    let request = pb::GetSessionRequest {
        shop_id: shop.to_owned(),
        session_id,
    };
    call(
        deadline,
        client.get_session(with_deadline(request, deadline)),
    )
    .await
}

pub async fn shop_state(client: &mut Client, shop: &str) -> Result<pb::ShopState, Status> {
    let deadline = Duration::from_secs(8);
    let request = pb::GetShopStateRequest {
        shop_id: shop.to_owned(),
    };
    call(
        deadline,
        client.get_shop_state(with_deadline(request, deadline)),
    )
    .await
}

/// A shop's state without what changes by the clock alone (`now_ms`, presence
/// expiry instants, recomputed from TTLs when another worker loads the shop).
pub fn normalized(mut state: pb::ShopState) -> pb::ShopState {
    state.now_ms = 0;
    for account in &mut state.accounts {
        account.presence_expires_at_ms = 0;
    }
    state
}

/// Checks the shop's state through `client`: no session is held by two accounts,
/// every held session is, per GetSession, held by that account; no account holds
/// more than its capacity; queued sessions are held by nobody. Returns every
/// session id found (held or queued) and panics with the state otherwise.
pub async fn check_shop_invariants(client: &mut Client, shop: &str) -> Vec<u64> {
    let state = shop_state(client, shop)
        .await
        .unwrap_or_else(|s| panic!("GetShopState {shop}: {s:?}"));
    let mut holder: BTreeMap<u64, String> = BTreeMap::new();
    for account in &state.accounts {
        let id = &account.account.as_ref().expect("account config").account_id;
        let max = account
            .account
            .as_ref()
            .map(|a| a.effective_max_concurrent)
            .unwrap_or(0);
        assert!(
            account.occupancy <= max,
            "{shop}: account {id} holds {} sessions, above its max_concurrent {max}: {account:?}",
            account.occupancy
        );
        assert!(
            account.session_ids.len() as u32 <= max,
            "{shop}: account {id} lists {} sessions, above its max_concurrent {max}: {account:?}",
            account.session_ids.len()
        );
        for session_id in &account.session_ids {
            if let Some(other) = holder.insert(*session_id, id.clone()) {
                panic!("{shop}: session {session_id} is held by both {other} and {id}");
            }
        }
    }
    for (session_id, account) in &holder {
        let session = get_session(client, shop, *session_id)
            .await
            .unwrap_or_else(|s| panic!("GetSession {shop}/{session_id}: {s:?}"));
        assert_eq!(
            &session.account_id, account,
            "{shop}: GetShopState lists session {session_id} under {account}, GetSession says {session:?}"
        );
        assert!(
            matches!(
                pb::SessionState::try_from(session.state),
                Ok(pb::SessionState::Assigned | pb::SessionState::Ended)
            ),
            "{shop}: held session {session_id} is {session:?}"
        );
    }
    let mut all: Vec<u64> = holder.keys().copied().collect();
    for queue in &state.queues {
        for session in &queue.sessions {
            assert!(
                !holder.contains_key(&session.session_id),
                "{shop}: session {} is both queued in {} and held by {}",
                session.session_id,
                queue.name,
                holder[&session.session_id]
            );
            assert!(
                !all.contains(&session.session_id),
                "{shop}: session {} is queued twice",
                session.session_id
            );
            all.push(session.session_id);
        }
    }
    all
}

/// Whether a failed call failed the way an unreachable state store or an
/// expired deadline may make it fail. tonic reports a deadline enforced by a
/// server from `grpc-timeout` as CANCELLED "Timeout expired"; that is counted as
/// a deadline expiry too.
pub fn is_outage_code(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded => true,
        Code::Cancelled => status.message().contains("Timeout expired"),
        _ => false,
    }
}
