//! The shops this node serves, and the one path every call takes through them.
//!
//! Every call goes through `Router::execute`: take the shop's fencing token from
//! the [`Ownership`] (refuse if this node does not own the shop), load the shop if
//! it is not in memory, run the engine at the current time, commit what changed to
//! the store, then publish the events and re-arm the shop's deadline.
//!
//! A shop is held only while the engine decides, not across the Redis round trip:
//! commits are grouped per shop (`commits`), and each call is answered only
//! after the commit that carries it (or, for a read, every decision it saw) has
//! landed.
//!
//! - [`seams`]: ownership, persistence and the clock, which deployments and tests
//!   choose.
//! - `shop_cell`: one shop as held in memory, with its pending commit;
//!   `shop_map`: the cells by shop id.
//! - `commits`: the committer task that sends a shop's group commits.
//! - `deadlines`: when each shop must be woken with nobody calling.
//! - `rate_limit`: each shop's `Route` rate limit, a token bucket in its cell.
//! - `measures`: what a call decided, for the metrics, counted once stored;
//!   `gauges`: each shop's queued and pooled sessions, summed at a scrape.
//! - [`feed`]: a shop's live event feed; `watch`: following it for `WatchShop`,
//!   from a resume point.
//! - [`error`]: why a router call failed.

mod commits;
mod deadlines;
pub mod error;
pub mod feed;
mod gauges;
mod measures;
mod rate_limit;
pub mod seams;
mod shop_cell;
mod shop_map;
mod timers;
mod watch;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fenliu_node::tracing_context::{self, CallTrace};
use tokio::sync::oneshot;
use tracing::Instrument;

use self::commits::Committer;
use self::deadlines::Deadlines;
use self::feed::EventFeed;
use self::measures::CallMeasures;
use self::shop_cell::{Loaded, ShopCell, Verdict};
use self::shop_map::ShopMap;
use self::watch::History;
use crate::engine::{
    BuyerId, EngineError, RequestId, RouteOptions, RouteOutcome, RouteRequest, ShopId, ShopState,
    Timestamp,
};
use crate::recording::Recorder;
use crate::store::StoreError;
use crate::store::redis_store::{CommitOutcome, EVENTS_KEPT, RememberedRoute};

pub use self::error::RouterError;
pub use self::feed::SequencedEvent;
pub use self::seams::{
    Clock, DEFAULT_MAX_IN_FLIGHT_PER_SHOP, DEFAULT_ROUTE_RATE_LIMIT, NotOwner, Ownership,
    Persistence, Quotas, SoleOwner, SystemClock,
};
pub use self::watch::{Watch, WatchedEvent};

/// How long a shop kept in Redis holds answered request ids and closed sessions in
/// memory. Redis remembers every answer for the hour R1 promises (a retry this
/// node no longer remembers is replayed from there); memory only spares a prompt
/// retry that round trip. An hour in memory would grow a busy worker by gigabytes.
const REDIS_MEMORY_RETENTION: Duration = Duration::from_secs(10);

/// What a call came to.
enum Executed<T> {
    /// The call's result, and the sequence of the shop's last event as of its
    /// decision (a read's state reflects every event up to it).
    Done(T, u64),
    /// A `Route` whose request id was answered before (by any owner). Boxed: a
    /// rare outcome, and an answer is large.
    Replayed(BuyerId, Box<RouteOutcome>),
}

/// The shops of this node and their timers.
#[derive(Debug)]
pub struct Router {
    /// Every shop this node has touched, in memory or not; a shop's cell is its
    /// lock, so a load and the calls waiting for it share one.
    shops: ShopMap,
    /// Where shops live between calls (memory only, or Redis).
    persistence: Persistence,
    /// Which shops this node may serve, and under which fencing token.
    ownership: Arc<dyn Ownership>,
    /// The time every call runs at; the engine never reads a clock.
    clock: Arc<dyn Clock>,
    /// Each shop's next deadline; shared with the committers, which arm it once
    /// a commit has landed.
    deadlines: Arc<Deadlines>,
    /// How far one shop may go: its `Route` rate and the caps every shop gets.
    quotas: Quotas,
    /// R26: where chosen shops' calls are recorded, when they are.
    recorder: OnceLock<Arc<Recorder>>,
}

