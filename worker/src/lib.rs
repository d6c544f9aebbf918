//! fenliu's worker: decides which account serves each buyer, for the shops whose
//! shards it owns. What it shares with the dispatcher (shutdown, probes, the Redis
//! connection, shards and membership, the link protocol) is in `fenliu-node`.
//!
//! The dependencies between the modules run one way, top to bottom:
//!
//! - [`launch`]: a worker from its configuration (flags and environment), with or
//!   without Redis; [`quota_options`]: its per-shop quota flags.
//! - [`server`]: serving the API and the link on a bound listener until shutdown,
//!   with the lease loop and the timers.
//! - [`grpc`]: the edge. [`grpc::service`] (the `fenliu.v1.Routing` service),
//!   [`grpc::link`] (the same service reached through the dispatcher's link),
//!   [`grpc::checks`] (request fields), [`grpc::enum_codes`] (wire enums ⇄ domain
//!   enums), [`grpc::wire`] (answers built from a shop), [`grpc::status`] (every
//!   error → a gRPC status).
//! - [`ownership`]: which shards this worker serves: membership, rendezvous, leases;
//!   `lease_measures`: what it counts for the metrics.
//! - [`router`]: the shops of this node and the one call path through them.
//!   [`router::seams`] (ownership, persistence, clock, quotas), `shop_cell` (a
//!   shop in memory and its pending commit), `commits` (group commits),
//!   `deadlines` (what happens with nobody calling), `rate_limit` (each shop's
//!   `Route` rate limit), [`router::feed`] (events for `WatchShop`),
//!   [`router::error`].
//! - [`store`]: shops in Redis. [`store::keys`] (key layout), [`store::codes`]
//!   (stored enum numbers), [`store::records`] (protobuf records),
//!   [`store::redis_store`] (load, commit, the Lua scripts). Knows no gRPC.
//! - [`engine`]: the routing rules, pure (state, call, time) → (decision, changes);
//!   its own map is in its module doc.

pub mod engine;
pub mod grpc;
pub mod launch;
mod lease_measures;
pub mod ownership;
pub mod quota_options;
pub mod recording;
pub mod router;
pub mod server;
pub mod store;
