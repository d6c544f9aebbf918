//! Capacity: an account holds more sessions than its capacity only by sessions
//! that a rule lets past it, and each overflow is attributed to its rule.
//!
//! Why counting at the end is enough: a session placed by a rule bound by
//! capacity (R7a, R7c, R8, R14) was placed while the account had a free slot, so
//! the account's capacity-bound sessions held now were all held together right
//! after the last of them was placed: at most its capacity. Hence, if fenliu
//! keeps the rules, `occupancy - capacity <=` the sessions it holds that came by
//! a rule ignoring capacity: R2/R3 (addressed), R4 (no participant), R5
//! (affinity), R13b/d/e (offline list, proxy, main account), R16 (transfer) and
//! R17 (pull; an indeterminate pull counts for the puller, whichever session it
//! may have taken).

use std::collections::BTreeMap;

use fenliu_tests::pb;
use pb::RouteReason as R;

use super::{Evidence, Invariant};

/// The rule that let a session past its account's capacity, if any.
fn rule_ignoring_capacity(reason: pb::RouteReason) -> Option<&'static str> {
    Some(match reason {
        R::Addressed => "R2 addressed",
        R::AddressedOffline => "R3 addressed offline",
        R::NoParticipants => "R4 no participant",
        R::Affinity => "R5 affinity",
        R::OfflineList => "R13b offline list",
        R::Proxy => "R13d proxy",
        R::MainAccount => "R13e main account",
        _ => return None,
    })
}

pub fn overflows_attributed(evidence: &Evidence) -> Invariant {
    let mut verdict = Invariant::new("capacity exceeded only where a rule allows it");
    let mut by_rule: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut overflowing = 0;
    for (shop, state) in &evidence.last.shops {
        for account in &state.accounts {
            verdict.checked += 1;
            let config = account.account.clone().unwrap_or_default();
            let capacity = config.effective_max_concurrent;
            if account.occupancy <= capacity {
                continue;
            }
            overflowing += 1;
            let over = account.occupancy - capacity;
            let mut attributed: Vec<(u64, &'static str)> = Vec::new();
            for id in &account.session_ids {
                if let Some(rule) = attribution(evidence, shop, &config.account_id, *id) {
                    attributed.push((*id, rule));
                }
            }
            let unknown_pulls = evidence
                .index
                .unknown_pulls
                .get(&(shop.as_str(), config.account_id.as_str()))
                .copied()
                .unwrap_or(0);
            for (_, rule) in &attributed {
                *by_rule.entry(rule).or_default() += 1;
            }
            let allowed = attributed.len() + unknown_pulls;
            if over as usize > allowed {
                let reasons: Vec<String> = account
                    .session_ids
                    .iter()
                    .map(|id| {
                        let read = evidence.session(shop, *id);
                        format!("{id}:{:?}", read.map(|s| s.reason()))
                    })
                    .collect();
                verdict.flag(
                    false,
                    format!(
                        "{shop} account {} holds {} of {capacity}, {over} over, but only {allowed} sessions came by a rule ignoring capacity ({attributed:?}, {unknown_pulls} indeterminate pulls); sessions and first reasons: {reasons:?}",
                        config.account_id, account.occupancy
                    ),
                );
            }
        }
    }
    verdict.notes.push(format!(
        "{overflowing} accounts over capacity at the end; the sessions that may have put them there, by rule: {by_rule:?}"
    ));
    verdict
}

/// Why session `id`, held by `account`, may be past the account's capacity: the
/// rule that placed it there ignoring capacity, if any.
fn attribution(evidence: &Evidence, shop: &str, account: &str, id: u64) -> Option<&'static str> {
    let index = &evidence.index;
    let transferred_here = index.transfers.get(&(shop, id)).is_some_and(|ops| {
        ops.iter().any(
            |op| matches!(&op.call, crate::history::Call::Transfer { to, .. } if to == account),
        )
    });
    if transferred_here {
        return Some("R16 transfer");
    }
    let pulled_here = index.pulled.get(&(shop, id)).is_some_and(|ops| {
        ops.iter().any(
            |op| matches!(&op.call, crate::history::Call::Pull { account: a, .. } if a == account),
        )
    });
    if pulled_here {
        return Some("R17 pull");
    }
    let session = evidence.session(shop, id)?;
    // Placed here by its first rule: it never moved, or its Route was answered
    // with this account.
    let placed_here = index.routed.get(&(shop, id)).is_some_and(|ops| {
        ops.iter()
            .any(|op| op.routed().is_some_and(|(s, _, _)| s.account_id == account))
    });
    if index.may_have_moved(shop, id) && !placed_here {
        return None;
    }
    rule_ignoring_capacity(session.reason())
}
