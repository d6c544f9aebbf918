//! The Redis connection both roles share: one Redis or a Redis Cluster behind one
//! type, over TLS and as an ACL user if so configured, every call bounded by a
//! timeout of ours, and what a failed call means.
//!
//! - [`failure`]: what a failed call means ([`RedisFailure`]): transient
//!   (`UNAVAILABLE`, refusals of our credentials or rights included) or not.
//! - [`access`]: the password and TLS files ([`RedisAccess`]), and URLs shown
//!   without their passwords ([`redact_url`]).
//! - [`link`]: the client under a connection, single or cluster.
//! - [`rotation`]: the files read again when they change, and a new link
//!   swapped in.

mod access;
mod failure;
mod link;
mod rotation;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, Value};

pub use access::{DEFAULT_REREAD_EVERY, RedisAccess, redact_url};
pub use failure::{RedisFailure, error_kind};

use access::scrub;
use link::Link;
use rotation::Rotation;

/// A connection to one Redis or to a Redis Cluster, whose every call gives up
/// after the call timeout.
///
/// The bound is ours, around each call, because the client's own timeouts bound
/// only each attempt: while it reconnects to a Redis that went away, a call would
/// otherwise wait through every reconnection attempt, holding a shop's lock (and
/// the lease loop) far past the timeout. A call that times out is reported as
/// transient (UNAVAILABLE); the client keeps reconnecting underneath.
///
/// Clones share one link, which [`rotation`] replaces when the password or TLS
/// files change; each call takes the link in place when it starts.
#[derive(Clone)]
pub struct RedisConnection {
    /// The link in use, shared by every clone and swapped on rotation.
    link: Arc<ArcSwap<Link>>,
    /// The longest any call may take, reconnection included.
    call_timeout: Duration,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("kind", &self.link.load().kind())
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

/// Counts a failed call in `fenliu_redis_errors_total`.
fn counted<T>(result: redis::RedisResult<T>) -> redis::RedisResult<T> {
    if let Err(error) = &result
        && let Some(kind) = error_kind(error)
    {
        crate::metrics::meters::redis_error(kind);
    }
    result
}

impl RedisConnection {
    /// The link in place now (a cheap clone), for one call.
    fn current(&self) -> Link {
        Link::clone(&self.link.load())
    }

    /// A connection held to the link in place now, which a rotation does not
    /// replace: for a write and the `WAIT` that must follow it on the same
    /// connection (`WAIT` counts the replicas that have this client's writes).
    pub fn pinned(&self) -> RedisConnection {
        RedisConnection {
            link: Arc::new(ArcSwap::from_pointee(self.current())),
            call_timeout: self.call_timeout,
        }
    }

    /// Waits until this connection's writes to the node serving `key` are on
    /// `replicas` replicas, for at most `timeout`; returns how many replicas
    /// have them (possibly fewer, when the time ran out). On a Redis Cluster the
    /// `WAIT` goes to the primary of `key`'s slot, where the write went.
    pub async fn wait_for_replicas(
        &self,
        key: &str,
        replicas: u32,
        timeout: Duration,
    ) -> Result<u32, RedisFailure> {
        let mut wait = redis::cmd("WAIT");
        wait.arg(replicas)
            .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        let link = self.current();
        let call_timeout = self.call_timeout;
        let reply = tokio::time::timeout(call_timeout, link.wait(wait, key))
            .await
            .unwrap_or_else(|_| Err(timed_out(call_timeout)))?;
        let acknowledged: i64 = redis::from_redis_value(reply)
            .map_err(|error| RedisFailure::Corrupt(format!("WAIT reply: {error}")))?;
        Ok(u32::try_from(acknowledged).unwrap_or(0))
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let timeout = self.call_timeout;
        let mut link = self.current();
        Box::pin(async move {
            counted(
                tokio::time::timeout(timeout, link.req_packed_command(cmd))
                    .await
                    .unwrap_or_else(|_| Err(timed_out(timeout))),
            )
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let timeout = self.call_timeout;
        let mut link = self.current();
        Box::pin(async move {
            counted(
                tokio::time::timeout(timeout, link.req_packed_commands(pipeline, offset, count))
                    .await
                    .unwrap_or_else(|_| Err(timed_out(timeout))),
            )
        })
    }

    fn get_db(&self) -> i64 {
        self.link.load().get_db()
    }
}

impl RedisConnection {
    /// Connects to `urls`: one URL is a single Redis, several are the seed nodes
    /// of a Redis Cluster. Every call gives up after `call_timeout`.
    pub async fn connect(
        urls: &[String],
        call_timeout: Duration,
    ) -> Result<RedisConnection, RedisFailure> {
        Self::connect_with(urls, RedisAccess::default(), call_timeout).await
    }

    /// [`RedisConnection::connect`] with the password and TLS files of
    /// `access`, read now and again whenever they change (see [`rotation`]).
    /// A failure never shows a password, the URLs' or the file's.
    pub async fn connect_with(
        urls: &[String],
        access: RedisAccess,
        call_timeout: Duration,
    ) -> Result<RedisConnection, RedisFailure> {
        let material = access.read()?;
        let link = Link::connect(urls, &material, call_timeout)
            .await
            .map_err(|failure| {
                let secrets = material.secrets(urls);
                match failure {
                    RedisFailure::Unavailable(message) => {
                        RedisFailure::Unavailable(scrub(&message, &secrets))
                    }
                    RedisFailure::Corrupt(message) => {
                        RedisFailure::Corrupt(scrub(&message, &secrets))
                    }
                }
            })?;
        let link = Arc::new(ArcSwap::from_pointee(link));
        if access.reads_files() {
            Rotation {
                urls: urls.to_vec(),
                access,
                call_timeout,
                in_use: material,
            }
            .spawn(Arc::downgrade(&link));
        }
        Ok(RedisConnection { link, call_timeout })
    }
}
