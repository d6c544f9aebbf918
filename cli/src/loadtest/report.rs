//! The final report of a `fenliu loadtest` run: what was measured, as a table
//! for people and (in `json`) as JSON for scripts, and the SLO check.

mod flood;
mod html;
mod json;

use std::fmt::Write as _;

use serde::Serialize;

use super::cpu::CpuRow;
use super::measures::{Call, IntervalRow, LatencyBin, PercentilePoint, Percentiles};
pub use flood::FloodReport;

/// How the run was set up, as the report repeats it.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub target: String,
    pub run_id: String,
    /// "closed-loop" or "open-loop".
    pub mode: &'static str,
    pub concurrency: Option<u64>,
    pub rps: Option<f64>,
    pub connections: u64,
    pub shops: u64,
    pub accounts: u64,
    pub zipf_s: f64,
    pub seed: u64,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub slo_p99_ms: Option<f64>,
    /// Every flag of the command line with its value, as the HTML report
    /// lists the run's settings (the token left out).
    pub flags: Vec<(&'static str, String)>,
}

/// Calls of one kind, by outcome. In the JSON, `{"ok":…,"errors":…}` under
/// the call's name.
#[derive(Debug, Clone, Serialize)]
pub struct CallRow {
    #[serde(skip)]
    pub call: &'static str,
    pub ok: u64,
    pub errors: u64,
}

/// Failures of one kind of call with one status code. The JSON's `errors`
/// list holds these as they are.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorRow {
    pub call: &'static str,
    pub code: &'static str,
    pub count: u64,
    pub example: String,
}

/// The final report.
#[derive(Debug, Clone)]
pub struct Report {
    pub run: RunInfo,
    pub measured_seconds: f64,
    /// How long after the window the last of its Route calls was answered.
    pub answers_lag_seconds: f64,
    /// Route calls answered OK within the window, per second.
    pub decisions_per_second: f64,
    pub calls: Vec<CallRow>,
    /// Corrected for coordinated omission.
    pub route_latency: Percentiles,
    /// Actual send to answer, uncorrected.
    pub route_service: Percentiles,
    pub correction: String,
    pub errors: Vec<ErrorRow>,
    pub reasons: Vec<(String, u64)>,
    /// Calls still unanswered when the bounded drain ended.
    pub unfinished: u64,
    /// CPU time of the processes watched with `--cpu-of`, over the window.
    pub cpu: Vec<CpuRow>,
    /// The flood shop's calls (`--flood-shop-rps`), apart from every figure
    /// above.
    pub flood: Option<FloodReport>,
    /// The window interval by interval (and the drain's answers after it).
    pub timeline: Vec<IntervalRow>,
    /// The corrected Route latency's histogram.
    pub latency_bins: Vec<LatencyBin>,
    /// The Route latency at chosen percentiles, corrected and service time.
    pub percentile_curve: Vec<PercentilePoint>,
}

impl Report {
    /// Calls of every kind answered within the window, OK or not.
    pub fn calls_answered(&self) -> u64 {
        self.calls.iter().map(|row| row.ok + row.errors).sum()
    }

    /// A watched process's CPU time per call answered, in µs.
    pub fn cpu_us_per_call(&self, row: &CpuRow) -> f64 {
        row.seconds * 1e6 / self.calls_answered().max(1) as f64
    }

    pub fn route_ok(&self) -> u64 {
        self.calls
            .iter()
            .find(|row| row.call == Call::Route.name())
            .map_or(0, |row| row.ok)
    }

