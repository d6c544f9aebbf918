//! The state a `fenliu loadtest` run's tasks share: the connections, the
//! workload and the measurements behind their locks, the run's clock and end,
//! the Ctrl-C stop, and the accounting of tasks in flight that the final drain
//! waits for. What the tasks send is in `conversation` and `shops`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::api::Api;
use super::measures::Call;
use super::stats::{Failure, Stats};
use super::workload::Workload;

/// Everything the load's tasks share.
#[derive(Debug)]
pub struct Shared {
    /// The connections every call goes over.
    pub api: Api,
    /// The generator of the buyers' messages, one for all tasks so that the
    /// seed alone decides the sequence.
    pub workload: Mutex<Workload>,
    /// Every call's outcome, for the progress bar and the report.
    pub stats: Mutex<Stats>,
    /// The generated shops' ids, by the workload's shop index.
    pub shop_ids: Vec<String>,
    /// The accounts' ids, by the workload's account index (the same in every
    /// shop).
    pub account_ids: Arc<[String]>,
    /// The run's clock: the first request is scheduled at `origin`.
    pub origin: Instant,
    /// End of warm-up + duration: nothing new is sent from then on.
    pub end: Instant,
    /// Set by Ctrl-C: stop early and report what was measured.
    pub stopped: AtomicBool,
    /// `--think-ms`: the wait between a session's last message and its end.
    pub think: Duration,
    /// Tasks with calls to make (closed-loop tasks, open-loop requests,
    /// pending ends, heartbeats, the flood's calls); the drain waits for them.
    pub in_flight: AtomicUsize,
}

/// Counts a task in `in_flight` until dropped.
#[derive(Debug)]
pub struct InFlight(
    /// The run whose `in_flight` it decrements when dropped.
    Arc<Shared>,
);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    /// Counts a task in flight until the guard returned is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Whether new calls may still be sent: not stopped, and before the end.
    pub fn running(&self) -> bool {
        !self.stopped.load(Ordering::Acquire) && Instant::now() < self.end
    }

    /// `t` as microseconds on the run's clock.
    pub fn at(&self, t: Instant) -> u64 {
        us(t.saturating_duration_since(self.origin))
    }

    /// Records a call other than Route: its kind, when it was sent, and how it
    /// ended.
    pub fn record_call<T>(&self, call: Call, sent: Instant, result: Result<T, tonic::Status>) {
        let done = self.at(Instant::now());
        lock(&self.stats).record_call(
            call,
            self.at(sent),
            done,
            result.map(drop).map_err(|status| Failure::from(&status)),
        );
    }

    /// Waits for the calls in flight, at most `limit`; returns how many tasks
    /// were still running then (they are abandoned).
    pub async fn drain(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let left = self.in_flight.load(Ordering::Acquire);
            if left == 0 || Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Ctrl-C: stop sending and close the measured window now.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        let now = self.at(Instant::now());
        lock(&self.stats).close_window(now);
    }
}

/// A duration in microseconds (the stats' unit), saturating.
pub fn us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Locks `mutex` even if a task panicked holding it: the others go on
/// recording, and the report is still made.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
