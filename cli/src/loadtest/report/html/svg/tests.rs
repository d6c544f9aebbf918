//! The plots' tests: round ticks over any range (empty, a single value, all
//! zero), the scale, and charts that say "no data" rather than draw nothing.

use super::*;

const PLOT: Plot = Plot {
    id: "t",
    title: "Title <&>",
    description: "What it shows",
    x_label: "time (s)",
    y_label: "latency (ms)",
    x_marker: None,
};

#[test]
fn ticks_are_round_steps_covering_the_range() {
    assert_eq!(nice_ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    assert_eq!(nice_ticks(0.0, 9.1, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    assert_eq!(nice_ticks(0.0, 0.7, 5), [0.0, 0.2, 0.4, 0.6, 0.8]);
    assert_eq!(nice_ticks(3.0, 47.0, 4), [0.0, 20.0, 40.0, 60.0]);
    assert_eq!(
        nice_ticks(0.0, 23_456.0, 5),
        [0.0, 5_000.0, 10_000.0, 15_000.0, 20_000.0, 25_000.0]
    );
    // No binary noise in the values or their labels.
    let ticks = nice_ticks(0.0, 0.3, 3);
    assert_eq!(ticks, [0.0, 0.1, 0.2, 0.3]);
    let labels: Vec<String> = ticks.iter().map(|t| tick_label(*t, &ticks)).collect();
    assert_eq!(labels, ["0.0", "0.1", "0.2", "0.3"]);
    let ticks = nice_ticks(0.0, 25_000.0, 5);
    assert_eq!(tick_label(ticks[1], &ticks), "5000");
}

#[test]
fn degenerate_ranges_get_a_step_around_them() {
    // All zero, or nothing at all: 0 to 1.
    assert_eq!(nice_ticks(0.0, 0.0, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    assert_eq!(
        nice_ticks(f64::INFINITY, f64::NEG_INFINITY, 5),
        [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    );
    // A single value: a range around it, the value inside.
    let ticks = nice_ticks(7.0, 7.0, 4);
    assert!(ticks.len() >= 2, "{ticks:?}");
    assert!(ticks[0] < 7.0 && *ticks.last().unwrap() > 7.0, "{ticks:?}");
}

#[test]
fn the_scale_maps_the_ticks_ends_to_the_range_ends() {
    let scale = Scale::new(&[0.0, 5.0, 10.0], 100.0, 300.0);
    assert_eq!(scale.at(0.0), 100.0);
    assert_eq!(scale.at(5.0), 200.0);
    assert_eq!(scale.at(10.0), 300.0);
    // Downwards, as y runs.
    let y = Scale::new(&[0.0, 10.0], 250.0, 50.0);
    assert_eq!(y.at(10.0), 50.0);
    // A single tick: the middle.
    assert_eq!(Scale::new(&[3.0], 0.0, 100.0).at(3.0), 50.0);
}

#[test]
fn an_empty_chart_says_no_data_and_escapes_its_title() {
    let svg = line_chart(&PLOT, &XAxis::Linear { span: None }, &[]);
    assert!(svg.contains(">no data</text>"), "{svg}");
    assert!(svg.contains("<title id=\"t-title\">Title &lt;&amp;&gt;</title>"));
    assert!(svg.contains("aria-labelledby=\"t-title t-desc\""));
    assert!(svg.contains(">time (s)</text>") && svg.contains(">latency (ms)</text>"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    let bars = bar_chart(&PLOT, &[]);
    assert!(bars.contains(">no data</text>"));
    assert!(!bars.contains("NaN"));
}

#[test]
fn a_single_point_and_all_zero_series_draw_without_nan() {
    let one = Series {
        name: "p99".to_owned(),
        points: vec![Some((0.0, 2.5))],
    };
    let zeros = Series {
        name: "zero <rate>".to_owned(),
        points: vec![Some((0.0, 0.0)), None, Some((2.0, 0.0))],
    };
    let svg = line_chart(&PLOT, &XAxis::Linear { span: None }, &[one, zeros]);
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    assert!(!svg.contains("no data"));
    // The gap breaks the line: two moves, no line between them.
    assert!(svg.contains("d=\"M"), "{svg}");
    assert_eq!(svg.matches("<path d=\"M").count(), 2, "{svg}");
    // Told apart without colour: a dash pattern and a named legend entry.
    assert!(svg.contains("stroke-dasharray=\"8 4\""));
    assert!(svg.contains(">zero &lt;rate&gt;</text>"));
    let bars = bar_chart(&PLOT, &[("EVEN".to_owned(), 0.0), ("R5".to_owned(), 0.0)]);
    assert!(!bars.contains("NaN"));
    assert!(bars.contains(">EVEN</text>") && bars.contains(">0</text>"));
}

#[test]
fn labelled_axes_place_points_evenly() {
    let series = Series {
        name: "corrected".to_owned(),
        points: vec![Some((0.0, 1.0)), Some((1.0, 2.0)), Some((2.0, 4.0))],
    };
    let labels = vec!["p50".to_owned(), "p99".to_owned(), "max".to_owned()];
    let svg = line_chart(&PLOT, &XAxis::Labels(labels), &[series]);
    for label in ["p50", "p99", "max"] {
        assert!(svg.contains(&format!(">{label}</text>")), "{svg}");
    }
    // The first label at the left edge of the plot, the last at the right.
    assert!(svg.contains(&format!("x=\"{LEFT:.1}\" y=\"")), "{svg}");
}

#[test]
fn a_span_and_a_marker_widen_the_x_axis_past_the_points() {
    let series = Series {
        name: "p99".to_owned(),
        points: vec![Some((3.5, 1.0)), Some((4.5, 2.0))],
    };
    let plot = Plot {
        x_marker: Some((1.0, "window ends")),
        ..PLOT
    };
    let svg = line_chart(
        &plot,
        &XAxis::Linear {
            span: Some((0.0, 6.0)),
        },
        &[series],
    );
    // Ticks from 0 to 6, the marker at 1 inside the plot.
    assert!(
        svg.contains(">0</text>") && svg.contains(">6</text>"),
        "{svg}"
    );
    let x = Scale::new(&nice_ticks(0.0, 6.0, 8), LEFT, WIDTH - RIGHT).at(1.0);
    assert!(x > LEFT);
    assert!(
        svg.contains(&format!("<line x1=\"{x:.1}\" x2=\"{x:.1}\"")),
        "{svg}"
    );
    assert!(svg.contains(">window ends</text>"));
}
