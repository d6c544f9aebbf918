//! What a load-test run measures, in the words both the statistics and the report
//! use: the kinds of calls the load sends, and latency percentiles.

use hdrhistogram::Histogram;

/// The kinds of calls the load sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Call {
    Route,
    EndSession,
    Transfer,
    Heartbeat,
}

impl Call {
    pub const ALL: [Call; 4] = [
        Call::Route,
        Call::EndSession,
        Call::Transfer,
        Call::Heartbeat,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Call::Route => "Route",
            Call::EndSession => "EndSession",
            Call::Transfer => "Transfer",
            Call::Heartbeat => "Heartbeat",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Highest latency tracked: an hour, in microseconds (values above saturate).
pub const HIGHEST_US: u64 = 3_600_000_000;

/// Microseconds (the stats' unit) as milliseconds (the report's).
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: histogram.len(),
            mean: histogram.mean() / 1000.0,
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        }
    }
}

/// One interval of the measured window (a second, longer in long runs): what
/// the calls answered in it came to, for the report's plots over time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntervalRow {
    /// Where the interval starts, in seconds from the window's start.
    pub start_seconds: f64,
    /// Its length in seconds (the last one of the window can be shorter), to
    /// turn counts into rates.
    pub seconds: f64,
    /// Whether it lies after the window: answers of the window's last calls
    /// that came during the drain.
    pub after_window: bool,
    /// Route calls answered OK in it.
    pub route_ok: u64,
    /// Their latency (corrected as the whole run's is), at 2 significant
    /// digits.
    pub latency: Percentiles,
    /// Failed calls of every kind answered in it, by gRPC status code.
    pub errors: Vec<(&'static str, u64)>,
}

impl IntervalRow {
    /// Route calls answered OK per second over the interval.
    pub fn decisions_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.route_ok as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// One bar of the latency histogram: calls whose latency fell in
/// `(from_ms, to_ms]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyBin {
    /// The lower bound, excluded.
    pub from_ms: f64,
    /// The upper bound, included.
    pub to_ms: f64,
    /// Route calls answered OK with a latency in the bin.
    pub count: u64,
}

/// One point of the percentile curve: the latency below which this share of
/// Route calls was answered, corrected and as service time.
#[derive(Debug, Clone, PartialEq)]
pub struct PercentilePoint {
    /// The percentile, 0 to 100 (99.9 is p99.9).
    pub percentile: f64,
    /// The latency corrected for coordinated omission, ms.
    pub corrected_ms: f64,
    /// The service time (actual send to answer), ms.
    pub service_ms: f64,
}
