//! What the router measures for the metrics (names in `fenliu_node::metrics::names`).
//!
//! The engine stays pure: what a decision means for the metrics is read here,
//! from the call's outcome, its events and the shop right after it, while the
//! shop is held ([`CallMeasures::of`]). It is counted only once the decision is
//! stored ([`CallMeasures::record`]: at once on the embedded default, by the
//! committer once the group commit carrying it has landed), so that a decision
//! decided again after a replay, or lost with a failed commit, is not counted.
//!
//! - a `Route` decision: its reason, and the spread of load among the shop's
//!   available accounts after it (not for R1, which places nobody);
//! - every assignment that left its account above its capacity, by the rule
//!   that allowed it;
//! - every assignment out of a queue (R14, R16, R17, R21): how long it waited,
//!   and how far that was from the estimate it was told when queued (R20);
//! - every queued session timed out by R21, as a decision of reason
//!   `QUEUE_TIMEOUT` (the timer's, not a call's).
//!
//! Nothing is measured when the process keeps no metrics.

use fenliu_node::metrics::names::{self, OVER_CAPACITY_RULES, ROUTE_REASONS};
use fenliu_node::metrics::{Handles, enabled};
use metrics::{Counter, Histogram};

use std::time::{Duration, Instant};

use crate::engine::{
    AssignCause, OverflowRule, RouteOutcome, RouteReason, ShopEvent, ShopState, TimedEvent,
    Timestamp,
};

/// The router's handles.
#[derive(Debug)]
struct RouterMeters {
    /// By [`ROUTE_REASONS`].
    decisions: [Counter; ROUTE_REASONS.len()],
    /// By [`OVER_CAPACITY_RULES`].
    over_capacity: [Counter; OVER_CAPACITY_RULES.len()],
    queue_wait: Histogram,
    wait_estimate_error: Histogram,
    load_spread: Histogram,
    commit_duration: Histogram,
    commit_batch_calls: Histogram,
    timer_lag: Histogram,
    rate_limited: Counter,
}

static METERS: Handles<RouterMeters> = Handles::new(|| {
    use fenliu_node::metrics::meters::counters;
    RouterMeters {
        decisions: counters(names::ROUTE_DECISIONS, "reason", ROUTE_REASONS),
        over_capacity: counters(
            names::ASSIGNMENTS_OVER_CAPACITY,
            "rule",
            OVER_CAPACITY_RULES,
        ),
        queue_wait: metrics::histogram!(names::QUEUE_WAIT),
        wait_estimate_error: metrics::histogram!(names::WAIT_ESTIMATE_ERROR),
        load_spread: metrics::histogram!(names::LOAD_SPREAD),
        commit_duration: metrics::histogram!(names::COMMIT_DURATION),
        commit_batch_calls: metrics::histogram!(names::COMMIT_BATCH_CALLS),
        timer_lag: metrics::histogram!(names::TIMER_LAG),
        rate_limited: metrics::counter!(names::RATE_LIMITED),
    }
});

/// Where `reason` is in [`ROUTE_REASONS`] (the API's names, in its order).
fn reason_index(reason: RouteReason) -> usize {
    match reason {
        RouteReason::OpenSession => 0,
        RouteReason::Addressed => 1,
        RouteReason::AddressedOffline => 2,
        RouteReason::NoParticipants => 3,
        RouteReason::Affinity => 4,
        RouteReason::Group => 5,
        RouteReason::AnyOnline => 6,
        RouteReason::Even => 7,
        RouteReason::Queued => 8,
        RouteReason::OfflineList => 9,
        RouteReason::MessagePool => 10,
        RouteReason::Proxy => 11,
        RouteReason::MainAccount => 12,
        RouteReason::QueueTimeout => 13,
    }
}

/// Where the rule that may assign past capacity by `cause` is in
/// [`OVER_CAPACITY_RULES`] (the engine's R25 accounting decides which rule it
/// is); `None` for the causes that take free slots only (R7, R8, R14, R22).
fn over_capacity_rule(cause: &AssignCause) -> Option<usize> {
    let rule = cause.overflow_rule()?;
    OverflowRule::ALL.iter().position(|listed| *listed == rule)
}

