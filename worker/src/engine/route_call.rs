//! The values of a `Route` call: the buyer's request, the engine's answer, and the
//! answer remembered by request id to repeat it for a retry (R1).
//!
//! They live apart from the R1–R13 logic in [`super::route`] because the request
//! log, which [`super::state::ShopState`] holds, stores these answers: with them in
//! `route`, which extends `ShopState`, the state, the log and the routing would
//! import each other in a circle. Here they depend on the model alone.

use super::model::{AccountId, BuyerId, OrderStatus, RequestId, RouteReason, Session};

/// What a `Route` may ask beyond the buyer's message: kept apart from
/// [`RouteRequest`] so that every caller that asks for neither is unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteOptions {
    /// R23: 0 (normal) to [`super::model::MAX_PRIORITY`]; it orders the queue
    /// if the buyer waits, and nothing else.
    pub priority: u8,
    /// R24: answer with every account of the shop and why it was or was not
    /// chosen. It changes nothing in the decision.
    pub explain: bool,
}

/// Why an account was or was not chosen (R24).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Why {
    /// It got the buyer (for R1, the open session's holder).
    Chosen,
    /// A rule before any pick placed the buyer: R1's open session, R2's or R3's
    /// addressed account, R4, R5's returning buyer.
    EarlierRule,
    /// The offline addressed account R3 forwards away from.
    ExcludedAddressed,
    /// Marked non-routing (R11).
    NonRouting,
    /// Not a customer-service account (nor the main account set to take part).
    NotParticipating,
    Offline,
    Suspended,
    /// Group routing gave the buyer to the order status's group, which it is not in.
    NotInGroup,
    /// No free slot.
    Full,
    /// More occupied slots than the account chosen (R9).
    MoreLoaded,
    /// As loaded as the account chosen, which had waited longer since its last
    /// assignment (R9's round robin), or lost a `RANDOM` draw.
    LostTieBreak,
    /// R22: the session already timed out on it.
    AlreadyTimedOut,
}

/// One account in an explanation (R24).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub account: AccountId,
    pub why: Why,
}

impl Candidate {
    pub fn chosen(&self) -> bool {
        self.why == Why::Chosen
    }
}

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
    /// R24: every account of the shop, in id order, when the call asked for an
    /// explanation; empty otherwise, and in a replayed answer (the shop it was
    /// decided on has moved on since).
    pub candidates: Vec<Candidate>,
}

/// What the engine remembers of a request id, to answer a retry identically (R1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRecord {
    pub buyer: BuyerId,
    pub outcome: RouteOutcome,
}
