//! Why a router call failed: the shop does not exist, this node does not own it,
//! the engine refused the call, or the store failed. `grpc::status` maps each to
//! the status a client sees.

use super::seams::NotOwner;
use crate::engine::{EngineError, ShopId};
use crate::store::StoreError;

/// Why a router call failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RouterError {
    #[error("shop_id: shop {0} does not exist; create it with UpsertShop")]
    UnknownShop(ShopId),
    #[error("shard {} of this shop is not served by this worker", .0.shard)]
    NotOwner(NotOwner),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
