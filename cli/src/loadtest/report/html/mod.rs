//! The report as one self-contained HTML page (`fenliu loadtest --html`):
//! plots drawn as inline SVG, each followed by a table of the same figures so
//! that the page reads without the pictures; no script, no stylesheet or font
//! fetched, nothing but the file. The markup is also well-formed XML
//! (XHTML-compatible: every element closed, only XML's character references),
//! so that any XML parser can check it.
//!
//! Its modules: `markup` (escaping, tables, figures), `svg` (the plots),
//! `over_time` (the window interval by interval) and `totals` (the latency
//! distribution, outcomes, calls and errors of the whole window).

mod markup;
mod over_time;
mod svg;
mod totals;

use std::fmt::Write as _;

use super::{Report, check_slo};
use markup::{escape, ms, rate, table};

/// The page's style: readable type, tables that line up, plots as wide as
/// the page; no colour carries meaning alone.
const STYLE: &str = "
body { font-family: system-ui, sans-serif; font-size: 16px; line-height: 1.45; color: #1a1a1a;
       background: #fff; max-width: 64rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2.5rem; border-bottom: 1px solid #999; }
h3 { font-size: 1.1rem; }
table { border-collapse: collapse; margin: 0.75rem 0 1.5rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.25rem; }
th, td { border: 1px solid #bbb; padding: 0.2rem 0.6rem; text-align: left; vertical-align: top; }
thead th { background: #eee; }
td.num, th.num { text-align: right; }
figure { margin: 1rem 0 0; }
figcaption { font-size: 0.95rem; color: #333; }
svg.plot { width: 100%; height: auto; font-size: 13px; font-family: system-ui, sans-serif; }
svg.plot text { fill: #1a1a1a; }
svg.plot .axis-title { font-size: 14px; font-weight: 600; }
svg.plot .empty { font-size: 16px; fill: #555; }
svg.plot .grid { stroke: #ddd; stroke-width: 1; }
svg.plot .axis { stroke: #444; stroke-width: 1; }
svg.plot .marker { stroke: #444; stroke-width: 1.5; stroke-dasharray: 6 3; }
.scroll { max-height: 28rem; overflow: auto; }
.missed { font-weight: 700; }
";

impl Report {
    /// The report as a self-contained HTML page.
    pub fn to_html(&self) -> String {
        let run = &self.run;
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n\
             <meta charset=\"utf-8\"/>\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
             <title>fenliu loadtest: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
             <h1>fenliu loadtest against {}</h1>\n<p>Run <code>{}</code>: {}.</p>\n",
            escape(&run.run_id),
            escape(&run.target),
            escape(&run.run_id),
            escape(&self.pacing())
        );
        out.push_str(&self.summary());
        out.push_str(&over_time::sections(self));
        out.push_str(&totals::sections(self));
        out.push_str(&self.settings());
        out.push_str("</body>\n</html>\n");
        out
    }

    /// How the load was paced, in words.
    fn pacing(&self) -> String {
        let run = &self.run;
        let pacing = match (run.rps, run.concurrency) {
            (Some(rps), _) => format!("open loop at {rps} Route calls/s"),
            (None, Some(n)) => format!("closed loop, {n} tasks in flight"),
            (None, None) => run.mode.to_owned(),
        };
        format!(
            "{pacing} over {} connections; {} shops × {} accounts; measured {:.1} s after {} s of warm-up",
            run.connections, run.shops, run.accounts, self.measured_seconds, run.warmup_seconds
        )
    }

    /// The headline figures, as the text report gives them.
    fn summary(&self) -> String {
        let l = &self.route_latency;
        let s = &self.route_service;
        let errors: u64 = self.calls.iter().map(|row| row.errors).sum();
        let mut rows = vec![
            vec![
                "Decisions (Route answered OK)".to_owned(),
                self.route_ok().to_string(),
            ],
            vec![
                "Decisions per second".to_owned(),
                rate(self.decisions_per_second),
            ],
            vec!["Failed calls (every kind)".to_owned(), errors.to_string()],
            vec![
                "Calls unanswered when the drain ended".to_owned(),
                self.unfinished.to_string(),
            ],
            vec![
                "Last answer after the window (s)".to_owned(),
                format!("{:.3}", self.answers_lag_seconds),
            ],
        ];
        if let Some(slo) = self.run.slo_p99_ms {
            let verdict = match check_slo(self, slo) {
                Ok(()) => "met".to_owned(),
                Err(why) => format!("MISSED: {why}"),
            };
            rows.push(vec![format!("SLO: Route p99 ≤ {slo} ms"), verdict]);
        }
        let mut out = String::from("<section id=\"summary\">\n<h2>Summary</h2>\n");
        out.push_str(&table("The run's figures", &["measure", "value"], &rows));
        let latency_rows = [("corrected", l), ("service time", s)]
            .iter()
            .map(|(name, p)| {
                vec![
                    (*name).to_owned(),
                    ms(p.p50),
                    ms(p.p90),
                    ms(p.p99),
                    ms(p.p999),
                    ms(p.max),
                    ms(p.mean),
                    p.count.to_string(),
                ]
            })
            .collect::<Vec<_>>();
        out.push_str(&table(
            "Route latency (ms)",
            &[
                "latency", "p50", "p90", "p99", "p99.9", "max", "mean", "samples",
            ],
            &latency_rows,
        ));
        let _ = writeln!(out, "<p>{}.</p>\n</section>", escape(&self.correction));
        out
    }

    /// The run's settings: every flag, and the processes watched.
    fn settings(&self) -> String {
        let mut out = String::from("<section id=\"settings\">\n<h2>Settings</h2>\n");
        let flags: Vec<Vec<String>> = self
            .run
            .flags
            .iter()
            .map(|(flag, value)| vec![(*flag).to_owned(), value.clone()])
            .collect();
        out.push_str(&table(
            "Every flag of the run, as given or defaulted",
            &["flag", "value"],
            &flags,
        ));
        let _ = writeln!(
            out,
            "<p>Shops and request ids carry the run id <code>{}</code>; seed {}, Zipf s = {}.</p>\n</section>",
            escape(&self.run.run_id),
            self.run.seed,
            self.run.zipf_s
        );
        out
    }
}

#[cfg(test)]
mod tests;
