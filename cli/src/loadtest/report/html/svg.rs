//! Plots as inline SVG, drawn here (no script, no dependency): line charts
//! over a linear or labelled x axis, and horizontal bar charts. Each has a
//! `<title>` and `<desc>` for screen readers, axis labels with their units,
//! readable text, and series told apart by dash pattern, marker shape and a
//! legend as well as by colour.

use std::fmt::Write as _;

use super::markup::escape;

/// The drawing's size in SVG units (it scales to the page's width).
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 330.0;
/// Room for the y axis' tick labels and title on the left, the x axis' below,
/// the legend above.
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 58.0;

/// Colours that stay apart for the common colour-vision deficiencies
/// (Okabe–Ito), used in turn.
const COLOURS: [&str; 6] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
];
/// Dash patterns, used in turn with the colours: the series differ without
/// colour too.
const DASHES: [&str; 6] = ["none", "8 4", "2 3", "10 3 2 3", "4 4", "1 2"];

/// Markers drawn at most on this many points a series (more would blot).
const MAX_MARKERS: usize = 120;

/// What a plot is and says.
#[derive(Debug, Clone, Copy)]
pub struct Plot<'a> {
    /// Unique in the page: the `<title>` and `<desc>` ids derive from it.
    pub id: &'a str,
    /// What the plot shows, read first by screen readers.
    pub title: &'a str,
    /// A sentence telling what to look for, and that the table below holds the
    /// figures.
    pub description: &'a str,
    /// The x axis' label, with its unit.
    pub x_label: &'a str,
    /// The y axis' label, with its unit.
    pub y_label: &'a str,
    /// A line across the plot at this x with its label (where the measured
    /// window ends), line charts only.
    pub x_marker: Option<(f64, &'a str)>,
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// Its points; `None` breaks the line (an interval without a value).
    pub points: Vec<Option<(f64, f64)>>,
}

/// How the x axis of a line chart is labelled.
#[derive(Debug, Clone)]
pub enum XAxis {
    /// Numbers, with ticks at round values, over the points, the plot's
    /// marker, and at least `span` (the whole window, even where no point
    /// lies).
    Linear { span: Option<(f64, f64)> },
    /// Point `i` at the `i`-th label, evenly spaced (percentiles).
    Labels(Vec<String>),
}

/// Round tick values covering `[lo, hi]`: about `count` steps of 1, 2 or 5
/// times a power of ten, from a multiple of the step at or below `lo` to one
/// at or above `hi`. An empty or single-valued range gets one step around it.
pub fn nice_ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let (lo, hi) = if !(lo.is_finite() && hi.is_finite()) {
        (0.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (0.0, 1.0)
    } else {
        // One value: a step of about a tenth of it on either side.
        let pad = lo.abs() / 10.0;
        (lo - pad, lo + pad)
    };
    let step = nice_step((hi - lo) / count.max(1) as f64);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last)
        .map(|i| round_to(i as f64 * step, step))
        .collect()
}

/// 1, 2, 5 or 10 times the power of ten at or below `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalized = raw / magnitude;
    let factor = if normalized <= 1.0 {
        1.0
    } else if normalized <= 2.0 {
        2.0
    } else if normalized <= 5.0 {
        5.0
    } else {
        10.0
    };
    factor * magnitude
}

/// Decimals a tick label needs at this step (0.25 → 2, 5 → 0).
fn decimals(step: f64) -> usize {
    (-step.log10().floor()).max(0.0) as usize
}

/// `value` without the binary noise of `i * step` (0.30000000000000004).
fn round_to(value: f64, step: f64) -> f64 {
    let scale = 10f64.powi(decimals(step) as i32 + 1);
    (value * scale).round() / scale
}

/// A tick's label, with the decimals of its step.
pub fn tick_label(value: f64, ticks: &[f64]) -> String {
    let step = match ticks {
        [a, b, ..] => b - a,
        _ => 1.0,
    };
    format!("{value:.*}", decimals(step))
}

/// A linear map from a domain of values to a range of SVG units.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// The lowest value of the domain (the first tick).
    lo: f64,
    /// The highest value of the domain (the last tick).
    hi: f64,
    /// Where `lo` is drawn, in SVG units.
    from: f64,
    /// Where `hi` is drawn (above `from` on a y axis: SVG's y runs down).
    to: f64,
}

