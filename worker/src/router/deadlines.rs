//! When each shop must next be woken with nobody calling: a close delay that runs
//! out (R15) or a presence TTL (the account goes offline), after which queues may
//! drain (R14). Each shop has at most one deadline armed, its earliest; the timer
//! task waits for the earliest of all, and is woken early when an earlier one is
//! armed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use super::seams::Clock;
use crate::engine::{ShopId, Timestamp};

/// How long the timer sleeps with nothing armed (it is woken as soon as a
/// deadline is armed; this only bounds the sleep).
const IDLE_SLEEP: Duration = Duration::from_secs(3600);

/// Each shop's next deadline, ordered by time.
#[derive(Debug, Default)]
struct DeadlineIndex {
    /// Deadlines in time order: the first is the next to wait for.
    by_time: BTreeSet<(Timestamp, ShopId)>,
    /// Each shop's armed deadline, to replace it when it is armed again.
    by_shop: HashMap<ShopId, Timestamp>,
}

impl DeadlineIndex {
    fn remove(&mut self, entry: &(Timestamp, ShopId)) {
        self.by_time.remove(entry);
        self.by_shop.remove(&entry.1);
    }
}

/// The deadlines the timer task waits for; shared with the committers, which arm a
/// shop's next deadline once its commit has landed.
#[derive(Debug, Default)]
pub struct Deadlines {
    /// Armed by committers and calls, read by the timer task.
    index: Mutex<DeadlineIndex>,
    /// Wakes the timer task when an earlier deadline is armed.
    armed: Notify,
}

