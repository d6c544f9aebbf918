//! The values of a `Route` call: the buyer's request, the engine's answer, and the
//! answer remembered by request id to repeat it for a retry (R1).
//!
//! They live apart from the R1–R13 logic in [`super::route`] because the request
//! log, which [`super::state::ShopState`] holds, stores these answers: with them in
//! `route`, which extends `ShopState`, the state, the log and the routing would
//! import each other in a circle. Here they depend on the model alone.

use super::model::{AccountId, BuyerId, OrderStatus, RequestId, RouteReason, Session};

/// A buyer's message to route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRequest {
    pub buyer: BuyerId,
    pub request_id: RequestId,
    pub order_status: OrderStatus,
    /// The account the buyer addressed (R2, R3).
    pub addressed: Option<AccountId>,
    /// The bot hands the buyer over to a person (R12).
    pub from_bot: bool,
}

/// The answer to a `Route`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteOutcome {
    /// The session as it stood right after the decision.
    pub session: Session,
    pub reason: RouteReason,
    /// Why the buyer went where, in one sentence.
    pub explanation: String,
    /// This answer was recorded for an earlier call with the same request id.
    pub replayed: bool,
}

/// What the engine remembers of a request id, to answer a retry identically (R1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRecord {
    pub buyer: BuyerId,
    pub outcome: RouteOutcome,
}
