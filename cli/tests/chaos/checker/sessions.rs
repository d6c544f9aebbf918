//! Sessions: at most one holder each; every acknowledged one still there (or
//! possibly ended), with its buyer and where the calls that may have touched it
//! could have put it; and none that no `Route` could have made.

use std::collections::{BTreeMap, BTreeSet};

use fenliu_tests::pb;
use pb::SessionState::{Assigned, Closed, Ended, Pooled, Queued};

use super::{Evidence, Invariant};
use crate::final_read::session_ids_in;
use crate::history::Op;

/// In each shop's final state, a session is held by one account at most, is not
/// both held and waiting, and `GetSession` agrees with where the state lists it.
pub fn single_holder(evidence: &Evidence) -> Invariant {
    let mut verdict = Invariant::new("at most one holder per session");
    for (shop, state) in &evidence.last.shops {
        let mut place: BTreeMap<u64, String> = BTreeMap::new();
        let mut put = |id: u64, here: String, verdict: &mut Invariant| {
            if let Some(before) = place.insert(id, here.clone()) {
                verdict.flag(
                    false,
                    format!("{shop}: session {id} is both {before} and {here}"),
                );
            }
        };
        for account in &state.accounts {
            let holder = account.account.as_ref().map(|a| a.account_id.clone());
            let holder = holder.unwrap_or_default();
            for id in &account.session_ids {
                put(*id, format!("held by {holder}"), &mut verdict);
            }
        }
        for queue in &state.queues {
            for session in &queue.sessions {
                put(
                    session.session_id,
                    format!("queued in {}", queue.name),
                    &mut verdict,
                );
            }
        }
        for session in &state.pool {
            put(session.session_id, "pooled".to_owned(), &mut verdict);
        }
        verdict.checked += place.len();
        for (id, here) in &place {
            let Some(read) = evidence.session(shop, *id) else {
                verdict.flag(
                    false,
                    format!("{shop}: session {id} {here}, GetSession finds nothing"),
                );
                continue;
            };
            let agrees = match here.split_once(' ') {
                Some(("held", by)) => {
                    by == format!("by {}", read.account_id)
                        && matches!(read.state(), Assigned | Ended)
                }
                Some(("queued", queue)) => {
                    read.state() == Queued && queue == format!("in {}", read.queue)
                }
                _ => read.state() == Pooled,
            };
            if !agrees {
                verdict.flag(
                    false,
                    format!("{shop}: session {id} {here} but GetSession says {read:?}"),
                );
            }
        }
    }
    verdict
}

/// Every acknowledged `Route`'s session is still there unless an `EndSession` of
/// it may have happened; with its buyer; ended only if it may have been ended;
/// with the account it was acknowledged on unless a `Transfer` may have moved it
/// (an assigned session leaves its account no other way); out of the pool only
/// by a `Transfer` (R18); never back to waiting once assigned.
pub fn acknowledged_sessions_kept(evidence: &Evidence) -> Invariant {
    let mut verdict = Invariant::new("every acknowledged session kept (or acknowledged ended)");
    let mut ended_figures = (0, 0);
    for ((shop, id), acks) in &evidence.index.routed {
        let (shop, id) = (*shop, *id);
        if id == 0 {
            continue;
        }
        verdict.checked += 1;
        let first = acks[0];
        let (acked, _, _) = first.routed().expect("routed");
        let excused = evidence.loss.any_lost(acks);
        let may_end = evidence.index.may_have_ended(shop, id);
        let may_move = evidence.index.may_have_moved(shop, id);
        let read = evidence.last.sessions.get(&(shop.to_owned(), id));
        let Some(Ok(now)) = read else {
            if may_end {
                ended_figures.0 += 1;
            } else {
                verdict.flag(
                    excused,
                    format!(
                        "{shop} session {id} lost (GetSession {read:?}); acknowledged by {}",
                        first.describe()
                    ),
                );
            }
            continue;
        };
        if now.buyer_id != acked.buyer_id {
            verdict.flag(
                excused,
                format!(
                    "{shop} session {id} now names buyer {} (acknowledged for {}): {}",
                    now.buyer_id,
                    acked.buyer_id,
                    first.describe()
                ),
            );
            continue;
        }
        let was = acked.state();
        let problem = match now.state() {
            Ended | Closed if !may_end => Some("ended, yet no EndSession of it may have happened"),
            Ended | Closed => {
                ended_figures.1 += 1;
                None
            }
            Queued | Pooled if was != now.state() => Some("back to waiting after being placed"),
            Assigned if was == Assigned && !may_move && now.account_id != acked.account_id => {
                Some("on another account, yet no Transfer of it may have happened")
            }
            Assigned if was == Pooled && !may_move => {
                Some("out of the message pool without a Transfer (R18)")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            verdict.flag(
                excused,
                format!(
                    "{shop} session {id} {problem}: now {:?} on {:?}; acknowledged {}",
                    now.state(),
                    now.account_id,
                    first.describe()
                ),
            );
        }
    }
    verdict.notes.push(format!(
        "acknowledged sessions since ended and gone: {}; ended and still read: {}",
        ended_figures.0, ended_figures.1
    ));
    verdict
}

/// Every session read back belongs to a buyer with a `Route` that may have
/// happened, and no buyer has more sessions than request ids that may have
/// decided (each request id decides at most once).
pub fn no_session_nobody_asked_for(evidence: &Evidence) -> Invariant {
    let mut verdict = Invariant::new("no session nobody asked for, none made twice");
    let mut sessions_of: BTreeMap<(&str, &str), BTreeSet<u64>> = BTreeMap::new();
    for ((shop, id), read) in &evidence.last.sessions {
        if let Ok(session) = read {
            sessions_of
                .entry((shop.as_str(), session.buyer_id.as_str()))
                .or_default()
                .insert(*id);
        }
    }
    for (shop, state) in &evidence.last.shops {
        for id in session_ids_in(state) {
            if !evidence.last.sessions.contains_key(&(shop.clone(), id)) {
                verdict.flag(
                    false,
                    format!("{shop} session {id} in the state was not read"),
                );
            }
        }
    }
    for ((shop, buyer), ids) in &sessions_of {
        verdict.checked += 1;
        let routes = evidence.index.by_buyer.get(&(*shop, *buyer));
        let routes: Vec<&Op> = routes
            .into_iter()
            .flatten()
            .copied()
            .filter(|op| op.may_have_happened())
            .collect();
        let requests: BTreeSet<&str> = routes
            .iter()
            .filter_map(|op| op.route().map(|r| r.request_id.as_str()))
            .collect();
        if ids.len() > requests.len() {
            verdict.flag(
                evidence.loss.any_lost(&routes),
                format!("{shop} buyer {buyer} has sessions {ids:?} from only {} request ids that may have decided", requests.len()),
            );
        }
    }
    verdict
}