impl Router {
    /// A router with the default [`Quotas`].
    pub fn new(
        persistence: Persistence,
        ownership: Arc<dyn Ownership>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Router> {
        Self::with_quotas(persistence, ownership, clock, Quotas::default())
    }

    /// A router whose shops get `quotas`: the `Route` rate limit it enforces,
    /// and the caps it hands each shop it creates or loads.
    pub fn with_quotas(
        persistence: Persistence,
        ownership: Arc<dyn Ownership>,
        clock: Arc<dyn Clock>,
        quotas: Quotas,
    ) -> Arc<Router> {
        Arc::new(Router {
            shops: ShopMap::default(),
            persistence,
            ownership,
            clock,
            deadlines: Arc::new(Deadlines::default()),
            quotas,
            recorder: OnceLock::new(),
        })
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Records the calls of the shops `recorder` chooses from now on (R26); a
    /// router records to one recorder at most.
    pub fn record_to(&self, recorder: Arc<Recorder>) -> anyhow::Result<()> {
        self.recorder
            .set(recorder)
            .map_err(|_| anyhow::anyhow!("this router records already"))
    }

    /// The recorder, if `shop_id`'s calls are recorded.
    pub fn recorder_for(&self, shop_id: &ShopId) -> Option<&Recorder> {
        self.recorder
            .get()
            .map(Arc::as_ref)
            .filter(|recorder| recorder.records(shop_id))
    }

    /// The shop's fencing token and cell, if this node owns the shop.
    fn owned_cell(&self, shop_id: &ShopId) -> Result<(u64, Arc<ShopCell>), RouterError> {
        let token = self
            .ownership
            .token_for(shop_id)
            .map_err(RouterError::NotOwner)?;
        let (cell, made) = self.shops.cell(shop_id, self.quotas.max_in_flight_per_shop);
        // The shard may have moved away meanwhile: a cell made after its shops
        // were dropped is not served (its watchers would wait on a dead feed).
        if made {
            self.ownership
                .token_for(shop_id)
                .map_err(RouterError::NotOwner)?;
        }
        Ok((token, cell))
    }

    /// Locks the shop's cell, its state loaded under `token`; or UnknownShop.
    async fn lock_loaded<'c>(
        &self,
        shop_id: &ShopId,
        cell: &'c ShopCell,
        token: u64,
    ) -> Result<tokio::sync::MutexGuard<'c, Loaded>, RouterError> {
        let mut loaded = cell.loaded.lock().await;
        if self
            .ensure_loaded(shop_id, &mut loaded, &cell.events, token)
            .await?
        {
            return Ok(loaded);
        }
        drop(loaded);
        self.shops.forget_if_absent(shop_id);
        Err(RouterError::UnknownShop(shop_id.clone()))
    }

    /// Makes sure the shop is in memory under `token`, loading it if needed.
    /// `Ok(false)`: the shop does not exist.
    async fn ensure_loaded(
        &self,
        shop_id: &ShopId,
        loaded: &mut Loaded,
        feed: &EventFeed,
        token: u64,
    ) -> Result<bool, RouterError> {
        if loaded.state.is_some() && loaded.token == token {
            return Ok(true);
        }
        if loaded.state.is_some() {
            // Ownership changed hands meanwhile: what was decided on the old
            // state and not stored yet is decided again on the stored truth.
            loaded.discard(&Verdict::Retry);
        }
        let Persistence::Redis(store) = &self.persistence else {
            return Ok(false);
        };
        let Some(stored) = store.load(shop_id, token, self.now()).await? else {
            return Ok(false);
        };
        let mut state = stored.state;
        loaded.last_sequence = stored.last_event_sequence;
        feed.loaded_at(stored.last_event_sequence);
        state.limit_memory_retention(REDIS_MEMORY_RETENTION);
        state.set_limits(self.quotas.shop_limits);
        tracing::debug!(shop = %shop_id, token, "shop loaded from redis");
        loaded.state = Some(state);
        loaded.token = token;
        loaded.generation += 1;
        Ok(true)
    }

    /// Whether the shop exists (loading it if this node owns it and it is stored).
    pub async fn shop_exists(&self, shop_id: &ShopId) -> Result<bool, RouterError> {
        let (token, cell) = self.owned_cell(shop_id)?;
        let mut loaded = cell.loaded.lock().await;
        self.ensure_loaded(shop_id, &mut loaded, &cell.events, token)
            .await
    }

    /// Adds a new shop, fully configured by the caller. Returns `false` (and drops
    /// `state`) when the shop exists already.
    pub async fn create_shop(&self, mut state: ShopState) -> Result<bool, RouterError> {
        let shop_id = state.shop_id().clone();
        let (token, cell) = self.owned_cell(&shop_id)?;
        let mut loaded = cell.loaded.lock().await;
        if self
            .ensure_loaded(&shop_id, &mut loaded, &cell.events, token)
            .await?
        {
            return Ok(false);
        }
        state.set_limits(self.quotas.shop_limits);
        let writes = state.take_write_set();
        state.take_events();
        if let Persistence::Redis(store) = &self.persistence {
            state.limit_memory_retention(REDIS_MEMORY_RETENTION);
            let traced: Vec<_> = CallTrace::current().into_iter().collect();
            let commit = store
                .commit(&state, &writes, token, self.now(), &[], true)
                .instrument(tracing_context::commit_span(shop_id.as_str(), 1, &traced));
            let outcome = measures::timed_commit(1, commit).await?;
            if let CommitOutcome::AlreadyExists = outcome {
                return Ok(false);
            }
        }
        let next = state.next_deadline();
        loaded.state = Some(state);
        loaded.token = token;
        loaded.generation += 1;
        drop(loaded);
        self.deadlines.arm(&shop_id, next);
        Ok(true)
    }

