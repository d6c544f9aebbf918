//! The checker: the history and the state read back after the heal, held
//! against what fenliu promises. Each invariant reports how many things it
//! checked, its violations (with examples), and what it excused because the
//! Redis set-up of the run may lose acknowledged writes on a crash.
//!
//! Indeterminate calls are handled as Jepsen does: a call that timed out or
//! failed `UNAVAILABLE` may or may not have taken effect, so an effect it could
//! explain is allowed, and its absence too.
//!
//! - [`sessions`]: at most one holder per session; every acknowledged session
//!   still there (or possibly ended), with its buyer, and where the calls that
//!   may have touched it could have put it; no session nobody asked for.
//! - [`requests`]: a retried request id got the first answer, each request id
//!   decided once, and one open session per buyer per shop (at the end, and in
//!   real time: a buyer's second `Route` joins the first session unless it may
//!   have been ended in between).
//! - [`capacity`]: an account over its capacity only by sessions a rule lets
//!   past it (R2, R3, R4, R5, R13b/d/e, R16, R17), each overflow attributed.
//! - [`queues`]: queues in order, and nobody served from a queue before an
//!   older session still waiting in it.
//! - [`isolation`]: nothing of one shop in another; settings and groups as set;
//!   each account's status is the value of a write that may be the last.
//!
//! - [`self_test`]: made-up cases with known faults, judged before the run.
//!
//! And here: every shop and session could be read back, and no call failed with
//! a code a client cannot act on (only definite refusals, `UNAVAILABLE` and
//! deadlines: transient failures are `UNAVAILABLE`, never UNKNOWN or CANCELLED).

mod capacity;
mod isolation;
mod queues;
mod requests;
pub mod self_test;
mod sessions;

use std::collections::HashMap;
use std::time::Duration;

use fenliu_testkit::AppendFsync;
use fenliu_tests::pb;

use crate::final_read::{FinalState, Replay};
use crate::history::{Call, Op, Outcome, is_unexpected};
use crate::shops::ShopSpec;

/// How many examples of each violation the report shows.
pub const EXAMPLES: usize = 5;

/// One invariant's verdict.
#[derive(Debug, Default)]
pub struct Invariant {
    pub name: &'static str,
    /// How many things were checked.
    pub checked: usize,
    /// Each violation, described.
    pub violations: Vec<String>,
    /// What would be a violation but for a Redis crash that may lose recent
    /// acknowledged writes in this set-up.
    pub excused: Vec<String>,
    /// Figures worth printing (e.g. overflows by rule).
    pub notes: Vec<String>,
}

impl Invariant {
    fn new(name: &'static str) -> Invariant {
        Invariant {
            name,
            ..Invariant::default()
        }
    }

    /// Records a violation, or an excused one if `excused`.
    pub fn flag(&mut self, excused: bool, what: String) {
        if excused {
            self.excused.push(what);
        } else {
            self.violations.push(what);
        }
    }
}

/// What a Redis crash may lose in this run's set-up: with `appendfsync always`
/// nothing acknowledged; with `everysec`, writes acknowledged in the
/// [`EVERYSEC_LOSS`] before each SIGKILL.
#[derive(Debug)]
pub struct LossModel {
    pub fsync: AppendFsync,
    /// When Redis was killed, from the run's start.
    pub kills: Vec<Duration>,
}

/// How far back a crash of Redis fsyncing every second may lose: a second, and
/// as long again when a background fsync is slow (Redis then postpones writing).
pub const EVERYSEC_LOSS: Duration = Duration::from_secs(2);

impl LossModel {
    /// Whether something acknowledged at `at` may have been lost by a crash.
    pub fn may_be_lost(&self, at: Duration) -> bool {
        self.fsync == AppendFsync::EverySec
            && self
                .kills
                .iter()
                .any(|kill| at <= *kill && *kill - at <= EVERYSEC_LOSS)
    }

    /// Whether any call of `ops` was acknowledged where a crash may have lost it.
    pub fn any_lost(&self, ops: &[&Op]) -> bool {
        ops.iter().any(|op| self.may_be_lost(op.answered))
    }
}

