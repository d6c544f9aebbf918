//! Test infrastructure for fenliu's integration tests: throwaway `redis-server`
//! processes (single node and Redis Cluster) on free loopback ports, control of
//! the binaries under test as child processes (kill, pause, resume, terminate,
//! wait for a log line), bounded polling, and throwaway TLS certificates
//! (a test CA of its own) for Redis over TLS.
//!
//! Everything here talks to 127.0.0.1 only and is bounded in time, so a broken
//! environment makes a test fail with a message instead of hanging.
//!
//! `redis-server` and `redis-cli` must be on `PATH`; `scripts/install-deps`
//! installs them (Debian's `redis-server` package).
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use fenliu_testkit::redis::RedisServer;
//! let redis = RedisServer::start()?;
//! redis.command(&["SET", "k", "v"])?;
//! assert_eq!(redis.command(&["GET", "k"])?, "v");
//! println!("point the worker at {}", redis.url());
//! # Ok(()) }
//! ```

pub mod fault_proxy;
pub mod files;
pub mod ports;
pub mod process;
pub mod redis;
pub mod resp;
pub mod tls;
pub mod wait;

pub use fault_proxy::{FaultMode, FaultProxy, ProxyCounters};
pub use files::{tail_file, unique_temp_dir};
pub use ports::{free_cluster_port, free_port};
pub use process::ChildProcess;
pub use redis::{AppendFsync, ClientCerts, RedisCluster, RedisServer, RedisTls};
pub use tls::{CertFiles, TestCa};
pub use wait::{wait_until, wait_until_async};
