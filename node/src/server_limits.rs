//! What one connection may ask of a server, as flags both roles share: how many
//! HTTP/2 streams it may have open at once, and how large a request may be; and
//! how many calls the whole server works on at once ([`crate::overload`]).
//!
//! - **Streams.** Past the limit, a client's new calls wait for one of its own
//!   to finish (HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS): one connection cannot
//!   hold an unbounded number of calls or `WatchShop` streams open on a server,
//!   and the wait falls on that connection alone.
//! - **Request size.** A request message over the limit is refused by tonic
//!   from its length prefix, before a byte of it is decoded or buffered, with
//!   `OUT_OF_RANGE` (tonic's code for a message over the limit; gRPC's C and Go
//!   implementations say `RESOURCE_EXHAUSTED`). The worker's end of the
//!   dispatcher link refuses a call whose own request bytes are over the limit
//!   the same way, so a request means the same whichever way it came. The
//!   link's own envelope (`LinkCall`) may be as large as any request a
//!   dispatcher can be configured to let through: a dispatcher allowing more
//!   than its workers then gets that one call refused, and never breaks the
//!   link that carries every other shop's calls.

use std::time::Duration;

use anyhow::bail;

/// Default of `--max-request-bytes`: 1 MiB. The largest request a shop within
/// the default caps sends lists every one of its accounts (a `Heartbeat`, a
/// group's members, the offline list): 5,000 ids of at most 128 bytes is
/// about 650 KB. tonic's own default is 4 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: u32 = 1024 * 1024;
/// Default of `--max-concurrent-streams` on a dispatcher: a platform backend's
/// connection rarely has a hundred calls in flight (at 5 ms a call, 1,024 in
/// flight is 200,000 calls a second on one connection).
pub const DISPATCHER_CONCURRENT_STREAMS: u32 = 1024;
/// Default of `--max-concurrent-streams` on a worker. Its clients are the
/// dispatchers: each sends all of its unary calls on one stream (the link), but
/// every `WatchShop` it forwards is a stream of its own on its one connection
/// to the worker, so the limit there bounds the watchers one dispatcher can
/// forward to one worker.
pub const WORKER_CONCURRENT_STREAMS: u32 = 16 * 1024;
/// Default of `--max-in-flight` on a dispatcher: what one dispatcher core
/// answers in 20–30 ms (about 10,000 Routes and their ends a second on the
/// 2-core machine), so that a call admitted under overload waits tens of
/// milliseconds, not seconds (`scripts/bench`'s overload row: at 1,024 an open
/// loop at 1.5 × capacity had an admitted p99 of 120 × the unloaded one, at 256
/// about 11 ×); still above what callers keep in flight when the machine keeps
/// up (64 Routes in flight and their later ends stayed under it with no
/// refusal). Raise it with the dispatcher's throughput on larger machines.
pub const DISPATCHER_MAX_IN_FLIGHT: usize = 256;
/// Default of `--overload-latency-target-ms` on a dispatcher: under overload
/// its bound on calls in flight adapts so that most admitted calls take less
/// than this ([`crate::adaptive_limit`]). About three times a `Route`'s p50 at
/// 64 in flight on the 2-core machine, so that at its bound the p99 of what is
/// admitted stays within ten times the unloaded p99.
pub const DISPATCHER_OVERLOAD_LATENCY_TARGET: Duration = Duration::from_millis(10);
/// Default of `--max-in-flight` on a worker: several dispatchers feed it, each
/// holding to its own bound; this one guards the worker when many do.
pub const WORKER_MAX_IN_FLIGHT: usize = 4096;
/// The largest `--max-request-bytes` there may be.
pub const MAX_REQUEST_BYTES_LIMIT: u32 = 64 * 1024 * 1024;
/// What a call's envelope on the dispatcher link (`LinkCall`) may add to its
/// request: its metadata, which HTTP/2 bounds at 16 KiB of headers (hyper's
/// default), with room to spare.
pub const LINK_CALL_OVERHEAD_BYTES: usize = 64 * 1024;

