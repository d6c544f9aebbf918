//! The shops this node serves: each shop's [`ShopState`] behind its own lock, the
//! shop's event feed, and a timer task that wakes each shop at its next deadline
//! so close delays and presence TTLs take effect with nobody calling.
//!
//! Every call goes through one path ([`Router::execute`]): take the shop's fencing
//! token from the [`Ownership`] (refuse if this node does not own the shop), load
//! the shop if it is not in memory, run the engine at the current time, commit what
//! changed to the store, then publish the events and re-arm the shop's deadline.
//!
//! Commits are grouped per shop (see [`commits`](self#group-commits)): a shop is
//! held only while the engine decides, not across the Redis round trip. While one
//! commit of a shop is in flight, the calls that come meanwhile are decided on the
//! state as it will be once it lands, and go together in the next commit; each is
//! answered only after the commit that carries it (or, for a read, every decision
//! it saw) has landed. If a commit fails the in-memory shop is dropped and the
//! calls decided on it fail with it, so a decision that was not stored is never
//! answered nor built upon; the next call reloads the truth.
//!
//! # Group commits
//!
//! Per shop there is at most one commit in flight, sent by a committer task (not by
//! a caller, whose future may be dropped mid-way). Commits of a shop land in the
//! order they were decided. One commit of many calls costs Redis about what one
//! call's commit costs, which is what lets a busy shop go faster than one round
//! trip per decision.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, broadcast, oneshot};

use crate::engine::WriteSet;
use crate::engine::{
    BuyerId, EngineError, RequestId, RouteOutcome, RouteRequest, ShopId, ShopState, TimedEvent,
    Timestamp,
};
use crate::store::redis_store::{CommitOutcome, RememberedRoute};
use crate::store::{RedisStore, StoreError};

/// How long a shop kept in Redis holds answered request ids and closed sessions in
/// memory. Redis remembers every answer for the hour R1 promises (a retry this
/// node no longer remembers is replayed from there); memory only spares a prompt
/// retry that round trip. An hour in memory would grow a busy worker by gigabytes.
const REDIS_MEMORY_RETENTION: Duration = Duration::from_secs(10);

/// How many events a slow `WatchShop` subscriber may fall behind before its stream
/// is ended (it then resubscribes and reads the shop state).
const EVENT_BUFFER: usize = 4096;

/// An event with its per-shop sequence number.
#[derive(Clone, Debug)]
pub struct SequencedEvent {
    pub sequence: u64,
    pub event: TimedEvent,
}

/// This node may not serve the shop: its shard belongs to another worker (or to
/// nobody yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotOwner {
    pub shard: u32,
    /// The owner's advertised address, when known.
    pub owner: Option<String>,
}

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

/// Which shops this node may serve, and under which fencing token.
pub trait Ownership: Send + Sync + std::fmt::Debug {
    fn token_for(&self, shop: &ShopId) -> Result<u64, NotOwner>;

    /// Called before a new shop is first stored, so that whoever owns its shard
    /// later can find it (and wake its timers) without waiting for a call.
    fn register_new_shop<'a>(
        &'a self,
        _shop: &'a ShopId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
}

/// A node that serves every shop: the embedded default, where nobody else can.
#[derive(Debug, Default)]
pub struct SoleOwner;

impl Ownership for SoleOwner {
    fn token_for(&self, _shop: &ShopId) -> Result<u64, NotOwner> {
        Ok(1)
    }
}

/// Where shops live between calls.
#[derive(Debug, Clone)]
pub enum Persistence {
    /// In this process only: the embedded default.
    Memory,
    /// In Redis; memory holds what this node owns and serves.
    Redis(RedisStore),
}

/// The source of "now". The engine never reads a clock; the router does, here.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// Wall-clock time, in milliseconds since the Unix epoch.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }
}

/// One shop as held in memory.
#[derive(Debug, Default)]
struct Loaded {
    /// `None`: not in memory (never loaded, or dropped after a failed commit).
    state: Option<ShopState>,
    /// The fencing token the state was loaded or created under; a different
    /// token means ownership changed hands meanwhile and the state is stale.
    token: u64,
    last_sequence: u64,
    /// Bumped whenever `state` is replaced or dropped, so that a commit of an
    /// older state never touches a newer one.
    generation: u64,
    /// Decided but not yet sent: the shop's next group commit.
    pending: Option<PendingCommit>,
    /// A committer task is sending this generation's commits.
    committing: bool,
}

