//! The statistics' tests: coordinated-omission correction in both loops, the
//! served rate, and the warm-up left out.

use super::*;

/// A server that answers in 0.5 ms, except once when it stalls for a second.
/// 1000 requests a second are scheduled for 10 s. Recorded from the
/// scheduled times, every request queued behind the stall shows its wait;
/// recorded from the actual send times (what a naive open-loop client
/// measures when it waits for a connection), the stall is a single sample.
#[test]
fn an_open_loop_stall_shows_up_in_the_high_percentiles() {
    let mut stats = Stats::new(true, 0, 10_000_000);
    let mut server_free_at = 0u64;
    let mut naive = histogram();
    for i in 0..10_000u64 {
        let scheduled = i * 1_000;
        // A single-file server: a request starts when both it is due and
        // the server is free.
        let sent = scheduled.max(server_free_at);
        let service = if i == 5_000 { 1_000_000 } else { 500 };
        let done = sent + service;
        server_free_at = done;
        stats.record_route(scheduled, sent, done, Ok(pb::RouteReason::Even as i32));
        naive.record(done - sent).unwrap();
    }
    let corrected = stats.route_latency();
    // About 1000 requests were due during the stall, and the backlog takes
    // another second to drain: a fifth of the run waited up to a second.
    assert!(
        corrected.value_at_quantile(0.99) > 800_000,
        "p99 {}",
        corrected.value_at_quantile(0.99)
    );
    assert!(corrected.value_at_quantile(0.95) > 400_000);
    assert!(corrected.value_at_quantile(0.50) < 2_000);
    // The service time, like the naive measurement, hides it.
    assert!(naive.value_at_quantile(0.99) < 2_000);
    let report = stats.report(RunInfo::default(), 0);
    assert!(report.route_service.p99 < 2.0);
    assert!(report.route_latency.p99 > 800.0);
}

/// Closed loop: one task, 1 ms answers and one 1 s stall. Uncorrected, the
/// stall is one sample in ten thousand; corrected with the mean service
/// time as the expected interval, the requests the task would have sent
/// during the stall are counted.
#[test]
fn a_closed_loop_stall_is_corrected_with_the_mean_service_time() {
    let mut stats = Stats::new(false, 0, u64::MAX);
    let mut now = 0;
    for i in 0..10_000u64 {
        let service = if i == 5_000 { 1_000_000 } else { 1_000 };
        stats.record_route(now, now, now + service, Ok(pb::RouteReason::Even as i32));
        now += service;
    }
    let report = stats.report(RunInfo::default(), 0);
    assert!(report.route_service.p99 < 1.1);
    assert!(
        report.route_latency.p99 > 100.0,
        "{:?}",
        report.route_latency
    );
    assert!(report.route_latency.count > 10_000);
    assert!(report.correction.contains("closed loop"));
    assert_eq!(
        stats.latency_snapshot().p99_ms(),
        Some(report.route_latency.p99)
    );
}

/// An overloaded server answers late: the rate counts the answers that
/// came within the window, which is what the server served, not what was
/// offered.
#[test]
fn the_rate_counts_answers_when_they_come() {
    let mut stats = Stats::new(true, 0, 1_000_000);
    for i in 0..100u64 {
        // Offered at 100/s, answered at 50/s.
        let scheduled = i * 10_000;
        stats.record_route(scheduled, scheduled, 2 * scheduled + 1, Ok(8));
    }
    let report = stats.report(RunInfo::default(), 0);
    assert_eq!(report.route_ok(), 100);
    assert!((report.decisions_per_second - 50.0).abs() < 1e-9);
    assert!((report.answers_lag_seconds - 0.980_001).abs() < 1e-9);
    assert!(report.to_text().contains("the server fell behind"));
    // Answers of the warm-up's calls that come within the window count too.
    let mut stats = Stats::new(true, 1_000_000, 2_000_000);
    stats.record_route(999_000, 999_000, 1_000_500, Ok(8));
    let report = stats.report(RunInfo::default(), 0);
    assert_eq!(report.decisions_per_second, 1.0);
    assert_eq!(report.route_ok(), 0);
    assert!(!report.to_text().contains("fell behind"));
}

#[test]
fn warm_up_calls_are_left_out_and_names_are_canonical() {
    let mut stats = Stats::new(false, 1_000_000, 2_000_000);
    stats.record_route(999_999, 999_999, 1_000_500, Ok(1));
    stats.record_route(1_000_000, 1_000_000, 1_000_500, Ok(1));
    assert_eq!(stats.route_ok(), 1);
    assert_eq!(stats.route_ok_all(), 2);
    assert_eq!(
        code_name(tonic::Code::DeadlineExceeded),
        "DEADLINE_EXCEEDED"
    );
    assert_eq!(reason_name(pb::RouteReason::Affinity as i32), "AFFINITY");
    assert_eq!(reason_name(99), "UNKNOWN_99");
}
