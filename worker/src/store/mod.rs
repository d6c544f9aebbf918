//! Where shops are kept between calls. On the embedded default the router's memory
//! is the truth and nothing is written anywhere; with Redis configured every call's
//! changes ([`WriteSet`](crate::engine::WriteSet)) are committed to Redis before the
//! answer leaves, in one script that first checks the shop's fencing token.
//!
//! The store knows nothing of gRPC: it reports [`StoreError`], which the gRPC
//! layer maps to a status (`grpc::status`): a Redis that cannot be reached, is
//! loading, is failing over or times out is transient (`UNAVAILABLE`), and so is
//! a write refused by the fence (this worker no longer owns the shop; the
//! dispatcher retries on the current owner); unreadable data is `INTERNAL`, but a
//! shop stored by a newer release in a record format this worker does not read
//! is `UNAVAILABLE` (a worker of that release may own it soon).
//!
//! - [`error`]: why the store could not do what it was asked.
//! - [`keys`]: the key layout of a shop in Redis.
//! - [`codes`]: the numbers stored for the engine's enums.
//! - [`record_messages`]: the protobuf records a shop's entities are stored as.
//! - [`records`]: the engine's values to and from those records.
//! - [`redis_store`]: loading a shop and committing its changes, with the scripts.

pub mod codes;
pub mod error;
pub mod keys;
pub mod record_messages;
pub mod records;
pub mod redis_store;

pub use error::StoreError;
pub use redis_store::RedisStore;
