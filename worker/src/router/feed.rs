//! A shop's live event feed for `WatchShop`: the events of stored decisions,
//! numbered in order per shop. The broadcast exists only while someone watches,
//! since its buffer is allocated up front and most shops are never watched.
//!
//! The numbers are the shop's, not this node's: events are numbered as they are
//! decided (`number`), on from the last one stored, so that a new owner goes on
//! where the old one stopped. On the embedded default the feed also keeps the
//! shop's recent events in memory, from which a watcher resuming at a sequence is
//! replayed what it missed; with Redis the store's stream does that
//! (`store::redis_store::events`).

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::engine::{ShopId, TimedEvent};

/// How many events a slow `WatchShop` subscriber may fall behind before it
/// misses some (it is then replayed them from the kept events, or told to
/// resynchronise).
const EVENT_BUFFER: usize = 4096;

/// An event with its per-shop sequence number.
#[derive(Clone, Debug)]
pub struct SequencedEvent {
    /// Numbered per shop, so that a watcher can tell a gap, and resume after
    /// the last event it saw.
    pub sequence: u64,
    /// What happened, and when.
    pub event: TimedEvent,
}

/// Numbers `events` on from `last_sequence`, which it advances.
pub fn number(last_sequence: &mut u64, events: Vec<TimedEvent>) -> Vec<SequencedEvent> {
    events
        .into_iter()
        .map(|event| {
            *last_sequence += 1;
            SequencedEvent {
                sequence: *last_sequence,
                event,
            }
        })
        .collect()
}

/// One shop's feed.
#[derive(Debug, Default)]
pub struct EventFeed {
    /// The broadcast (while anyone watches) and what the feed keeps, under one
    /// lock so that a subscription and the replay it starts from agree.
    inner: Mutex<FeedInner>,
}

#[derive(Debug, Default)]
struct FeedInner {
    /// Present only while someone watches.
    sender: Option<broadcast::Sender<SequencedEvent>>,
    /// The sequence of the last event handed to the watchers (or stored, as
    /// of the shop's load): where a watcher that gives no resume point starts.
    published: u64,
    /// The latest events, oldest first, on the embedded default only (at most
    /// `kept` of them); empty with Redis, whose stream keeps them.
    recent: VecDeque<SequencedEvent>,
}

/// A new watcher's starting point, taken under the feed's lock.
#[derive(Debug)]
pub struct Subscription {
    /// The events published from now on.
    pub live: broadcast::Receiver<SequencedEvent>,
    /// The sequence of the last event published before `live` starts.
    pub published: u64,
}