impl Loaded {
    /// Forgets the state and fails every call waiting on a decision made on it.
    fn discard(&mut self, verdict: &Verdict) {
        self.state = None;
        self.generation += 1;
        self.committing = false;
        if let Some(pending) = self.pending.take() {
            pending.answer_all(verdict);
        }
    }
}

/// Calls decided on the shop in memory whose changes are not sent yet.
#[derive(Debug, Default)]
struct PendingCommit {
    writes: WriteSet,
    routes: Vec<RememberedRoute>,
    /// For each remembered route, the index of its caller in `waiters`.
    route_waiters: Vec<usize>,
    events: Vec<TimedEvent>,
    waiters: Vec<oneshot::Sender<Verdict>>,
}

impl PendingCommit {
    fn answer_all(self, verdict: &Verdict) {
        for waiter in self.waiters {
            // A caller that went away meanwhile no longer needs its answer.
            let _ = waiter.send(verdict.clone());
        }
    }
}

/// What became of the commit that carried a call.
#[derive(Clone, Debug)]
enum Verdict {
    Committed,
    /// This call's request id was answered before (by an earlier owner).
    Replayed(BuyerId, RouteOutcome),
    /// Another call of the same commit was a replay, so the state this call was
    /// decided on was dropped without storing anything: decide it again.
    Retry,
    Failed(RouterError),
}

#[derive(Debug)]
struct ShopCell {
    loaded: tokio::sync::Mutex<Loaded>,
    /// The live feed of the shop's events, present only while someone watches:
    /// a feed's buffer is allocated up front, and most shops are never watched.
    events: Mutex<Option<broadcast::Sender<SequencedEvent>>>,
}

impl ShopCell {
    fn watchers(&self) -> usize {
        let feed = self.events.lock().expect("feed lock");
        feed.as_ref().map_or(0, |sender| sender.receiver_count())
    }

    fn new() -> Arc<ShopCell> {
        Arc::new(ShopCell {
            loaded: tokio::sync::Mutex::new(Loaded::default()),
            events: Mutex::new(None),
        })
    }
}

/// What a call came to.
enum Executed<T> {
    Done(T),
    /// A `Route` whose request id was answered before (by any owner).
    Replayed(BuyerId, RouteOutcome),
}

/// The shops of this node and their timers.
#[derive(Debug)]
pub struct Router {
    shops: RwLock<HashMap<ShopId, Arc<ShopCell>>>,
    persistence: Persistence,
    ownership: Arc<dyn Ownership>,
    clock: Arc<dyn Clock>,
    deadlines: Arc<Deadlines>,
}

/// Each shop's next deadline, ordered by time.
#[derive(Debug, Default)]
struct DeadlineIndex {
    by_time: BTreeSet<(Timestamp, ShopId)>,
    by_shop: HashMap<ShopId, Timestamp>,
}

/// The deadlines the timer task waits for; shared with the committers, which arm a
/// shop's next deadline once its commit has landed.
#[derive(Debug, Default)]
struct Deadlines {
    index: Mutex<DeadlineIndex>,
    /// Wakes the timer task when an earlier deadline is armed.
    armed: Notify,
}

impl Deadlines {
    fn arm(&self, shop_id: &ShopId, next: Option<Timestamp>) {
        let mut index = self.index.lock().expect("deadline lock");
        let previous = index.by_shop.get(shop_id).copied();
        if previous == next {
            return;
        }
        if let Some(previous) = previous {
            index.by_time.remove(&(previous, shop_id.clone()));
            index.by_shop.remove(shop_id);
        }
        if let Some(next) = next {
            index.by_time.insert((next, shop_id.clone()));
            index.by_shop.insert(shop_id.clone(), next);
            let is_earliest = index.by_time.first().is_some_and(|(at, _)| *at == next);
            if is_earliest {
                self.armed.notify_one();
            }
        }
    }
}