impl Scale {
    pub fn new(ticks: &[f64], from: f64, to: f64) -> Scale {
        let lo = ticks.first().copied().unwrap_or(0.0);
        let hi = ticks.last().copied().unwrap_or(1.0);
        Scale { lo, hi, from, to }
    }

    pub fn at(&self, value: f64) -> f64 {
        if self.hi == self.lo {
            return (self.from + self.to) / 2.0;
        }
        self.from + (value - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }
}

/// The opening of a plot's `<svg>`: its size, role and accessible name.
fn open(out: &mut String, plot: &Plot, height: f64) {
    let id = escape(plot.id);
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
         role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" class=\"plot\">\n\
         <title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>",
        escape(plot.title),
        escape(plot.description)
    );
}

/// The axis titles: x centred below, y turned along the left edge.
fn axis_titles(out: &mut String, plot: &Plot, height: f64) {
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"axis-title\">{}</text>",
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        height - 12.0,
        escape(plot.x_label)
    );
    let middle = TOP + (height - TOP - BOTTOM) / 2.0;
    let _ = writeln!(
        out,
        "<text x=\"16\" y=\"{middle:.1}\" text-anchor=\"middle\" class=\"axis-title\" \
         transform=\"rotate(-90 16 {middle:.1})\">{}</text>",
        escape(plot.y_label)
    );
}

/// A line chart; the y axis starts at 0. Without any point it says so.
pub fn line_chart(plot: &Plot, x_axis: &XAxis, series: &[Series]) -> String {
    let mut out = String::new();
    open(&mut out, plot, HEIGHT);
    let points = || series.iter().flat_map(|s| s.points.iter().flatten());
    let y_max = points().map(|p| p.1).fold(0.0, f64::max);
    let y_ticks = nice_ticks(0.0, y_max, 5);
    let (x_ticks, x_labels): (Vec<f64>, Vec<String>) = match x_axis {
        XAxis::Linear { span } => {
            let xs = || {
                points()
                    .map(|p| p.0)
                    .chain(span.iter().flat_map(|(lo, hi)| [*lo, *hi]))
                    .chain(plot.x_marker.map(|(at, _)| at))
            };
            let lo = xs().fold(f64::INFINITY, f64::min);
            let hi = xs().fold(f64::NEG_INFINITY, f64::max);
            let ticks = nice_ticks(lo, hi, 8);
            let labels = ticks.iter().map(|t| tick_label(*t, &ticks)).collect();
            (ticks, labels)
        }
        XAxis::Labels(labels) => (
            (0..labels.len().max(1)).map(|i| i as f64).collect(),
            labels.clone(),
        ),
    };
    let x = Scale::new(&x_ticks, LEFT, WIDTH - RIGHT);
    let y = Scale::new(&y_ticks, HEIGHT - BOTTOM, TOP);
    // Grid and y ticks.
    for tick in &y_ticks {
        let at = y.at(*tick);
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{at:.1}\" y2=\"{at:.1}\" class=\"grid\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            at + 4.0,
            escape(&tick_label(*tick, &y_ticks))
        );
    }
    for (tick, label) in x_ticks.iter().zip(&x_labels) {
        let at = x.at(*tick);
        let _ = writeln!(
            out,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" class=\"axis\"/>\
             <text x=\"{at:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 5.0,
            HEIGHT - BOTTOM + 20.0,
            escape(label)
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{:.1}\" class=\"axis\"/>\
         <line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" class=\"axis\"/>",
        HEIGHT - BOTTOM,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM
    );
    axis_titles(&mut out, plot, HEIGHT);
    if points().next().is_none() {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"empty\">no data</text>",
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            TOP + (HEIGHT - TOP - BOTTOM) / 2.0
        );
    }
    if let Some((at, label)) = plot.x_marker {
        let at = x.at(at);
        let _ = writeln!(
            out,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" class=\"marker\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            HEIGHT - BOTTOM,
            at - 4.0,
            TOP + 12.0,
            escape(label)
        );
    }
    for (index, line) in series.iter().enumerate() {
        draw_series(&mut out, index, line, &x, &y);
    }
    legend(&mut out, series.iter().map(|s| s.name.as_str()));
    out.push_str("</svg>\n");
    out
}

