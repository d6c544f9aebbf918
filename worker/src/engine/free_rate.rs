//! R20's arithmetic: how fast an account's slots have freed recently, the wait
//! range that rate gives a queue position, and how well past ranges matched the
//! waits buyers then had. Pure numbers; which accounts count for which queue is
//! decided in [`super::estimate`].
//!
//! The rate is an exponentially decayed count of slot frees: each free adds one,
//! and the count loses a factor e every [`FREE_RATE_HORIZON`]. Its value divided by
//! the horizon is the recent rate, weighted towards the last few minutes, so an
//! estimate follows a shop that speeds up or slows down without a fixed average,
//! and the value itself says how much data there is behind it.

use std::time::Duration;

/// The horizon of the decayed count: frees older than a few of these barely count.
pub const FREE_RATE_HORIZON: Duration = Duration::from_secs(10 * 60);

/// Below this many recent frees (decayed) among the accounts that can serve a
/// queue, its estimate is unknown rather than a guess.
pub const MIN_OBSERVED_FREES: f64 = 2.0;

/// The decayed count is kept in millionths, so that an account stays `Eq` and its
/// stored record reads back exactly.
const MICRO: f64 = 1_000_000.0;

/// An account's recently freed slots: the decayed count as of `at_ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreeRate {
    /// The decayed count at `at_ms`, in millionths.
    pub micro: u64,
    /// When the count was last brought up to date (the last free), in ms since
    /// the epoch.
    pub at_ms: u64,
}

impl FreeRate {
    /// The decayed count at `now_ms`.
    pub fn count_at(self, now_ms: u64) -> f64 {
        if self.micro == 0 {
            return 0.0;
        }
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64;
        let horizon = FREE_RATE_HORIZON.as_millis() as f64;
        self.micro as f64 / MICRO * (-elapsed / horizon).exp()
    }

    /// A slot freed at `now_ms`.
    pub fn record(&mut self, now_ms: u64) {
        let count = self.count_at(now_ms) + 1.0;
        self.micro = (count * MICRO).round() as u64;
        self.at_ms = self.at_ms.max(now_ms);
    }
}

/// An estimated wait, as a range of whole seconds (compact: every session keeps
/// the one it was given when queued).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitRange {
    pub low_seconds: u32,
    pub high_seconds: u32,
}

impl WaitRange {
    pub fn low(&self) -> Duration {
        Duration::from_secs(u64::from(self.low_seconds))
    }

    pub fn high(&self) -> Duration {
        Duration::from_secs(u64::from(self.high_seconds))
    }

    pub fn contains(&self, wait: Duration) -> bool {
        self.low() <= wait && wait <= self.high()
    }

    pub fn middle(&self) -> Duration {
        (self.low() + self.high()) / 2
    }
}

/// The wait of the session at 1-based `position` when the slots that can serve
/// its queue have freed `observed` times recently (decayed, see [`FreeRate`]).
/// `None` (unknown) with too little data.
///
/// Serving `position` sessions takes `position` frees; at a rate `r` that takes
/// about `position / r`. The range widens that by one standard deviation both
/// ways: of the number of frees in a Poisson stream (√position) and of the rate
/// measured from `observed` frees (r/√observed).
pub fn wait_range(position: u32, observed: f64) -> Option<WaitRange> {
    if observed < MIN_OBSERVED_FREES || position == 0 {
        return None;
    }
    let rate_per_second = observed / FREE_RATE_HORIZON.as_secs_f64();
    let rate_spread = 1.0 / observed.sqrt();
    let rate_low = rate_per_second * (1.0 - rate_spread).max(0.1);
    let rate_high = rate_per_second * (1.0 + rate_spread);
    let position = f64::from(position);
    let frees_low = (position - position.sqrt()).max(0.0);
    let frees_high = position + position.sqrt();
    // Saturating: a wait past u32 seconds (136 years) is no wait anyone waits.
    let seconds = |value: f64| value.clamp(0.0, f64::from(u32::MAX)) as u32;
    Some(WaitRange {
        low_seconds: seconds((frees_low / rate_high).floor()),
        high_seconds: seconds((frees_high / rate_low).ceil()),
    })
}

