//! Why the store could not do what it was asked: Redis was unavailable, a newer
//! owner fenced this one out, stored data was unreadable, or it was stored by a
//! newer release. The gRPC layer maps
//! each to a status (`grpc::status`); the store itself knows no gRPC.

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
    /// The commit is on the primary but not on as many replicas as required
    /// within the time allowed: not acknowledged (a failover could lose it).
    #[error("the commit reached {got} of the {wanted} Redis replicas required in time")]
    NotReplicated { wanted: u32, got: u32 },
    /// Stored data this version cannot read.
    #[error("stored state unreadable: {0}")]
    Corrupt(String),
    /// The shop was stored by a newer release, in a record format this worker
    /// does not read: not corruption, and retryable (during a rolling upgrade a
    /// worker of the newer release may own the shop soon). Refused at load, so
    /// the shop is never overwritten in an older format.
    #[error(
        "shop {shop} is stored in record format {found}, newer than this worker reads \
         (up to {understood}): a worker of a newer release must serve it"
    )]
    NewerFormat {
        shop: String,
        found: u32,
        understood: u32,
    },
}

impl StoreError {
    /// A newer owner's fence refused this one's load or commit of `shop`:
    /// counted in `fenliu_fencing_rejections_total`.
    pub fn fenced(shop: String, fence: u64, token: u64) -> StoreError {
        metrics::counter!(fenliu_node::metrics::names::FENCING_REJECTIONS).increment(1);
        StoreError::Fenced { shop, fence, token }
    }
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
