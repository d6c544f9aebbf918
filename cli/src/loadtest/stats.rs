//! Measurements of a `fenliu loadtest` run — Route latency in HdrHistograms
//! corrected for coordinated omission, calls by kind, errors by gRPC status code,
//! decisions by route reason — and the final report, as a table and as JSON,
//! with the SLO check.
//!
//! Times are microseconds since the run's origin (the first scheduled request),
//! so that everything here is pure and tested without a clock.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use fenliu_proto::v1 as pb;
use hdrhistogram::Histogram;

use super::cpu::CpuRow;

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

    fn index(self) -> usize {
        self as usize
    }
}

/// The canonical gRPC name of a status code, as grpcurl and the spec print it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A route reason without its `ROUTE_REASON_` prefix (`OPEN_SESSION`).
pub fn reason_name(reason: i32) -> String {
    match pb::RouteReason::try_from(reason) {
        Ok(reason) => reason
            .as_str_name()
            .trim_start_matches("ROUTE_REASON_")
            .to_owned(),
        Err(_) => format!("UNKNOWN_{reason}"),
    }
}

/// A failed call: its status code and message.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: tonic::Code,
    pub message: String,
}

impl From<&tonic::Status> for Failure {
    fn from(status: &tonic::Status) -> Failure {
        Failure {
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ErrorCount {
    count: u64,
    /// The first message seen, to tell what went wrong.
    example: String,
}

/// Highest latency tracked: an hour, in microseconds (values above saturate).
const HIGHEST_US: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds")
}

/// Everything measured during a run. Calls whose intended start lies in the
/// measured window `[window_start, window_end)` count (the warm-up's do not);
/// they count when they complete, even during the drain after the window, so
/// that the slowest calls are never left out.
#[derive(Debug)]
pub struct Stats {
    open_loop: bool,
    window_start_us: u64,
    window_end_us: u64,
    /// Route latency, OK answers only. Open loop: from the *scheduled* send
    /// time, which already includes any wait caused by a stalled server (no
    /// coordinated omission). Closed loop: the service time, corrected when
    /// read (see `route_latency`).
    route_latency: Histogram<u64>,
    /// Route service time: actual send to answer, uncorrected.
    route_service: Histogram<u64>,
    ok: [u64; 4],
    failed: [u64; 4],
    errors: BTreeMap<(Call, &'static str), ErrorCount>,
    reasons: BTreeMap<i32, u64>,
    /// OK Route answers since the start, warm-up included (the live rate).
    route_ok_all: u64,
    /// OK Route answers that came within the window, whenever sent: the
    /// rate served.
    route_ok_answered_in_window: u64,
    /// When the last OK Route of the window was answered.
    last_route_done_us: u64,
}

impl Stats {
    pub fn new(open_loop: bool, window_start_us: u64, window_end_us: u64) -> Stats {
        Stats {
            open_loop,
            window_start_us,
            window_end_us,
            route_latency: histogram(),
            route_service: histogram(),
            ok: [0; 4],
            failed: [0; 4],
            errors: BTreeMap::new(),
            reasons: BTreeMap::new(),
            route_ok_all: 0,
            route_ok_answered_in_window: 0,
            last_route_done_us: 0,
        }
    }

    /// Ends the measured window early (the run was stopped at `end_us`).
    pub fn close_window(&mut self, end_us: u64) {
        self.window_end_us = self.window_end_us.min(end_us).max(self.window_start_us);
    }

    pub fn in_window(&self, intended_us: u64) -> bool {
        (self.window_start_us..self.window_end_us).contains(&intended_us)
    }

    /// A Route call: intended (scheduled in open loop, equal to `sent_us` in
    /// closed loop), actually sent, answered; the answer's reason or the failure.
    pub fn record_route(
        &mut self,
        intended_us: u64,
        sent_us: u64,
        done_us: u64,
        result: Result<i32, Failure>,
    ) {
        if result.is_ok() {
            self.route_ok_all += 1;
            if self.in_window(done_us) {
                self.route_ok_answered_in_window += 1;
            }
        }
        if !self.in_window(intended_us) {
            return;
        }
        match result {
            Ok(reason) => {
                self.ok[Call::Route.index()] += 1;
                self.last_route_done_us = self.last_route_done_us.max(done_us);
                *self.reasons.entry(reason).or_default() += 1;
                self.route_latency
                    .saturating_record(done_us.saturating_sub(intended_us).max(1));
                self.route_service
                    .saturating_record(done_us.saturating_sub(sent_us).max(1));
            }
            Err(failure) => self.record_failure(Call::Route, failure),
        }
    }

    /// Any other call, counted by kind and outcome.
    pub fn record_call(&mut self, call: Call, intended_us: u64, result: Result<(), Failure>) {
        if !self.in_window(intended_us) {
            return;
        }
        match result {
            Ok(()) => self.ok[call.index()] += 1,
            Err(failure) => self.record_failure(call, failure),
        }
    }

    fn record_failure(&mut self, call: Call, failure: Failure) {
        self.failed[call.index()] += 1;
        let entry = self
            .errors
            .entry((call, code_name(failure.code)))
            .or_default();
        entry.count += 1;
        if entry.example.is_empty() {
            entry.example = failure.message;
        }
    }

    pub fn route_ok_all(&self) -> u64 {
        self.route_ok_all
    }

    #[cfg(test)]
    pub fn route_ok(&self) -> u64 {
        self.ok[Call::Route.index()]
    }

    pub fn failures(&self) -> u64 {
        self.failed.iter().sum()
    }

    /// The expected interval between a closed-loop task's requests: the mean
    /// service time (each task sends its next request as soon as the previous
    /// one is answered), in microseconds.
    fn closed_loop_interval_us(&self) -> u64 {
        self.route_service.mean().round() as u64
    }

    /// Route latency corrected for coordinated omission. Open loop: as
    /// recorded, from the scheduled times. Closed loop: a task that waited
    /// `v` for an answer did not send the requests it would have sent meanwhile
    /// (one per expected interval); `clone_correct` adds them back, as
    /// `record_correct(v, interval)` on every value would, with the interval
    /// being the mean service time — known only once measured, hence applied
    /// after recording.
    pub fn route_latency(&self) -> Histogram<u64> {
        self.latency_snapshot().corrected()
    }

    /// The Route latency as recorded so far, to correct outside the lock.
    pub fn latency_snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            raw: self.route_latency.clone(),
            correct_interval_us: (!self.open_loop).then(|| self.closed_loop_interval_us()),
        }
    }

    pub fn report(&self, run: RunInfo, unfinished: u64) -> Report {
        let window_seconds = self.window_end_us.saturating_sub(self.window_start_us) as f64 / 1e6;
        // How long after the window its last Route was answered: more than
        // a latency when an open-loop run offered more than the server serves.
        let answers_lag_seconds =
            self.last_route_done_us.saturating_sub(self.window_end_us) as f64 / 1e6;
        let latency = self.route_latency();
        let route_latency = Percentiles::of(&latency);
        let service = Percentiles::of(&self.route_service);
        let correction = if self.open_loop {
            "open loop: latency from each request's scheduled send time".to_owned()
        } else {
            format!(
                "closed loop: corrected with an expected interval of {:.3} ms (the mean service time)",
                ms(self.closed_loop_interval_us())
            )
        };
        Report {
            run,
            measured_seconds: window_seconds,
            answers_lag_seconds,
            // Answers counted when they came, not when they were sent: an
            // overloaded server's rate is the rate it served, not the rate
            // offered.
            decisions_per_second: if window_seconds > 0.0 {
                self.route_ok_answered_in_window as f64 / window_seconds
            } else {
                0.0
            },
            calls: Call::ALL
                .iter()
                .map(|call| CallRow {
                    call: call.name(),
                    ok: self.ok[call.index()],
                    errors: self.failed[call.index()],
                })
                .collect(),
            route_latency,
            route_service: service,
            correction,
            errors: self
                .errors
                .iter()
                .map(|((call, code), error)| ErrorRow {
                    call: call.name(),
                    code,
                    count: error.count,
                    example: error.example.clone(),
                })
                .collect(),
            reasons: self
                .reasons
                .iter()
                .map(|(reason, count)| (reason_name(*reason), *count))
                .collect(),
            unfinished,
            cpu: Vec::new(),
        }
    }
}

/// A copy of the Route latency histogram. Correcting it can take milliseconds
/// after long stalls, so the live display copies it under the lock and
/// corrects the copy outside.
#[derive(Debug)]
pub struct LatencySnapshot {
    raw: Histogram<u64>,
    correct_interval_us: Option<u64>,
}

impl LatencySnapshot {
    pub fn corrected(&self) -> Histogram<u64> {
        match self.correct_interval_us {
            Some(interval) => self.raw.clone_correct(interval),
            None => self.raw.clone(),
        }
    }

