//! A harness for fenliu's integration tests, in the style of quickwit's
//! `cluster_sandbox`: [`TestNode::start`] runs a real worker and a real dispatcher in
//! front of it, each on its own `127.0.0.1:0` listener with its own oneshot shutdown,
//! and the tests drive them through the gRPC API only.
//!
//! Everything is re-exported here, so a test needs only `use fenliu_tests::*;`.
//!
//! - [`nodes`]: [`TestNode`]: start, connect ([`TestNode::client`] to the
//!   dispatcher, [`TestNode::worker_client`] to the worker), and stop gracefully;
//!   [`start_redis`] and [`unique_namespace`] for deployments on Redis.
//! - [`shops`]: [`ShopBuilder`]: a shop with its accounts, settings, groups and
//!   statuses in one expression.
//! - [`calls`]: [`route`] and friends: one call each, unique request ids, panics
//!   with context (`try_*`: the refusal is returned).
//! - [`asserts`]: reading a shop state ([`account`], [`queue`], [`pool`],
//!   [`comparable`]) and asserting on it ([`assert_assigned`],
//!   [`assert_refused`], [`check_shop_invariants`]...).
//! - [`waits`]: [`wait_for`], [`wait_for_session`], [`wait_for_state`]: poll with
//!   a bounded timeout instead of sleeping. Each poll is a call, and a call brings
//!   the shop to the present itself; to show that something happens *with nobody
//!   calling* (a close delay or a presence TTL running out), wait on the shop's
//!   `WatchShop` stream instead ([`watch`], [`next_event`]).
//! - [`bounded`] (here): every test body runs inside it, so no test can hang
//!   ([`bounded_by`] for a test that needs longer).

use std::future::Future;
use std::time::Duration;

pub use fenliu_proto::v1 as pb;
use pb::routing_client::RoutingClient;
use tonic::transport::Channel;

pub mod asserts;
pub mod calls;
pub mod nodes;
pub mod shops;
pub mod waits;

pub use asserts::*;
pub use calls::*;
pub use nodes::*;
pub use shops::*;
pub use waits::*;

/// A connected client of the `fenliu.v1.Routing` API.
pub type Client = RoutingClient<Channel>;

/// The longest any one test may run.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest [`wait_for`] waits for something to happen by itself.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a server may take to stop once asked.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`wait_for`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The main account of every shop a [`ShopBuilder`] makes.
pub const MAIN: &str = "main";

/// Runs a test body, failing the test if it takes longer than [`TEST_TIMEOUT`].
pub async fn bounded<F: Future>(test: F) -> F::Output {
    bounded_by(TEST_TIMEOUT, test).await
}

/// Runs a test body, failing the test if it takes longer than `limit` (for tests
/// that need longer than [`TEST_TIMEOUT`], such as those on real processes).
pub async fn bounded_by<F: Future>(limit: Duration, test: F) -> F::Output {
    match tokio::time::timeout(limit, test).await {
        Ok(output) => output,
        Err(_) => panic!("the test did not finish within {limit:?}"),
    }
}
