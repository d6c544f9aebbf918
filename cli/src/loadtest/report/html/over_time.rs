//! The report's plots over time, interval by interval of the measured window
//! (and the drain's answers after it): decisions per second, Route p50 and
//! p99, and failed calls by status code; each with its table.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::markup::{figure, ms, rate, table};
use super::svg::{Plot, Series, XAxis, line_chart};
use crate::loadtest::measures::IntervalRow;
use crate::loadtest::report::Report;

/// The three sections over time.
pub fn sections(report: &Report) -> String {
    let rows = &report.timeline;
    let width = rows.first().map_or(1.0, |row| row.seconds);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section id=\"over-time\">\n<h2>Over time</h2>\n<p>Each call counts in the \
         interval of {width} s in which it was answered, plotted at the interval's \
         middle; intervals marked “drain” lie after the measured window (answers to \
         its last calls).</p>"
    );
    out.push_str(&throughput(rows));
    out.push_str(&latency(rows));
    out.push_str(&errors(rows));
    out.push_str("</section>\n");
    out
}

/// An interval's name in the tables: its start, and "drain" after the window.
fn when(row: &IntervalRow) -> String {
    let start = format!("{:.0}", row.start_seconds);
    if row.after_window {
        format!("{start} (drain)")
    } else {
        start
    }
}

/// The time the intervals cover, from the window's start.
fn span(rows: &[IntervalRow]) -> Option<(f64, f64)> {
    let last = rows.last()?;
    Some((0.0, last.start_seconds + last.seconds))
}

/// Where an interval's figures are plotted: its middle.
fn middle(row: &IntervalRow) -> f64 {
    row.start_seconds + row.seconds / 2.0
}

/// Where the measured window ends, marked on the plots when answers came
/// after it.
fn window_end(rows: &[IntervalRow]) -> Option<(f64, &'static str)> {
    let first_after = rows.iter().find(|row| row.after_window)?;
    Some((first_after.start_seconds, "window ends"))
}

fn throughput(rows: &[IntervalRow]) -> String {
    let series = Series {
        name: "decisions/s".to_owned(),
        points: rows
            .iter()
            .map(|row| Some((middle(row), row.decisions_per_second())))
            .collect(),
    };
    let plot = Plot {
        id: "throughput",
        title: "Throughput over time",
        description: "Route calls answered OK per second, by interval of the window; \
                      the table below holds the same figures.",
        x_label: "time since the window's start (s)",
        y_label: "decisions per second (1/s)",
        x_marker: window_end(rows),
    };
    let svg = line_chart(&plot, &XAxis::Linear { span: span(rows) }, &[series]);
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                when(row),
                format!("{}", row.seconds),
                row.route_ok.to_string(),
                rate(row.decisions_per_second()),
            ]
        })
        .collect();
    let mut out = String::new();
    figure(
        &mut out,
        "Throughput",
        &svg,
        "Decisions per second, interval by interval.",
        &table(
            "Throughput by interval",
            &[
                "interval start (s)",
                "length (s)",
                "Route answered OK",
                "decisions/s",
            ],
            &table_rows,
        ),
    );
    out
}

fn latency(rows: &[IntervalRow]) -> String {
    let line = |name: &str, pick: fn(&IntervalRow) -> f64| Series {
        name: name.to_owned(),
        points: rows
            .iter()
            .map(|row| (row.latency.count > 0).then(|| (middle(row), pick(row))))
            .collect(),
    };
    let series = [
        line("p50", |row| row.latency.p50),
        line("p99", |row| row.latency.p99),
    ];
    let plot = Plot {
        id: "latency-over-time",
        title: "Route latency p50 and p99 over time",
        description: "The median (solid line, circles) and 99th percentile (dashed line, \
                      squares) of the Route latency, corrected for coordinated omission, \
                      of the calls answered in each interval; the table below holds the \
                      same figures.",
        x_label: "time since the window's start (s)",
        y_label: "Route latency (ms)",
        x_marker: window_end(rows),
    };
    let svg = line_chart(&plot, &XAxis::Linear { span: span(rows) }, &series);
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let (p50, p99) = if row.latency.count > 0 {
                (ms(row.latency.p50), ms(row.latency.p99))
            } else {
                ("–".to_owned(), "–".to_owned())
            };
            vec![when(row), row.latency.count.to_string(), p50, p99]
        })
        .collect();
    let mut out = String::new();
    figure(
        &mut out,
        "Latency",
        &svg,
        "Route p50 and p99 by interval (2 significant digits; the whole window's \
         figures, above, are exact to 3).",
        &table(
            "Route latency by interval (ms)",
            &["interval start (s)", "samples", "p50", "p99"],
            &table_rows,
        ),
    );
    out
}

fn errors(rows: &[IntervalRow]) -> String {
    let codes: BTreeSet<&'static str> = rows
        .iter()
        .flat_map(|row| row.errors.iter().map(|(code, _)| *code))
        .collect();
    let count = |row: &IntervalRow, code: &str| {
        row.errors
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, n)| *n)
    };
    let series: Vec<Series> = codes
        .iter()
        .map(|code| Series {
            name: (*code).to_owned(),
            points: rows
                .iter()
                .map(|row| Some((middle(row), count(row, code) as f64)))
                .collect(),
        })
        .collect();
    let plot = Plot {
        id: "errors-over-time",
        title: "Failed calls by status code over time",
        description: "Calls of every kind that failed, by gRPC status code, in each \
                      interval; each code has its own line pattern and marker, named in \
                      the legend; the table below holds the same figures.",
        x_label: "time since the window's start (s)",
        y_label: "failed calls per interval",
        x_marker: window_end(rows),
    };
    let svg = line_chart(&plot, &XAxis::Linear { span: span(rows) }, &series);
    let mut headers = vec!["interval start (s)"];
    headers.extend(codes.iter().copied());
    let table_rows: Vec<Vec<String>> = if codes.is_empty() {
        Vec::new()
    } else {
        rows.iter()
            .map(|row| {
                let mut cells = vec![when(row)];
                cells.extend(codes.iter().map(|code| count(row, code).to_string()));
                cells
            })
            .collect()
    };
    let caption = if codes.is_empty() {
        "No call failed."
    } else {
        "Failed calls by status code, interval by interval."
    };
    let mut out = String::new();
    figure(
        &mut out,
        "Errors",
        &svg,
        caption,
        &table(
            "Failed calls by interval and status code",
            &headers,
            &table_rows,
        ),
    );
    out
}
