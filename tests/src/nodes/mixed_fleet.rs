//! A mixed fleet, as Kubernetes makes one during a rolling upgrade: workers and
//! dispatchers of this build and of the next release on one Redis. The next
//! release is this build claiming one version more on the link and in the
//! records ([`Versions::BUMPED`]), so no second binary is built.

use std::net::SocketAddr;
use std::sync::Arc;

use fenliu_dispatcher::ShardedWorkers;
use fenliu_node::registry::Registry;
use fenliu_node::versions::Versions;
use fenliu_worker::ownership::ShardOwnership;
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};

use super::{
    NodeSettings, ServerTask, TEST_SHARDS, await_server, redis_connection, start_dispatcher,
    start_redis, start_redis_worker_with,
};
use crate::auth::BearerToken;
use crate::calls::Client;
use crate::connect::connect;
use crate::waits::wait_for;

/// The namespace every node of the fleet keeps its keys in.
pub const FLEET_NAMESPACE: &str = "fenliu";

/// A worker of the fleet.
#[derive(Debug)]
struct FleetWorker {
    /// Where it serves.
    address: SocketAddr,
    /// Stops it gracefully (it releases its leases first).
    stop: oneshot::Sender<()>,
    /// Its server, awaited when it stops.
    task: ServerTask,
    /// Its leases: the fleet has settled when every shard is served.
    ownership: Arc<ShardOwnership>,
}

/// A dispatcher of the fleet.
#[derive(Debug)]
struct FleetDispatcher {
    /// Where it serves.
    address: SocketAddr,
    /// Stops it gracefully.
    stop: oneshot::Sender<()>,
    /// Its server, awaited when it stops.
    task: ServerTask,
    /// Its view of the workers: the fleet has settled when it sees them all.
    workers: Arc<ShardedWorkers>,
}

/// Workers and dispatchers of two releases on a redis-server of the fleet's own.
#[derive(Debug)]
pub struct MixedFleet {
    /// The fleet's Redis, kept alive with it.
    redis: fenliu_testkit::RedisServer,
    /// Each worker by index (`worker-<index>`); `None` once stopped.
    workers: Vec<Option<FleetWorker>>,
    dispatchers: Vec<FleetDispatcher>,
}

impl MixedFleet {
    /// Starts a worker claiming each of `workers` and a dispatcher claiming each
    /// of `dispatchers`; returns once every shard is served and every
    /// dispatcher sees every worker.
    pub async fn start(workers: &[Versions], dispatchers: &[Versions]) -> MixedFleet {
        let mut fleet = MixedFleet {
            redis: start_redis().await,
            workers: Vec::new(),
            dispatchers: Vec::new(),
        };
        for versions in workers {
            fleet.start_worker(*versions).await;
        }
        for versions in dispatchers {
            let settings = NodeSettings {
                versions: *versions,
                ..NodeSettings::default()
            };
            let connection = redis_connection(&[fleet.redis.url()], &settings.redis_access).await;
            let workers = ShardedWorkers::new(
                Registry::new(connection, FLEET_NAMESPACE),
                TEST_SHARDS,
                settings.dialer(),
            );
            let sharded = fenliu_dispatcher::Workers::Sharded(workers.clone());
            let (address, stop, task) = start_dispatcher(sharded, &settings, None).await;
            fleet.dispatchers.push(FleetDispatcher {
                address,
                stop,
                task,
                workers,
            });
        }
        fleet.settle().await;
        fleet
    }

    /// Starts one more worker, claiming `versions`; returns its index once every
    /// shard is served.
    pub async fn start_worker(&mut self, versions: Versions) -> usize {
        let index = self.workers.len();
        let settings = NodeSettings {
            versions,
            ..NodeSettings::default()
        };
        let name = format!("worker-{index}");
        let urls = [self.redis.url()];
        let (address, stop, task, ownership) =
            start_redis_worker_with(&urls, FLEET_NAMESPACE, &name, &settings).await;
        self.workers.push(Some(FleetWorker {
            address,
            stop,
            task,
            ownership,
        }));
        self.settle().await;
        index
    }

    /// Stops worker `index` gracefully; the others take its shards over.
    pub async fn stop_worker(&mut self, index: usize) {
        let worker = self.workers[index].take().expect("a running worker");
        let _ = worker.stop.send(());
        await_server("worker", worker.task).await;
        self.settle().await;
    }

    /// Waits until the running workers serve every shard between them and every
    /// dispatcher sees each of them.
    async fn settle(&self) {
        let running: Vec<Arc<ShardOwnership>> = self
            .workers
            .iter()
            .flatten()
            .map(|worker| worker.ownership.clone())
            .collect();
        if running.is_empty() {
            return;
        }
        let views: Vec<Arc<ShardedWorkers>> = self
            .dispatchers
            .iter()
            .map(|dispatcher| dispatcher.workers.clone())
            .collect();
        wait_for("every shard served and every worker seen", || {
            let (running, views) = (running.clone(), views.clone());
            async move {
                let served: usize = running.iter().map(|o| o.served_shards().len()).sum();
                for view in &views {
                    if view.refresh().await.unwrap_or(0) != running.len() {
                        return None;
                    }
                }
                (served == TEST_SHARDS as usize).then_some(())
            }
        })
        .await;
    }

    /// A client whose calls are spread over every dispatcher, so that a
    /// scenario's calls cross both releases.
    pub async fn client(&self) -> Client {
        let endpoints = self.dispatchers.iter().map(|dispatcher| {
            Endpoint::from_shared(format!("http://{}", dispatcher.address))
                .expect("a valid endpoint")
        });
        let channel = Channel::balance_list(endpoints);
        let bearer = BearerToken::new(None).expect("no token");
        fenliu_proto::v1::routing_client::RoutingClient::with_interceptor(channel, bearer)
    }

    /// A client of dispatcher `index` alone.
    pub async fn dispatcher_client(&self, index: usize) -> Client {
        connect(self.dispatchers[index].address).await
    }

    /// A client of worker `index` directly, bypassing the dispatchers.
    pub async fn worker_client(&self, index: usize) -> Client {
        let worker = self.workers[index].as_ref().expect("a running worker");
        connect(worker.address).await
    }

    /// The address of worker `index`, for a hand-made link.
    pub fn worker_address(&self, index: usize) -> SocketAddr {
        self.workers[index]
            .as_ref()
            .expect("a running worker")
            .address
    }

    /// The fleet's Redis, to read or change what is stored.
    pub fn redis(&self) -> &fenliu_testkit::RedisServer {
        &self.redis
    }

    /// Stops the dispatchers, then the workers, each within the harness's stop
    /// timeout.
    pub async fn stop(self) {
        for dispatcher in self.dispatchers {
            let _ = dispatcher.stop.send(());
            await_server("dispatcher", dispatcher.task).await;
        }
        for worker in self.workers.into_iter().flatten() {
            let _ = worker.stop.send(());
            await_server("worker", worker.task).await;
        }
    }
}