impl Deadlines {
    /// Sets the shop's next deadline (`None`: nothing pending), replacing the one
    /// it had.
    pub fn arm(&self, shop_id: &ShopId, next: Option<Timestamp>) {
        let mut index = self.index.lock().expect("deadline lock");
        let previous = index.by_shop.get(shop_id).copied();
        if previous == next {
            return;
        }
        if let Some(previous) = previous {
            index.remove(&(previous, shop_id.clone()));
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

    /// Disarms the shops `moved` selects (they went to another worker).
    pub fn disarm_where(&self, moved: impl Fn(&ShopId) -> bool) {
        let mut index = self.index.lock().expect("deadline lock");
        let gone: Vec<(Timestamp, ShopId)> = index
            .by_time
            .iter()
            .filter(|(_, shop_id)| moved(shop_id))
            .cloned()
            .collect();
        for entry in &gone {
            index.remove(entry);
        }
    }

    /// The shop's armed deadline, if any.
    #[cfg(test)]
    fn armed_for(&self, shop_id: &ShopId) -> Option<Timestamp> {
        let index = self.index.lock().expect("deadline lock");
        index.by_shop.get(shop_id).copied()
    }

    /// Waits until at least one deadline has come by `clock`, then returns every
    /// shop due, disarmed (each wake re-arms its shop's next deadline). Safe to
    /// cancel: nothing is disarmed until it returns.
    pub async fn next_due(&self, clock: &dyn Clock) -> (Timestamp, Vec<ShopId>) {
        loop {
            let now = clock.now();
            let due = self.take_due(now);
            if !due.is_empty() {
                return (now, due);
            }
            let earliest = {
                let index = self.index.lock().expect("deadline lock");
                index.by_time.first().map(|(at, _)| *at)
            };
            let sleep_for = earliest.map_or(IDLE_SLEEP, |at| {
                Duration::from_millis(at.as_millis().saturating_sub(now.as_millis()))
            });
            tokio::select! {
                () = self.armed.notified() => {}
                () = tokio::time::sleep(sleep_for) => {}
            }
        }
    }

    /// Disarms and returns the shops whose deadline is at or before `now`.
    fn take_due(&self, now: Timestamp) -> Vec<ShopId> {
        let mut index = self.index.lock().expect("deadline lock");
        let due: Vec<(Timestamp, ShopId)> = index
            .by_time
            .iter()
            .take_while(|(at, _)| *at <= now)
            .cloned()
            .collect();
        for entry in &due {
            index.remove(entry);
        }
        due.into_iter().map(|(_, shop)| shop).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Virtual time: tokio's paused clock, in ms since the test began.
    #[derive(Debug)]
    struct PausedClock(tokio::time::Instant);

    impl Clock for PausedClock {
        fn now(&self) -> Timestamp {
            let elapsed = self.0.elapsed().as_millis();
            Timestamp(u64::try_from(elapsed).unwrap())
        }
    }

    fn shop(id: &str) -> ShopId {
        ShopId(id.to_owned())
    }

    #[tokio::test(start_paused = true)]
    async fn a_shop_is_woken_at_its_deadline_not_before() {
        let clock = PausedClock(tokio::time::Instant::now());
        let deadlines = Deadlines::default();
        deadlines.arm(&shop("b"), Some(Timestamp(2_000)));
        deadlines.arm(&shop("a"), Some(Timestamp(1_500)));
        let (at, due) = deadlines.next_due(&clock).await;
        assert_eq!((at, due), (Timestamp(1_500), vec![shop("a")]));
        assert_eq!(deadlines.armed_for(&shop("a")), None, "disarmed once due");
        let (at, due) = deadlines.next_due(&clock).await;
        assert_eq!((at, due), (Timestamp(2_000), vec![shop("b")]));
    }

    #[tokio::test(start_paused = true)]
    async fn shops_due_together_are_woken_together() {
        let clock = PausedClock(tokio::time::Instant::now());
        let deadlines = Deadlines::default();
        for id in ["x", "y", "z"] {
            deadlines.arm(&shop(id), Some(Timestamp(300)));
        }
        let (at, mut due) = deadlines.next_due(&clock).await;
        due.sort();
        assert_eq!(at, Timestamp(300));
        assert_eq!(due, [shop("x"), shop("y"), shop("z")]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_armed_while_waiting_wakes_the_timer_early() {
        let clock = std::sync::Arc::new(PausedClock(tokio::time::Instant::now()));
        let deadlines = std::sync::Arc::new(Deadlines::default());
        deadlines.arm(&shop("late"), Some(Timestamp(60_000)));
        let waiter = {
            let (deadlines, clock) = (deadlines.clone(), clock.clone());
            tokio::spawn(async move { deadlines.next_due(clock.as_ref()).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        deadlines.arm(&shop("early"), Some(Timestamp(250)));
        let (at, due) = waiter.await.unwrap();
        assert_eq!((at, due), (Timestamp(250), vec![shop("early")]));
        assert_eq!(deadlines.armed_for(&shop("late")), Some(Timestamp(60_000)));
    }

    #[tokio::test(start_paused = true)]
    async fn re_arming_replaces_and_disarming_removes() {
        let clock = PausedClock(tokio::time::Instant::now());
        let deadlines = Deadlines::default();
        deadlines.arm(&shop("a"), Some(Timestamp(100)));
        deadlines.arm(&shop("a"), Some(Timestamp(900)));
        deadlines.arm(&shop("gone"), Some(Timestamp(200)));
        deadlines.arm(&shop("idle"), Some(Timestamp(300)));
        deadlines.arm(&shop("idle"), None);
        deadlines.disarm_where(|shop_id| shop_id.as_str() == "gone");
        assert_eq!(deadlines.armed_for(&shop("gone")), None);
        assert_eq!(deadlines.armed_for(&shop("idle")), None);
        let (at, due) = deadlines.next_due(&clock).await;
        assert_eq!((at, due), (Timestamp(900), vec![shop("a")]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_past_is_due_at_once() {
        let clock = PausedClock(tokio::time::Instant::now());
        tokio::time::advance(Duration::from_millis(5_000)).await;
        let deadlines = Deadlines::default();
        deadlines.arm(&shop("late"), Some(Timestamp(1_000)));
        let started = tokio::time::Instant::now();
        let (at, due) = deadlines.next_due(&clock).await;
        assert_eq!(due, [shop("late")]);
        assert_eq!(at, Timestamp(5_000));
        assert_eq!(started.elapsed(), Duration::ZERO, "no sleep");
    }
}
