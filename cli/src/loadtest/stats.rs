//! Measurements of a `fenliu loadtest` run — Route latency in HdrHistograms
//! corrected for coordinated omission, calls by kind, errors by gRPC status code,
//! decisions by route reason — summed up at the end into a [`Report`].
//!
//! Times are microseconds since the run's origin (the first scheduled request),
//! so that everything here is pure and tested without a clock.

use std::collections::BTreeMap;

use fenliu_proto::v1 as pb;
use hdrhistogram::Histogram;

use super::measures::{Call, HIGHEST_US, Percentiles, ms};
use super::report::{CallRow, ErrorRow, Report, RunInfo};
use distribution::{latency_bins, percentile_curve};
use timeline::Timeline;

mod distribution;
mod timeline;

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
    /// The window interval by interval, for the plots over time.
    timeline: Timeline,
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
            timeline: Timeline::new(window_start_us, window_end_us),
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
                let latency_us = done_us.saturating_sub(intended_us).max(1);
                self.route_latency.saturating_record(latency_us);
                self.timeline.route_ok(done_us, latency_us);
                self.route_service
                    .saturating_record(done_us.saturating_sub(sent_us).max(1));
            }
            Err(failure) => self.record_failure(Call::Route, done_us, failure),
        }
    }

    /// Any other call, counted by kind and outcome: sent at `intended_us`,
    /// answered at `done_us`.
    pub fn record_call(
        &mut self,
        call: Call,
        intended_us: u64,
        done_us: u64,
        result: Result<(), Failure>,
    ) {
        if !self.in_window(intended_us) {
            return;
        }
        match result {
            Ok(()) => self.ok[call.index()] += 1,
            Err(failure) => self.record_failure(call, done_us, failure),
        }
    }

    fn record_failure(&mut self, call: Call, done_us: u64, failure: Failure) {
        self.failed[call.index()] += 1;
        let code = code_name(failure.code);
        self.timeline.failure(done_us, code);
        let entry = self.errors.entry((call, code)).or_default();
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
            flood: None,
            timeline: self.timeline.rows(
                self.window_end_us,
                (!self.open_loop).then(|| self.closed_loop_interval_us()),
            ),
            latency_bins: latency_bins(&latency),
            percentile_curve: percentile_curve(&latency, &self.route_service),
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

#[cfg(test)]
mod tests;
