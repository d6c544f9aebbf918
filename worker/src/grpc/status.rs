//! Every mapping from a worker error to a gRPC status, in one place, with the
//! policy it follows: the caller's mistakes get the code that names them
//! (`INVALID_ARGUMENT`, `NOT_FOUND`, `FAILED_PRECONDITION`, `PERMISSION_DENIED`),
//! anything transient gets `UNAVAILABLE` (clients retry it), a shop over one of
//! its quotas gets `RESOURCE_EXHAUSTED` naming it (with `fenliu-retry-after-ms`
//! for the `Route` rate limit), unreadable stored data gets `INTERNAL` (but a
//! shop stored by a newer release, `UNAVAILABLE`). A store error is never a client error: a Redis that is
//! unreachable, loading or failing over must not look like a bad request.

use fenliu_node::link::{NOT_OWNER_METADATA, OWNER_METADATA, RETRY_AFTER_METADATA};
use fenliu_node::metrics::Role;
use fenliu_node::overload::{Bound, overloaded};
use tonic::Status;

use crate::engine::EngineError;
use crate::router::RouterError;
use crate::store::StoreError;

pub fn to_status(error: RouterError) -> Status {
    match error {
        RouterError::UnknownShop(_) => Status::not_found(error.to_string()),
        RouterError::EventsNotKept { .. } | RouterError::EventsAhead { .. } => {
            Status::out_of_range(error.to_string())
        }
        RouterError::Engine(engine_error) => engine_status(&engine_error),
        RouterError::Store(store_error) => store_status(&store_error),
        RouterError::NotOwner(ref not_owner) => {
            let mut status = Status::unavailable(error.to_string());
            if let Ok(shard) = not_owner.shard.to_string().parse() {
                status.metadata_mut().insert(NOT_OWNER_METADATA, shard);
            }
            if let Some(owner) = &not_owner.owner
                && let Ok(value) = owner.parse()
            {
                status.metadata_mut().insert(OWNER_METADATA, value);
            }
            status
        }
        RouterError::RateLimited { retry_after, .. } => {
            let mut status = Status::resource_exhausted(error.to_string());
            let millis = retry_after.as_millis().to_string();
            if let Ok(value) = millis.parse() {
                status.metadata_mut().insert(RETRY_AFTER_METADATA, value);
            }
            status
        }
        RouterError::ShopOverloaded { .. } => {
            overloaded(Role::Worker, Bound::Shop, error.to_string())
        }
    }
}

pub fn engine_status(error: &EngineError) -> Status {
    let message = error.to_string();
    match error {
        EngineError::InvalidArgument { .. } => Status::invalid_argument(message),
        EngineError::NotFound { .. } => Status::not_found(message),
        EngineError::FailedPrecondition { .. } => Status::failed_precondition(message),
        EngineError::PermissionDenied { .. } => Status::permission_denied(message),
        EngineError::ResourceExhausted { .. } => Status::resource_exhausted(message),
    }
}

/// A store that is unavailable, or no longer ours to write (fenced: the dispatcher
/// retries on the shop's new owner), is transient; so is a shop stored by a newer
/// release (a worker of that release may own it soon, as in a rolling upgrade).
/// Stored data this version cannot decode is an internal error.
pub fn store_status(error: &StoreError) -> Status {
    match error {
        StoreError::Unavailable(_)
        | StoreError::Fenced { .. }
        | StoreError::NotReplicated { .. }
        | StoreError::NewerFormat { .. } => Status::unavailable(error.to_string()),
        StoreError::Corrupt(_) => Status::internal(error.to_string()),
    }
}