/// Max minus min occupancy ratio among the shop's available accounts; `None`
/// when none is available.
pub fn load_spread(state: &ShopState) -> Option<f64> {
    let mut range: Option<(f64, f64)> = None;
    for account in state.accounts().filter(|account| account.is_available()) {
        let ratio = f64::from(account.occupancy()) / f64::from(state.capacity(account).max(1));
        range = Some(range.map_or((ratio, ratio), |(low, high)| {
            (low.min(ratio), high.max(ratio))
        }));
    }
    range.map(|(low, high)| high - low)
}

/// What one call decided that the metrics count.
#[derive(Debug, Default)]
pub struct CallMeasures {
    /// A `Route` decision: its reason's place in [`ROUTE_REASONS`], and the
    /// load spread after it.
    decision: Option<(usize, Option<f64>)>,
    /// Over-capacity assignments, by place in [`OVER_CAPACITY_RULES`].
    over_capacity: Vec<usize>,
    /// Waits of the sessions assigned out of a queue, in seconds.
    queue_waits: Vec<f64>,
    /// R20: for those told a wait range when queued, |wait − its middle|, in
    /// seconds.
    estimate_errors: Vec<f64>,
    /// R21: queued sessions timed out (each a `QUEUE_TIMEOUT` decision).
    queue_timeouts: u64,
}

impl CallMeasures {
    /// Measures a call that produced `events` on `state` (as it is right after
    /// the call) and, for a `Route` that decided, `decided`.
    pub fn of(
        state: &ShopState,
        events: &[TimedEvent],
        decided: Option<&RouteOutcome>,
    ) -> CallMeasures {
        let mut measures = CallMeasures::default();
        if !enabled() {
            return measures;
        }
        if let Some(outcome) = decided {
            let spread = (outcome.reason != RouteReason::OpenSession)
                .then(|| load_spread(state))
                .flatten();
            measures.decision = Some((reason_index(outcome.reason), spread));
        }
        for timed in events {
            let (session, account, cause) = match &timed.event {
                ShopEvent::SessionAssigned {
                    session,
                    account,
                    cause,
                    ..
                } => (session, account, cause),
                ShopEvent::SessionPooled {
                    reason: RouteReason::QueueTimeout,
                    ..
                } => {
                    measures.queue_timeouts += 1;
                    continue;
                }
                _ => continue,
            };
            if matches!(cause, AssignCause::QueueTimeout { .. }) {
                measures.queue_timeouts += 1;
            }
            if let Some(rule) = over_capacity_rule(cause)
                && let Some(holder) = state.account(account)
                && holder.occupancy() > state.capacity(holder)
            {
                measures.over_capacity.push(rule);
            }
            if cause.takes_from_a_queue()
                && let Some(queued) = state.session(*session)
            {
                let waited = Duration::from_millis(
                    timed
                        .at
                        .as_millis()
                        .saturating_sub(queued.created_at.as_millis()),
                );
                measures.queue_waits.push(waited.as_secs_f64());
                if let Some(estimate) = queued.queued_estimate {
                    let error = waited.abs_diff(estimate.middle());
                    measures.estimate_errors.push(error.as_secs_f64());
                }
            }
        }
        measures
    }

    /// Counts what was measured: the decision is stored.
    pub fn record(self) {
        let Some(meters) = METERS.get() else { return };
        if let Some((reason, spread)) = self.decision {
            meters.decisions[reason].increment(1);
            if let Some(spread) = spread {
                meters.load_spread.record(spread);
            }
        }
        for rule in self.over_capacity {
            meters.over_capacity[rule].increment(1);
        }
        for wait in self.queue_waits {
            meters.queue_wait.record(wait);
        }
        for error in self.estimate_errors {
            meters.wait_estimate_error.record(error);
        }
        meters.decisions[reason_index(RouteReason::QueueTimeout)].increment(self.queue_timeouts);
    }
}

