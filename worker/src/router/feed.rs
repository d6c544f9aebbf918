//! A shop's live event feed for `WatchShop`: the events of stored decisions,
//! numbered in order per shop. The feed exists only while someone watches, since
//! a feed's buffer is allocated up front and most shops are never watched.

use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::engine::{ShopId, TimedEvent};

/// How many events a slow `WatchShop` subscriber may fall behind before its stream
/// is ended (it then resubscribes and reads the shop state).
const EVENT_BUFFER: usize = 4096;

/// An event with its per-shop sequence number.
#[derive(Clone, Debug)]
pub struct SequencedEvent {
    /// Numbered per shop, so that a watcher can tell a gap or a restart.
    pub sequence: u64,
    /// What happened, and when.
    pub event: TimedEvent,
}

/// One shop's feed: a broadcast sender while anyone subscribes, else nothing.
#[derive(Debug, Default)]
pub struct EventFeed {
    /// Present only while someone watches.
    sender: Mutex<Option<broadcast::Sender<SequencedEvent>>>,
}

impl EventFeed {
    /// How many subscribers the feed has now.
    pub fn watchers(&self) -> usize {
        let sender = self.sender.lock().expect("feed lock");
        sender.as_ref().map_or(0, broadcast::Sender::receiver_count)
    }

    /// Subscribes to the events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SequencedEvent> {
        let mut sender = self.sender.lock().expect("feed lock");
        sender
            .get_or_insert_with(|| broadcast::channel(EVENT_BUFFER).0)
            .subscribe()
    }

    /// Hands the events of stored decisions to the watchers, numbering them after
    /// `last_sequence` (which it advances: events are numbered whether or not
    /// anyone watches, so that a watcher sees the shop's own sequence).
    pub fn publish(&self, last_sequence: &mut u64, events: Vec<TimedEvent>, shop_id: &ShopId) {
        if events.is_empty() {
            return;
        }
        let mut sender = self.sender.lock().expect("feed lock");
        // The last watcher left: free the feed's buffer.
        if sender
            .as_ref()
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            *sender = None;
        }
        for event in events {
            *last_sequence += 1;
            tracing::debug!(shop = %shop_id, sequence = *last_sequence, event = ?event.event, "shop event");
            let Some(sender) = sender.as_ref() else {
                continue;
            };
            // A watcher leaving meanwhile is not an error: events are a live feed.
            let _ = sender.send(SequencedEvent {
                sequence: *last_sequence,
                event,
            });
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
    fn events_are_numbered_in_order_whether_or_not_anyone_watches() {
        let feed = EventFeed::default();
        let shop = ShopId("s".to_owned());
        let mut last_sequence = 0;
        feed.publish(&mut last_sequence, vec![status_change(1)], &shop);
        assert_eq!(last_sequence, 1, "numbered with nobody watching");
        let mut watcher = feed.subscribe();
        assert_eq!(feed.watchers(), 1);
        feed.publish(
            &mut last_sequence,
            vec![status_change(2), status_change(3)],
            &shop,
        );
        let first = watcher.try_recv().unwrap();
        let second = watcher.try_recv().unwrap();
        assert_eq!((first.sequence, first.event.at), (2, Timestamp(2)));
        assert_eq!((second.sequence, second.event.at), (3, Timestamp(3)));
        assert!(watcher.try_recv().is_err(), "nothing else was published");
    }

    #[test]
    fn the_feed_is_freed_once_its_last_watcher_leaves() {
        let feed = EventFeed::default();
        let shop = ShopId("s".to_owned());
        let mut last_sequence = 0;
        drop(feed.subscribe());
        assert_eq!(feed.watchers(), 0);
        feed.publish(&mut last_sequence, vec![status_change(1)], &shop);
        assert!(feed.sender.lock().unwrap().is_none(), "buffer freed");
        assert_eq!(last_sequence, 1);
    }
}
