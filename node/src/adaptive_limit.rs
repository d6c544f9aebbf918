//! An adaptive bound on the calls a dispatcher forwards at once: between a
//! floor and `--max-in-flight`, lowered while the node must refuse calls and
//! most of what it admits takes longer than a latency target, raised again
//! when what it admits is fast.
//!
//! A fixed bound holds admitted latency to about the bound divided by the
//! node's throughput, which depends on the machine: 256 calls are 20–30 ms on
//! one machine and 100 ms on a smaller one. What the caller cares about is
//! the latency, so the bound follows it: every window (100 ms) the node looks
//! at the calls that finished in it. While it refused calls (it is at its
//! bound, overloaded) and over half of them took longer than the target, the
//! bound shrinks by a tenth; when under a fifth did, or when it refused none
//! (the bound was not what held calls back), it grows by a sixteenth, up to
//! `--max-in-flight`. Only a window with refusals shrinks it: a node that
//! keeps up, however slow its calls (a worker failing over, a slow Redis),
//! keeps or regains its full bound, and a single slow call cannot move it (the
//! median decides, not the mean).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use metrics::Gauge;

use crate::metrics::names;

/// How often the bound is reconsidered.
pub const WINDOW: Duration = Duration::from_millis(100);
/// Fewer calls finished in a window than this say nothing about latency.
const MIN_SAMPLES: u64 = 16;

/// What one window saw.
#[derive(Debug, Default)]
struct WindowCounts {
    /// Calls finished.
    finished: AtomicU64,
    /// Calls finished that took longer than the target.
    slow: AtomicU64,
    /// Calls refused for the bound.
    refused: AtomicU64,
}

/// How an [`InFlightLimit`](crate::overload::InFlightLimit)'s bound follows
/// latency: what it has seen this window, and where the bound may go.
#[derive(Debug)]
pub struct Adaptation {
    /// The bound never goes above this (`--max-in-flight`).
    ceiling: usize,
    /// Nor below this: a burst after a slow spell still gets this many in.
    floor: usize,
    /// The latency admitted calls are held to under overload.
    target: Duration,
    /// When this adaptation began: windows are counted from it.
    epoch: Instant,
    /// Start of the current window, in microseconds since `epoch`.
    window_start: AtomicU64,
    /// The current window's counts.
    counts: WindowCounts,
    /// `fenliu_admission_limit`: the bound, as it changes.
    limit_gauge: Gauge,
}

impl Adaptation {
    /// Holds admitted calls to `target` under overload, between `ceiling` and
    /// `ceiling / 8` (at least 1); `None` for no bound (`ceiling` 0).
    pub fn new(ceiling: usize, target: Duration) -> Option<Adaptation> {
        if ceiling == 0 {
            return None;
        }
        let limit_gauge = metrics::gauge!(names::ADMISSION_LIMIT);
        limit_gauge.set(ceiling as f64);
        Some(Adaptation {
            ceiling,
            floor: (ceiling / 8).max(1),
            target,
            epoch: Instant::now(),
            window_start: AtomicU64::new(0),
            counts: WindowCounts::default(),
            limit_gauge,
        })
    }

    /// Counts a call refused for the bound.
    pub fn refused(&self) {
        self.counts.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call that took `took`, and reconsiders `limit` when a window
    /// has passed.
    pub fn finished(&self, took: Duration, limit: &AtomicUsize) {
        self.counts.finished.fetch_add(1, Ordering::Relaxed);
        if took > self.target {
            self.counts.slow.fetch_add(1, Ordering::Relaxed);
        }
        let now = micros(self.epoch.elapsed());
        let start = self.window_start.load(Ordering::Relaxed);
        if now.saturating_sub(start) < micros(WINDOW) {
            return;
        }
        // One caller closes the window; the others go on counting into the next.
        if self
            .window_start
            .compare_exchange(start, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let finished = self.counts.finished.swap(0, Ordering::Relaxed);
        let slow = self.counts.slow.swap(0, Ordering::Relaxed);
        let refused = self.counts.refused.swap(0, Ordering::Relaxed);
        let current = limit.load(Ordering::Relaxed);
        let next = next_limit(current, self.floor, self.ceiling, finished, slow, refused);
        if next != current {
            limit.store(next, Ordering::Relaxed);
            self.limit_gauge.set(next as f64);
        }
    }
}

/// The bound after a window in which `finished` calls ended, `slow` of them
/// over the target, and `refused` were refused.
fn next_limit(
    limit: usize,
    floor: usize,
    ceiling: usize,
    finished: u64,
    slow: u64,
    refused: u64,
) -> usize {
    let grown = (limit + (limit / 16).max(1)).min(ceiling);
    if refused == 0 {
        // The bound held nothing back: back toward the ceiling, however slow
        // the calls (their slowness is not the bound's doing).
        return grown;
    }
    if finished < MIN_SAMPLES {
        return limit;
    }
    if slow * 2 > finished {
        (limit - (limit / 10).max(1)).max(floor)
    } else if slow * 5 < finished {
        grown
    } else {
        limit
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_of_refusals_and_mostly_slow_calls_lowers_the_bound_by_a_tenth_down_to_the_floor() {
        assert_eq!(next_limit(256, 32, 256, 100, 60, 5), 231);
        assert_eq!(next_limit(33, 32, 256, 100, 60, 5), 32);
        assert_eq!(next_limit(32, 32, 256, 100, 100, 5), 32);
    }

    #[test]
    fn a_window_without_refusals_grows_the_bound_back_however_slow_or_few_its_calls() {
        // A node that keeps up regains its bound, however slow its calls (a
        // target under its normal latency cannot pin it at the floor) and
        // however few (a quiet caller after a burst).
        assert_eq!(next_limit(200, 32, 256, 100, 100, 0), 212);
        assert_eq!(next_limit(32, 32, 256, 1, 1, 0), 34);
        assert_eq!(next_limit(256, 32, 256, 100, 100, 0), 256);
    }

    #[test]
    fn a_small_bound_shrinks_too() {
        assert_eq!(next_limit(8, 1, 8, 100, 100, 3), 7);
    }

    #[test]
    fn fast_calls_raise_the_bound_by_a_sixteenth_up_to_the_ceiling() {
        assert_eq!(next_limit(160, 32, 256, 100, 10, 7), 170);
        assert_eq!(next_limit(250, 32, 256, 100, 0, 0), 256);
        assert_eq!(next_limit(8, 1, 256, 100, 0, 0), 9);
    }

    #[test]
    fn a_window_with_too_few_calls_or_between_thresholds_changes_nothing() {
        assert_eq!(next_limit(100, 32, 256, MIN_SAMPLES - 1, 15, 9), 100);
        assert_eq!(next_limit(100, 32, 256, MIN_SAMPLES - 1, 0, 9), 100);
        assert_eq!(next_limit(100, 32, 256, 100, 30, 9), 100);
    }

    #[test]
    fn the_floor_is_an_eighth_of_the_ceiling_and_at_least_one() {
        let target = Duration::from_millis(10);
        assert_eq!(Adaptation::new(2, target).unwrap().floor, 1);
        assert_eq!(Adaptation::new(256, target).unwrap().floor, 32);
        assert!(Adaptation::new(0, target).is_none(), "0 is no bound");
    }
}