/// Sends `commit`, a group commit of `calls` calls, and counts it and its time.
pub async fn timed_commit<T>(calls: usize, commit: impl Future<Output = T>) -> T {
    let sent_at = Instant::now();
    let outcome = commit.await;
    if let Some(meters) = METERS.get() {
        meters
            .commit_duration
            .record(sent_at.elapsed().as_secs_f64());
        meters.commit_batch_calls.record(calls as f64);
    }
    outcome
}

/// How late (ms) the shop's earliest deadline is at `now`, if it is due: what
/// the timer woke the shop for, unless a call acted on it meanwhile.
pub fn lag_behind_deadline(state: &ShopState, now: Timestamp) -> Option<u64> {
    let due = state.next_deadline().filter(|due| *due <= now)?;
    Some(now.as_millis().saturating_sub(due.as_millis()))
}

/// Counts a deadline acted on `lag_ms` after it was due (`None`: none was).
pub fn timer_lag(lag_ms: Option<u64>) {
    if let (Some(meters), Some(lag_ms)) = (METERS.get(), lag_ms) {
        meters.timer_lag.record(lag_ms as f64 / 1000.0);
    }
}

/// Counts a `Route` refused by its shop's rate limit.
pub fn rate_limited() {
    if let Some(meters) = METERS.get() {
        meters.rate_limited.increment(1);
    }
}

#[cfg(test)]
mod tests {
    use fenliu_proto::v1 as pb;

    use super::*;
    use crate::engine::{AccountId, QueueName};

    #[test]
    fn reason_labels_are_the_apis_reason_names() {
        for (index, name) in ROUTE_REASONS.iter().enumerate() {
            let wire = pb::RouteReason::from_str_name(&format!("ROUTE_REASON_{name}"));
            assert!(wire.is_some(), "{name} is no RouteReason of the API");
            assert_eq!(
                wire.unwrap() as usize,
                index + 1,
                "{name} out of the API's order"
            );
        }
        assert_eq!(
            reason_index(RouteReason::QueueTimeout),
            ROUTE_REASONS.len() - 1
        );
    }

    #[test]
    fn over_capacity_rules_are_the_rules_that_ignore_capacity() {
        let ids: Vec<&str> = OverflowRule::ALL.iter().map(|rule| rule.id()).collect();
        assert_eq!(
            ids, OVER_CAPACITY_RULES,
            "R25's rules are the label's values"
        );
        let rule = |cause| over_capacity_rule(&cause).map(|i| OVER_CAPACITY_RULES[i]);
        assert_eq!(rule(AssignCause::Rule(RouteReason::Addressed)), Some("R2"));
        assert_eq!(rule(AssignCause::Rule(RouteReason::Affinity)), Some("R5"));
        assert_eq!(
            rule(AssignCause::Rule(RouteReason::OfflineList)),
            Some("R13b")
        );
        assert_eq!(rule(AssignCause::Rule(RouteReason::Proxy)), Some("R13d"));
        assert_eq!(
            rule(AssignCause::Rule(RouteReason::MainAccount)),
            Some("R13e")
        );
        let transfer = AssignCause::Transfer {
            from: AccountId::from("a"),
        };
        assert_eq!(rule(transfer), Some("R16"));
        let pull = AssignCause::Pull {
            from: QueueName::Shop,
        };
        assert_eq!(rule(pull), Some("R17"));
        let timed_out = AssignCause::QueueTimeout {
            from: QueueName::Shop,
        };
        assert!(timed_out.takes_from_a_queue());
        assert_eq!(rule(timed_out), Some("R21"));
        let unanswered = AssignCause::ReplyTimeout {
            from: AccountId::from("a"),
        };
        assert_eq!(rule(unanswered), None);
        assert_eq!(rule(AssignCause::Rule(RouteReason::Even)), None);
        let drained = AssignCause::Queue {
            from: QueueName::Shop,
        };
        assert!(drained.takes_from_a_queue());
        assert_eq!(rule(drained), None);
    }
}
