//! Where a test node keeps its state: a redis-server of its own, or a namespace
//! of its own on a Redis Cluster (plain or secured) shared by a test binary;
//! and how test nodes connect to it and time their leases.

use std::time::Duration;

use fenliu_node::redis_connection::{RedisAccess, RedisConnection};

/// A sharded node's state: the Redis, its URLs and the node's namespace.
#[derive(Debug)]
pub(super) struct RedisHome {
    /// Kept alive with the node.
    pub(super) _backing: RedisBacking,
    /// What the workers and the dispatcher connect to.
    pub(super) urls: Vec<String>,
    /// The first part of every key of the node.
    pub(super) namespace: String,
}

/// Where a node's state lives.
#[derive(Debug)]
pub enum RedisBacking {
    /// A redis-server of this node's own.
    Single(fenliu_testkit::RedisServer),
    /// A namespace of its own on the Redis Cluster shared by a test binary.
    Cluster(&'static fenliu_testkit::RedisCluster),
    /// A TLS-only redis-server of this node's own, fenliu logging in as its ACL user.
    Secured(Box<crate::secured_redis::SecuredRedis>),
    /// A namespace of its own on the TLS Redis Cluster shared by a test binary,
    /// fenliu logging in as its ACL user.
    SecuredCluster(&'static crate::secured_redis::SecuredCluster),
}

/// Shards in test deployments: enough to spread shops, few enough to claim fast.
pub const TEST_SHARDS: u32 = 64;

/// The Redis Cluster of 3 masters shared by every node of a test binary (a
/// cluster takes seconds to form; nodes keep apart by namespace).
pub(super) fn shared_cluster() -> &'static fenliu_testkit::RedisCluster {
    static CLUSTER: std::sync::OnceLock<fenliu_testkit::RedisCluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| {
        fenliu_testkit::RedisCluster::start(3).expect("start a Redis Cluster of 3 masters")
    })
}

/// How many hash slots [`resharded_shared_cluster`] moves.
pub const RESHARDED_SLOTS: usize = 1000;

/// The shared cluster, once [`RESHARDED_SLOTS`] of the slots of the master
/// holding `{meta}` (every lease) have moved to another master with
/// `redis-cli --cluster reshard` (once per test binary; blocking).
pub(super) fn resharded_shared_cluster() -> &'static fenliu_testkit::RedisCluster {
    static MOVED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let cluster = shared_cluster();
    MOVED.get_or_init(|| {
        let from = cluster
            .master_of_key("{meta}")
            .expect("the master of {meta}");
        let masters = cluster.master_indices().expect("the masters");
        let to = *masters
            .iter()
            .find(|&&m| m != from)
            .expect("another master");
        let before = cluster.slots_of(to).expect("slots of the target");
        cluster
            .reshard(
                from,
                to,
                RESHARDED_SLOTS,
                std::time::Duration::from_secs(120),
            )
            .expect("move the slots");
        assert_eq!(
            cluster.slots_of(to).expect("slots of the target"),
            before + RESHARDED_SLOTS,
            "the slots moved"
        );
    });
    cluster
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

/// The test deployments' lease timing: short, so that tests of failover are quick.
pub fn test_lease_timing() -> fenliu_worker::ownership::LeaseTiming {
    fenliu_worker::ownership::LeaseTiming {
        lease_ttl: Duration::from_millis(1500),
        safety_margin: Duration::from_millis(400),
        membership_ttl: Duration::from_millis(1500),
    }
}

/// A connection to the deployment's Redis at `urls`, as `access` says.
pub async fn redis_connection(urls: &[String], access: &RedisAccess) -> RedisConnection {
    RedisConnection::connect_with(urls, access.clone(), Duration::from_millis(400))
        .await
        .expect("connect to redis")
}
