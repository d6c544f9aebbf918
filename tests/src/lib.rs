//! A harness for fenliu's integration tests, in the style of quickwit's
//! `cluster_sandbox`: [`TestNode::start`] runs a real worker and a real dispatcher in
//! front of it, each on its own `127.0.0.1:0` listener with its own oneshot shutdown,
//! and the tests drive them through the gRPC API only.
//!
//! Everything is re-exported here, so a test needs only `use fenliu_tests::*;`.
//!
//! - [`nodes`]: [`TestNode`]: start (with [`NodeSettings`]: quotas,
//!   per-connection limits and authentication of a test's own), connect ([`TestNode::client`] to the
//!   dispatcher, [`TestNode::worker_client`] to the worker), stop gracefully, and
//!   [`TestNode::restart`] on the same Redis (every shop loaded again);
//!   [`start_redis`] and [`unique_namespace`] for deployments on Redis;
//!   [`mixed_fleet::MixedFleet`]: workers and dispatchers of this build and of
//!   the next release (a version bump) on one Redis, as in a rolling upgrade.
//! - [`secured_redis`]: Redis over TLS with fenliu's ACL user
//!   ([`SecuredRedis`], [`SecuredCluster`], the README's [`README_ACL_RULE`]),
//!   for [`TestNode::start_on_secured_redis`] and tests of rotation and refusals.
//! - [`auth`]: [`TestAuth`]: a signing key, its JWKS file and tokens, for
//!   deployments with authentication on; the client's [`BearerToken`].
//! - [`connect`]: clients of a node: plaintext or TLS, with or without a token.
//! - [`tls`]: [`TestTls`]: a throwaway fleet CA and node certificate for
//!   deployments with TLS on every hop.
//! - [`shops`]: [`ShopBuilder`]: a shop with its accounts, settings, groups and
//!   statuses in one expression.
//! - [`calls`]: [`route`] and friends: one call each, unique request ids, panics
//!   with context (`try_*`: the refusal is returned).
//! - [`asserts`]: reading a shop state ([`account`], [`queue`], [`pool`],
//!   [`comparable`]) and asserting on it ([`assert_assigned`],
//!   [`assert_refused`], [`check_shop_invariants`]...).
//! - [`health`]: [`health`]: liveness and readiness as a probe sees them.
//! - [`waits`]: [`wait_for`], [`wait_for_session`], [`wait_for_state`]: poll with
//!   a bounded timeout instead of sleeping. Each poll is a call, and a call brings
//!   the shop to the present itself; to show that something happens *with nobody
//!   calling* (a close delay or a presence TTL running out), wait on the shop's
//!   `WatchShop` stream instead ([`watch`], [`next_event`]).
//! - [`scale`]: [`scale::ScaleDeployment`]: many workers and dispatchers on a
//!   Redis Cluster with replicas of the deployment's own, changed under a
//!   [`scale::load::Load`], and the [`scale::audit`] of what was acknowledged.
//! - [`http`]: a small HTTP/1.1 client for loopback servers (the console, chromedriver),
//!   and [`http::EventStream`], a server-sent-event stream read as it comes.
//! - [`webdriver`]: [`webdriver::Browser`]: headless chromium through chromedriver
//!   (W3C WebDriver), for the console's browser test.
//! - [`limits`]: how long a test, a wait and a stop may take; [`bounded`]: every
//!   test body runs inside it, so no test can hang ([`bounded_by`] for a test that
//!   needs longer).

pub use fenliu_proto::v1 as pb;

pub mod asserts;
pub mod auth;
pub mod calls;
pub mod connect;
pub mod health;
pub mod http;
pub mod limits;
pub mod nodes;
pub mod scale;
pub mod secured_redis;
pub mod shops;
pub mod tls;
pub mod waits;
pub mod webdriver;

pub use asserts::*;
pub use auth::*;
pub use calls::*;
pub use connect::*;
pub use health::*;
pub use limits::*;
pub use nodes::*;
pub use secured_redis::*;
pub use shops::*;
pub use tls::*;
pub use waits::*;
