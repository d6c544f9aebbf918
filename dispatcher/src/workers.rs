//! Where each shop's calls go: one fixed worker (dev and single-worker setups), or
//! the owner of the shop's shard among the live workers registered in Redis,
//! computed by the same rendezvous hashing the workers use. One channel (and one
//! [`Link`] over it) is kept per worker address, so calls ride long-lived HTTP/2
//! connections straight to the pods rather than through a Service that would pin
//! them to one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use fenliu_node::redis_connection::RedisFailure;
use fenliu_node::registry::{Member, Registry};
use fenliu_node::sharding::{ShardId, owner_of, shard_of};
use fenliu_node::versions::{Versions, Window};
use tokio::sync::Notify;
use tonic::transport::{Channel, Endpoint};

use fenliu_node::tls::Tls;
use fenliu_node::tls::connector::WorkerConnector;

use crate::link::Link;

/// How often the membership is re-read when nothing asks for it sooner.
const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// How a worker at `url` (e.g. `http://127.0.0.1:50061`) is reached.
fn worker_endpoint(url: &str) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(2))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_while_idle(true))
}

/// A lazily connected plaintext channel to a worker at `url`: the dispatcher
/// starts even when the worker is not up yet.
pub fn worker_channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(worker_endpoint(url)?.connect_lazy())
}

/// How this dispatcher reaches workers: plaintext, or mutual TLS with its own
/// certificate (checked by the worker) and the worker's (checked against the
/// fleet CA and the configured worker name).
#[derive(Debug, Clone, Default)]
pub struct WorkerDialer {
    /// `None`: plaintext.
    tls: Option<Tls>,
    /// The link versions offered to workers (this build's unless told).
    link_versions: Option<Window>,
}

impl WorkerDialer {
    pub fn new(tls: Option<Tls>) -> WorkerDialer {
        WorkerDialer {
            tls,
            link_versions: None,
        }
    }

    /// Offers `versions` on every link (the next release's, for tests of
    /// rolling upgrades).
    pub fn with_link_versions(mut self, versions: Window) -> WorkerDialer {
        self.link_versions = Some(versions);
        self
    }

    /// A worker at `url`, connected lazily.
    pub fn dial(&self, url: &str) -> Result<Worker, tonic::transport::Error> {
        let endpoint = worker_endpoint(url)?;
        let versions = self.link_versions.unwrap_or(Versions::CURRENT.link);
        let Some(tls) = &self.tls else {
            return Ok(Worker::with_link(endpoint.connect_lazy(), None, versions));
        };
        let channel =
            endpoint.connect_with_connector_lazy(WorkerConnector::new(tls.identity.clone()));
        // The link moves to a fresh stream (and, once the worker has closed the
        // old connection, a fresh connection with fresh certificates) in time.
        Ok(Worker::with_link(
            channel,
            Some(tls.link_max_age()),
            versions,
        ))
    }
}

/// A worker as the dispatcher reaches it: unary calls go on its link, `WatchShop`
/// streams on the channel.
#[derive(Debug, Clone)]
pub struct Worker {
    /// The connection `WatchShop` streams are opened on (and the link's).
    pub channel: Channel,
    /// The long-lived stream every unary call to the worker rides.
    pub link: Arc<Link>,
}

impl Worker {
    pub fn new(channel: Channel) -> Worker {
        Worker::with_link(channel, None, Versions::CURRENT.link)
    }

    /// A worker whose link stream is replaced once it is `link_max_age` old,
    /// each stream offering the link versions of `versions`.
    pub fn with_link(channel: Channel, link_max_age: Option<Duration>, versions: Window) -> Worker {
        Worker {
            link: Arc::new(Link::new(channel.clone(), link_max_age, versions)),
            channel,
        }
    }
}

/// How the dispatcher finds a shop's worker.
#[derive(Debug)]
pub enum Workers {
    /// Every shop goes to this worker.
    Fixed(Worker),
    /// Each shop goes to its shard's owner among the live workers.
    Sharded(Arc<ShardedWorkers>),
}

impl Workers {
    /// Whether calls can be forwarded now (readiness).
    pub fn is_ready(&self) -> bool {
        match self {
            Workers::Fixed(_) => true,
            Workers::Sharded(sharded) => sharded.is_ready(),
        }
    }

    /// Every shop goes to the worker at the end of `channel`.
    pub fn fixed(channel: Channel) -> Workers {
        Workers::Fixed(Worker::new(channel))
    }

