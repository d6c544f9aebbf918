//! Properties of where sessions sit and how full accounts get: the engine's own
//! recount after every step, capacity exceeded only by the exception rules, and
//! automatic placements taking a free slot (R7, R8, R14).

use std::collections::BTreeSet;

use fenliu_worker::engine::{
    AccountId, AccountStatus, AssignCause, QueueName, RouteReason, SessionId, SessionState,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::harness::{Call, run};
use crate::oracle::{capacity_of, may_exceed_capacity, needs_free_slot, participates};
use crate::strategies::Scenario;

/// The engine's own recount agrees after every step, and every session is where
/// its state says it is, exactly once; no session is ever lost or reopened.
pub(crate) fn check_engine_invariants_hold_after_every_step(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let after = step.after;
        if let Err(message) = after.check_invariants() {
            return Err(TestCaseError::fail(format!(
                "step {}: {message}",
                step.index
            )));
        }
        let queued: Vec<(QueueName, SessionId)> = after
            .queues()
            .flat_map(|(name, ids)| ids.iter().map(move |id| (name, *id)))
            .collect();
        let pooled: Vec<SessionId> = after.pool().iter().copied().collect();
        for id in queued.iter().map(|(_, id)| id).chain(&pooled) {
            prop_assert!(
                after.session(*id).is_some(),
                "step {}: waiting session {id} does not exist",
                step.index
            );
        }
        for session in after.sessions() {
            let in_queues: Vec<QueueName> = queued
                .iter()
                .filter(|(_, id)| *id == session.id)
                .map(|(q, _)| *q)
                .collect();
            let in_pool = pooled.iter().filter(|id| **id == session.id).count();
            match session.state {
                SessionState::Queued => {
                    prop_assert!(
                        session.account.is_none(),
                        "step {}: queued session {} has an account",
                        step.index,
                        session.id
                    );
                    prop_assert_eq!(
                        session.queue.map(|q| vec![q]),
                        Some(in_queues),
                        "step {}: session {} queue",
                        step.index,
                        session.id
                    );
                    prop_assert_eq!(in_pool, 0);
                }
                SessionState::Pooled => {
                    prop_assert!(
                        session.account.is_none(),
                        "step {}: pooled session {} has an account",
                        step.index,
                        session.id
                    );
                    prop_assert!(in_queues.is_empty() && session.queue.is_none());
                    prop_assert_eq!(
                        in_pool,
                        1,
                        "step {}: pooled session {} is {} times in the pool",
                        step.index,
                        session.id,
                        in_pool
                    );
                }
                SessionState::Assigned | SessionState::Ended => {
                    // An ENDED session of a removed account has no slot left to hold.
                    prop_assert!(
                        session.account.is_some() || session.state == SessionState::Ended,
                        "step {}: session {} held by nobody",
                        step.index,
                        session.id
                    );
                    prop_assert!(
                        in_queues.is_empty() && session.queue.is_none() && in_pool == 0,
                        "step {}: held session {} still waits",
                        step.index,
                        session.id
                    );
                    if session.state == SessionState::Ended {
                        prop_assert!(session.closes_at.is_some());
                    }
                }
                SessionState::Closed => {
                    prop_assert!(
                        in_queues.is_empty() && in_pool == 0,
                        "step {}: closed session {} still waits",
                        step.index,
                        session.id
                    );
                }
            }
        }
        // Nothing is lost (runs are far shorter than the retention), and states only
        // move forward.
        for old in step.before.sessions() {
            let Some(new) = after.session(old.id) else {
                return Err(TestCaseError::fail(format!(
                    "step {}: session {} was lost",
                    step.index, old.id
                )));
            };
            prop_assert_eq!(&new.buyer, &old.buyer);
            let allowed: &[SessionState] = match old.state {
                SessionState::Queued => &[
                    SessionState::Queued,
                    SessionState::Assigned,
                    SessionState::Closed,
                ],
                SessionState::Pooled => &[
                    SessionState::Pooled,
                    SessionState::Assigned,
                    SessionState::Closed,
                ],
                SessionState::Assigned => &[
                    SessionState::Assigned,
                    SessionState::Ended,
                    SessionState::Closed,
                ],
                SessionState::Ended => &[SessionState::Ended, SessionState::Closed],
                SessionState::Closed => &[SessionState::Closed],
            };
            prop_assert!(
                allowed.contains(&new.state),
                "step {}: session {} went from {:?} to {:?}",
                step.index,
                old.id,
                old.state,
                new.state
            );
        }
        Ok(())
    })
}

/// Capacity: an account that never received a session by an exception to
/// capacity (R2, R3, R4, R5, R13b/d/e, R16, R17) and never had its capacity
/// lowered is never over capacity.
pub(crate) fn check_capacity_is_exceeded_only_by_exception_rules(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    let mut excused: BTreeSet<AccountId> = BTreeSet::new();
    run(scenario, |step| {
        for assignment in step.assignments {
            if may_exceed_capacity(&assignment.cause) {
                excused.insert(assignment.account.clone());
            }
        }
        if let Call::Upsert {
            account,
            old_capacity,
            new_capacity,
            result: Ok(()),
        } = step.call
            && old_capacity.is_some_and(|old| *new_capacity < old)
        {
            excused.insert(account.clone());
        }
        for account in step.after.accounts() {
            if !excused.contains(&account.id) {
                prop_assert!(
                    account.occupancy() <= step.after.capacity(account),
                    "step {}: {} holds {} of {} slots without an exception",
                    step.index,
                    account.id,
                    account.occupancy(),
                    step.after.capacity(account)
                );
            }
        }
        Ok(())
    })
}

/// R7, R8, R14: every automatic placement that is not an exception goes to an
/// available (participating, ONLINE) account that had a free slot at that moment;
/// R5's goes to a participating, logged-in account.
pub(crate) fn check_r07_r08_r14_automatic_picks_take_a_free_slot(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        for a in step.assignments {
            let participating = participates(step.after, &a.account);
            let status = a.status.get(&a.account).copied();
            if needs_free_slot(&a.cause) {
                let occupancy = a.occupancy.get(&a.account).copied().unwrap_or(0);
                let capacity = capacity_of(step.after, &a.account);
                prop_assert!(
                    occupancy < capacity,
                    "step {}: {:?} gave session {} to {} holding {} of {} slots",
                    step.index,
                    a.cause,
                    a.session,
                    a.account,
                    occupancy,
                    capacity
                );
                prop_assert!(
                    participating && status == Some(AccountStatus::Online),
                    "step {}: {:?} gave session {} to {} ({:?}, participating {})",
                    step.index,
                    a.cause,
                    a.session,
                    a.account,
                    status,
                    participating
                );
            }
            if a.cause == AssignCause::Rule(RouteReason::Affinity) {
                prop_assert!(
                    participating && status.is_some_and(AccountStatus::is_logged_in),
                    "step {}: affinity gave session {} to {} ({:?}, participating {})",
                    step.index,
                    a.session,
                    a.account,
                    status,
                    participating
                );
            }
        }
        Ok(())
    })
}