    /// Runs `call` on the shop at the current time and commits what it changed.
    /// An engine error is returned as is; the effects time produced on the way (a
    /// close delay that ran out) are committed and published anyway. `call` may
    /// run more than once: when the state it ran on was dropped before its
    /// changes were stored, it runs again on the stored truth.
    pub async fn with_shop<T>(
        &self,
        shop_id: &ShopId,
        call: impl FnMut(&mut ShopState, Timestamp) -> Result<T, EngineError>,
    ) -> Result<T, RouterError> {
        match self.execute(shop_id, call, None, |_| None).await? {
            Executed::Done(value, _) => Ok(value),
            Executed::Replayed(..) => unreachable!("only a Route remembers a request id"),
        }
    }

    /// Reads the shop at the current time, changing nothing but time's effects.
    pub async fn read_shop<T>(
        &self,
        shop_id: &ShopId,
        read: impl Fn(&ShopState) -> T,
    ) -> Result<T, RouterError> {
        Ok(self.read_shop_sequenced(shop_id, read).await?.0)
    }

    /// [`Router::read_shop`], with the sequence of the shop's last event that
    /// the state read reflects: a watch from it misses nothing and repeats nothing.
    pub async fn read_shop_sequenced<T>(
        &self,
        shop_id: &ShopId,
        read: impl Fn(&ShopState) -> T,
    ) -> Result<(T, u64), RouterError> {
        let reading = |state: &mut ShopState, now| {
            state.advance_to(now);
            Ok(read(state))
        };
        match self.execute(shop_id, reading, None, |_| None).await? {
            Executed::Done(value, sequence) => Ok((value, sequence)),
            Executed::Replayed(..) => unreachable!("only a Route remembers a request id"),
        }
    }

    /// Routes a buyer's message. The answer is remembered with the commit, so a
    /// retry with the same request id returns it, on this node or its successor.
    /// `present` turns the outcome into the reply while the shop is still locked.
    pub async fn route<T>(
        &self,
        shop_id: &ShopId,
        request: &RouteRequest,
        present: impl Fn(&ShopState, &RouteOutcome) -> T,
    ) -> Result<T, RouterError> {
        self.route_with(shop_id, request, RouteOptions::default(), present)
            .await
    }

    /// [`Router::route`] with a priority (R23) or an explanation (R24).
    pub async fn route_with<T>(
        &self,
        shop_id: &ShopId,
        request: &RouteRequest,
        options: RouteOptions,
        present: impl Fn(&ShopState, &RouteOutcome) -> T,
    ) -> Result<T, RouterError> {
        let executed = self
            .execute(
                shop_id,
                |state, now| {
                    let outcome = state.route_with(request, options, now)?;
                    let reply = present(state, &outcome);
                    Ok((outcome, reply))
                },
                Some(&request.request_id),
                |(outcome, _)| (!outcome.replayed).then_some(outcome),
            )
            .await?;
        match executed {
            Executed::Done((_, reply), _) => Ok(reply),
            Executed::Replayed(buyer, outcome) => {
                if buyer != request.buyer {
                    return Err(EngineError::invalid(
                        "request_id",
                        format!(
                            "request id {} was already used for another buyer",
                            request.request_id
                        ),
                    )
                    .into());
                }
                // The state this node had was built without that answer; it was
                // dropped and is reloaded to present the stored session now.
                self.read_shop(shop_id, |state| present(state, &outcome))
                    .await
            }
        }
    }

