//! fenliu's worker: decides which account serves each buyer.
//!
//! - [`engine`]: the routing rules, pure (state, call, time) → (decision, changes).
//! - [`router`]: the shops of this node, each behind its own lock, woken by a timer
//!   for what happens by itself (close delays, presence TTLs).
//! - [`grpc`]: the `fenliu.v1.Routing` service, converting wire types at the edge.
//! - [`server`]: serving on a listener until a shutdown future resolves.

pub mod engine;
pub mod grpc;
pub mod launch;
pub mod ownership;
pub mod router;
pub mod server;
pub mod store;
