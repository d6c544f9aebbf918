//! The report's figures over the whole window: the Route latency's
//! distribution (percentile curve and histogram), the outcomes by route
//! reason, the calls by kind, the failures by status code with an example
//! message, and the CPU and flood figures when the run had them.

use std::fmt::Write as _;

use super::markup::{escape, figure, ms, table};
use super::svg::{Plot, Series, XAxis, bar_chart, line_chart};
use crate::loadtest::report::Report;

/// The sections of whole-window figures.
pub fn sections(report: &Report) -> String {
    let mut out = String::new();
    out.push_str("<section id=\"distribution\">\n<h2>Latency distribution</h2>\n");
    out.push_str(&percentile_curve(report));
    out.push_str(&histogram(report));
    out.push_str("</section>\n");
    out.push_str(&outcomes(report));
    out.push_str(&calls_and_errors(report));
    out
}

/// A percentile's name: p50, p99.9, min for 0 and max for 100.
fn percentile_name(percentile: f64) -> String {
    match percentile {
        0.0 => "min".to_owned(),
        100.0 => "max".to_owned(),
        p => format!("p{p}"),
    }
}

fn percentile_curve(report: &Report) -> String {
    let curve = &report.percentile_curve;
    let labels: Vec<String> = curve
        .iter()
        .map(|point| percentile_name(point.percentile))
        .collect();
    let line = |name: &str, pick: fn(&crate::loadtest::measures::PercentilePoint) -> f64| Series {
        name: name.to_owned(),
        points: curve
            .iter()
            .enumerate()
            .map(|(index, point)| Some((index as f64, pick(point))))
            .collect(),
    };
    let series = [
        line("corrected", |p| p.corrected_ms),
        line("service time", |p| p.service_ms),
    ];
    let plot = Plot {
        id: "percentiles",
        title: "Route latency by percentile",
        description: "The latency below which each share of Route calls was answered, \
                      corrected for coordinated omission (solid line, circles) and as \
                      service time (dashed line, squares); percentiles evenly spaced, \
                      the tail to the right; the table below holds the same figures.",
        x_label: "percentile of Route calls",
        y_label: "Route latency (ms)",
        x_marker: None,
    };
    let svg = line_chart(&plot, &XAxis::Labels(labels), &series);
    let rows: Vec<Vec<String>> = curve
        .iter()
        .map(|point| {
            vec![
                percentile_name(point.percentile),
                ms(point.corrected_ms),
                ms(point.service_ms),
            ]
        })
        .collect();
    let mut out = String::new();
    figure(
        &mut out,
        "Percentiles",
        &svg,
        "The Route latency at each percentile.",
        &table(
            "Route latency by percentile (ms)",
            &["percentile", "corrected", "service time"],
            &rows,
        ),
    );
    out
}

fn histogram(report: &Report) -> String {
    let bins = &report.latency_bins;
    let total: u64 = bins.iter().map(|bin| bin.count).sum();
    let label = |from: f64, to: f64| format!("{from}–{to} ms");
    let bars: Vec<(String, f64)> = bins
        .iter()
        .map(|bin| (label(bin.from_ms, bin.to_ms), bin.count as f64))
        .collect();
    let plot = Plot {
        id: "histogram",
        title: "Route latency histogram",
        description: "Route calls answered OK by latency (corrected), in bins growing \
                      1, 2, 5, 10…; each bar's count is written at its end, and the \
                      table below holds the same figures.",
        x_label: "Route calls answered OK",
        y_label: "latency bin",
        x_marker: None,
    };
    let svg = bar_chart(&plot, &bars);
    let rows: Vec<Vec<String>> = bins
        .iter()
        .map(|bin| {
            vec![
                label(bin.from_ms, bin.to_ms),
                bin.count.to_string(),
                share(bin.count, total),
            ]
        })
        .collect();
    let mut out = String::new();
    figure(
        &mut out,
        "Histogram",
        &svg,
        "How many Route calls took how long (bins include their upper bound).",
        &table(
            "Route calls by latency bin (corrected)",
            &["latency", "calls", "share"],
            &rows,
        ),
    );
    out
}

