//! A deployment at scale on loopback: a Redis Cluster with replicas (owned, so
//! that a test may move its slots and kill its masters), several workers and
//! several dispatchers, each served in this process, with workers added and
//! stopped and dispatchers killed while a load runs ([`load`]), and the
//! acknowledged decisions audited afterwards ([`audit`]).
//!
//! Redis Cluster changes block (they run `redis-cli` and poll); the tests run
//! on a multi-threaded runtime and call them through
//! [`ScaleDeployment::cluster_change`], so that the load keeps running.

pub mod audit;
pub mod load;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use fenliu_dispatcher::ShardedWorkers;
use fenliu_node::registry::Registry;
use fenliu_node::sharding::{ShardId, owner_of};
use fenliu_testkit::RedisCluster;
use fenliu_worker::ownership::ShardOwnership;

use crate::nodes::{
    NodeSettings, ServerTask, TEST_SHARDS, await_server, redis_connection, start_dispatcher,
    start_redis_worker_with, unique_namespace,
};

/// A worker of the deployment.
#[derive(Debug)]
struct ScaleWorker {
    /// Its id in the membership (`worker-<n>`).
    name: String,
    /// Asks it to drain and stop.
    stop: oneshot::Sender<()>,
    /// Its server, awaited when it stops.
    task: ServerTask,
    /// Its leases: which shards it serves now.
    ownership: Arc<ShardOwnership>,
}

/// A dispatcher of the deployment.
#[derive(Debug)]
struct ScaleDispatcher {
    /// Where clients reach it.
    address: SocketAddr,
    /// Asks it to stop gracefully.
    stop: oneshot::Sender<()>,
    /// Its server: aborted to kill it.
    task: ServerTask,
    /// Its view of the membership, to tell when it has converged.
    sharded: Arc<ShardedWorkers>,
}

/// Workers and dispatchers on a Redis Cluster of the deployment's own.
#[derive(Debug)]
pub struct ScaleDeployment {
    /// The Redis Cluster: its slots moved and masters killed by the tests.
    cluster: RedisCluster,
    /// Its seed URLs, as given to every node.
    urls: Vec<String>,
    /// The deployment's key namespace.
    namespace: String,
    /// What every node is started with (`redis_min_replicas` above all).
    settings: NodeSettings,
    /// The running workers, in start order.
    workers: Vec<ScaleWorker>,
    /// The running dispatchers, in start order.
    dispatchers: Vec<ScaleDispatcher>,
    /// The number of the next worker started (names are never reused).
    next_worker: usize,
}

/// Each shard's owner among running workers, by worker name.
pub type ShardOwners = BTreeMap<u32, String>;

impl ScaleDeployment {
    /// Starts `workers` workers and `dispatchers` dispatchers on `cluster`;
    /// returns once every shard is served and every dispatcher sees every worker.
    pub async fn start(
        cluster: RedisCluster,
        workers: usize,
        dispatchers: usize,
        settings: NodeSettings,
    ) -> ScaleDeployment {
        let urls = cluster.urls();
        let mut deployment = ScaleDeployment {
            cluster,
            urls,
            namespace: unique_namespace("scale"),
            settings,
            workers: Vec::new(),
            dispatchers: Vec::new(),
            next_worker: 0,
        };
        for _ in 0..workers {
            deployment.start_worker().await;
        }
        for _ in 0..dispatchers {
            deployment.start_dispatcher().await;
        }
        deployment.wait_converged().await;
        deployment
    }

    /// Starts a Redis Cluster of 3 masters with a replica each, then
    /// [`ScaleDeployment::start`] on it with `--redis-min-replicas min_replicas`.
    pub async fn start_replicated(
        workers: usize,
        dispatchers: usize,
        min_replicas: u32,
    ) -> ScaleDeployment {
        let cluster = tokio::task::spawn_blocking(|| RedisCluster::start_with_replicas(3))
            .await
            .expect("the cluster's start")
            .expect("a Redis Cluster of 3 masters with a replica each");
        let settings = NodeSettings {
            redis_min_replicas: min_replicas,
            ..NodeSettings::default()
        };
        Self::start(cluster, workers, dispatchers, settings).await
    }

    /// Starts one more worker (not waiting for it to take its shards); returns its name.
    pub async fn start_worker(&mut self) -> String {
        let name = format!("worker-{}", self.next_worker);
        self.next_worker += 1;
        let (_, stop, task, ownership) =
            start_redis_worker_with(&self.urls, &self.namespace, &name, &self.settings).await;
        self.workers.push(ScaleWorker {
            name: name.clone(),
            stop,
            task,
            ownership,
        });
        name
    }

    /// Stops the worker called `name` gracefully (it releases its leases).
    pub async fn stop_worker(&mut self, name: &str) {
        let index = self
            .workers
            .iter()
            .position(|w| w.name == name)
            .unwrap_or_else(|| panic!("no worker {name}"));
        let worker = self.workers.remove(index);
        let _ = worker.stop.send(());
        await_server("worker", worker.task).await;
    }

