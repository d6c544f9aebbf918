//! Where shops are kept between calls. On the embedded default the router's memory
//! is the truth and nothing is written anywhere; with Redis configured every call's
//! changes ([`WriteSet`](crate::engine::WriteSet)) are committed to Redis before the
//! answer leaves, in one script that first checks the shop's fencing token.
//!
//! Error policy (what callers see): a Redis that cannot be reached, is loading, is
//! failing over or times out is *transient*: `UNAVAILABLE`, never
//! `INVALID_ARGUMENT`, because clients retry transient codes and give up on the
//! others. A write refused by the fence means this worker no longer owns the shop:
//! also `UNAVAILABLE`, with the dispatcher retrying on the current owner.

pub mod keys;
pub mod records;
pub mod redis_store;

pub use redis_store::RedisStore;

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

impl StoreError {
    pub fn to_status(&self) -> tonic::Status {
        match self {
            StoreError::Unavailable(_) | StoreError::Fenced { .. } => {
                tonic::Status::unavailable(self.to_string())
            }
            StoreError::Corrupt(_) => tonic::Status::internal(self.to_string()),
        }
    }
}

impl From<redis::RedisError> for StoreError {
    /// Every error reaching here is of the transient kind except a script or
    /// protocol error, which is a bug of ours: reported as `Corrupt` (INTERNAL).
    fn from(error: redis::RedisError) -> Self {
        use redis::{ErrorKind, ServerErrorKind};
        let transient = error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_cluster_error()
            || matches!(
                error.kind(),
                ErrorKind::Io
                    | ErrorKind::ClusterConnectionNotFound
                    | ErrorKind::Server(
                        ServerErrorKind::BusyLoading
                            | ServerErrorKind::TryAgain
                            | ServerErrorKind::MasterDown
                            | ServerErrorKind::ClusterDown
                    )
            );
        if transient {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Corrupt(error.to_string())
        }
    }
}
