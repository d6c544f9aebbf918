//! Following a shop's events for `WatchShop`: from a resume point, replaying what
//! the watcher missed, then live; every event once, in order, gaps filled.
//!
//! A watch subscribes to the shop's live feed first, then replays the events
//! after its resume point from where they are kept (the store's stream with
//! Redis, the feed's memory on the embedded default): an event published in
//! between arrives both ways and is passed on once, by its sequence. A live
//! event that skips numbers (the watcher fell behind the broadcast, or a commit
//! whose answer was lost landed after all, its events never published here) is
//! preceded by the missing ones, read from where they are kept. What is no longer
//! kept ends the watch with `OUT_OF_RANGE`: the watcher reads `GetShopState` and
//! watches from its `event_sequence`.

use std::sync::Weak;

use fenliu_node::metrics::meters::watch_events_dropped;
use tokio::sync::{broadcast, mpsc};

use super::error::RouterError;
use super::feed::{SequencedEvent, Subscription};
use super::shop_cell::ShopCell;
use crate::engine::ShopId;
use crate::store::RedisStore;
use crate::store::redis_store::StoredEvent;

/// How many kept events one read fetches while catching up.
const CATCH_UP_BATCH: usize = 256;
/// How many events may wait for a slow watcher in its stream before the watch
/// stops reading the feed (it then catches up from what is kept).
const STREAM_BUFFER: usize = 64;

/// An event as a watch passes it on.
#[derive(Debug, Clone)]
pub enum WatchedEvent {
    /// Decided on this node (published live, or kept in its memory).
    Decided(SequencedEvent),
    /// Read from the store's stream, in its stored (public wire) form.
    Stored(StoredEvent),
}

impl WatchedEvent {
    pub fn sequence(&self) -> u64 {
        match self {
            WatchedEvent::Decided(event) => event.sequence,
            WatchedEvent::Stored(event) => event.sequence,
        }
    }
}

/// Where the shop's past events are read from.
#[derive(Debug, Clone)]
pub enum History {
    /// The store's stream (with Redis).
    Stored(RedisStore),
    /// The feed's memory (the embedded default). Weak: a watch must not keep a
    /// shop's cell, whose feed ending is what ends the watch.
    Kept(Weak<ShopCell>),
}

impl History {
    /// The kept events after `after` and up to `until` (at most a batch).
    async fn after(
        &self,
        shop_id: &ShopId,
        after: u64,
        until: u64,
    ) -> Result<Vec<WatchedEvent>, RouterError> {
        match self {
            History::Stored(store) => Ok(store
                .events_after(shop_id, after, until, CATCH_UP_BATCH)
                .await?
                .into_iter()
                .map(WatchedEvent::Stored)
                .collect()),
            History::Kept(cell) => Ok(cell
                .upgrade()
                .map(|cell| cell.events.recent_after(after, CATCH_UP_BATCH))
                .unwrap_or_default()
                .into_iter()
                .filter(|event| event.sequence <= until)
                .map(WatchedEvent::Decided)
                .collect()),
        }
    }
}

/// An open watch.
#[derive(Debug)]
pub struct Watch {
    /// The sequence the watch follows on from: the resume point asked for, or the
    /// shop's last published event when none was.
    pub start: u64,
    /// The events, then an error if the watch could not go on; it ends when the
    /// shop leaves this node (its shard moved).
    pub events: mpsc::Receiver<Result<WatchedEvent, RouterError>>,
}

/// Opens a watch of `shop_id` resuming after `after` (`None`: from now on),
/// given its fresh `subscription`. A watcher can only have seen published
/// events, so a resume point past the last published one is refused (a
/// decided event not yet stored may still be lost with its commit).
pub fn open(
    shop_id: ShopId,
    subscription: Subscription,
    after: Option<u64>,
    history: History,
) -> Result<Watch, RouterError> {
    if let Some(after) = after
        && after > subscription.published
    {
        return Err(RouterError::EventsAhead {
            shop_id,
            after,
            last: subscription.published,
        });
    }
    let start = after.unwrap_or(subscription.published);
    let (sender, events) = mpsc::channel(STREAM_BUFFER);
    let follower = Follower {
        shop_id,
        history,
        sender,
        sent: start,
    };
    tokio::spawn(follower.run(subscription));
    Ok(Watch { start, events })
}

/// The task behind one watch.
struct Follower {
    shop_id: ShopId,
    history: History,
    sender: mpsc::Sender<Result<WatchedEvent, RouterError>>,
    /// The sequence of the last event passed on.
    sent: u64,
}

/// Why a follower stopped.
enum Stop {
    /// The watcher went away.
    Gone,
    /// The watch cannot go on; the watcher is told why.
    Failed(RouterError),
}

impl Follower {
    async fn run(mut self, subscription: Subscription) {
        let Subscription {
            mut live,
            published,
        } = subscription;
        let outcome = match self.catch_up(published).await {
            Ok(()) => self.follow(&mut live).await,
            Err(stop) => Err(stop),
        };
        if let Err(Stop::Failed(error)) = outcome {
            let _ = self.sender.send(Err(error)).await;
        }
    }

    /// Passes on the live events, filling gaps, until the feed ends.
    async fn follow(&mut self, live: &mut broadcast::Receiver<SequencedEvent>) -> Result<(), Stop> {
        loop {
            let received = tokio::select! {
                () = self.sender.closed() => return Err(Stop::Gone),
                received = live.recv() => received,
            };
            match received {
                Ok(event) if event.sequence <= self.sent => {}
                Ok(event) => {
                    self.catch_up(event.sequence - 1).await?;
                    if event.sequence == self.sent + 1 {
                        self.pass_on(WatchedEvent::Decided(event)).await?;
                    }
                }
                // The next event received shows the gap, which is filled then.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                // The shop left this node: the watch ends, the watcher resumes at
                // its new owner.
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }

    /// Passes on the kept events up to `until` (an acknowledged event: the last
    /// published, or the one before a live event).
    async fn catch_up(&mut self, until: u64) -> Result<(), Stop> {
        while self.sent < until {
            let batch = self
                .history
                .after(&self.shop_id, self.sent, until)
                .await
                .map_err(Stop::Failed)?;
            let oldest = batch.first().map(WatchedEvent::sequence);
            if oldest != Some(self.sent + 1) {
                watch_events_dropped(oldest.unwrap_or(until + 1) - self.sent - 1);
                return Err(Stop::Failed(RouterError::EventsNotKept {
                    shop_id: self.shop_id.clone(),
                    after: self.sent,
                    oldest,
                }));
            }
            for event in batch {
                self.pass_on(event).await?;
            }
        }
        Ok(())
    }

    async fn pass_on(&mut self, event: WatchedEvent) -> Result<(), Stop> {
        let sequence = event.sequence();
        self.sender.send(Ok(event)).await.map_err(|_| Stop::Gone)?;
        self.sent = sequence;
        Ok(())
    }
}
