//! Why a router call failed: the shop does not exist, this node does not own it,
//! the engine refused the call, the store failed, the shop is over its
//! `Route` rate limit, or it has too many calls in flight. `grpc::status` maps each to
//! the status a client sees.

use std::time::Duration;

use super::seams::NotOwner;
use crate::engine::{EngineError, ShopId};
use crate::store::StoreError;

/// Why a router call failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RouterError {
    #[error("shop_id: shop {0} does not exist; create it with UpsertShop")]
    UnknownShop(ShopId),
    #[error(
        "shard {} of this shop is not served by this worker{}",
        .0.shard,
        .0.renewal_failure.as_ref().map(|failure| format!(" (it cannot renew its leases: {failure})")).unwrap_or_default()
    )]
    NotOwner(NotOwner),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The shop's `Route` calls are over its rate limit (`rate_limit`).
    #[error(
        "route_rate_limit_per_second: the shop's Route calls are over its limit of {limit} per second; retry in {} ms",
        retry_after.as_millis()
    )]
    RateLimited {
        /// The shop's limit in force, per second.
        limit: u32,
        /// How long until the shop's next call is let through.
        retry_after: Duration,
    },
    /// The shop already has `limit` calls in flight at this worker
    /// (`--max-in-flight-per-shop`): admission control, retryable.
    #[error(
        "the shop {shop_id} has {limit} calls in flight at its worker, its most at once; retry shortly"
    )]
    ShopOverloaded {
        /// The shop refused.
        shop_id: ShopId,
        /// Its bound.
        limit: usize,
    },
    /// `WatchShop` from a sequence whose next events are no longer kept (the
    /// stream keeps the shop's latest only): the watcher resynchronises.
    #[error(
        "from_sequence: the events of shop {shop_id} after {after} are no longer kept{}; read GetShopState and watch from its event_sequence",
        .oldest.map(|oldest| format!(" (the oldest kept is {oldest})")).unwrap_or_default()
    )]
    EventsNotKept {
        shop_id: ShopId,
        /// The last event the watcher has.
        after: u64,
        /// The oldest event kept, if any.
        oldest: Option<u64>,
    },
    /// `WatchShop` from a sequence the shop has not reached: not this shop's
    /// numbering, or its store lost acknowledged events (a Redis restarted from
    /// an older state).
    #[error(
        "from_sequence: shop {shop_id} has no event {after}: its last is {last}; read GetShopState and watch from its event_sequence"
    )]
    EventsAhead {
        shop_id: ShopId,
        /// The resume point asked for.
        after: u64,
        /// The shop's last event.
        last: u64,
    },
}