    /// The corrected Route p99 in milliseconds, None before any OK answer.
    pub fn p99_ms(&self) -> Option<f64> {
        if self.raw.is_empty() {
            return None;
        }
        Some(ms(self.corrected().value_at_quantile(0.99)))
    }
}

fn ms(us: u64) -> f64 {
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
}

#[derive(Debug, Clone)]
pub struct CallRow {
    pub call: &'static str,
    pub ok: u64,
    pub errors: u64,
}

#[derive(Debug, Clone)]
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
        if let Some(slo) = run.slo_p99_ms {
            let verdict = match check_slo(self, slo) {
                Ok(()) => "met".to_owned(),
                Err(why) => format!("MISSED: {why}"),
            };
            let _ = writeln!(out, "  SLO Route p99 ≤ {slo} ms: {verdict}");
        }
        out
    }

    /// The report as one JSON object (numbers in milliseconds and counts).
    pub fn to_json(&self) -> String {
        let run = &self.run;
        let mut o = JsonObject::new();
        o.string("target", &run.target);
        o.string("run_id", &run.run_id);
        o.string("mode", run.mode);
        o.raw(
            "concurrency",
            &opt_number(run.concurrency.map(|n| n as f64)),
        );
        o.raw("rps", &opt_number(run.rps));
        o.number("connections", run.connections as f64);
        o.number("shops", run.shops as f64);
        o.number("accounts_per_shop", run.accounts as f64);
        o.number("zipf_s", run.zipf_s);
        o.number("seed", run.seed as f64);
        o.number("warmup_seconds", run.warmup_seconds);
        o.number("duration_seconds", run.duration_seconds);
        o.number("measured_seconds", self.measured_seconds);
        o.number("answers_lag_seconds", self.answers_lag_seconds);
        o.number("decisions_per_second", self.decisions_per_second);
        let mut calls = JsonObject::new();
        for row in &self.calls {
            let mut counts = JsonObject::new();
            counts.number("ok", row.ok as f64);
            counts.number("errors", row.errors as f64);
            calls.raw(row.call, &counts.finish());
        }
        o.raw("calls", &calls.finish());
        o.raw("route_latency_ms", &percentiles_json(&self.route_latency));
        o.raw("route_service_ms", &percentiles_json(&self.route_service));
        o.string("correction", &self.correction);
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|row| {
                let mut e = JsonObject::new();
                e.string("call", row.call);
                e.string("code", row.code);
                e.number("count", row.count as f64);
                e.string("example", &row.example);
                e.finish()
            })
            .collect();
        o.raw("errors", &format!("[{}]", errors.join(",")));
        let mut reasons = JsonObject::new();
        for (reason, count) in &self.reasons {
            reasons.number(reason, *count as f64);
        }
        o.raw("reasons", &reasons.finish());
        o.number("unfinished", self.unfinished as f64);
        let mut cpu = JsonObject::new();
        for row in &self.cpu {
            let mut spent = JsonObject::new();
            spent.number("seconds", row.seconds);
            spent.number("us_per_call", self.cpu_us_per_call(row));
            cpu.raw(&row.name, &spent.finish());
        }
        o.raw("cpu", &cpu.finish());
        o.raw("slo_p99_ms", &opt_number(run.slo_p99_ms));
        o.raw(
            "slo_met",
            &match run.slo_p99_ms {
                Some(slo) => check_slo(self, slo).is_ok().to_string(),
                None => "null".to_owned(),
            },
        );
        let mut json = o.finish();
        json.push('\n');
        json
    }
}

