//! The shape of the Route latency for the report's plots: a histogram of
//! bins growing 1-2-5 (even on a log axis, readable bounds), and the
//! percentile curve from p0 to the maximum.

use hdrhistogram::Histogram;

use crate::loadtest::measures::{LatencyBin, PercentilePoint, ms};

/// The percentiles of the curve: evenly spaced in "nines" past the median,
/// as latency is read.
pub const CURVE_PERCENTILES: [f64; 11] = [
    0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0,
];

/// The bins' upper bounds in µs: 1, 2, 5, 10, 20, 50… up to 5e9 (above the
/// histogram's highest trackable value of an hour).
fn bin_bounds_us() -> Vec<u64> {
    (0..10u32)
        .flat_map(|decade| [1, 2, 5].map(|step| step * 10u64.pow(decade)))
        .collect()
}

/// The histogram's counts in 1-2-5 bins, from the bin of its lowest value to
/// that of its highest (empty bins between included); none when empty. A
/// value counts in the bin of its highest equivalent (the histogram keeps
/// values to its precision only), so that each counts once.
pub fn latency_bins(histogram: &Histogram<u64>) -> Vec<LatencyBin> {
    let bounds = bin_bounds_us();
    let mut counts = vec![0u64; bounds.len()];
    for recorded in histogram.iter_recorded() {
        let value = recorded.value_iterated_to();
        let bin = bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(bounds.len() - 1);
        counts[bin] += recorded.count_at_value();
    }
    let Some(first) = counts.iter().position(|&n| n > 0) else {
        return Vec::new();
    };
    let last = counts.iter().rposition(|&n| n > 0).unwrap_or(first);
    (first..=last)
        .map(|bin| LatencyBin {
            from_ms: if bin == 0 { 0.0 } else { ms(bounds[bin - 1]) },
            to_ms: ms(bounds[bin]),
            count: counts[bin],
        })
        .collect()
}

/// The latency at each of [`CURVE_PERCENTILES`], corrected and service time.
pub fn percentile_curve(
    corrected: &Histogram<u64>,
    service: &Histogram<u64>,
) -> Vec<PercentilePoint> {
    if corrected.is_empty() {
        return Vec::new();
    }
    let at = |histogram: &Histogram<u64>, percentile: f64| {
        ms(histogram.value_at_quantile(percentile / 100.0))
    };
    CURVE_PERCENTILES
        .iter()
        .map(|&percentile| PercentilePoint {
            percentile,
            corrected_ms: at(corrected, percentile),
            service_ms: at(service, percentile),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(values: &[u64]) -> Histogram<u64> {
        let mut histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for value in values {
            histogram.record(*value).unwrap();
        }
        histogram
    }

    #[test]
    fn bins_cover_the_values_from_the_lowest_to_the_highest_bin() {
        let histogram = histogram_of(&[300, 400, 1_500, 1_800, 1_900, 40_000]);
        let bins = latency_bins(&histogram);
        let bounds: Vec<(f64, f64)> = bins.iter().map(|b| (b.from_ms, b.to_ms)).collect();
        assert_eq!(
            bounds,
            [
                (0.2, 0.5),
                (0.5, 1.0),
                (1.0, 2.0),
                (2.0, 5.0),
                (5.0, 10.0),
                (10.0, 20.0),
                (20.0, 50.0)
            ]
        );
        let counts: Vec<u64> = bins.iter().map(|b| b.count).collect();
        assert_eq!(counts, [2, 0, 3, 0, 0, 0, 1]);
        assert!(latency_bins(&histogram_of(&[])).is_empty());
    }

    #[test]
    fn the_curve_rises_from_the_minimum_to_the_maximum() {
        let values: Vec<u64> = (1..=1_000).collect();
        let curve = percentile_curve(&histogram_of(&values), &histogram_of(&values));
        assert_eq!(curve.len(), CURVE_PERCENTILES.len());
        assert_eq!(curve[0].corrected_ms, 0.001);
        assert_eq!(curve[2].corrected_ms, 0.5);
        assert_eq!(curve.last().unwrap().corrected_ms, 1.0);
        assert!(
            curve
                .windows(2)
                .all(|w| w[0].corrected_ms <= w[1].corrected_ms)
        );
        assert!(percentile_curve(&histogram_of(&[]), &histogram_of(&[])).is_empty());
    }
}
