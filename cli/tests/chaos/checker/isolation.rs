//! Shops apart, and settings and statuses as they were written: nothing of one
//! shop (buyer, account) appears in another; each shop's settings and groups are
//! still as created (the workload never changes them); and each account's
//! status is the value of a `SetAccountStatus` that may have been the last one
//! (a register: a write is out of the running once another was acknowledged
//! after it was answered; an indeterminate write may take effect at any time
//! after it was sent, even after its caller gave up, as a request held up in
//! the network may arrive late).

use std::collections::BTreeSet;

use fenliu_tests::pb;

use super::{Evidence, Invariant};
use crate::history::{Answer, Call, Op, Outcome};

pub fn no_cross_shop_effect(evidence: &Evidence) -> Invariant {
    let mut verdict = Invariant::new("no cross-shop effect");
    for (spec, created) in evidence.specs.iter().zip(evidence.created) {
        let shop = spec.id.as_str();
        verdict.checked += 1;
        let Some(state) = evidence.last.shops.get(shop) else {
            continue;
        };
        let buyers_prefix = format!("{shop}.");
        for ((read_shop, id), read) in &evidence.last.sessions {
            if read_shop == shop
                && let Ok(session) = read
                && !session.buyer_id.starts_with(&buyers_prefix)
            {
                verdict.flag(
                    false,
                    format!(
                        "{shop} session {id} is of buyer {} of another shop",
                        session.buyer_id
                    ),
                );
            }
        }
        let waiting = state
            .queues
            .iter()
            .flat_map(|q| &q.sessions)
            .chain(&state.pool);
        for session in waiting {
            if !session.buyer_id.starts_with(&buyers_prefix) {
                verdict.flag(
                    false,
                    format!(
                        "{shop} waits for buyer {} of another shop",
                        session.buyer_id
                    ),
                );
            }
        }
        let accounts: Vec<String> = state
            .accounts
            .iter()
            .filter_map(|a| a.account.as_ref().map(|c| c.account_id.clone()))
            .collect();
        let mut expected: Vec<String> =
            spec.account_ids().iter().map(|a| (*a).to_owned()).collect();
        let mut sorted = accounts.clone();
        sorted.sort();
        expected.sort();
        if sorted != expected {
            verdict.flag(
                false,
                format!("{shop} has accounts {accounts:?}, set up with {expected:?}"),
            );
        }
        if state.shop.as_ref() != Some(created) {
            verdict.flag(
                false,
                format!(
                    "{shop} settings changed: created {created:?}, now {:?}",
                    state.shop
                ),
            );
        }
        let groups: BTreeSet<(String, Vec<String>)> = state
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.member_account_ids.clone()))
            .collect();
        let set_up: BTreeSet<(String, Vec<String>)> = spec
            .groups
            .iter()
            .map(|(name, members, _)| {
                (
                    (*name).to_owned(),
                    members.iter().map(|m| (*m).to_owned()).collect(),
                )
            })
            .collect();
        if groups != set_up {
            verdict.flag(
                false,
                format!("{shop} groups {groups:?}, set up with {set_up:?}"),
            );
        }
    }
    verdict
}

/// A status write: when it was sent and answered (never, if indeterminate),
/// the value, and whether it was acknowledged. The set-up's ONLINE counts as
/// acknowledged at time zero.
struct Write {
    sent: std::time::Duration,
    answered: std::time::Duration,
    value: pb::AccountStatus,
    acknowledged: bool,
}

pub fn statuses_are_a_last_write(evidence: &Evidence) -> Invariant {
    let mut verdict = Invariant::new("each account's status is a last write");
    for (shop, state) in &evidence.last.shops {
        for account in &state.accounts {
            let Some(config) = &account.account else {
                continue;
            };
            if config.account_id == fenliu_tests::MAIN {
                continue;
            }
            let writes = writes_of(evidence.ops, shop, &config.account_id);
            verdict.checked += 1;
            let now = account.status();
            let possible = writes.iter().any(|write| {
                write.value == now
                    && !writes
                        .iter()
                        .any(|later| later.acknowledged && later.sent > write.answered)
            });
            if !possible {
                let excused = writes
                    .iter()
                    .any(|w| w.acknowledged && evidence.loss.may_be_lost(w.answered));
                let tail: Vec<String> = writes
                    .iter()
                    .rev()
                    .take(4)
                    .map(|w| {
                        format!(
                            "{:?} {:.3}s..{:.3}s ack {}",
                            w.value,
                            w.sent.as_secs_f64(),
                            w.answered.as_secs_f64(),
                            w.acknowledged
                        )
                    })
                    .collect();
                verdict.flag(excused, format!("{shop} account {} is {now:?}, no write that may be the last says so; last writes {tail:?}", config.account_id));
            }
        }
    }
    verdict
}

/// The status writes of an account that may have happened, the set-up's first.
fn writes_of(ops: &[Op], shop: &str, account: &str) -> Vec<Write> {
    let set_up = Write {
        sent: Default::default(),
        answered: Default::default(),
        value: pb::AccountStatus::Online,
        acknowledged: true,
    };
    let calls = ops.iter().filter_map(|op| match (&op.call, &op.outcome) {
        (Call::SetStatus { account: a, status }, outcome) if op.shop == shop && a == account => {
            let acknowledged = matches!(outcome, Outcome::Ok(Answer::Status(_)));
            op.may_have_happened().then_some(Write {
                sent: op.sent,
                answered: if acknowledged {
                    op.answered
                } else {
                    std::time::Duration::MAX
                },
                value: *status,
                acknowledged,
            })
        }
        _ => None,
    });
    std::iter::once(set_up).chain(calls).collect()
}
