//! Queues in order (R14, R17): each queue read back lists its sessions oldest
//! first with positions 1, 2, …; and no session was served out of a queue (by a
//! freed slot or a pull, both of which take the oldest) while an older session of
//! the same queue is still waiting at the end.
//!
//! Session ids grow with creation within a shop, and a session enters its queue
//! when it is created, so a smaller id waiting in a queue is an older one. A
//! session that left its queue by `EndSession` or `Transfer` (manual assignment,
//! R16) may leave out of order; those that may have are not counted as served.

use std::collections::BTreeSet;

use fenliu_tests::pb;
use pb::SessionState::{Assigned, Ended, Queued};

use super::{Evidence, Invariant};

pub fn queues_in_order(evidence: &Evidence) -> Invariant {
    let mut verdict = Invariant::new("queues in order");
    let mut served_from_queues = 0;
    for (shop, state) in &evidence.last.shops {
        for queue in &state.queues {
            let ids: Vec<u64> = queue.sessions.iter().map(|s| s.session_id).collect();
            verdict.checked += ids.len();
            if ids.windows(2).any(|pair| pair[0] >= pair[1]) {
                verdict.flag(
                    false,
                    format!("{shop} queue {} not oldest first: {ids:?}", queue.name),
                );
            }
            let positions: Vec<u32> = queue.sessions.iter().map(|s| s.queue_position).collect();
            let expected: Vec<u32> = (1..=ids.len() as u32).collect();
            if positions != expected {
                verdict.flag(
                    false,
                    format!(
                        "{shop} queue {} positions {positions:?} for {ids:?}",
                        queue.name
                    ),
                );
            }
        }
        for ((routed_shop, id), acks) in &evidence.index.routed {
            if routed_shop != shop {
                continue;
            }
            let (acked, _, _) = acks[0].routed().expect("routed");
            if acked.state() != Queued {
                continue;
            }
            let Some(now) = evidence.session(shop, *id) else {
                continue;
            };
            let left_by_hand = evidence.index.may_have_ended(shop, *id)
                || evidence.index.may_have_moved(shop, *id);
            if left_by_hand || !matches!(now.state(), Assigned | Ended) {
                continue;
            }
            served_from_queues += 1;
            verdict.checked += 1;
            let waiting: BTreeSet<u64> = state
                .queues
                .iter()
                .filter(|q| q.name == acked.queue)
                .flat_map(|q| q.sessions.iter().map(|s| s.session_id))
                .filter(|waiting| waiting < id)
                .collect();
            if !waiting.is_empty() {
                verdict.flag(
                    evidence.loss.any_lost(acks),
                    format!("{shop} session {id} served from queue {} (now on {}) while older {waiting:?} still wait there; acknowledged {}", acked.queue, now.account_id, acks[0].describe()),
                );
            }
        }
    }
    verdict.notes.push(format!(
        "{served_from_queues} acknowledged queued sessions served from their queue by a freed slot or a pull"
    ));
    verdict
}
