//! Watching every shop's events through the chaos, as a platform feeding its
//! agents' inboxes would: one watcher per shop, on a dispatcher the faults hit
//! like any other, resuming after the last event it saw (`from_sequence`) on the
//! next dispatcher whenever its stream breaks. It holds `WatchShop` to what it
//! promises: every event once and in order (a gap, a repeat or a step back is a
//! violation), through worker kills and pauses, dispatcher kills, proxy faults
//! and Redis restarts; and, once healed, the watcher reaches the shop's last
//! event (`GetShopState.event_sequence`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fenliu_testkit::AppendFsync;
use fenliu_tests::pb;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::checker::Invariant;
use crate::client::lazy_client;

/// How long opening a stream may take before the watcher tries the next
/// dispatcher.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a watcher waiting for an event looks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(200);
/// How long a healed deployment's watchers get to reach each shop's last event.
const CATCH_UP: Duration = Duration::from_secs(15);

/// What one shop's watcher saw.
#[derive(Debug, Default)]
pub struct ShopWatch {
    pub shop: String,
    /// Events received (repeats included).
    pub received: u64,
    /// How its streams broke (by code, or `ended`/`open timeout`).
    pub breaks: BTreeMap<String, u64>,
    /// Each event out of order: gaps, repeats, steps back.
    pub disorder: Vec<String>,
}

/// The running watchers.
pub struct Watchers {
    stop: Arc<AtomicBool>,
    /// Per shop: the sequence of the last event its watcher has.
    progress: Vec<(String, Arc<AtomicU64>)>,
    tasks: Vec<JoinHandle<ShopWatch>>,
}

/// Starts a watcher per shop of `shops` (new shops: their events start at 1),
/// spread over the dispatchers at `urls`.
pub fn start(urls: &[String], shops: &[String]) -> Watchers {
    let stop = Arc::new(AtomicBool::new(false));
    let mut progress = Vec::new();
    let mut tasks = Vec::new();
    for (index, shop) in shops.iter().enumerate() {
        let seen = Arc::new(AtomicU64::new(0));
        progress.push((shop.clone(), seen.clone()));
        tasks.push(tokio::spawn(watch(
            urls.to_vec(),
            index,
            shop.clone(),
            seen,
            stop.clone(),
        )));
    }
    Watchers {
        stop,
        progress,
        tasks,
    }
}

impl Watchers {
    /// Waits (at most [`CATCH_UP`]) for each watcher to reach its shop's last
    /// event as read back after the heal, stops them, and judges what they saw.
    pub async fn finish(
        self,
        last_events: &BTreeMap<String, u64>,
        fsync: AppendFsync,
    ) -> Invariant {
        let deadline = Instant::now() + CATCH_UP;
        let behind = || {
            self.progress.iter().any(|(shop, seen)| {
                seen.load(Ordering::SeqCst) < last_events.get(shop).copied().unwrap_or(0)
            })
        };
        while behind() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.stop.store(true, Ordering::SeqCst);
        let mut invariant = Invariant {
            name: "every shop's events watched once, in order, through the faults",
            ..Invariant::default()
        };
        let mut breaks: BTreeMap<String, u64> = BTreeMap::new();
        for ((shop, seen), task) in self.progress.iter().zip(self.tasks) {
            let Ok(watched) = task.await else {
                invariant
                    .violations
                    .push(format!("{shop}: its watcher panicked"));
                continue;
            };
            invariant.checked += watched.received as usize;
            invariant.violations.extend(watched.disorder);
            let reached = seen.load(Ordering::SeqCst);
            let last = last_events.get(shop).copied().unwrap_or(0);
            // Later events (a presence running out) may take it further.
            if reached < last {
                invariant.violations.push(format!(
                    "{shop}: the watcher reached event {reached}, the shop's last is {last}"
                ));
            }
            for (why, count) in watched.breaks {
                // With fsync everysec a Redis crash may lose acknowledged events,
                // so a resume point may be ahead of what the shop has: excused.
                if why == "OutOfRange" {
                    let what = format!("{shop}: a resume refused OUT_OF_RANGE × {count}");
                    invariant.flag(fsync == AppendFsync::EverySec, what);
                }
                *breaks.entry(why).or_default() += count;
            }
        }
        invariant.notes.push(format!(
            "{} shops watched; streams broken and resumed: {breaks:?}",
            last_events.len()
        ));
        invariant
    }
}

/// One shop's watcher: streams, resumed after every break, until told to stop.
async fn watch(
    urls: Vec<String>,
    first: usize,
    shop: String,
    seen: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> ShopWatch {
    let mut watched = ShopWatch {
        shop: shop.clone(),
        ..ShopWatch::default()
    };
    let mut turn = first;
    while !stop.load(Ordering::SeqCst) {
        let mut client = lazy_client(&urls[turn % urls.len()]);
        turn += 1;
        let request = pb::WatchShopRequest {
            shop_id: shop.clone(),
            from_sequence: Some(seen.load(Ordering::SeqCst)),
        };
        let why = match tokio::time::timeout(OPEN_TIMEOUT, client.watch_shop(request)).await {
            Err(_) => "open timeout".to_owned(),
            Ok(Err(status)) => format!("{:?}", status.code()),
            Ok(Ok(response)) => {
                let mut stream = response.into_inner();
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return watched;
                    }
                    match tokio::time::timeout(STOP_POLL, stream.message()).await {
                        Err(_) => continue,
                        Ok(Ok(Some(event))) => watched.take(&event, &seen),
                        Ok(Ok(None)) => break "ended".to_owned(),
                        Ok(Err(status)) => break format!("{:?}", status.code()),
                    }
                }
            }
        };
        *watched.breaks.entry(why).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watched
}

impl ShopWatch {
    fn take(&mut self, event: &pb::ShopEvent, seen: &AtomicU64) {
        self.received += 1;
        let last = seen.load(Ordering::SeqCst);
        if event.sequence != last + 1 {
            self.disorder.push(format!(
                "{}: event {} came after event {last}",
                self.shop, event.sequence
            ));
        }
        // Follow on from the highest seen, so one disorder is reported once.
        seen.fetch_max(event.sequence, Ordering::SeqCst);
    }
}
