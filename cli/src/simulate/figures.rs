//! What a replay adds up to, for `fenliu simulate` to print side by side:
//! queue waits, timeouts and the pool, affinity kept, sessions per account and
//! their spread, and how far R20's estimates were from the waits.

use std::collections::BTreeMap;

use fenliu_worker::engine::{
    AssignCause, EstimateAccuracy, RouteReason, ShopEvent, ShopState, TimedEvent,
};
use fenliu_worker::recording::RecordedDecision;

/// The figures of one replay, over every shop it replayed.
#[derive(Debug, Default)]
pub struct Figures {
    /// Each wait of a session that left a queue for an account, in ms.
    queue_waits_ms: Vec<u64>,
    /// `Route` decisions.
    routes: u64,
    /// Of those, buyers who queued.
    queued: u64,
    /// Of those, buyers who went back to the account they had (R5).
    affinity: u64,
    /// Queued sessions that timed out (R21), whatever the action.
    timed_out: u64,
    /// Sessions that went to the message pool (R13c, R21).
    pooled: u64,
    /// Reminders that a buyer waited for a reply (R22).
    unanswered: u64,
    /// Sessions moved for want of a reply (R22).
    reassigned: u64,
    /// Sessions still waiting when the recording ends.
    still_waiting: u64,
    /// Sessions each participating account took, by (shop, account).
    per_account: BTreeMap<(String, String), u64>,
    /// R20's accuracy, summed over the shops.
    accuracy: EstimateAccuracy,
}

impl Figures {
    pub fn count_decision(&mut self, decision: &RecordedDecision) {
        self.routes += 1;
        match decision.reason.as_str() {
            "QUEUED" => self.queued += 1,
            "AFFINITY" => self.affinity += 1,
            _ => {}
        }
    }

    pub fn count_events(&mut self, state: &ShopState, events: &[TimedEvent]) {
        let shop = state.shop_id().as_str();
        for timed in events {
            match &timed.event {
                ShopEvent::SessionAssigned {
                    session,
                    account,
                    cause,
                    ..
                } => {
                    *self
                        .per_account
                        .entry((shop.to_owned(), account.0.clone()))
                        .or_default() += 1;
                    if cause.takes_from_a_queue()
                        && let Some(waited) = state.session(*session)
                    {
                        let created = waited.created_at.as_millis();
                        self.queue_waits_ms
                            .push(timed.at.as_millis().saturating_sub(created));
                    }
                    match cause {
                        AssignCause::QueueTimeout { .. } => self.timed_out += 1,
                        AssignCause::ReplyTimeout { .. } => self.reassigned += 1,
                        _ => {}
                    }
                }
                ShopEvent::SessionPooled { reason, .. } => {
                    self.pooled += 1;
                    if *reason == RouteReason::QueueTimeout {
                        self.timed_out += 1;
                    }
                }
                ShopEvent::SessionUnanswered { .. } => self.unanswered += 1,
                _ => {}
            }
        }
    }

    /// Counts what a shop holds at the end of the recording.
    pub fn count_shop(&mut self, state: &ShopState) {
        let shop = state.shop_id().as_str();
        for account in state.accounts().filter(|a| a.config.participates()) {
            self.per_account
                .entry((shop.to_owned(), account.id.0.clone()))
                .or_default();
        }
        self.still_waiting += state.queued_session_count() as u64;
        let accuracy = state.estimate_accuracy();
        self.accuracy.samples += accuracy.samples;
        self.accuracy.within_range += accuracy.within_range;
        self.accuracy.unknown += accuracy.unknown;
        self.accuracy.absolute_error_ms += accuracy.absolute_error_ms;
    }

    /// The figures as rows of (what, value), in the order printed.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut waits = self.queue_waits_ms.clone();
        waits.sort_unstable();
        let wait = |q: f64| match waits.len() {
            0 => "-".to_owned(),
            n => seconds(waits[((n - 1) as f64 * q).round() as usize]),
        };
        let per_account: Vec<u64> = self.per_account.values().copied().collect();
        let (low, high) = (
            per_account.iter().min().copied().unwrap_or(0),
            per_account.iter().max().copied().unwrap_or(0),
        );
        let mean = per_account.iter().sum::<u64>() as f64 / per_account.len().max(1) as f64;
        let accuracy = &self.accuracy;
        vec![
            ("Route decisions", self.routes.to_string()),
            ("  of which queued", self.queued.to_string()),
            (
                "  of which back to their account (R5)",
                self.affinity.to_string(),
            ),
            ("served from a queue", waits.len().to_string()),
            ("queue wait p50", wait(0.5)),
            ("queue wait p95", wait(0.95)),
            ("queue wait max", wait(1.0)),
            ("timed out in a queue (R21)", self.timed_out.to_string()),
            ("sent to the message pool", self.pooled.to_string()),
            ("still waiting at the end", self.still_waiting.to_string()),
            ("unanswered reminders (R22)", self.unanswered.to_string()),
            (
                "moved for want of a reply (R22)",
                self.reassigned.to_string(),
            ),
            (
                "sessions per account min/mean/max",
                format!("{low}/{mean:.1}/{high}"),
            ),
            (
                "sessions per account spread (max-min)",
                (high - low).to_string(),
            ),
            (
                "wait estimates known/unknown (R20)",
                format!("{}/{}", accuracy.samples, accuracy.unknown),
            ),
            (
                "  waits within the range",
                accuracy
                    .within_range_ratio()
                    .map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0)),
            ),
            (
                "  mean |wait - estimate|",
                accuracy
                    .mean_absolute_error()
                    .map_or("-".to_owned(), |e| seconds(e.as_millis() as u64)),
            ),
        ]
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}