/// How well the estimates given when sessions were queued matched the waits they
/// then had (R20), over the sessions that left a queue for an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EstimateAccuracy {
    /// Sessions served that had a known estimate when queued.
    pub samples: u64,
    /// Of those, the ones whose wait fell within the range.
    pub within_range: u64,
    /// Sessions served whose estimate was unknown when queued.
    pub unknown: u64,
    /// The sum over `samples` of |wait − the range's middle|, in ms.
    pub absolute_error_ms: u64,
}

impl EstimateAccuracy {
    /// A session queued with `estimate` was served after waiting `waited`.
    pub fn record(&mut self, estimate: Option<WaitRange>, waited: Duration) {
        let Some(estimate) = estimate else {
            self.unknown += 1;
            return;
        };
        self.samples += 1;
        if estimate.contains(waited) {
            self.within_range += 1;
        }
        let error = waited.abs_diff(estimate.middle());
        let error_ms = u64::try_from(error.as_millis()).unwrap_or(u64::MAX);
        self.absolute_error_ms = self.absolute_error_ms.saturating_add(error_ms);
    }

    /// The mean |wait − estimate|, once there is a sample.
    pub fn mean_absolute_error(&self) -> Option<Duration> {
        (self.samples > 0).then(|| Duration::from_millis(self.absolute_error_ms / self.samples))
    }

    /// The share of known estimates whose range held the wait.
    pub fn within_range_ratio(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.within_range as f64 / self.samples as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE_MS: u64 = 60_000;

    #[test]
    fn r20_the_count_decays_by_e_every_horizon_and_adds_one_per_free() {
        let mut rate = FreeRate::default();
        assert_eq!(rate.count_at(0), 0.0);
        rate.record(0);
        rate.record(0);
        assert!((rate.count_at(0) - 2.0).abs() < 1e-6);
        let later = rate.count_at(10 * MINUTE_MS);
        assert!((later - 2.0 / std::f64::consts::E).abs() < 1e-6, "{later}");
        rate.record(10 * MINUTE_MS);
        assert!((rate.count_at(10 * MINUTE_MS) - (later + 1.0)).abs() < 1e-5);
    }

    #[test]
    fn r20_too_little_data_is_unknown_never_a_made_up_number() {
        assert_eq!(wait_range(3, 0.0), None);
        assert_eq!(wait_range(3, 1.9), None);
        assert!(wait_range(3, 2.0).is_some());
    }

    #[test]
    fn r20_the_range_holds_position_over_rate_and_narrows_with_data() {
        // 60 frees in the horizon (10 min): one every 10 s; 6th in line: ~60 s.
        let range = wait_range(6, 60.0).unwrap();
        assert!(range.contains(Duration::from_secs(60)), "{range:?}");
        assert!(range.low_seconds < 60 && range.high_seconds > 60);
        let wide = wait_range(6, 3.0).unwrap();
        assert!(wide.high() - wide.low() > range.high() - range.low());
        // Twice the rate, half the wait.
        let faster = wait_range(6, 120.0).unwrap();
        assert!(faster.middle() < range.middle());
    }

    #[test]
    fn r20_accuracy_counts_hits_and_the_mean_error() {
        let mut accuracy = EstimateAccuracy::default();
        let range = WaitRange {
            low_seconds: 10,
            high_seconds: 30,
        };
        accuracy.record(Some(range), Duration::from_secs(20));
        accuracy.record(Some(range), Duration::from_secs(60));
        accuracy.record(None, Duration::from_secs(5));
        assert_eq!(accuracy.samples, 2);
        assert_eq!(accuracy.within_range, 1);
        assert_eq!(accuracy.unknown, 1);
        assert_eq!(
            accuracy.mean_absolute_error(),
            Some(Duration::from_secs(20))
        );
        assert_eq!(accuracy.within_range_ratio(), Some(0.5));
    }
}
