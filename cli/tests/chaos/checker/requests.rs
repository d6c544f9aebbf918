//! Request ids and buyers: a retried request id always got the first answer
//! (during the chaos and once more after the heal) and was decided once; a buyer
//! has one open session per shop, at the end and in real time.

use std::collections::BTreeMap;

use fenliu_tests::pb;
use pb::SessionState::{Assigned, Pooled, Queued};

use super::{EXAMPLES, Evidence, Invariant};
use crate::history::Op;

/// The parts of an answer a replay must repeat: the session, its state,
/// account and queue as they were first answered.
fn gist(session: &pb::Session) -> (u64, i32, &str, &str) {
    (
        session.session_id,
        session.state,
        session.account_id.as_str(),
        session.queue.as_str(),
    )
}

/// Every answer to one request id is the first (R1), at most one of them was
/// decided rather than replayed, each is about the request's buyer, and sent
/// again after the heal it is answered the same, marked a replay.
pub fn retries_get_the_first_answer(evidence: &Evidence) -> Invariant {
    let mut verdict = Invariant::new("a retried request id always got the first answer");
    let mut retried = 0;
    for ((shop, request_id), ops) in &evidence.index.by_request {
        let answered: Vec<&Op> = ops.iter().copied().filter(|op| op.is_ok()).collect();
        let Some(first) = answered.first() else {
            continue;
        };
        verdict.checked += 1;
        if ops.len() > 1 {
            retried += 1;
        }
        let excused = evidence.loss.any_lost(&answered);
        let (first_session, _, _) = first.routed().expect("routed");
        let route = first.route().expect("route");
        for op in &answered {
            let (session, _, _) = op.routed().expect("routed");
            if session.buyer_id != route.buyer {
                verdict.flag(
                    false,
                    format!(
                        "{shop} {request_id} answered about another buyer: {}",
                        op.describe()
                    ),
                );
            }
            if gist(session) != gist(first_session) {
                verdict.flag(
                    excused,
                    format!(
                        "{shop} {request_id}: {} then {}",
                        first.describe(),
                        op.describe()
                    ),
                );
            }
        }
        let decided = answered
            .iter()
            .filter(|op| !op.routed().expect("routed").2)
            .count();
        if decided > 1 {
            let all: Vec<String> = answered.iter().map(|op| op.describe()).collect();
            verdict.flag(
                excused,
                format!("{shop} {request_id} decided {decided} times: {all:?}"),
            );
        }
    }
    for replay in evidence.replays {
        let request_id = replay.route.request_id.as_str();
        let key = (replay.shop.as_str(), request_id);
        let ops = &evidence.index.by_request[&key];
        let first = ops.iter().find(|op| op.is_ok()).expect("acknowledged");
        let (first_session, _, _) = first.routed().expect("routed");
        let excused = evidence.loss.any_lost(&[first]);
        match &replay.answer {
            Ok((session, true)) if gist(session) == gist(first_session) => {}
            answer => verdict.flag(
                excused,
                format!(
                    "{} {request_id} sent again after the heal: {answer:?}; first {}",
                    replay.shop,
                    first.describe()
                ),
            ),
        }
    }
    verdict.notes.push(format!(
        "{retried} request ids sent more than once during the chaos; {} acknowledged ones sent again after the heal",
        evidence.replays.len()
    ));
    verdict
}

fn is_open(state: pb::SessionState) -> bool {
    matches!(state, Queued | Assigned | Pooled)
}

/// One open session per buyer per shop: in the final state; and in real time, a
/// buyer's `Route` decided (not replayed) after another of the buyer's routes was
/// answered with an open session got that same session, unless an `EndSession`
/// of it may have happened before.
pub fn one_open_session_per_buyer(evidence: &Evidence) -> Invariant {
    let mut verdict = Invariant::new("one open session per buyer per shop");
    for shop in evidence.last.shops.keys() {
        let mut open: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for ((read_shop, id), read) in &evidence.last.sessions {
            if read_shop == shop
                && let Ok(session) = read
                && is_open(session.state())
            {
                open.entry(session.buyer_id.as_str()).or_default().push(*id);
            }
        }
        for (buyer, ids) in open {
            verdict.checked += 1;
            if ids.len() > 1 {
                verdict.flag(
                    false,
                    format!("{shop} buyer {buyer} has open sessions {ids:?} at the end"),
                );
            }
        }
    }
    for ((shop, buyer), ops) in &evidence.index.by_buyer {
        let decided: Vec<&Op> = ops
            .iter()
            .copied()
            .filter(|op| op.routed().is_some_and(|(_, _, replayed)| !replayed))
            .collect();
        let answered: Vec<&Op> = ops.iter().copied().filter(|op| op.is_ok()).collect();
        verdict.checked += decided.len();
        for later in &decided {
            let (later_session, _, _) = later.routed().expect("routed");
            for earlier in answered.iter().filter(|e| e.answered < later.sent) {
                let (session, _, _) = earlier.routed().expect("routed");
                if !is_open(session.state())
                    || session.session_id == later_session.session_id
                    || ended_before(evidence, shop, session.session_id, later)
                {
                    continue;
                }
                verdict.flag(
                    evidence.loss.any_lost(&[earlier]),
                    format!("{shop} buyer {buyer} given a second open session while the first could not have ended: {} then {}", earlier.describe(), later.describe()),
                );
                if verdict.violations.len() > EXAMPLES * 20 {
                    return verdict;
                }
            }
        }
    }
    verdict
}

/// Whether an `EndSession` of the session may have happened before `op` was
/// answered.
fn ended_before(evidence: &Evidence, shop: &str, id: u64, op: &Op) -> bool {
    evidence
        .index
        .ends
        .get(&(shop, id))
        .is_some_and(|ends| ends.iter().any(|end| end.sent < op.answered))
}