impl EventFeed {
    /// How many subscribers the feed has now.
    pub fn watchers(&self) -> usize {
        let inner = self.inner.lock().expect("feed lock");
        inner
            .sender
            .as_ref()
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Sets where the numbering stands, as a load found it in the store.
    pub fn loaded_at(&self, sequence: u64) {
        self.inner.lock().expect("feed lock").published = sequence;
    }

    /// Subscribes to the events published from now on.
    pub fn subscribe(&self) -> Subscription {
        let mut inner = self.inner.lock().expect("feed lock");
        let live = inner
            .sender
            .get_or_insert_with(|| broadcast::channel(EVENT_BUFFER).0)
            .subscribe();
        Subscription {
            live,
            published: inner.published,
        }
    }

    /// The kept events numbered after `after`, oldest first, at most `limit`.
    pub fn recent_after(&self, after: u64, limit: usize) -> Vec<SequencedEvent> {
        let inner = self.inner.lock().expect("feed lock");
        let skip = inner
            .recent
            .partition_point(|event| event.sequence <= after);
        inner
            .recent
            .iter()
            .skip(skip)
            .take(limit)
            .cloned()
            .collect()
    }

    /// Hands the events of stored decisions to the watchers, keeping the last
    /// `kept` of them in memory (0 with Redis, which keeps them itself).
    pub fn publish(&self, events: Vec<SequencedEvent>, shop_id: &ShopId, kept: usize) {
        let Some(last) = events.last() else {
            return;
        };
        let mut inner = self.inner.lock().expect("feed lock");
        inner.published = last.sequence;
        // The last watcher left: free the broadcast's buffer.
        if inner
            .sender
            .as_ref()
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            inner.sender = None;
        }
        for event in events {
            tracing::debug!(shop = %shop_id, sequence = event.sequence, event = ?event.event, "shop event");
            if kept > 0 {
                if inner.recent.len() == kept {
                    inner.recent.pop_front();
                }
                inner.recent.push_back(event.clone());
            }
            if let Some(sender) = inner.sender.as_ref() {
                // A watcher leaving meanwhile is not an error: events are a live feed.
                let _ = sender.send(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{AccountId, AccountStatus, ShopEvent, Timestamp};

    fn status_change(at: u64) -> TimedEvent {
        TimedEvent {
            at: Timestamp(at),
            event: ShopEvent::AccountStatusChanged {
                account: AccountId("a".to_owned()),
                from: AccountStatus::Offline,
                to: AccountStatus::Online,
                presence_expired: false,
            },
        }
    }

    #[test]
    fn events_are_numbered_on_from_the_last_one() {
        let mut last = 7;
        let numbered = number(&mut last, vec![status_change(1), status_change(2)]);
        assert_eq!(last, 9);
        let sequences: Vec<u64> = numbered.iter().map(|e| e.sequence).collect();
        assert_eq!(sequences, [8, 9]);
    }

    #[test]
    fn a_watcher_sees_what_is_published_after_it_subscribed() {
        let feed = EventFeed::default();
        let shop = ShopId("s".to_owned());
        let mut last = 0;
        feed.publish(number(&mut last, vec![status_change(1)]), &shop, 0);
        let mut watcher = feed.subscribe();
        assert_eq!(watcher.published, 1, "where the watcher starts");
        assert_eq!(feed.watchers(), 1);
        feed.publish(
            number(&mut last, vec![status_change(2), status_change(3)]),
            &shop,
            0,
        );
        let first = watcher.live.try_recv().unwrap();
        let second = watcher.live.try_recv().unwrap();
        assert_eq!((first.sequence, first.event.at), (2, Timestamp(2)));
        assert_eq!((second.sequence, second.event.at), (3, Timestamp(3)));
        assert!(
            watcher.live.try_recv().is_err(),
            "nothing else was published"
        );
        assert!(
            feed.recent_after(0, 10).is_empty(),
            "nothing kept with kept = 0"
        );
    }

    #[test]
    fn the_feed_keeps_the_last_events_and_replays_those_after_a_point() {
        let feed = EventFeed::default();
        let shop = ShopId("s".to_owned());
        let mut last = 0;
        let events = (1..=5).map(status_change).collect();
        feed.publish(number(&mut last, events), &shop, 3);
        let sequences = |events: Vec<SequencedEvent>| -> Vec<u64> {
            events.iter().map(|e| e.sequence).collect()
        };
        assert_eq!(
            sequences(feed.recent_after(0, 10)),
            [3, 4, 5],
            "the oldest went"
        );
        assert_eq!(sequences(feed.recent_after(3, 1)), [4], "at most the limit");
        assert_eq!(sequences(feed.recent_after(4, 10)), [5]);
        assert_eq!(feed.subscribe().published, 5);
    }

    #[test]
    fn the_broadcast_is_freed_once_its_last_watcher_leaves() {
        let feed = EventFeed::default();
        let shop = ShopId("s".to_owned());
        let mut last = 0;
        drop(feed.subscribe());
        assert_eq!(feed.watchers(), 0);
        feed.publish(number(&mut last, vec![status_change(1)]), &shop, 0);
        assert!(feed.inner.lock().unwrap().sender.is_none(), "buffer freed");
    }
}
