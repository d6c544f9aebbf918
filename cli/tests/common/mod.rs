//! Helpers for the fault tests, about real processes: what is not (building
//! shops, calls on a settled deployment, state comparisons and invariants,
//! bounding a test in time) comes from the tests crate, `fenliu_tests`.
//!
//! - [`processes`]: `fenliu worker` / `fenliu dispatcher` processes (the `fenliu`
//!   binary cargo built for this test) on free loopback ports against a real
//!   `redis-server`, connected to, started as a deployment; their logs and state.
//! - [`redis`]: the deployment's Redis read directly (a shop's keys, membership).
//! - [`leases`]: the shard lease keys, the rendezvous owners they should settle
//!   on, and shops picked by the worker that owns them.
//! - [`shops`]: the shops the tests route on.
//! - [`calls`]: calls with deadlines while a fault is on, and numbered new
//!   buyers to route.
//! - [`outage`]: calls through a Redis outage, the codes they may fail with,
//!   and the recovery.
//! - [`traffic`]: client traffic recorded route by route while a worker fails,
//!   and what it must show afterwards.
//!
//! Every wait here is a bounded poll; nothing sleeps for a fixed long time.

pub mod calls;
pub mod leases;
pub mod outage;
pub mod processes;
pub mod redis;
pub mod shops;
pub mod traffic;

pub use calls::*;
pub use leases::*;
pub use outage::*;
pub use processes::*;
pub use redis::*;
pub use shops::*;
pub use traffic::*;
