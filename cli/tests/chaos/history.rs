//! The history: every call the workload made, with when it was sent and when it
//! was answered (from the run's start) and what it came to, as Jepsen keeps it.
//!
//! An outcome is `Ok` (the answer), `Fail` (a refusal that means the call
//! changed nothing: a bad or forbidden call, an unknown id, a quota) or `Unknown`
//! (a timeout, `UNAVAILABLE`, a broken connection, or any unexpected code: the
//! call may or may not have taken effect, and the checker must allow both).

use std::sync::Mutex;
use std::time::Duration;

use fenliu_tests::pb;
use tokio::time::Instant;
use tonic::{Code, Status};

/// A `Route` as sent.
#[derive(Clone, Debug)]
pub struct RouteCall {
    pub buyer: String,
    pub request_id: String,
    pub order_status: pb::OrderStatus,
    /// The addressed account (R2, R3), empty for none.
    pub addressed: String,
    /// Whether this request id was sent before (a client's retry).
    pub retry: bool,
}

impl RouteCall {
    pub fn request(&self, shop: &str) -> pb::RouteRequest {
        pb::RouteRequest {
            shop_id: shop.to_owned(),
            buyer_id: self.buyer.clone(),
            request_id: self.request_id.clone(),
            order_status: self.order_status as i32,
            addressed_account_id: self.addressed.clone(),
            from_bot: false,
            // R23's priorities and R24's explanations stay off: the chaos
            // workload checks R1–R19's promises.
            ..Default::default()
        }
    }
}

/// A call of the workload.
#[derive(Clone, Debug)]
pub enum Call {
    Route(RouteCall),
    /// `EndSession` by the platform (no actor).
    End {
        session_id: u64,
    },
    /// `Transfer` by the main account.
    Transfer {
        session_id: u64,
        to: String,
    },
    Pull {
        account: String,
        queue: String,
    },
    SetStatus {
        account: String,
        status: pb::AccountStatus,
    },
}

impl Call {
    /// The kind's name, for the report.
    pub fn kind(&self) -> &'static str {
        match self {
            Call::Route(route) if route.retry => "Route (retry)",
            Call::Route(_) => "Route (fresh)",
            Call::End { .. } => "EndSession",
            Call::Transfer { .. } => "Transfer",
            Call::Pull { .. } => "PullQueued",
            Call::SetStatus { .. } => "SetAccountStatus",
        }
    }
}

/// A refusal as it came: its code and message.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub code: Code,
    pub message: String,
}

/// What an answered call said.
#[derive(Clone, Debug)]
pub enum Answer {
    Routed {
        session: pb::Session,
        reason: pb::RouteReason,
        replayed: bool,
    },
    Session(pb::Session),
    Status(pb::AccountStatus),
}

/// What a call came to.
#[derive(Clone, Debug)]
pub enum Outcome {
    Ok(Answer),
    /// Refused: it changed nothing.
    Fail(Refusal),
    /// Indeterminate: it may or may not have taken effect.
    Unknown(Refusal),
}

impl Outcome {
    /// A refusal sorted into `Fail` or `Unknown` by its code. A status made by
    /// the client's own transport (it carries the error as its source; one the
    /// dispatcher sent does not) means the connection to the dispatcher failed:
    /// recorded as UNAVAILABLE, whatever code tonic gave it (UNKNOWN "transport
    /// error" for a dispatcher killed mid-call).
    pub fn from_status(status: &Status) -> Outcome {
        let code = if std::error::Error::source(status).is_some() {
            Code::Unavailable
        } else {
            status.code()
        };
        let refusal = Refusal {
            code,
            message: status.message().to_owned(),
        };
        if changed_nothing(code) {
            Outcome::Fail(refusal)
        } else {
            Outcome::Unknown(refusal)
        }
    }

    /// "ok", "fail" or "unknown", for the report.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ok(_) => "ok",
            Outcome::Fail(_) => "fail",
            Outcome::Unknown(_) => "unknown",
        }
    }
}

/// Codes whose refusal is definite: the API promises a refused call changes
/// nothing, and none of these can come from a call cut off half way.
fn changed_nothing(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::PermissionDenied
            | Code::ResourceExhausted
            | Code::OutOfRange
            | Code::AlreadyExists
            | Code::Unauthenticated
    )
}