    /// Starts one more dispatcher.
    pub async fn start_dispatcher(&mut self) -> SocketAddr {
        let connection = redis_connection(&self.urls, &self.settings.redis_access).await;
        let sharded = ShardedWorkers::new(
            Registry::new(connection, &self.namespace),
            TEST_SHARDS,
            self.settings.dialer(),
        );
        let (address, stop, task) = start_dispatcher(
            fenliu_dispatcher::Workers::Sharded(sharded.clone()),
            &self.settings,
            None,
        )
        .await;
        self.dispatchers.push(ScaleDispatcher {
            address,
            stop,
            task,
            sharded,
        });
        address
    }

    /// Stops every worker and starts as many fresh ones (new names, nothing in
    /// memory): what they serve now is what Redis kept. Returns once converged.
    pub async fn restart_workers(&mut self) -> Duration {
        let names = self.worker_names();
        for name in &names {
            self.stop_worker(name).await;
        }
        for _ in &names {
            self.start_worker().await;
        }
        self.wait_converged().await
    }

    /// Kills the dispatcher at `address` (its task aborted: connections cut,
    /// calls in flight lost, as when its process dies).
    pub fn kill_dispatcher(&mut self, address: SocketAddr) {
        let index = self
            .dispatchers
            .iter()
            .position(|d| d.address == address)
            .expect("a running dispatcher");
        self.dispatchers.remove(index).task.abort();
    }

    /// The running dispatchers' addresses.
    pub fn dispatcher_addresses(&self) -> Vec<SocketAddr> {
        self.dispatchers.iter().map(|d| d.address).collect()
    }

    /// The running workers' names.
    pub fn worker_names(&self) -> Vec<String> {
        self.workers.iter().map(|w| w.name.clone()).collect()
    }

    /// Each shard's owner as rendezvous hashing over the running workers says.
    pub fn expected_owners(&self) -> ShardOwners {
        let names = self.worker_names();
        (0..TEST_SHARDS)
            .map(|shard| {
                let owner = owner_of(ShardId(shard), names.iter().map(String::as_str))
                    .expect("a running worker");
                (shard, owner.to_owned())
            })
            .collect()
    }

    /// Each shard's owner as the workers' leases say (a shard served twice
    /// panics).
    pub fn served_owners(&self) -> ShardOwners {
        let mut owners = ShardOwners::new();
        for worker in &self.workers {
            for shard in worker.ownership.served_shards() {
                if let Some(other) = owners.insert(shard, worker.name.clone()) {
                    panic!("shard {shard} served by {other} and {}", worker.name);
                }
            }
        }
        owners
    }

    /// Every lease served right now: worker name, shard, fencing token.
    pub fn served_tokens(&self) -> Vec<(String, u32, u64)> {
        self.workers
            .iter()
            .flat_map(|worker| {
                worker
                    .ownership
                    .served_leases()
                    .into_iter()
                    .map(|(shard, token)| (worker.name.clone(), shard, token))
            })
            .collect()
    }

    /// Waits until every shard is served by its rendezvous owner and every
    /// dispatcher's membership names exactly the running workers; returns how
    /// long that took.
    pub async fn wait_converged(&self) -> Duration {
        let started = Instant::now();
        let expected = self.expected_owners();
        crate::waits::wait_for("the deployment to converge", || async {
            let mut seen = true;
            for dispatcher in &self.dispatchers {
                seen &= dispatcher.sharded.refresh().await.ok() == Some(self.workers.len());
            }
            (seen && self.served_owners() == expected).then_some(())
        })
        .await;
        started.elapsed()
    }

    /// Runs `change` on the Redis Cluster on this thread (it blocks), letting
    /// the runtime's other threads carry the load meanwhile.
    pub fn cluster_change<T>(&mut self, change: impl FnOnce(&mut RedisCluster) -> T) -> T {
        tokio::task::block_in_place(|| change(&mut self.cluster))
    }

    /// Creates `count` shops (`scale-shop-<n>`) through the first dispatcher,
    /// each with 4 customer-service accounts of 500 slots online for an hour:
    /// room for every buyer a test load sends, so that none is queued.
    pub async fn create_shops(&self, count: usize) -> Vec<String> {
        let mut client = crate::connect::connect(self.dispatchers[0].address).await;
        let mut shops = Vec::new();
        for n in 0..count {
            let shop_id = format!("scale-shop-{n}");
            crate::shops::ShopBuilder::kuaishou(&shop_id)
                .cs("a", 500)
                .cs("b", 500)
                .cs("c", 500)
                .cs("d", 500)
                .presence_ttl(3600)
                .online(&["a", "b", "c", "d"])
                .create(&mut client)
                .await;
            shops.push(shop_id);
        }
        shops
    }

    /// Stops every dispatcher, then every worker, gracefully.
    pub async fn stop(self) {
        for dispatcher in self.dispatchers {
            let _ = dispatcher.stop.send(());
            await_server("dispatcher", dispatcher.task).await;
        }
        for worker in self.workers {
            let _ = worker.stop.send(());
            await_server("worker", worker.task).await;
        }
    }
}