    /// The worker serving `shop_id`, or `None` when no worker is live.
    pub fn worker_for(&self, shop_id: &str) -> Option<Worker> {
        match self {
            Workers::Fixed(worker) => Some(worker.clone()),
            Workers::Sharded(sharded) => sharded.worker_for(shop_id),
        }
    }

    /// Asks for a fresh membership (after a refusal or a connection failure).
    pub fn refresh_soon(&self) {
        if let Workers::Sharded(sharded) = self {
            sharded.refresh.notify_one();
        }
    }
}

/// The live workers as last read from Redis, and a channel and link to each.
#[derive(Debug)]
pub struct ShardedWorkers {
    /// Shards of the deployment: the same on every node.
    shard_count: u32,
    /// How workers are reached (plaintext or mutual TLS).
    dialer: WorkerDialer,
    /// Where the membership is read from.
    registry: Registry,
    /// The live workers as last read, to tell when the membership changed.
    members: RwLock<Vec<Member>>,
    /// One channel and link per worker address, kept across refreshes so calls reuse connections.
    workers: RwLock<HashMap<String, Worker>>,
    /// Each shard's owner, rebuilt when the membership changes, so a call costs
    /// one hash and one lookup.
    routes: RwLock<Vec<Option<Worker>>>,
    /// Asks the membership task to read again now (after a refusal), not at its next tick.
    refresh: Notify,
    /// When the membership was last read successfully.
    last_refresh: RwLock<Option<tokio::time::Instant>>,
}

impl ShardedWorkers {
    pub fn new(registry: Registry, shard_count: u32, dialer: WorkerDialer) -> Arc<ShardedWorkers> {
        Arc::new(ShardedWorkers {
            shard_count,
            dialer,
            registry,
            members: RwLock::new(Vec::new()),
            workers: RwLock::new(HashMap::new()),
            routes: RwLock::new(Vec::new()),
            refresh: Notify::new(),
            last_refresh: RwLock::new(None),
        })
    }

    /// Ready: the membership was read within the last few seconds and names at
    /// least one worker.
    pub fn is_ready(&self) -> bool {
        let fresh = self
            .last_refresh
            .read()
            .expect("refresh lock")
            .is_some_and(|at| at.elapsed() < REFRESH_INTERVAL * 5);
        fresh && !self.members.read().expect("members lock").is_empty()
    }

    fn worker_for(&self, shop_id: &str) -> Option<Worker> {
        let shard = shard_of(shop_id, self.shard_count);
        let routes = self.routes.read().expect("routes lock");
        routes.get(shard.0 as usize).cloned().flatten()
    }

    /// Recomputes every shard's owner (rendezvous over `members`).
    fn rebuild_routes(&self, members: &[Member]) {
        let workers = self.workers.read().expect("workers lock");
        let routes = (0..self.shard_count)
            .map(|shard| {
                let owner = owner_of(ShardId(shard), members.iter().map(|m| m.worker_id.as_str()))?;
                let member = members.iter().find(|m| m.worker_id == owner)?;
                workers.get(&member.address).cloned()
            })
            .collect();
        *self.routes.write().expect("routes lock") = routes;
    }

    /// Reads the membership now.
    pub async fn refresh(&self) -> Result<usize, RedisFailure> {
        let members = self.registry.members().await?;
        {
            let mut workers = self.workers.write().expect("workers lock");
            for member in &members {
                if !workers.contains_key(&member.address) {
                    match self.dialer.dial(&format!("http://{}", member.address)) {
                        Ok(worker) => {
                            workers.insert(member.address.clone(), worker);
                        }
                        Err(error) => {
                            tracing::warn!(worker = %member.worker_id, address = %member.address, %error, "bad worker address");
                        }
                    }
                }
            }
            workers.retain(|address, _| members.iter().any(|m| &m.address == address));
        }
        let count = members.len();
        *self.last_refresh.write().expect("refresh lock") = Some(tokio::time::Instant::now());
        let mut current = self.members.write().expect("members lock");
        if *current != members || self.routes.read().expect("routes lock").is_empty() {
            tracing::info!(workers = count, "worker membership changed");
            self.rebuild_routes(&members);
        }
        *current = members;
        Ok(count)
    }

    /// Re-reads the membership every second, or sooner when asked, until
    /// `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(error) = self.refresh().await {
                tracing::warn!(%error, "could not read the worker membership");
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.refresh.notified() => {
                    // Coalesce a burst of requests for a refresh.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                () = tokio::time::sleep(REFRESH_INTERVAL) => {}
            }
        }
    }
}
