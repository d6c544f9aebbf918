//! Where shops are kept between calls. On the embedded default the router's memory
//! is the truth and nothing is written anywhere; with Redis configured every call's
//! changes ([`WriteSet`](crate::engine::WriteSet)) are committed to Redis before the
//! answer leaves, in one script that first checks the shop's fencing token.
//!
//! The store knows nothing of gRPC: it reports [`StoreError`], which the gRPC
//! layer maps to a status (`grpc::status`): a Redis that cannot be reached, is
//! loading, is failing over or times out is transient (`UNAVAILABLE`), and so is
//! a write refused by the fence (this worker no longer owns the shop; the
//! dispatcher retries on the current owner); unreadable data is `INTERNAL`.
//!
//! - [`keys`]: the key layout of a shop in Redis.
//! - [`codes`]: the numbers stored for the engine's enums.
//! - [`records`]: the protobuf records a shop's entities are stored as.
//! - [`redis_store`]: loading a shop and committing its changes, with the scripts.

pub mod codes;
pub mod keys;
pub mod records;
pub mod redis_store;

pub use redis_store::RedisStore;

use fenliu_node::redis_connection::RedisFailure;

/// Why the store could not do what it was asked.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis is unreachable, loading, failing over, or too slow: try again.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// A newer owner has taken the shop (its fencing token is higher than ours).
    #[error("shop {shop} is now owned by a newer worker (fence {fence} > token {token})")]
    Fenced {
        shop: String,
        fence: u64,
        token: u64,
    },
    /// Stored data this version cannot read.
    #[error("stored state unreadable: {0}")]
    Corrupt(String),
}

impl From<RedisFailure> for StoreError {
    fn from(failure: RedisFailure) -> Self {
        match failure {
            RedisFailure::Unavailable(detail) => StoreError::Unavailable(detail),
            RedisFailure::Corrupt(detail) => StoreError::Corrupt(detail),
        }
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(error: redis::RedisError) -> Self {
        RedisFailure::from(error).into()
    }
}
