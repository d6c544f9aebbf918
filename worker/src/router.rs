//! The shops this node serves, on the embedded (in-memory) default: each shop's
//! [`ShopState`] behind its own lock, the shop's event feed, and a timer task that
//! wakes each shop at its next deadline so close delays and presence TTLs take
//! effect with nobody calling.
//!
//! Every call goes through [`Router::with_shop`]: lock the shop, run the engine at
//! the current time, publish the events it produced, re-arm the shop's deadline.
//! That one place is also where a persistent store will commit the engine's
//! [`WriteSet`](crate::engine::WriteSet) before answering.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, broadcast};

use crate::engine::{EngineError, ShopId, ShopState, TimedEvent, Timestamp};

/// How many events a slow `WatchShop` subscriber may fall behind before its stream
/// is ended (it then resubscribes and reads the shop state).
const EVENT_BUFFER: usize = 4096;

/// An event with its per-shop sequence number.
#[derive(Clone, Debug)]
pub struct SequencedEvent {
    pub sequence: u64,
    pub event: TimedEvent,
}

/// Why a router call failed.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("shop_id: shop {0} does not exist; create it with UpsertShop")]
    UnknownShop(ShopId),
    #[error(transparent)]
    Engine(#[from] EngineError),
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

/// One shop: its state, and the feed of its events.
#[derive(Debug)]
struct ShopCell {
    state: Mutex<ShopState>,
    /// Sequence number of the last published event (guarded by `state`'s lock in
    /// practice: only written while it is held).
    last_sequence: Mutex<u64>,
    events: broadcast::Sender<SequencedEvent>,
}

/// The shops of this node and their timers.
#[derive(Debug)]
pub struct Router {
    shops: RwLock<HashMap<ShopId, Arc<ShopCell>>>,
    clock: Arc<dyn Clock>,
    deadlines: Mutex<DeadlineIndex>,
    /// Wakes the timer task when an earlier deadline is armed.
    deadline_armed: Notify,
}

/// Each shop's next deadline, ordered by time.
#[derive(Debug, Default)]
struct DeadlineIndex {
    by_time: BTreeSet<(Timestamp, ShopId)>,
    by_shop: HashMap<ShopId, Timestamp>,
}

impl Router {
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Router> {
        Arc::new(Router {
            shops: RwLock::new(HashMap::new()),
            clock,
            deadlines: Mutex::new(DeadlineIndex::default()),
            deadline_armed: Notify::new(),
        })
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Adds a new shop, fully configured by the caller. Returns `false` (and drops
    /// `state`) when the shop already exists.
    pub fn insert_shop_if_missing(&self, state: ShopState) -> bool {
        let mut shops = self.shops.write().expect("shop map lock");
        if shops.contains_key(state.shop_id()) {
            return false;
        }
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let shop_id = state.shop_id().clone();
        let next = state.next_deadline();
        shops.insert(
            shop_id.clone(),
            Arc::new(ShopCell {
                state: Mutex::new(state),
                last_sequence: Mutex::new(0),
                events,
            }),
        );
        drop(shops);
        self.arm_deadline(&shop_id, next);
        true
    }

    pub fn has_shop(&self, shop_id: &ShopId) -> bool {
        self.shops
            .read()
            .expect("shop map lock")
            .contains_key(shop_id)
    }

    fn cell(&self, shop_id: &ShopId) -> Result<Arc<ShopCell>, RouterError> {
        let shops = self.shops.read().expect("shop map lock");
        shops
            .get(shop_id)
            .cloned()
            .ok_or_else(|| RouterError::UnknownShop(shop_id.clone()))
    }

    /// Runs `call` on the shop at the current time, then publishes what happened and
    /// re-arms the shop's timer. An engine error is returned as is; the events that
    /// time produced on the way (a close delay that ran out) are published anyway.
    pub fn with_shop<T>(
        &self,
        shop_id: &ShopId,
        call: impl FnOnce(&mut ShopState, Timestamp) -> Result<T, EngineError>,
    ) -> Result<T, RouterError> {
        let cell = self.cell(shop_id)?;
        let mut state = cell.state.lock().expect("shop lock");
        let now = self.now();
        let result = call(&mut state, now);
        self.publish(&cell, &mut state);
        let next = state.next_deadline();
        drop(state);
        self.arm_deadline(shop_id, next);
        Ok(result?)
    }

    /// Reads the shop at the current time without changing anything but time's own
    /// effects.
    pub fn read_shop<T>(
        &self,
        shop_id: &ShopId,
        read: impl FnOnce(&ShopState) -> T,
    ) -> Result<T, RouterError> {
        self.with_shop(shop_id, |state, now| {
            state.advance_to(now);
            Ok(read(state))
        })
    }

    /// Subscribes to the shop's events from now on.
    pub fn subscribe(
        &self,
        shop_id: &ShopId,
    ) -> Result<broadcast::Receiver<SequencedEvent>, RouterError> {
        Ok(self.cell(shop_id)?.events.subscribe())
    }

    fn publish(&self, cell: &ShopCell, state: &mut ShopState) {
        // Nothing is persisted on the embedded default; the write set is where a
        // store would take its writes from.
        state.take_write_set();
        let events = state.take_events();
        if events.is_empty() {
            return;
        }
        let mut last_sequence = cell.last_sequence.lock().expect("sequence lock");
        for event in events {
            *last_sequence += 1;
            tracing::debug!(shop = %state.shop_id(), sequence = *last_sequence, event = ?event.event, "shop event");
            // No subscriber is not an error: events are a live feed.
            let _ = cell.events.send(SequencedEvent {
                sequence: *last_sequence,
                event,
            });
        }
    }

    fn arm_deadline(&self, shop_id: &ShopId, next: Option<Timestamp>) {
        let mut index = self.deadlines.lock().expect("deadline lock");
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
                self.deadline_armed.notify_one();
            }
        }
    }

    /// Wakes shops at their deadlines until `shutdown` resolves. Run it once per
    /// router, on the runtime that serves it.
    pub async fn run_timers(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let earliest = {
                let index = self.deadlines.lock().expect("deadline lock");
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
                _ = self.deadline_armed.notified() => continue,
                _ = tokio::time::sleep(sleep_for) => self.wake_due_shops(),
            }
        }
    }

    fn wake_due_shops(&self) {
        let now = self.now();
        let due: Vec<ShopId> = {
            let index = self.deadlines.lock().expect("deadline lock");
            index
                .by_time
                .iter()
                .take_while(|(at, _)| *at <= now)
                .map(|(_, shop)| shop.clone())
                .collect()
        };
        for shop_id in due {
            let woken = self.with_shop(&shop_id, |state, now| {
                state.advance_to(now);
                Ok(())
            });
            if let Err(error) = woken {
                tracing::warn!(shop = %shop_id, %error, "could not wake shop at its deadline");
            }
        }
    }
}