/// Whether a failure is one a client should never see from fenliu, even under
/// faults: the retryable outage codes are `UNAVAILABLE` and an expired deadline
/// (tonic reports a deadline enforced by the server as CANCELLED "Timeout
/// expired").
pub fn is_unexpected(refusal: &Refusal) -> bool {
    match refusal.code {
        Code::Unavailable | Code::DeadlineExceeded => false,
        Code::Cancelled => !refusal.message.contains("Timeout expired"),
        code => !changed_nothing(code),
    }
}

/// One call of the history.
#[derive(Clone, Debug)]
pub struct Op {
    /// The client (task) that made it.
    pub client: usize,
    /// The dispatcher it was sent to.
    pub dispatcher: usize,
    pub shop: String,
    pub call: Call,
    /// When it was sent, from the run's start.
    pub sent: Duration,
    /// When its answer (or refusal, or the client's give-up) came.
    pub answered: Duration,
    pub outcome: Outcome,
}

impl Op {
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }

    /// Whether it may have taken effect: answered, or indeterminate.
    pub fn may_have_happened(&self) -> bool {
        !matches!(self.outcome, Outcome::Fail(_))
    }

    pub fn route(&self) -> Option<&RouteCall> {
        match &self.call {
            Call::Route(route) => Some(route),
            _ => None,
        }
    }

    /// The session a `Route` was answered with, its reason and whether it was a
    /// replay.
    pub fn routed(&self) -> Option<(&pb::Session, pb::RouteReason, bool)> {
        match &self.outcome {
            Outcome::Ok(Answer::Routed {
                session,
                reason,
                replayed,
            }) => Some((session, *reason, *replayed)),
            _ => None,
        }
    }

    /// The session an `EndSession`, `Transfer` or `PullQueued` was answered with.
    pub fn answered_session(&self) -> Option<&pb::Session> {
        match &self.outcome {
            Outcome::Ok(Answer::Session(session)) => Some(session),
            _ => None,
        }
    }

    /// The session id the call names, for `EndSession` and `Transfer`.
    pub fn target_session(&self) -> Option<u64> {
        match &self.call {
            Call::End { session_id } | Call::Transfer { session_id, .. } => Some(*session_id),
            _ => None,
        }
    }

    /// A line for a violation's example.
    pub fn describe(&self) -> String {
        let outcome = match &self.outcome {
            Outcome::Ok(Answer::Routed {
                session,
                reason,
                replayed,
            }) => format!(
                "ok session {} {:?} account {:?} queue {:?} reason {reason:?} replayed {replayed}",
                session.session_id,
                session.state(),
                session.account_id,
                session.queue
            ),
            Outcome::Ok(Answer::Session(session)) => format!(
                "ok session {} {:?} account {:?}",
                session.session_id,
                session.state(),
                session.account_id
            ),
            Outcome::Ok(Answer::Status(status)) => format!("ok {status:?}"),
            Outcome::Fail(refusal) | Outcome::Unknown(refusal) => {
                format!(
                    "{} {:?} {}",
                    self.outcome.label(),
                    refusal.code,
                    refusal.message
                )
            }
        };
        format!(
            "[{:.3}s..{:.3}s c{} d{}] {} {:?} -> {outcome}",
            self.sent.as_secs_f64(),
            self.answered.as_secs_f64(),
            self.client,
            self.dispatcher,
            self.shop,
            self.call
        )
    }
}

/// The history of a run, shared by every client.
#[derive(Debug)]
pub struct History {
    /// The run's start: every time in the history is counted from it.
    started: Instant,
    /// The calls, in the order they were answered.
    ops: Mutex<Vec<Op>>,
}

impl History {
    pub fn new(started: Instant) -> History {
        History {
            started,
            ops: Mutex::new(Vec::new()),
        }
    }

    /// Now, from the run's start.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn record(&self, op: Op) {
        self.ops.lock().expect("history lock").push(op);
    }

    /// Every call so far, in the order they were answered.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().expect("history lock").clone()
    }
}
