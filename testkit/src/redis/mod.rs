//! Throwaway Redis for tests: [`RedisServer`] runs one `redis-server` process
//! on a free loopback port with its own temp dir and no persistence;
//! [`RedisCluster`] runs N of them with cluster mode on and joins them with
//! `redis-cli --cluster create` into a cluster of N masters and no replicas.
//!
//! The binaries are looked up on `PATH` as `redis-server` and `redis-cli`
//! unless the environment variables `FENLIU_REDIS_SERVER` /
//! `FENLIU_REDIS_CLI` name others. `scripts/install-deps` installs them.
//!
//! The rooms: `server` is one process (start, stop, kill, pause, restart,
//! commands); `cluster` joins servers into a Redis Cluster and routes
//! commands over it; `launch` holds what both use to spawn and watch a
//! process (binary names, spawn errors, readiness probes, logs, and the
//! watcher that stops a server once the test process is gone).

use std::time::Duration;

mod cluster;
mod launch;
mod server;

pub use cluster::RedisCluster;
pub use server::RedisServer;

/// How long [`RedisServer::start`] and [`RedisServer::restart`] wait for the
/// server to answer `PING`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`RedisServer::stop`] waits after SIGTERM before it sends SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`RedisCluster::start`] waits for `redis-cli --cluster create` and
/// then for `cluster_state:ok` on every node (each).
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a wait for a process (ready, exited) looks again.
const POLL: Duration = Duration::from_millis(20);
