//! One shop as a router holds it in memory: its state behind the shop's own lock,
//! the calls decided on it whose changes are not stored yet (its next group
//! commit), and its event feed.

use std::sync::Arc;

use fenliu_node::overload::{InFlightLimit, InFlightPermit};
use fenliu_node::tracing_context::CallTrace;
use tokio::sync::oneshot;

use super::error::RouterError;
use super::feed::{EventFeed, SequencedEvent};
use super::gauges::ShopGauges;
use super::measures::CallMeasures;
use super::rate_limit::TokenBucket;
use crate::engine::{BuyerId, RouteOutcome, ShopId, ShopState, WriteSet};
use crate::store::redis_store::RememberedRoute;

/// A shop's place in the router's map. The map holds it even while the shop is not
/// in memory, so that a load and the calls waiting for it share one lock.
#[derive(Debug)]
pub struct ShopCell {
    /// The shop's state and commit bookkeeping, held while the engine decides.
    pub loaded: tokio::sync::Mutex<Loaded>,
    /// The live feed of the shop's events, for `WatchShop`.
    pub events: EventFeed,
    /// Its queued and pooled sessions for the worker's gauges, as of its last
    /// call; read without the shop's lock at a scrape.
    pub gauges: ShopGauges,
    /// The calls on the shop not finished yet, bounded: a shop flooded with
    /// calls has the excess refused rather than queued on its lock.
    pub in_flight: Arc<InFlightLimit>,
}

impl ShopCell {
    /// A cell admitting at most `max_in_flight` calls at once (0: no bound).
    pub fn new(max_in_flight: usize) -> Arc<ShopCell> {
        Arc::new(ShopCell {
            loaded: tokio::sync::Mutex::new(Loaded::default()),
            events: EventFeed::default(),
            gauges: ShopGauges::default(),
            in_flight: Arc::new(InFlightLimit::new(max_in_flight)),
        })
    }

    /// A place for one more call on the shop, held until the call is answered,
    /// or the refusal past the shop's bound.
    pub fn admit_call(&self, shop_id: &ShopId) -> Result<InFlightPermit, RouterError> {
        self.in_flight
            .try_enter()
            .ok_or_else(|| RouterError::ShopOverloaded {
                shop_id: shop_id.clone(),
                limit: self.in_flight.limit(),
            })
    }
}

/// One shop as held in memory.
#[derive(Debug, Default)]
pub struct Loaded {
    /// `None`: not in memory (never loaded, or dropped after a failed commit).
    pub state: Option<ShopState>,
    /// The fencing token the state was loaded or created under; a different
    /// token means ownership changed hands meanwhile and the state is stale.
    pub token: u64,
    /// The sequence of the last event decided on this state (stored, or in the
    /// pending commit): the next event is numbered after it. Set from the
    /// store's stream at a load, so that the numbering goes on across owners.
    pub last_sequence: u64,
    /// Bumped whenever `state` is replaced or dropped, so that a commit of an
    /// older state never touches a newer one.
    pub generation: u64,
    /// Decided but not yet sent: the shop's next group commit.
    pub pending: Option<PendingCommit>,
    /// A committer task is sending this generation's commits.
    pub committing: bool,
    /// The shop's `Route` rate limit; outlives a dropped state, so that a
    /// failed commit does not hand the shop a fresh burst.
    pub route_bucket: TokenBucket,
}

impl Loaded {
    /// Forgets the state and fails every call waiting on a decision made on it.
    pub fn discard(&mut self, verdict: &Verdict) {
        self.state = None;
        self.generation += 1;
        self.committing = false;
        if let Some(pending) = self.pending.take() {
            pending.answer_all(verdict);
        }
    }

    /// Whether a call may have seen decisions of other calls that are not stored
    /// yet (and so must wait for them before it answers).
    pub fn has_unstored_decisions(&self) -> bool {
        self.committing || self.pending.is_some()
    }
}

/// Calls decided on the shop in memory whose changes are not sent yet.
#[derive(Debug, Default)]
pub struct PendingCommit {
    /// Every change of the calls it carries, merged.
    pub writes: WriteSet,
    /// The `Route` answers to remember under their request ids (R1).
    pub routes: Vec<RememberedRoute>,
    /// For each remembered route, the index of its caller in `waiters`, so that
    /// a replay found by the commit answers the right caller.
    pub route_waiters: Vec<usize>,
    /// The events to store with the commit and publish once it has landed.
    pub events: Vec<SequencedEvent>,
    /// One per call carried: each is answered once the commit lands or fails.
    pub waiters: Vec<oneshot::Sender<Verdict>>,
    /// What the calls carried decided, counted once the commit lands.
    pub measures: Vec<CallMeasures>,
    /// The traced calls carried, in the order they came: the commit's span is
    /// the child of the first and linked to the others.
    pub traces: Vec<CallTrace>,
}

impl PendingCommit {
    /// Adds one decided call: its changes, its events, its answer to remember
    /// (a `Route`), the caller waiting for the commit, and its trace.
    pub fn add(
        &mut self,
        writes: WriteSet,
        events: Vec<SequencedEvent>,
        route: Option<RememberedRoute>,
        waiter: oneshot::Sender<Verdict>,
        measures: CallMeasures,
    ) {
        self.writes.merge(writes);
        self.events.extend(events);
        if let Some(route) = route {
            self.route_waiters.push(self.waiters.len());
            self.routes.push(route);
        }
        self.waiters.push(waiter);
        self.measures.push(measures);
        self.traces.extend(CallTrace::current());
    }

    pub fn answer_all(self, verdict: &Verdict) {
        for waiter in self.waiters {
            // A caller that went away meanwhile no longer needs its answer.
            let _ = waiter.send(verdict.clone());
        }
    }
}

/// What became of the commit that carried a call.
#[derive(Clone, Debug)]
pub enum Verdict {
    Committed,
    /// This call's request id was answered before (by an earlier owner). Boxed:
    /// a rare verdict, and an answer is large.
    Replayed(BuyerId, Box<RouteOutcome>),
    /// Another call of the same commit was a replay, so the state this call was
    /// decided on was dropped without storing anything: decide it again.
    Retry,
    Failed(RouterError),
}