/// What a shop's committer task needs: it outlives the call that started it.
#[derive(Debug, Clone)]
struct Committer {
    store: RedisStore,
    clock: Arc<dyn Clock>,
    deadlines: Arc<Deadlines>,
    shop_id: ShopId,
    cell: Arc<ShopCell>,
    /// The generation of the shop state whose commits it sends.
    generation: u64,
}

impl Committer {
    /// Sends the shop's pending commits one after another until none is left, or
    /// until one fails (the state is then dropped, with every call decided on it).
    async fn run(self) {
        loop {
            let (prepared, mut pending) = {
                let mut loaded = self.cell.loaded.lock().await;
                if loaded.generation != self.generation {
                    return;
                }
                let Some(pending) = loaded.pending.take() else {
                    loaded.committing = false;
                    return;
                };
                let state = loaded.state.as_ref().expect("a committing shop is loaded");
                let prepared = self.store.prepare_commit(
                    state,
                    &pending.writes,
                    loaded.token,
                    self.clock.now(),
                    &pending.routes,
                    false,
                );
                (prepared, pending)
            };
            let outcome = self.store.send_commit(prepared).await;
            let mut loaded = self.cell.loaded.lock().await;
            let current = loaded.generation == self.generation;
            match outcome {
                Ok(CommitOutcome::Committed) => {
                    if current {
                        let next = loaded.state.as_ref().and_then(ShopState::next_deadline);
                        let events = std::mem::take(&mut pending.events);
                        publish(&self.cell, &mut loaded, events, &self.shop_id);
                        self.deadlines.arm(&self.shop_id, next);
                    }
                    drop(loaded);
                    pending.answer_all(&Verdict::Committed);
                    if !current {
                        return;
                    }
                }
                Ok(CommitOutcome::Replay {
                    route,
                    buyer,
                    outcome,
                }) => {
                    // The state was decided without that earlier answer: it goes,
                    // and the other calls it carried are decided again on the truth.
                    if current {
                        loaded.discard(&Verdict::Retry);
                    }
                    drop(loaded);
                    let replayed = pending.route_waiters.get(route).copied();
                    for (index, waiter) in pending.waiters.into_iter().enumerate() {
                        let verdict = if Some(index) == replayed {
                            Verdict::Replayed(buyer.clone(), outcome.clone())
                        } else {
                            Verdict::Retry
                        };
                        let _ = waiter.send(verdict);
                    }
                    return;
                }
                Ok(CommitOutcome::AlreadyExists) => unreachable!("not a creation"),
                Err(error) => {
                    tracing::warn!(shop = %self.shop_id, %error, "commit failed; dropping the shop from memory");
                    let verdict = Verdict::Failed(error.into());
                    if current {
                        loaded.discard(&verdict);
                    }
                    drop(loaded);
                    pending.answer_all(&verdict);
                    return;
                }
            }
        }
    }
}

