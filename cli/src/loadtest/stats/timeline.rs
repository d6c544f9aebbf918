//! The measured window interval by interval (a second; longer in runs over
//! five minutes, so that memory stays bounded): Route calls answered OK, their
//! latency and the failures by status code, each counted in the interval in
//! which it was answered. One small histogram per interval, made when the
//! interval is first reached, never an allocation per call.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::loadtest::measures::{HIGHEST_US, IntervalRow, Percentiles};

/// Intervals of the window at most: a longer run gets longer intervals.
const MAX_INTERVALS: u64 = 300;

/// Intervals kept after the window (its last calls' answers, during the
/// drain); later answers count in the last of them.
const MAX_INTERVALS_AFTER: u64 = 30;

/// What the calls answered in one interval came to.
#[derive(Debug)]
struct Interval {
    /// Route calls answered OK.
    route_ok: u64,
    /// Their latency as recorded (corrected when read, as the run's is). Two
    /// significant digits: about 13 KB an interval instead of the whole run
    /// histogram's 190 KB.
    latency: Histogram<u64>,
    /// Failed calls by status code name.
    errors: BTreeMap<&'static str, u64>,
}

impl Interval {
    fn new() -> Interval {
        Interval {
            route_ok: 0,
            latency: Histogram::new_with_bounds(1, HIGHEST_US, 2).expect("valid histogram bounds"),
            errors: BTreeMap::new(),
        }
    }
}

/// The window's intervals, made as answers reach them.
#[derive(Debug)]
pub struct Timeline {
    /// The window's start, µs on the run's clock.
    start_us: u64,
    /// The length of an interval, µs.
    interval_us: u64,
    /// Intervals from the window's start; those not reached yet are absent.
    intervals: Vec<Interval>,
}

impl Timeline {
    /// A timeline of the window `[start_us, end_us)`.
    pub fn new(start_us: u64, end_us: u64) -> Timeline {
        let window_us = end_us.saturating_sub(start_us);
        let seconds = window_us.div_ceil(1_000_000).max(1);
        let interval_us = seconds.div_ceil(MAX_INTERVALS) * 1_000_000;
        Timeline {
            start_us,
            interval_us,
            intervals: Vec::new(),
        }
    }

    fn at(&mut self, done_us: u64) -> &mut Interval {
        let limit = MAX_INTERVALS + MAX_INTERVALS_AFTER;
        let index = (done_us.saturating_sub(self.start_us) / self.interval_us).min(limit) as usize;
        if index >= self.intervals.len() {
            self.intervals.resize_with(index + 1, Interval::new);
        }
        &mut self.intervals[index]
    }

    /// A Route call answered OK at `done_us` after `latency_us`.
    pub fn route_ok(&mut self, done_us: u64, latency_us: u64) {
        let interval = self.at(done_us);
        interval.route_ok += 1;
        interval.latency.saturating_record(latency_us);
    }

    /// A call that failed with `code`, answered at `done_us`.
    pub fn failure(&mut self, done_us: u64, code: &'static str) {
        *self.at(done_us).errors.entry(code).or_default() += 1;
    }

    /// The intervals from the window's start to the last one reached (the
    /// window's own all there, even when nothing was answered in them), with
    /// the latency corrected with `correct_interval_us` (closed loop) as the
    /// run's is.
    pub fn rows(&self, end_us: u64, correct_interval_us: Option<u64>) -> Vec<IntervalRow> {
        let window_us = end_us.saturating_sub(self.start_us);
        let in_window = window_us.div_ceil(self.interval_us) as usize;
        let empty = Interval::new();
        (0..in_window.max(self.intervals.len()))
            .map(|index| {
                let interval = self.intervals.get(index).unwrap_or(&empty);
                let from_us = (index as u64).saturating_mul(self.interval_us);
                let to_us = from_us.saturating_add(self.interval_us);
                let after_window = from_us >= window_us;
                let length_us = if after_window {
                    self.interval_us
                } else {
                    to_us.min(window_us) - from_us
                };
                let latency = match correct_interval_us {
                    Some(expected) if !interval.latency.is_empty() => {
                        Percentiles::of(&interval.latency.clone_correct(expected))
                    }
                    _ => Percentiles::of(&interval.latency),
                };
                IntervalRow {
                    start_seconds: from_us as f64 / 1e6,
                    seconds: length_us as f64 / 1e6,
                    after_window,
                    route_ok: interval.route_ok,
                    latency,
                    errors: interval.errors.iter().map(|(c, n)| (*c, *n)).collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_count_in_the_second_they_came_and_the_window_is_whole() {
        let mut timeline = Timeline::new(1_000_000, 4_500_000);
        timeline.route_ok(1_000_000, 500);
        timeline.route_ok(1_999_999, 1_500);
        timeline.route_ok(3_200_000, 2_000);
        timeline.failure(3_300_000, "UNAVAILABLE");
        timeline.failure(3_400_000, "UNAVAILABLE");
        timeline.failure(3_500_000, "DEADLINE_EXCEEDED");
        // During the drain, after the window.
        timeline.route_ok(5_100_000, 900_000);
        let rows = timeline.rows(4_500_000, None);
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].route_ok, 2);
        assert_eq!(rows[0].decisions_per_second(), 2.0);
        assert_eq!(rows[1].route_ok, 0);
        assert_eq!(rows[1].latency.count, 0);
        assert_eq!(rows[2].route_ok, 1);
        assert_eq!(
            rows[2].errors,
            vec![("DEADLINE_EXCEEDED", 1), ("UNAVAILABLE", 2)]
        );
        // The window's last half second: a rate over half a second.
        assert_eq!(rows[3].seconds, 0.5);
        assert!(!rows[3].after_window);
        assert!(rows[4].after_window);
        assert_eq!(rows[4].route_ok, 1);
        assert!((rows[4].latency.p99 - 900.0).abs() < 10.0);
    }

    #[test]
    fn a_long_run_gets_longer_intervals_and_bounded_memory() {
        let mut timeline = Timeline::new(0, 3_600_000_000);
        timeline.route_ok(3_599_000_000, 1_000);
        // Far past the window: counted in the last interval kept.
        timeline.route_ok(u64::MAX, 1_000);
        let rows = timeline.rows(3_600_000_000, Some(1_000));
        assert_eq!(rows[0].seconds, 12.0);
        assert_eq!(rows.len() as u64, MAX_INTERVALS + MAX_INTERVALS_AFTER + 1);
        assert_eq!(rows[MAX_INTERVALS as usize - 1].route_ok, 1);
        assert_eq!(rows.last().unwrap().route_ok, 1);
    }
}