/// `count` as a percentage of `total`, to a tenth.
fn share(count: u64, total: u64) -> String {
    format!("{:.1}%", 100.0 * count as f64 / total.max(1) as f64)
}

fn outcomes(report: &Report) -> String {
    let total: u64 = report.reasons.iter().map(|(_, n)| n).sum();
    let bars: Vec<(String, f64)> = report
        .reasons
        .iter()
        .map(|(reason, count)| (reason.clone(), *count as f64))
        .collect();
    let plot = Plot {
        id: "outcomes",
        title: "Route outcomes by reason",
        description: "Route calls answered OK by the reason the router gave for its \
                      decision; each bar's count is written at its end, and the table \
                      below holds the same figures.",
        x_label: "Route calls answered OK",
        y_label: "route reason",
        x_marker: None,
    };
    let svg = bar_chart(&plot, &bars);
    let rows: Vec<Vec<String>> = report
        .reasons
        .iter()
        .map(|(reason, count)| vec![reason.clone(), count.to_string(), share(*count, total)])
        .collect();
    let mut out = String::from("<section id=\"outcomes\">\n<h2>Outcomes</h2>\n");
    figure(
        &mut out,
        "Outcomes by reason",
        &svg,
        "Why each Route call was decided as it was (the rule's reason).",
        &table(
            "Route outcomes by reason",
            &["reason", "calls", "share"],
            &rows,
        ),
    );
    out.push_str("</section>\n");
    out
}

fn calls_and_errors(report: &Report) -> String {
    let mut out = String::from("<section id=\"calls\">\n<h2>Calls and errors</h2>\n");
    let calls: Vec<Vec<String>> = report
        .calls
        .iter()
        .map(|row| {
            vec![
                row.call.to_owned(),
                row.ok.to_string(),
                row.errors.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        "Calls by kind, sent in the window",
        &["call", "ok", "errors"],
        &calls,
    ));
    let errors: Vec<Vec<String>> = report
        .errors
        .iter()
        .map(|row| {
            vec![
                row.code.to_owned(),
                row.call.to_owned(),
                row.count.to_string(),
                row.example.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        "Errors by status code",
        &["code", "call", "count", "example message"],
        &errors,
    ));
    if !report.cpu.is_empty() {
        let rows: Vec<Vec<String>> = report
            .cpu
            .iter()
            .map(|row| {
                vec![
                    row.name.clone(),
                    format!("{:.2}", row.seconds),
                    format!("{:.1}", report.cpu_us_per_call(row)),
                ]
            })
            .collect();
        out.push_str(&table(
            &format!(
                "CPU over the window ({} calls answered)",
                report.calls_answered()
            ),
            &["process", "seconds", "µs per call"],
            &rows,
        ));
    }
    if let Some(flood) = &report.flood {
        let _ = writeln!(
            out,
            "<p>The flood shop <code>{}</code> sent {} Route calls a second past its own \
             limit of {}/s; its calls are apart from every other figure.</p>",
            escape(&flood.shop_id),
            flood.rps,
            flood.limit
        );
        let rows = vec![
            vec!["sent".to_owned(), flood.sent.to_string()],
            vec!["answered OK".to_owned(), flood.ok.to_string()],
            vec![
                "refused RESOURCE_EXHAUSTED".to_owned(),
                flood.rate_limited.to_string(),
            ],
            vec![
                "… saying when to retry".to_owned(),
                flood.with_retry_after.to_string(),
            ],
            vec!["other errors".to_owned(), flood.other_errors.to_string()],
        ];
        out.push_str(&table(
            "The flood shop's calls",
            &["outcome", "calls"],
            &rows,
        ));
    }
    out.push_str("</section>\n");
    out
}