impl Router {
    pub fn new(
        persistence: Persistence,
        ownership: Arc<dyn Ownership>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Router> {
        Arc::new(Router {
            shops: RwLock::new(HashMap::new()),
            persistence,
            ownership,
            clock,
            deadlines: Arc::new(Deadlines::default()),
        })
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn cell(&self, shop_id: &ShopId) -> Arc<ShopCell> {
        if let Some(cell) = self.shops.read().expect("shop map lock").get(shop_id) {
            return cell.clone();
        }
        let mut shops = self.shops.write().expect("shop map lock");
        shops
            .entry(shop_id.clone())
            .or_insert_with(ShopCell::new)
            .clone()
    }

    /// The shop's fencing token and cell, if this node owns the shop.
    fn owned_cell(&self, shop_id: &ShopId) -> Result<(u64, Arc<ShopCell>), RouterError> {
        let token = self
            .ownership
            .token_for(shop_id)
            .map_err(RouterError::NotOwner)?;
        Ok((token, self.cell(shop_id)))
    }

    /// Makes sure the shop is in memory under `token`, loading it if needed.
    /// `Ok(false)`: the shop does not exist.
    async fn ensure_loaded(
        &self,
        shop_id: &ShopId,
        loaded: &mut Loaded,
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
        let Some(mut state) = store.load(shop_id, token, self.now()).await? else {
            return Ok(false);
        };
        state.limit_memory_retention(REDIS_MEMORY_RETENTION);
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
        self.ensure_loaded(shop_id, &mut loaded, token).await
    }

    /// Adds a new shop, fully configured by the caller. Returns `false` (and drops
    /// `state`) when the shop exists already.
    pub async fn create_shop(&self, mut state: ShopState) -> Result<bool, RouterError> {
        let shop_id = state.shop_id().clone();
        let (token, cell) = self.owned_cell(&shop_id)?;
        let mut loaded = cell.loaded.lock().await;
        if self.ensure_loaded(&shop_id, &mut loaded, token).await? {
            return Ok(false);
        }
        let writes = state.take_write_set();
        state.take_events();
        if let Persistence::Redis(store) = &self.persistence {
            state.limit_memory_retention(REDIS_MEMORY_RETENTION);
            let outcome = store
                .commit(&state, &writes, token, self.now(), &[], true)
                .await?;
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
            Executed::Done(value) => Ok(value),
            Executed::Replayed(..) => unreachable!("only a Route remembers a request id"),
        }
    }

    /// Reads the shop at the current time, changing nothing but time's effects.
    pub async fn read_shop<T>(
        &self,
        shop_id: &ShopId,
        read: impl Fn(&ShopState) -> T,
    ) -> Result<T, RouterError> {
        self.with_shop(shop_id, |state, now| {
            state.advance_to(now);
            Ok(read(state))
        })
        .await
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
        let executed = self
            .execute(
                shop_id,
                |state, now| {
                    let outcome = state.route(request, now)?;
                    let reply = present(state, &outcome);
                    Ok((outcome, reply))
                },
                Some(&request.request_id),
                |(outcome, _)| (!outcome.replayed).then_some(outcome),
            )
            .await?;
        match executed {
            Executed::Done((_, reply)) => Ok(reply),
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
        loop {
            let (token, cell) = self.owned_cell(shop_id)?;
            let mut loaded = cell.loaded.lock().await;
            if !self.ensure_loaded(shop_id, &mut loaded, token).await? {
                drop(loaded);
                self.forget_if_absent(shop_id);
                return Err(RouterError::UnknownShop(shop_id.clone()));
            }
            let state = loaded.state.as_mut().expect("loaded above");
            let now = self.now();
            let result = call(state, now);
            let writes = state.take_write_set();
            let events = state.take_events();

            let Persistence::Redis(store) = &self.persistence else {
                let next = state.next_deadline();
                publish(&cell, &mut loaded, events, shop_id);
                drop(loaded);
                self.deadlines.arm(shop_id, next);
                return Ok(Executed::Done(result?));
            };
            let route = match (&result, request_id) {
                (Ok(value), Some(request_id)) => remember(value).map(|outcome| {
                    RememberedRoute::new(request_id, &outcome.session.buyer, outcome)
                }),
                _ => None,
            };
            // A call that changed nothing answers at once, unless it may have seen
            // decisions of other calls that are not stored yet.
            let in_flight = loaded.committing || loaded.pending.is_some();
            if writes.is_empty() && route.is_none() && !in_flight {
                publish(&cell, &mut loaded, events, shop_id);
                return Ok(Executed::Done(result?));
            }

            let (answer, verdict) = oneshot::channel();
            let pending = loaded.pending.get_or_insert_default();
            pending.writes.merge(writes);
            pending.events.extend(events);
            if let Some(route) = route {
                pending.route_waiters.push(pending.waiters.len());
                pending.routes.push(route);
            }
            pending.waiters.push(answer);
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
                Verdict::Committed => return Ok(Executed::Done(result?)),
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
        let mut shops = self.shops.write().expect("shop map lock");
        let before = shops.len();
        shops.retain(|shop_id, _| !moved(shop_id));
        let dropped = before - shops.len();
        drop(shops);
        let mut index = self.deadlines.index.lock().expect("deadline lock");
        let gone: Vec<(Timestamp, ShopId)> = index
            .by_time
            .iter()
            .filter(|(_, shop_id)| moved(shop_id))
            .cloned()
            .collect();
        for entry in gone {
            index.by_time.remove(&entry);
            index.by_shop.remove(&entry.1);
        }
        dropped
    }

    /// Drops an empty cell left by a lookup of a shop that does not exist.
    fn forget_if_absent(&self, shop_id: &ShopId) {
        let mut shops = self.shops.write().expect("shop map lock");
        let unused = shops.get(shop_id).is_some_and(|cell| {
            cell.watchers() == 0
                && cell
                    .loaded
                    .try_lock()
                    .is_ok_and(|loaded| loaded.state.is_none())
        });
        if unused {
            shops.remove(shop_id);
        }
    }

    /// Subscribes to the shop's events from now on.
    pub async fn subscribe(
        &self,
        shop_id: &ShopId,
    ) -> Result<broadcast::Receiver<SequencedEvent>, RouterError> {
        if !self.shop_exists(shop_id).await? {
            self.forget_if_absent(shop_id);
            return Err(RouterError::UnknownShop(shop_id.clone()));
        }
        let cell = self.cell(shop_id);
        let mut feed = cell.events.lock().expect("feed lock");
        let sender = feed.get_or_insert_with(|| broadcast::channel(EVENT_BUFFER).0);
        Ok(sender.subscribe())
    }

    /// Wakes shops at their deadlines until `shutdown` resolves. Run it once per
    /// router, on the runtime that serves it.
    pub async fn run_timers(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let earliest = {
                let index = self.deadlines.index.lock().expect("deadline lock");
                index.by_time.first().map(|(at, _)| *at)
            };
            let sleep_for = match earliest {
                Some(at) => {
                    Duration::from_millis(at.as_millis().saturating_sub(self.now().as_millis()))
                }
                // Nothing pending: sleep until a deadline is armed.
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.deadlines.armed.notified() => continue,
                _ = tokio::time::sleep(sleep_for) => self.wake_due_shops().await,
            }
        }
    }

    /// Wakes every shop whose deadline has come, all at once: each wake commits to
    /// the store, and shops due together must not queue behind each other.
    async fn wake_due_shops(self: &Arc<Self>) {
        let now = self.now();
        let due: Vec<ShopId> = {
            let mut index = self.deadlines.index.lock().expect("deadline lock");
            let due: Vec<(Timestamp, ShopId)> = index
                .by_time
                .iter()
                .take_while(|(at, _)| *at <= now)
                .cloned()
                .collect();
            // Disarmed here; each wake re-arms the shop's next deadline.
            for entry in &due {
                index.by_time.remove(entry);
                index.by_shop.remove(&entry.1);
            }
            due.into_iter().map(|(_, shop)| shop).collect()
        };
        let wakes: Vec<_> = due
            .into_iter()
            .map(|shop_id| {
                let router = self.clone();
                tokio::spawn(async move { router.wake_shop(shop_id, now).await })
            })
            .collect();
        for wake in wakes {
            let _ = wake.await;
        }
    }

    async fn wake_shop(&self, shop_id: ShopId, due_at: Timestamp) {
        let woken = self
            .with_shop(&shop_id, |state, now| {
                state.advance_to(now);
                Ok(())
            })
            .await;
        match woken {
            Ok(()) => {}
            Err(RouterError::NotOwner(_)) => {
                tracing::debug!(shop = %shop_id, "deadline of a shop this worker no longer owns");
            }
            Err(error) => {
                tracing::warn!(shop = %shop_id, %error, "could not wake shop at its deadline; retrying shortly");
                self.deadlines
                    .arm(&shop_id, Some(Timestamp(due_at.as_millis() + 200)));
            }
        }
    }
}

/// Hands the events of stored decisions to the shop's watchers, numbered in order.
fn publish(cell: &ShopCell, loaded: &mut Loaded, events: Vec<TimedEvent>, shop_id: &ShopId) {
    if events.is_empty() {
        return;
    }
    let mut feed = cell.events.lock().expect("feed lock");
    // The last watcher left: free the feed's buffer.
    if feed
        .as_ref()
        .is_some_and(|sender| sender.receiver_count() == 0)
    {
        *feed = None;
    }
    for event in events {
        loaded.last_sequence += 1;
        tracing::debug!(shop = %shop_id, sequence = loaded.last_sequence, event = ?event.event, "shop event");
        let Some(sender) = feed.as_ref() else {
            continue;
        };
        // A watcher leaving meanwhile is not an error: events are a live feed.
        let _ = sender.send(SequencedEvent {
            sequence: loaded.last_sequence,
            event,
        });
    }
}
