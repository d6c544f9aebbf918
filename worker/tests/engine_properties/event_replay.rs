//! Replays a step's events from the state before it, to know every account's
//! occupancy and status, and the waiting sessions, at the moment of each assignment.

use std::collections::BTreeMap;

use fenliu_worker::engine::{
    AccountId, AccountStatus, AssignCause, QueueName, SessionId, ShopEvent, ShopState, TimedEvent,
};
use proptest::test_runner::TestCaseError;
use proptest::{prop_assert, prop_assert_eq};

/// One `SessionAssigned` event, with the occupancy and status of every account and
/// the waiting sessions just before it happened (replayed from the events of the step).
#[derive(Debug)]
pub(crate) struct Assignment {
    pub(crate) session: SessionId,
    pub(crate) account: AccountId,
    pub(crate) cause: AssignCause,
    pub(crate) occupancy: BTreeMap<AccountId, u32>,
    pub(crate) status: BTreeMap<AccountId, AccountStatus>,
    /// Every queued session with its queue and arrival order.
    pub(crate) waiting: BTreeMap<SessionId, (QueueName, u64)>,
}

/// Replays a step's events from the state before it: occupancy moves with
/// assignments, transfers and closes of ended sessions; statuses with status events.
/// The replay must land exactly on the state after the step.
pub(crate) fn replay(
    before: &ShopState,
    after: &ShopState,
    events: &[TimedEvent],
) -> Result<Vec<Assignment>, TestCaseError> {
    let mut occupancy: BTreeMap<AccountId, u32> = before
        .accounts()
        .map(|a| (a.id.clone(), a.occupancy()))
        .collect();
    let mut status: BTreeMap<AccountId, AccountStatus> = before
        .accounts()
        .map(|a| (a.id.clone(), a.status))
        .collect();
    // An account created in the step starts OFFLINE and empty.
    for account in after.accounts() {
        occupancy.entry(account.id.clone()).or_insert(0);
        status
            .entry(account.id.clone())
            .or_insert(AccountStatus::Offline);
    }
    let mut waiting = waiting_sessions(before);
    let mut assignments = Vec::new();
    for timed in events {
        match &timed.event {
            ShopEvent::SessionQueued { session, queue, .. } => {
                let seq = after.session(*session).map_or(0, |s| s.enqueued_seq);
                waiting.insert(*session, (*queue, seq));
            }
            ShopEvent::SessionAssigned {
                session,
                account,
                cause,
                ..
            } => {
                assignments.push(Assignment {
                    session: *session,
                    account: account.clone(),
                    cause: cause.clone(),
                    occupancy: occupancy.clone(),
                    status: status.clone(),
                    waiting: waiting.clone(),
                });
                waiting.remove(session);
                // A transfer (R16) or R22's move frees a slot of the account left.
                if let AssignCause::Transfer { from } | AssignCause::ReplyTimeout { from } = cause {
                    let held = occupancy.get_mut(from);
                    prop_assert!(
                        held.as_ref().is_some_and(|n| **n > 0),
                        "transfer of session {session} from {from}, who held nothing"
                    );
                    if let Some(held) = held {
                        *held -= 1;
                    }
                }
                *occupancy.entry(account.clone()).or_default() += 1;
            }
            ShopEvent::SessionClosed {
                session,
                account: None,
            } => {
                waiting.remove(session);
            }
            // R21's timeout leaves a message: the session leaves its queue.
            ShopEvent::SessionPooled { session, .. } => {
                waiting.remove(session);
            }
            ShopEvent::SessionClosed {
                session,
                account: Some(account),
            } => {
                let held = occupancy.get_mut(account);
                prop_assert!(
                    held.as_ref().is_some_and(|n| **n > 0),
                    "session {session} closed on {account}, who held nothing"
                );
                if let Some(held) = held {
                    *held -= 1;
                }
            }
            ShopEvent::AccountStatusChanged {
                account, from, to, ..
            } => {
                prop_assert_eq!(
                    status.get(account),
                    Some(from),
                    "status event of {} out of step",
                    account
                );
                status.insert(account.clone(), *to);
            }
            _ => {}
        }
    }
    prop_assert_eq!(
        &waiting,
        &waiting_sessions(after),
        "events do not account for the queues"
    );
    for account in after.accounts() {
        prop_assert_eq!(
            occupancy.get(&account.id).copied(),
            Some(account.occupancy()),
            "events do not account for the occupancy of {}",
            account.id
        );
        prop_assert_eq!(
            status.get(&account.id).copied(),
            Some(account.status),
            "events do not account for the status of {}",
            account.id
        );
    }
    Ok(assignments)
}

fn waiting_sessions(state: &ShopState) -> BTreeMap<SessionId, (QueueName, u64)> {
    state
        .queues()
        .flat_map(|(queue, ids)| ids.iter().map(move |id| (*id, queue)))
        .map(|(id, queue)| {
            let seq = state.session(id).map_or(0, |s| s.enqueued_seq);
            (id, (queue, seq))
        })
        .collect()
}
