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