/// Per-connection limits of a server.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerLimits {
    /// HTTP/2 streams one connection may have open at once; more calls on it
    /// wait for one of its own to end (default: 1024 on a dispatcher, 16384 on
    /// a worker, whose connections each carry a dispatcher's forwarded
    /// WatchShop streams).
    #[arg(long, env = "FENLIU_MAX_CONCURRENT_STREAMS")]
    pub max_concurrent_streams: Option<u32>,
    /// Largest request message, in bytes; a larger one is refused with
    /// OUT_OF_RANGE before it is decoded.
    #[arg(long, env = "FENLIU_MAX_REQUEST_BYTES", default_value_t = DEFAULT_MAX_REQUEST_BYTES)]
    pub max_request_bytes: u32,
    /// Unary calls the server works on at once, all connections together; past
    /// it a call is refused at once with RESOURCE_EXHAUSTED and a time to
    /// retry (default: 256 on a dispatcher, 4096 on a worker; 0: no bound).
    #[arg(long, env = "FENLIU_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_concurrent_streams: None,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_in_flight: None,
        }
    }
}

impl ServerLimits {
    /// The bound on calls in flight: the flag's, or the role's `default`.
    pub fn max_in_flight(&self, default: usize) -> usize {
        self.max_in_flight.unwrap_or(default)
    }

    /// Refuses limits that cannot work, naming the flag.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.max_concurrent_streams == Some(0) {
            bail!("--max-concurrent-streams (FENLIU_MAX_CONCURRENT_STREAMS) must be at least 1");
        }
        if !(1024..=MAX_REQUEST_BYTES_LIMIT).contains(&self.max_request_bytes) {
            bail!(
                "--max-request-bytes (FENLIU_MAX_REQUEST_BYTES) must be between 1024 and 67108864, got {}",
                self.max_request_bytes
            );
        }
        Ok(())
    }

    /// The streams limit, or the role's default when none is set.
    pub fn concurrent_streams(&self, role_default: u32) -> u32 {
        self.max_concurrent_streams.unwrap_or(role_default)
    }

    /// The request limit, as tonic's `max_decoding_message_size` takes it.
    pub fn request_bytes(&self) -> usize {
        usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX)
    }

    /// The largest `LinkCall` a worker accepts from a dispatcher: the largest
    /// request any dispatcher may let through, and its envelope (the link is
    /// between a deployment's own nodes). Each call's own request is held to
    /// [`Self::request_bytes`] when the worker unpacks it.
    pub fn link_call_bytes(&self) -> usize {
        usize::try_from(MAX_REQUEST_BYTES_LIMIT)
            .unwrap_or(usize::MAX)
            .saturating_add(LINK_CALL_OVERHEAD_BYTES)
    }

    /// A request of `len` bytes over the limit: the refusal, as tonic words it
    /// for a direct call.
    pub fn refuse_request(&self, len: usize) -> Option<tonic::Status> {
        let limit = self.request_bytes();
        (len > limit).then(|| {
            tonic::Status::out_of_range(format!(
                "request too large: {len} bytes, the limit (--max-request-bytes) is {limit} bytes"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_over_the_limit_is_refused_naming_the_limit() {
        let limits = ServerLimits {
            max_request_bytes: 2048,
            ..ServerLimits::default()
        };
        assert!(limits.refuse_request(2048).is_none());
        let refused = limits.refuse_request(2049).unwrap();
        assert_eq!(refused.code(), tonic::Code::OutOfRange);
        assert!(refused.message().contains("--max-request-bytes"));
        // The link takes any request a dispatcher may let through, so that a
        // call refused by the worker's own limit never breaks it.
        assert!(limits.link_call_bytes() > MAX_REQUEST_BYTES_LIMIT as usize);
    }

    #[test]
    fn limits_that_cannot_work_are_refused_naming_the_flag() {
        let zero_streams = ServerLimits {
            max_concurrent_streams: Some(0),
            ..ServerLimits::default()
        };
        assert!(
            zero_streams
                .check()
                .unwrap_err()
                .to_string()
                .contains("--max-concurrent-streams")
        );
        let tiny = ServerLimits {
            max_request_bytes: 10,
            ..ServerLimits::default()
        };
        assert!(
            tiny.check()
                .unwrap_err()
                .to_string()
                .contains("--max-request-bytes")
        );
        ServerLimits::default().check().unwrap();
        assert_eq!(
            ServerLimits::default().concurrent_streams(DISPATCHER_CONCURRENT_STREAMS),
            1024
        );
    }
}