fn draw_series(out: &mut String, index: usize, series: &Series, x: &Scale, y: &Scale) {
    let colour = COLOURS[index % COLOURS.len()];
    let dash = DASHES[index % DASHES.len()];
    let mut path = String::new();
    let mut pen_down = false;
    for point in &series.points {
        match point {
            Some((px, py)) => {
                let command = if pen_down { 'L' } else { 'M' };
                let _ = write!(path, "{command}{:.1} {:.1} ", x.at(*px), y.at(*py));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = writeln!(
            out,
            "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" \
             stroke-dasharray=\"{dash}\"><title>{}</title></path>",
            path.trim_end(),
            escape(&series.name)
        );
    }
    let drawn: Vec<(f64, f64)> = series.points.iter().flatten().copied().collect();
    if drawn.len() <= MAX_MARKERS {
        for (px, py) in drawn {
            out.push_str(&marker(index, x.at(px), y.at(py), colour));
        }
    }
}

/// The series' marker shape: circle, square, triangle, diamond… in turn.
fn marker(index: usize, cx: f64, cy: f64, colour: &str) -> String {
    match index % 4 {
        0 => format!("<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3.5\" fill=\"{colour}\"/>\n"),
        1 => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"{colour}\"/>\n",
            cx - 3.5,
            cy - 3.5
        ),
        2 => format!(
            "<path d=\"M{cx:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}Z\" fill=\"{colour}\"/>\n",
            cy - 4.5,
            cx + 4.5,
            cy + 3.5,
            cx - 4.5,
            cy + 3.5
        ),
        _ => format!(
            "<path d=\"M{cx:.1} {:.1}L{:.1} {cy:.1}L{cx:.1} {:.1}L{:.1} {cy:.1}Z\" fill=\"none\" \
             stroke=\"{colour}\" stroke-width=\"2\"/>\n",
            cy - 4.5,
            cx + 4.5,
            cy + 4.5,
            cx - 4.5
        ),
    }
}

/// The legend across the top: each series' line sample, marker and name.
fn legend<'a>(out: &mut String, names: impl Iterator<Item = &'a str>) {
    let mut at = LEFT;
    for (index, name) in names.enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let dash = DASHES[index % DASHES.len()];
        let _ = writeln!(
            out,
            "<line x1=\"{at:.1}\" x2=\"{:.1}\" y1=\"18\" y2=\"18\" stroke=\"{colour}\" \
             stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>",
            at + 30.0
        );
        out.push_str(&marker(index, at + 15.0, 18.0, colour));
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"22\">{}</text>",
            at + 36.0,
            escape(name)
        );
        at += 46.0 + 7.5 * name.chars().count() as f64;
    }
}

/// A horizontal bar chart: a row per bar, its label on the left and its value
/// written at its end (the figure reads without judging lengths).
pub fn bar_chart(plot: &Plot, bars: &[(String, f64)]) -> String {
    const ROW: f64 = 26.0;
    const LABEL_WIDTH: f64 = 190.0;
    let height = TOP + BOTTOM + ROW * bars.len().max(1) as f64;
    let mut out = String::new();
    open(&mut out, plot, height);
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let ticks = nice_ticks(0.0, max, 5);
    let left = LEFT + LABEL_WIDTH - 60.0;
    let x = Scale::new(&ticks, left, WIDTH - RIGHT - 70.0);
    let bottom = height - BOTTOM;
    for tick in &ticks {
        let at = x.at(*tick);
        let _ = writeln!(
            out,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{TOP}\" y2=\"{bottom:.1}\" class=\"grid\"/>\
             <text x=\"{at:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 20.0,
            escape(&tick_label(*tick, &ticks))
        );
    }
    if bars.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"empty\">no data</text>",
            (left + WIDTH - RIGHT) / 2.0,
            TOP + ROW / 2.0 + 4.0
        );
    }
    for (index, (label, value)) in bars.iter().enumerate() {
        let top = TOP + index as f64 * ROW;
        let end = x.at(*value);
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{left:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left - 8.0,
            top + ROW / 2.0 + 4.0,
            escape(label),
            top + 4.0,
            (end - left).max(0.0),
            ROW - 8.0,
            COLOURS[0],
            end + 6.0,
            top + ROW / 2.0 + 4.0,
            escape(&trimmed(*value))
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{left:.1}\" x2=\"{left:.1}\" y1=\"{TOP}\" y2=\"{bottom:.1}\" class=\"axis\"/>"
    );
    axis_titles(&mut out, plot, height);
    out.push_str("</svg>\n");
    out
}

/// A bar's value: whole numbers as they are, others to 3 decimals.
fn trimmed(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests;