    /// The human-readable table.
    pub fn to_text(&self) -> String {
        let run = &self.run;
        let mut out = String::new();
        let pacing = match (run.rps, run.concurrency) {
            (Some(rps), _) => format!("open loop at {rps} requests/s"),
            (None, Some(n)) => format!("closed loop, {n} concurrent tasks"),
            (None, None) => run.mode.to_owned(),
        };
        let _ = writeln!(out, "fenliu loadtest against {}", run.target);
        let _ = writeln!(
            out,
            "  {pacing}, {} connections; {} shops × {} accounts, Zipf s = {}, seed {}",
            run.connections, run.shops, run.accounts, run.zipf_s, run.seed
        );
        let _ = writeln!(
            out,
            "  measured {:.1} s after {} s of warm-up (shops {}-shop-*)",
            self.measured_seconds, run.warmup_seconds, run.run_id
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  decisions/s  {:>12.1}   (Route answered OK per second)",
            self.decisions_per_second
        );
        if self.answers_lag_seconds > 0.1 * self.measured_seconds {
            let _ = writeln!(
                out,
                "  (the server fell behind: the window's last Route was answered {:.1} s after it ended)",
                self.answers_lag_seconds
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "  calls          {:>10} {:>10}", "ok", "errors");
        for row in &self.calls {
            let _ = writeln!(out, "  {:<14} {:>10} {:>10}", row.call, row.ok, row.errors);
        }
        let _ = writeln!(out);
        let l = &self.route_latency;
        let s = &self.route_service;
        let _ = writeln!(
            out,
            "  Route latency (ms)   {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "p50", "p90", "p99", "p99.9", "max", "mean"
        );
        let _ = writeln!(
            out,
            "  corrected            {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        );
        let _ = writeln!(
            out,
            "  service time         {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
            s.p50, s.p90, s.p99, s.p999, s.max, s.mean
        );
        let _ = writeln!(out, "  ({})", self.correction);
        let _ = writeln!(out);
        let total: u64 = self.reasons.iter().map(|(_, n)| n).sum();
        let _ = writeln!(out, "  Route outcomes");
        if self.reasons.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for (reason, count) in &self.reasons {
            let share = 100.0 * *count as f64 / total.max(1) as f64;
            let _ = writeln!(out, "  {reason:<20} {count:>10} {share:>6.1}%");
        }
        let _ = writeln!(out);
        if self.errors.is_empty() {
            let _ = writeln!(out, "  errors: none");
        } else {
            let _ = writeln!(out, "  errors");
            for row in &self.errors {
                let _ = writeln!(
                    out,
                    "  {:<12} {:<20} {:>8}   e.g. {}",
                    row.call, row.code, row.count, row.example
                );
            }
        }
        if self.unfinished > 0 {
            let _ = writeln!(
                out,
                "  unfinished: {} calls still unanswered when the drain ended",
                self.unfinished
            );
        }
        if !self.cpu.is_empty() {
            let _ = writeln!(
                out,
                "\n  CPU over the window ({} calls answered)   seconds   µs per call",
                self.calls_answered()
            );
            for row in &self.cpu {
                let _ = writeln!(
                    out,
                    "  {:<38} {:>8.2} {:>12.1}",
                    row.name,
                    row.seconds,
                    self.cpu_us_per_call(row)
                );
            }
        }
        if let Some(flood) = &self.flood {
            let _ = write!(out, "\n{}", flood.to_text());
        }
        if let Some(slo) = run.slo_p99_ms {
            let verdict = match check_slo(self, slo) {
                Ok(()) => "met".to_owned(),
                Err(why) => format!("MISSED: {why}"),
            };
            let _ = writeln!(out, "  SLO Route p99 ≤ {slo} ms: {verdict}");
        }
        out
    }
}

/// Whether the run met `--slo-p99-ms`: the corrected Route p99 at most `slo_ms`,
/// with at least one Route answered OK in the window.
pub fn check_slo(report: &Report, slo_ms: f64) -> Result<(), String> {
    if report.route_ok() == 0 {
        return Err("no Route call was answered OK in the measured window".to_owned());
    }
    let p99 = report.route_latency.p99;
    if p99 > slo_ms {
        return Err(format!(
            "Route p99 is {p99:.3} ms, above the SLO of {slo_ms} ms"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of `route_ok` Route calls with that p99 and nothing else.
    pub(super) fn report_with(p99: f64, route_ok: u64) -> Report {
        Report {
            run: RunInfo {
                target: "http://127.0.0.1:50051".to_owned(),
                run_id: "lt-x".to_owned(),
                mode: "closed-loop",
                concurrency: Some(8),
                ..RunInfo::default()
            },
            measured_seconds: 1.0,
            answers_lag_seconds: 0.0,
            decisions_per_second: route_ok as f64,
            calls: vec![CallRow {
                call: "Route",
                ok: route_ok,
                errors: 0,
            }],
            route_latency: Percentiles {
                count: route_ok,
                p99,
                ..Percentiles::default()
            },
            route_service: Percentiles::default(),
            correction: String::new(),
            errors: Vec::new(),
            reasons: Vec::new(),
            unfinished: 0,
            cpu: Vec::new(),
            flood: None,
            timeline: Vec::new(),
            latency_bins: Vec::new(),
            percentile_curve: Vec::new(),
        }
    }

    #[test]
    fn cpu_time_is_reported_per_call_answered_in_text_and_json() {
        let mut report = report_with(3.0, 4_000);
        report.calls.push(CallRow {
            call: "EndSession",
            ok: 900,
            errors: 100,
        });
        report.cpu = vec![CpuRow {
            name: "worker".to_owned(),
            seconds: 0.1,
        }];
        // 0.1 s over 5,000 calls answered (OK or not): 20 µs each.
        assert_eq!(report.calls_answered(), 5_000);
        assert!((report.cpu_us_per_call(&report.cpu[0]) - 20.0).abs() < 1e-9);
        let text = report.to_text();
        assert!(
            text.contains("CPU over the window (5000 calls answered)"),
            "{text}"
        );
        assert!(text.contains("worker") && text.contains("20.0"), "{text}");
        let json = report.to_json();
        assert!(
            json.contains(r#""cpu":{"worker":{"seconds":0.1,"us_per_call":20}}"#),
            "{json}"
        );
    }

    #[test]
    fn the_slo_check_compares_the_p99() {
        assert!(check_slo(&report_with(4.9, 100), 5.0).is_ok());
        assert!(check_slo(&report_with(5.0, 100), 5.0).is_ok());
        let missed = check_slo(&report_with(5.1, 100), 5.0).unwrap_err();
        assert!(missed.contains("5.100 ms"), "{missed}");
        assert!(missed.contains("SLO of 5 ms"), "{missed}");
        // No answer at all is not a met SLO.
        assert!(check_slo(&report_with(0.0, 0), 5.0).is_err());
    }
}
