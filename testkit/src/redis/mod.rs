//! Throwaway Redis for tests: [`RedisServer`] runs one `redis-server` process
//! on a free loopback port with its own temp dir and no persistence (or an
//! append-only file, fsynced as [`AppendFsync`] says);
//! [`RedisCluster`] runs N of them with cluster mode on and joins them with
//! `redis-cli --cluster create` into a cluster of N masters, without replicas
//! or with one each ([`RedisCluster::start_with_replicas`]).
//! Either may speak TLS only ([`RedisServer::start_tls`],
//! [`RedisCluster::start_tls`]), with certificates from a
//! [`TestCa`](crate::tls::TestCa).
//!
//! The binaries are looked up on `PATH` as `redis-server` and `redis-cli`
//! unless the environment variables `FENLIU_REDIS_SERVER` /
//! `FENLIU_REDIS_CLI` name others. `scripts/install-deps` installs them.
//!
//! The rooms: `server` is one process (start, stop, kill, pause, restart,
//! commands); `cluster` joins servers into a Redis Cluster and routes
//! commands over it; `cluster_changes` moves slots and fails masters over;
//! `launch` holds what both use to spawn and watch a
//! process (binary names, spawn errors, readiness probes, logs, and the
//! watcher that stops a server once the test process is gone); `tls` says
//! how a TLS-only server (or cluster) is set up.

mod cluster;
mod cluster_changes;
mod launch;
mod server;
mod tls;

pub use cluster::{REPLICATED_NODE_TIMEOUT_MS, RedisCluster};
pub use cluster_changes::ClusterNode;
pub use launch::{CLUSTER_TIMEOUT, READY_TIMEOUT, STOP_TIMEOUT};
pub use server::{AppendFsync, RedisServer};
pub use tls::{ClientCerts, RedisTls};