fn percentiles_json(p: &Percentiles) -> String {
    let mut o = JsonObject::new();
    o.number("count", p.count as f64);
    o.number("mean", p.mean);
    o.number("p50", p.p50);
    o.number("p90", p.p90);
    o.number("p99", p.p99);
    o.number("p99_9", p.p999);
    o.number("max", p.max);
    o.finish()
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

/// A JSON object written by hand: keys and string values escaped, numbers
/// finite (others written as null).
#[derive(Debug)]
struct JsonObject {
    out: String,
    first: bool,
}

impl JsonObject {
    fn new() -> JsonObject {
        JsonObject {
            out: String::from("{"),
            first: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push_str(&json_string(key));
        self.out.push(':');
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        self.out.push_str(&json_string(value));
    }

    fn number(&mut self, key: &str, value: f64) {
        self.key(key);
        self.out.push_str(&json_number(value));
    }

    /// A value already written as JSON.
    fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.out.push_str(json);
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped
/// (RFC 8259 §7); everything else, non-ASCII included, as it is.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number: integers without a fraction, others to 3 decimals (a
/// microsecond, in milliseconds); NaN and infinities (not JSON) as null.
pub fn json_number(value: f64) -> String {
    if !value.is_finite() {
        "null".to_owned()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let s = format!("{value:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_owned()
        } else {
            s.to_owned()
        }
    }
}

fn opt_number(value: Option<f64>) -> String {
    value.map_or_else(|| "null".to_owned(), json_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_with(p99: f64, route_ok: u64) -> Report {
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
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("plain"), "\"plain\"");
        assert_eq!(json_string("a \"b\" c"), r#""a \"b\" c""#);
        assert_eq!(json_string("back\\slash"), r#""back\\slash""#);
        assert_eq!(json_string("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(json_string("\u{1}\u{1f}"), r#""\u0001\u001f""#);
        assert_eq!(json_string("分流 é"), "\"分流 é\"");
    }

    #[test]
    fn json_numbers_are_valid_json() {
        assert_eq!(json_number(3.0), "3");
        assert_eq!(json_number(0.25), "0.25");
        assert_eq!(json_number(1.23456), "1.235");
        assert_eq!(json_number(-0.0001), "0");
        assert_eq!(json_number(f64::NAN), "null");
        assert_eq!(json_number(f64::INFINITY), "null");
        assert!(json_number(1e300).chars().all(|c| c.is_ascii_digit()));
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
    fn the_json_report_has_its_fields_and_escapes_messages() {
        let mut stats = Stats::new(true, 0, 1_000_000);
        stats.record_route(10, 10, 510, Ok(pb::RouteReason::Even as i32));
        stats.record_route(20, 20, 2_020, Ok(pb::RouteReason::OpenSession as i32));
        stats.record_route(
            30,
            30,
            40,
            Err(Failure {
                code: tonic::Code::Unavailable,
                message: "worker \"w1\" gone\nretry".to_owned(),
            }),
        );
        stats.record_call(Call::EndSession, 40, Ok(()));
        // Outside the window: not counted.
        stats.record_call(Call::Transfer, 2_000_000, Ok(()));
        let report = stats.report(
            RunInfo {
                target: "http://127.0.0.1:50071".to_owned(),
                run_id: "lt-1".to_owned(),
                mode: "open-loop",
                rps: Some(2000.0),
                slo_p99_ms: Some(5.0),
                ..RunInfo::default()
            },
            0,
        );
        let json = report.to_json();
        for needle in [
            r#""target":"http://127.0.0.1:50071""#,
            r#""mode":"open-loop""#,
            r#""concurrency":null"#,
            r#""rps":2000"#,
            r#""decisions_per_second":2"#,
            r#""Route":{"ok":2,"errors":1}"#,
            r#""EndSession":{"ok":1,"errors":0}"#,
            r#""Transfer":{"ok":0,"errors":0}"#,
            r#""reasons":{"OPEN_SESSION":1,"EVEN":1}"#,
            r#""code":"UNAVAILABLE""#,
            r#""example":"worker \"w1\" gone\nretry""#,
            r#""slo_met":true"#,
            r#""route_latency_ms":{"count":2,"#,
        ] {
            assert!(json.contains(needle), "{needle} not in {json}");
        }
        assert!(json.starts_with('{') && json.ends_with("}\n"));
        // Balanced braces and quotes outside strings: a rough shape check
        // without a JSON parser.
        let mut depth = 0i32;
        let mut in_string = false;
        let mut escaped = false;
        for c in json.chars() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    (false, c) => assert!(u32::from(c) >= 0x20, "raw control char"),
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0);
        }
        assert_eq!(depth, 0);
        assert!(!in_string);
        // The table mentions the same figures.
        let text = report.to_text();
        assert!(text.contains("decisions/s"));
        assert!(text.contains("UNAVAILABLE"));
        assert!(text.contains("SLO Route p99 ≤ 5 ms: met"));
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
}
