//! The client under a [`RedisConnection`](super::RedisConnection): one Redis
//! (a `ConnectionManager`, which reconnects by itself) or a Redis Cluster, built
//! from URLs and the access material of one moment.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::access::AccessMaterial;
use super::failure::RedisFailure;

/// One Redis or a Redis Cluster. Cloning is cheap: clones share the connection.
#[derive(Clone)]
pub(super) enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Link {
    /// Connects to `urls` (one: a single Redis; several: a Redis Cluster's
    /// seeds) with `material`'s password and TLS files; every attempt is bounded
    /// by `call_timeout`.
    pub(super) async fn connect(
        urls: &[String],
        material: &AccessMaterial,
        call_timeout: Duration,
    ) -> Result<Link, RedisFailure> {
        match urls {
            [] => Err(RedisFailure::Unavailable("no Redis URL given".to_owned())),
            [url] => {
                let info = material.connection_info(url)?;
                let client = match material.tls_certificates(&info) {
                    Some(certificates) => redis::Client::build_with_tls(info, certificates)?,
                    None => redis::Client::open(info)?,
                };
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(call_timeout))
                    .set_connection_timeout(Some(call_timeout))
                    // Reconnect quickly and keep trying: Redis comes back by
                    // itself, and so should we.
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                Ok(Link::Single(
                    client.get_connection_manager_with_config(config).await?,
                ))
            }
            seeds => {
                let infos = seeds
                    .iter()
                    .map(|url| material.connection_info(url))
                    .collect::<Result<Vec<_>, _>>()?;
                let certificates = material.tls_certificates(&infos[0]);
                let mut builder = ClusterClient::builder(infos)
                    .response_timeout(call_timeout)
                    .connection_timeout(call_timeout);
                if let Some(certificates) = certificates {
                    builder = builder.certs(certificates);
                }
                Ok(Link::Cluster(
                    builder.build()?.get_async_connection().await?,
                ))
            }
        }
    }

    /// `single` or `cluster`, for `Debug`.
    /// Sends `wait` (a `WAIT`) to the node whose writes it counts: the one
    /// connection of a single Redis, or the primary of `key`'s slot.
    pub(super) async fn wait(mut self, wait: Cmd, key: &str) -> redis::RedisResult<Value> {
        match &mut self {
            Link::Single(connection) => wait.query_async(connection).await,
            Link::Cluster(connection) => {
                let route = Route::with_key(key, SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                connection.route_command(wait, routing).await
            }
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Link::Single(_) => "single",
            Link::Cluster(_) => "cluster",
        }
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}