    async fn execute<T>(
        &self,
        shop_id: &ShopId,
        mut call: impl FnMut(&mut ShopState, Timestamp) -> Result<T, EngineError>,
        request_id: Option<&RequestId>,
        remember: impl Fn(&T) -> Option<&RouteOutcome>,
    ) -> Result<Executed<T>, RouterError> {
        // A Route takes its token once, however often it is decided again.
        let mut admitted = false;
        // Held until the call is answered; taken once, however often it runs.
        let mut shop_permit = None;
        loop {
            let (token, cell) = self.owned_cell(shop_id)?;
            if shop_permit.is_none() {
                shop_permit = Some(cell.admit_call(shop_id)?);
            }
            let mut loaded = self.lock_loaded(shop_id, &cell, token).await?;
            let now = self.now();
            let Loaded {
                state,
                route_bucket,
                last_sequence,
                ..
            } = &mut *loaded;
            let state = state.as_mut().expect("loaded above");
            if let Some(request_id) = request_id
                && !admitted
            {
                let default_rate = self.quotas.route_rate_limit;
                rate_limit::admit_route(route_bucket, state, request_id, default_rate, now)?;
                admitted = true;
            }
            let result =
                tracing_context::decision_span(shop_id.as_str()).in_scope(|| call(state, now));
            let writes = state.take_write_set();
            let events = state.take_events();
            cell.gauges.update(state);
            let decided = result.as_ref().ok().filter(|_| request_id.is_some());
            let measures = CallMeasures::of(state, &events, decided.and_then(&remember));
            let events = feed::number(last_sequence, events);
            let sequence = *last_sequence;

            let Persistence::Redis(store) = &self.persistence else {
                measures.record();
                let next = state.next_deadline();
                cell.events.publish(events, shop_id, EVENTS_KEPT as usize);
                drop(loaded);
                self.deadlines.arm(shop_id, next);
                return Ok(Executed::Done(result?, sequence));
            };
            let route = match (&result, request_id) {
                (Ok(value), Some(request_id)) => remember(value).map(|outcome| {
                    RememberedRoute::new(request_id, &outcome.session.buyer, outcome)
                }),
                _ => None,
            };
            let unchanged_next = state.next_deadline();
            // A call that changed nothing answers at once, unless it may have seen
            // decisions of other calls that are not stored yet.
            let in_flight = loaded.has_unstored_decisions();
            if writes.is_empty() && route.is_none() && events.is_empty() && !in_flight {
                measures.record();
                // Everything this state holds is stored, so its deadline may be
                // armed: a shop just loaded (a shard taken over, a restart) gets
                // its timers here, with nothing to commit.
                drop(loaded);
                self.deadlines.arm(shop_id, unchanged_next);
                return Ok(Executed::Done(result?, sequence));
            }

            let (answer, verdict) = oneshot::channel();
            let pending = loaded.pending.get_or_insert_default();
            pending.add(writes, events, route, answer, measures);
            if !loaded.committing {
                loaded.committing = true;
                let committer = Committer {
                    store: store.clone(),
                    clock: self.clock.clone(),
                    deadlines: self.deadlines.clone(),
                    shop_id: shop_id.clone(),
                    cell: cell.clone(),
                    generation: loaded.generation,
                };
                tokio::spawn(committer.run());
            }
            drop(loaded);

            // The committer always answers (it is not cancelled with this call);
            // a dropped answer would mean it panicked.
            let verdict = verdict.await.unwrap_or_else(|_| {
                Verdict::Failed(RouterError::Store(StoreError::Unavailable(
                    "the shop's commit was abandoned".to_owned(),
                )))
            });
            match verdict {
                Verdict::Committed => return Ok(Executed::Done(result?, sequence)),
                Verdict::Replayed(buyer, outcome) => {
                    return Ok(Executed::Replayed(buyer, outcome));
                }
                Verdict::Retry => continue,
                Verdict::Failed(error) => return Err(error),
            }
        }
    }

    /// Forgets the shops `moved` selects (their shard went to another worker): their
    /// memory is freed and their event streams end, so that watchers reconnect to
    /// the new owner. Their state stays in the store for the next owner.
    pub fn drop_shops(&self, moved: impl Fn(&ShopId) -> bool) -> usize {
        let dropped = self.shops.drop_where(&moved);
        self.deadlines.disarm_where(moved);
        dropped
    }

    /// Sets the gauges over this node's shops (queued sessions, the longest
    /// wait, message pools): run before each scrape of the metrics.
    pub fn publish_gauges(&self) {
        self.shops.publish_gauges(self.now());
    }

    /// Opens a watch of the shop's events after `after` (replayed from where
    /// they are kept), then live; `None`: from now on.
    pub async fn watch(&self, shop_id: &ShopId, after: Option<u64>) -> Result<Watch, RouterError> {
        let (token, cell) = self.owned_cell(shop_id)?;
        let loaded = self.lock_loaded(shop_id, &cell, token).await?;
        let subscription = cell.events.subscribe();
        drop(loaded);
        let history = match &self.persistence {
            Persistence::Redis(store) => History::Stored(store.clone()),
            _ => History::Kept(Arc::downgrade(&cell)),
        };
        watch::open(shop_id.clone(), subscription, after, history)
    }
}
