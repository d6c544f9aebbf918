//! The page's tests on a report made from recorded calls: every figure in a
//! table, every string escaped, nothing fetched.

use fenliu_proto::v1 as pb;

use crate::loadtest::measures::Call;
use crate::loadtest::report::{Report, RunInfo};
use crate::loadtest::stats::{Failure, Stats};

/// Three seconds of calls: Routes answered each second, two kinds of
/// failure, one of them with markup in its message, and an SLO.
fn report() -> Report {
    let mut stats = Stats::new(true, 0, 3_000_000);
    for i in 0..300u64 {
        let at = i * 10_000;
        let reason = if i % 3 == 0 {
            pb::RouteReason::Queued
        } else {
            pb::RouteReason::Even
        };
        stats.record_route(at, at, at + 1_000 + i * 10, Ok(reason as i32));
    }
    stats.record_route(
        1_500_000,
        1_500_000,
        1_500_100,
        Err(Failure {
            code: tonic::Code::Unavailable,
            message: "<script>alert('x')</script> & gone".to_owned(),
        }),
    );
    stats.record_call(
        Call::EndSession,
        2_100_000,
        2_200_000,
        Err(Failure {
            code: tonic::Code::NotFound,
            message: "no session".to_owned(),
        }),
    );
    stats.report(
        RunInfo {
            target: "http://127.0.0.1:1/<x>".to_owned(),
            run_id: "lt-\"quoted\"".to_owned(),
            mode: "open-loop",
            rps: Some(100.0),
            slo_p99_ms: Some(0.5),
            flags: vec![("--addr", "http://127.0.0.1:1/<x>".to_owned())],
            ..RunInfo::default()
        },
        0,
    )
}

#[test]
fn the_page_holds_the_runs_figures_in_its_tables() {
    let report = report();
    let html = report.to_html();
    assert!(html.starts_with("<!DOCTYPE html>\n<html xmlns="));
    assert!(html.ends_with("</html>\n"));
    // The decisions, the latency as the JSON report gives it (3 decimals).
    assert!(html.contains("<td class=\"num\">300</td>"), "{html}");
    for figure in [report.route_latency.p50, report.route_latency.p99] {
        assert!(html.contains(&format!(">{figure:.3}</td>")), "{figure}");
    }
    // Each second's decisions, each error code over time and in total, each
    // reason, each flag.
    assert!(html.contains("<th scope=\"row\">1</th><td class=\"num\">1</td><td class=\"num\">100</td><td class=\"num\">100.0</td>"), "{html}");
    for needle in [
        ">UNAVAILABLE</th>",
        ">NOT_FOUND</th>",
        "<th scope=\"col\">UNAVAILABLE</th>",
        "<th scope=\"col\">NOT_FOUND</th>",
        ">QUEUED</th><td class=\"num\">100</td>",
        ">EVEN</th><td class=\"num\">200</td>",
        ">--addr</th>",
        "SLO: Route p99 ≤ 0.5 ms",
        "MISSED",
    ] {
        assert!(html.contains(needle), "{needle} not in the page");
    }
    // Four plots over time and distribution, one for outcomes: each named.
    assert_eq!(html.matches("<svg ").count(), 6);
    assert_eq!(html.matches("role=\"img\"").count(), 6);
}

#[test]
fn every_string_from_the_run_is_escaped_and_nothing_is_fetched() {
    let html = report().to_html();
    assert!(!html.contains("<script"), "markup from a message ran");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; gone"));
    assert!(html.contains("http://127.0.0.1:1/&lt;x&gt;"));
    assert!(html.contains("lt-&quot;quoted&quot;"));
    // Self-contained: no script, no link, no source fetched.
    for fetch in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!html.contains(fetch), "{fetch}");
    }
}

#[test]
fn an_empty_run_still_makes_a_page() {
    let report = Stats::new(false, 0, 1_000_000).report(RunInfo::default(), 0);
    let html = report.to_html();
    assert!(html.contains(">no data</text>"));
    assert!(!html.contains("NaN") && !html.contains("inf<"));
    assert!(html.ends_with("</html>\n"));
}
