//! Properties of what survives a crash or a shard move: every step's write set
//! names what it changed, and the shop restored from a snapshot decides as the
//! running one.

use std::collections::{BTreeMap, BTreeSet};

use fenliu_worker::engine::{
    AccountId, BuyerId, Group, GroupName, OrderStatus, QueueName, RequestId, RouteRequest,
    SessionId, ShopState, Timestamp,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::harness::{Call, run};
use crate::strategies::{BUYERS, Scenario};

/// Persistence: the write set of a step names every entity the step changed, so a
/// store that writes only those loses nothing across a crash or a shard move.
pub(crate) fn check_write_set_names_every_changed_entity(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let (before, after, written) = (step.before, step.after, step.write_set);
        let ids: BTreeSet<SessionId> = before
            .sessions()
            .chain(after.sessions())
            .map(|s| s.id)
            .collect();
        for id in ids {
            if before.session(id) != after.session(id) {
                prop_assert!(
                    written.sessions.contains(&id),
                    "step {}: session {} changed but is not in the write set {:?}",
                    step.index,
                    id,
                    step.call
                );
            }
        }
        let accounts: BTreeSet<AccountId> = before
            .accounts()
            .chain(after.accounts())
            .map(|a| a.id.clone())
            .collect();
        for id in accounts {
            // What an account's record holds; its slot counts are recounted from
            // the sessions, its presence deadline is stored apart.
            let stored = |state: &ShopState| {
                state
                    .account(&id)
                    .map(|a| (a.config.clone(), a.status, a.last_assigned_seq))
            };
            if stored(before) != stored(after) {
                prop_assert!(
                    written.accounts.contains(&id),
                    "step {}: account {} changed but is not in the write set {:?}",
                    step.index,
                    id,
                    step.call
                );
            }
            let presence =
                |state: &ShopState| state.account(&id).and_then(|a| a.presence_expires_at);
            if presence(before) != presence(after) {
                prop_assert!(
                    written.presence.contains(&id),
                    "step {}: presence of {} changed but is not in the write set {:?}",
                    step.index,
                    id,
                    step.call
                );
            }
        }
        let queues = |state: &ShopState| -> BTreeMap<QueueName, Vec<SessionId>> {
            state
                .queues()
                .map(|(name, ids)| (name, ids.iter().copied().collect()))
                .collect()
        };
        let (queues_before, queues_after) = (queues(before), queues(after));
        let names: BTreeSet<QueueName> = queues_before
            .keys()
            .chain(queues_after.keys())
            .copied()
            .collect();
        for name in names {
            if queues_before.get(&name) != queues_after.get(&name) {
                prop_assert!(
                    written.queues.contains(&name),
                    "step {}: queue {} changed but is not in the write set",
                    step.index,
                    name
                );
            }
        }
        if before.pool() != after.pool() {
            prop_assert!(
                written.pool,
                "step {}: the pool changed but is not in the write set",
                step.index
            );
        }
        if before.settings() != after.settings() {
            prop_assert!(
                written.settings,
                "step {}: settings changed but are not in the write set",
                step.index
            );
        }
        if before.counters() != after.counters() {
            prop_assert!(
                written.counters,
                "step {}: the shop's counters moved but are not in the write set",
                step.index
            );
        }
        let groups = |state: &ShopState| -> BTreeMap<GroupName, Group> {
            state
                .groups()
                .map(|g| (g.name.clone(), g.clone()))
                .collect()
        };
        let (groups_before, groups_after) = (groups(before), groups(after));
        let names: BTreeSet<GroupName> = groups_before
            .keys()
            .chain(groups_after.keys())
            .cloned()
            .collect();
        for name in names {
            if groups_before.get(&name) != groups_after.get(&name) {
                prop_assert!(
                    written.groups.contains(&name),
                    "step {}: group {} changed but is not in the write set",
                    step.index,
                    name
                );
            }
        }
        // The stored affinity, expired or not (Timestamp(0) is before every expiry).
        for n in 0..BUYERS {
            let buyer = BuyerId(format!("b{n}"));
            let (was, is) = (
                before.affinity(&buyer, Timestamp(0)),
                after.affinity(&buyer, Timestamp(0)),
            );
            if was != is {
                prop_assert!(
                    written.affinities.contains(&buyer),
                    "step {}: affinity of {} changed but is not in the write set",
                    step.index,
                    buyer
                );
            }
            // A store indexes the buyers with an affinity: a new one must say so.
            if was.is_none() && is.is_some() {
                prop_assert!(
                    written.new_affinities.contains(&buyer),
                    "step {}: affinity of {} is new but not marked so",
                    step.index,
                    buyer
                );
            }
        }
        if let Call::Route {
            request,
            result: Ok(outcome),
            ..
        } = step.call
            && !outcome.replayed
        {
            prop_assert!(
                written.route_records.contains(&request.request_id),
                "step {}: route {} not in the write set",
                step.index,
                request.request_id
            );
        }
        Ok(())
    })
}

/// Persistence: after every step, the shop restored from its snapshot passes its own
/// recount (which covers the group index the engine derives on restore) and
/// decides every new buyer, by each order status and addressed to each account, as
/// the running shop does.
pub(crate) fn check_restored_shop_decides_as_the_running_one(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let running = step.after;
        let now = running.clock();
        let restored = ShopState::restore(running.snapshot(), now);
        if let Err(message) = restored.check_invariants() {
            return Err(TestCaseError::fail(format!(
                "step {}: restored shop: {message}",
                step.index
            )));
        }
        let addressed = std::iter::once(None).chain(running.accounts().map(|a| Some(a.id.clone())));
        for addressed in addressed {
            for order_status in OrderStatus::ALL {
                let request = RouteRequest {
                    buyer: BuyerId::from("restore-probe"),
                    request_id: RequestId::from("restore-probe"),
                    order_status,
                    addressed: addressed.clone(),
                    from_bot: false,
                };
                prop_assert_eq!(
                    restored.decide(&request, now),
                    running.decide(&request, now),
                    "step {}: {:?} addressed to {:?}",
                    step.index,
                    order_status,
                    addressed
                );
            }
        }
        Ok(())
    })
}
