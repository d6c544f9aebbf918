//! Properties of waiting sessions: queues are FIFO, drain to the account that may
//! serve the oldest, never wait beside a free slot (R14), and the message pool is
//! left only by hand (R18).

use fenliu_worker::engine::{
    Account, AccountId, AccountStatus, AssignCause, QueueName, SessionId, SessionState,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::harness::{Call, run};
use crate::oracle::{group_members_of, group_routing, is_available, participates};
use crate::strategies::Scenario;

/// R14, R17: a session taken from a queue (by R14 or by a pull) was its oldest:
/// nothing older is left waiting in that queue.
pub(crate) fn check_r14_queues_are_fifo(scenario: &Scenario) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        for a in step.assignments {
            let from = match &a.cause {
                AssignCause::Queue { from } | AssignCause::Pull { from } => *from,
                _ => continue,
            };
            let was = step.before.session(a.session).and_then(|s| s.queue);
            prop_assert_eq!(
                was,
                Some(from),
                "step {}: session {} did not wait in {}",
                step.index,
                a.session,
                from
            );
            let seq = step.after.session(a.session).expect("exists").enqueued_seq;
            for (name, ids) in step.after.queues() {
                if name != from {
                    continue;
                }
                for id in ids {
                    let waiting = step.after.session(*id).expect("exists").enqueued_seq;
                    prop_assert!(
                        waiting > seq,
                        "step {}: session {} (seq {}) left {} before older session {} (seq {})",
                        step.index,
                        a.session,
                        seq,
                        from,
                        id,
                        waiting
                    );
                }
            }
        }
        if let Call::Pull {
            queue,
            result: Ok(pulled),
            account,
        } = step.call
        {
            let oldest = step
                .before
                .queues()
                .find(|(name, _)| name == queue)
                .and_then(|(_, ids)| ids.front().copied());
            prop_assert_eq!(
                oldest,
                Some(*pulled),
                "step {}: {} pulled not the oldest of {}",
                step.index,
                account,
                queue
            );
        }
        Ok(())
    })
}

/// R14: when a slot frees, the account takes the oldest waiting session it may
/// serve: across all queues in basic mode; in group mode its own groups' queues
/// first, then the queues open to anyone (no group, or nobody of it available).
pub(crate) fn check_r14_drain_takes_the_oldest_session_the_account_may_serve(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let state = step.after;
        for a in step.assignments {
            if !matches!(a.cause, AssignCause::Queue { .. }) {
                continue;
            }
            let available = |id: &AccountId| {
                participates(state, id) && a.status.get(id) == Some(&AccountStatus::Online)
            };
            let members_of = |queue: QueueName| match queue {
                QueueName::Status(status) => group_members_of(state, status),
                QueueName::Shop => None,
            };
            let servable: Vec<(u64, SessionId)> = if group_routing(state) {
                let own: Vec<(u64, SessionId)> = a
                    .waiting
                    .iter()
                    .filter(|(_, (queue, _))| {
                        members_of(*queue).is_some_and(|m| m.contains(&a.account))
                    })
                    .map(|(id, (_, seq))| (*seq, *id))
                    .collect();
                if own.is_empty() {
                    a.waiting
                        .iter()
                        .filter(|(_, (queue, _))| {
                            members_of(*queue).is_none_or(|m| !m.iter().any(available))
                        })
                        .map(|(id, (_, seq))| (*seq, *id))
                        .collect()
                } else {
                    own
                }
            } else {
                a.waiting.iter().map(|(id, (_, seq))| (*seq, *id)).collect()
            };
            let oldest = servable.iter().min().map(|(_, id)| *id);
            prop_assert_eq!(
                oldest,
                Some(a.session),
                "step {}: {} took session {} from {:?}, the oldest it may serve is {:?}",
                step.index,
                a.account,
                a.session,
                a.cause,
                oldest
            );
        }
        Ok(())
    })
}

/// R14: queues drain by themselves. After every step, no waiting session could be
/// served by an available account with a free slot (in group mode, a group's
/// queue waits for its members while one is available, R7b).
pub(crate) fn check_r14_nobody_waits_while_a_servable_slot_is_free(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let state = step.after;
        let ready: Vec<&Account> = state
            .accounts()
            .filter(|a| is_available(a) && state.has_free_slot(a))
            .collect();
        for (queue, ids) in state.queues() {
            let members = match queue {
                QueueName::Status(status) if group_routing(state) => {
                    group_members_of(state, status).filter(|members| {
                        state
                            .accounts()
                            .any(|a| is_available(a) && members.contains(&a.id))
                    })
                }
                _ => None,
            };
            let servers: Vec<&AccountId> = ready
                .iter()
                .filter(|a| members.as_ref().is_none_or(|m| m.contains(&a.id)))
                .map(|a| &a.id)
                .collect();
            prop_assert!(
                servers.is_empty(),
                "step {}: {} sessions wait in {} while {:?} could serve them",
                step.index,
                ids.len(),
                queue,
                servers
            );
        }
        Ok(())
    })
}

/// R18: nothing leaves the message pool automatically, only by a manual
/// assignment of the main account or an account with pool permission.
pub(crate) fn check_r18_message_pool_is_left_only_by_hand(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        for id in step.before.pool() {
            let now = step.after.session(*id).expect("exists").state;
            match now {
                SessionState::Pooled => {}
                SessionState::Assigned => {
                    let Call::Transfer {
                        session,
                        actor,
                        result: Ok(()),
                        ..
                    } = step.call
                    else {
                        return Err(TestCaseError::fail(format!(
                            "step {}: pooled session {id} left the pool by itself",
                            step.index
                        )));
                    };
                    prop_assert_eq!(session, id);
                    let allowed = actor == step.after.main_account()
                        || step
                            .after
                            .account(actor)
                            .is_some_and(|a| a.config.pool_permission);
                    prop_assert!(
                        allowed,
                        "step {}: {} took session {} out of the pool without permission",
                        step.index,
                        actor,
                        id
                    );
                }
                SessionState::Closed => {
                    prop_assert!(
                        matches!(step.call, Call::End { session, result: Ok(()), .. } if session == id),
                        "step {}: pooled session {} closed by itself",
                        step.index,
                        id
                    );
                }
                other => {
                    return Err(TestCaseError::fail(format!(
                        "step {}: pooled session {id} became {other:?}",
                        step.index
                    )));
                }
            }
        }
        for a in step.assignments {
            if step
                .before
                .session(a.session)
                .is_some_and(|s| s.state == SessionState::Pooled)
            {
                prop_assert_eq!(
                    &a.cause,
                    &AssignCause::Manual { from_queue: None },
                    "step {}",
                    step.index
                );
            }
        }
        Ok(())
    })
}