/// The history indexed the ways the checks look it up.
#[derive(Debug, Default)]
pub struct Index<'a> {
    /// Answered `Route`s, by (shop, session id).
    pub routed: HashMap<(&'a str, u64), Vec<&'a Op>>,
    /// `EndSession`s that may have happened, by (shop, session id).
    pub ends: HashMap<(&'a str, u64), Vec<&'a Op>>,
    /// `Transfer`s that may have happened, by (shop, session id).
    pub transfers: HashMap<(&'a str, u64), Vec<&'a Op>>,
    /// Answered `PullQueued`s, by (shop, session id pulled).
    pub pulled: HashMap<(&'a str, u64), Vec<&'a Op>>,
    /// Indeterminate `PullQueued`s, by (shop, account): each may have moved an
    /// unknown session.
    pub unknown_pulls: HashMap<(&'a str, &'a str), usize>,
    /// Every `Route`, by (shop, request id), in the order answered.
    pub by_request: HashMap<(&'a str, &'a str), Vec<&'a Op>>,
    /// Every `Route`, by (shop, buyer), in the order answered.
    pub by_buyer: HashMap<(&'a str, &'a str), Vec<&'a Op>>,
}

impl<'a> Index<'a> {
    pub fn new(ops: &'a [Op]) -> Index<'a> {
        let mut index = Index::default();
        for op in ops {
            let shop = op.shop.as_str();
            match &op.call {
                Call::Route(route) => {
                    if let Some((session, _, _)) = op.routed() {
                        let key = (shop, session.session_id);
                        index.routed.entry(key).or_default().push(op);
                    }
                    let request = (shop, route.request_id.as_str());
                    index.by_request.entry(request).or_default().push(op);
                    let buyer = (shop, route.buyer.as_str());
                    index.by_buyer.entry(buyer).or_default().push(op);
                }
                Call::End { session_id } if op.may_have_happened() => {
                    index.ends.entry((shop, *session_id)).or_default().push(op);
                }
                Call::Transfer { session_id, .. } if op.may_have_happened() => {
                    let key = (shop, *session_id);
                    index.transfers.entry(key).or_default().push(op);
                }
                Call::Pull { account, .. } => match op.answered_session() {
                    Some(session) => {
                        let key = (shop, session.session_id);
                        index.pulled.entry(key).or_default().push(op);
                    }
                    None if op.may_have_happened() => {
                        *index.unknown_pulls.entry((shop, account)).or_default() += 1;
                    }
                    None => {}
                },
                _ => {}
            }
        }
        index
    }

    /// Whether an `EndSession` of the session may have happened.
    pub fn may_have_ended(&self, shop: &str, id: u64) -> bool {
        self.ends.contains_key(&(shop, id))
    }

    /// Whether a `Transfer` of the session may have happened.
    pub fn may_have_moved(&self, shop: &str, id: u64) -> bool {
        self.transfers.contains_key(&(shop, id))
    }
}

/// Everything the checks read.
#[derive(Debug)]
pub struct Evidence<'a> {
    pub specs: &'a [ShopSpec],
    /// Each shop as created (before the chaos).
    pub created: &'a [pb::Shop],
    pub ops: &'a [Op],
    pub index: Index<'a>,
    pub last: &'a FinalState,
    pub replays: &'a [Replay],
    pub loss: &'a LossModel,
}

impl Evidence<'_> {
    /// The final `GetSession` of a session, if it was read and found.
    pub fn session(&self, shop: &str, id: u64) -> Option<&pb::Session> {
        self.last
            .sessions
            .get(&(shop.to_owned(), id))
            .and_then(|read| read.as_ref().ok())
    }
}

/// Runs every check.
pub fn check_all(evidence: &Evidence) -> Vec<Invariant> {
    let mut readable = Invariant::new("every shop and session read back after the heal");
    readable.checked = evidence.specs.len() + evidence.last.sessions.len();
    readable.violations.extend(evidence.last.unreadable.clone());
    for ((shop, id), read) in &evidence.last.sessions {
        if let Err(code) = read
            && *code != tonic::Code::NotFound
        {
            readable
                .violations
                .push(format!("{shop} session {id}: GetSession {code:?}"));
        }
    }
    let mut codes = Invariant::new("every failure a definite refusal, UNAVAILABLE or a deadline");
    for op in evidence.ops {
        codes.checked += 1;
        if let Outcome::Fail(refusal) | Outcome::Unknown(refusal) = &op.outcome
            && is_unexpected(refusal)
        {
            codes.violations.push(op.describe());
        }
    }
    vec![
        readable,
        codes,
        sessions::single_holder(evidence),
        sessions::acknowledged_sessions_kept(evidence),
        sessions::no_session_nobody_asked_for(evidence),
        requests::retries_get_the_first_answer(evidence),
        requests::one_open_session_per_buyer(evidence),
        capacity::overflows_attributed(evidence),
        queues::queues_in_order(evidence),
        isolation::no_cross_shop_effect(evidence),
        isolation::statuses_are_a_last_write(evidence),
    ]
}
