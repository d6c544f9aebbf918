//! What both fenliu roles are built on. A worker decides; a dispatcher forwards;
//! everything they have in common lives here once, so that the dispatcher never
//! links the router, and what the next features add to both roles (authentication,
//! TLS, quotas, metrics) has one place to go.
//!
//! - [`auth`]: bearer tokens (JWT, keys from a JWKS file), scopes, shops and
//!   accounts: who may call, and to do what.
//! - [`shutdown`]: the signal that stops a node gracefully, streams that end with
//!   it, and the process signals (SIGTERM, Ctrl-C) that raise it.
//! - [`tls`]: TLS on every gRPC hop, mutual between dispatchers and workers,
//!   certificates re-read when they change.
//! - [`transport`]: how a server accepts connections on a bound listener.
//! - [`server_limits`]: what one connection may ask of a server (concurrent
//!   streams, request size).
//! - [`probes`]: gRPC health (liveness and readiness) and reflection.
//! - [`telemetry`]: structured logs.
//! - [`metrics`]: Prometheus metrics on an admin port (`--metrics-listen`):
//!   the metric names, the recorder, call metrics for the `Routing` service.
//! - [`telemetry`]: structured logs, and traces when an OTLP endpoint is set.
//! - [`trace_export`]: the OTLP exporter, configured by the standard
//!   `OTEL_*` variables, flushed when the node stops.
//! - [`tracing_context`]: one trace per call across dispatcher, worker, engine
//!   and Redis commit: the spans, and the W3C `traceparent` between them.
//! - [`overload`]: admission control: bounds on calls in flight, and the
//!   retryable refusal past them; [`adaptive_limit`]: the dispatcher's bound,
//!   adapting to latency under overload.
//! - [`runtime`]: the tokio runtime every binary runs on.
//! - [`crypto`]: the one TLS crypto provider (ring) of a process.
//! - [`cluster_options`]: the flags every node of a deployment must agree on.
//! - [`redis_connection`]: one Redis or a Redis Cluster behind one connection,
//!   over TLS and as an ACL user if configured (files re-read when they change),
//!   each call bounded, and what a failed call means.
//! - [`sharding`]: shop → shard → worker (FNV-1a and rendezvous hashing).
//! - [`registry`]: worker membership and shard leases in Redis.
//! - [`link`]: what both ends of the dispatcher–worker link agree on.
//! - [`versions`]: the link and record versions a node speaks, and the rule
//!   for meeting a node of another release (rolling upgrades).
//! - [`undecodable`]: a request that cannot be decoded is refused with
//!   INVALID_ARGUMENT, not tonic's INTERNAL.

pub mod adaptive_limit;
pub mod auth;
pub mod cluster_options;
pub mod crypto;
pub mod link;
pub mod metrics;
pub mod overload;
pub mod probes;
pub mod redis_connection;
pub mod registry;
pub mod runtime;
pub mod server_limits;
pub mod sharding;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod trace_export;
pub mod tracing_context;
pub mod transport;
pub mod undecodable;
pub mod versions;

pub use cluster_options::ClusterOptions;
pub use server_limits::ServerLimits;
pub use shutdown::ShutdownSignal;
