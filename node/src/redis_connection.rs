//! The Redis connection both roles share: one Redis or a Redis Cluster behind one
//! type, every call bounded by a timeout of ours, and what a failed call means.
//!
//! Error policy: a Redis that cannot be reached, is loading, is failing over, or is
//! too slow is *transient* ([`RedisFailure::Unavailable`], which callers report as
//! `UNAVAILABLE`, never `INVALID_ARGUMENT`: clients retry transient codes and give
//! up on the others). A script or protocol error is a bug of ours, or data this
//! version cannot read ([`RedisFailure::Corrupt`], `INTERNAL`).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// Why a call to Redis failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RedisFailure {
    /// Redis is unreachable, loading, failing over, or too slow: try again.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// A reply this version cannot read, or a script that failed.
    #[error("stored state unreadable: {0}")]
    Corrupt(String),
}

impl From<redis::RedisError> for RedisFailure {
    /// Every error reaching here is of the transient kind except a script or
    /// protocol error, which is a bug of ours: reported as `Corrupt` (INTERNAL).
    fn from(error: redis::RedisError) -> Self {
        use redis::{ErrorKind, ServerErrorKind};
        let transient = error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_cluster_error()
            || matches!(
                error.kind(),
                ErrorKind::Io
                    | ErrorKind::ClusterConnectionNotFound
                    | ErrorKind::Server(
                        ServerErrorKind::BusyLoading
                            | ServerErrorKind::TryAgain
                            | ServerErrorKind::MasterDown
                            | ServerErrorKind::ClusterDown
                    )
            );
        if transient {
            RedisFailure::Unavailable(error.to_string())
        } else {
            RedisFailure::Corrupt(error.to_string())
        }
    }
}

/// The link under a [`RedisConnection`].
#[derive(Clone)]
enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A connection to one Redis or to a Redis Cluster, whose every call gives up
/// after the call timeout.
///
/// The bound is ours, around each call, because the client's own timeouts bound
/// only each attempt: while it reconnects to a Redis that went away, a call would
/// otherwise wait through every reconnection attempt, holding a shop's lock (and
/// the lease loop) far past the timeout. A call that times out is reported as
/// transient (UNAVAILABLE); the client keeps reconnecting underneath.
#[derive(Clone)]
pub struct RedisConnection {
    /// One Redis or a Redis Cluster.
    link: Link,
    /// The longest any call may take, reconnection included.
    call_timeout: Duration,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.link {
            Link::Single(_) => "single",
            Link::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisConnection")
            .field("kind", &kind)
            .field("call_timeout", &self.call_timeout)
            .finish()
    }
}

fn timed_out(timeout: Duration) -> redis::RedisError {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("redis call took longer than {} ms", timeout.as_millis()),
    )
    .into()
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let timeout = self.call_timeout;
        let call = match &mut self.link {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        };
        Box::pin(async move {
            tokio::time::timeout(timeout, call)
                .await
                .unwrap_or_else(|_| Err(timed_out(timeout)))
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let timeout = self.call_timeout;
        let call = match &mut self.link {
            Link::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        };
        Box::pin(async move {
            tokio::time::timeout(timeout, call)
                .await
                .unwrap_or_else(|_| Err(timed_out(timeout)))
        })
    }

    fn get_db(&self) -> i64 {
        match &self.link {
            Link::Single(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConnection {
    /// Connects to `urls`: one URL is a single Redis, several are the seed nodes
    /// of a Redis Cluster. Every call gives up after `call_timeout`.
    pub async fn connect(
        urls: &[String],
        call_timeout: Duration,
    ) -> Result<RedisConnection, RedisFailure> {
        let link = match urls {
            [] => return Err(RedisFailure::Unavailable("no Redis URL given".to_owned())),
            [url] => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(call_timeout))
                    .set_connection_timeout(Some(call_timeout))
                    // Reconnect quickly and keep trying: Redis comes back by
                    // itself, and so should we.
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                Link::Single(client.get_connection_manager_with_config(config).await?)
            }
            seeds => {
                let client = ClusterClient::builder(seeds.iter().map(String::as_str))
                    .response_timeout(call_timeout)
                    .connection_timeout(call_timeout)
                    .build()?;
                Link::Cluster(client.get_async_connection().await?)
            }
        };
        Ok(RedisConnection { link, call_timeout })
    }
}
