//! Properties of the calls that move or end a session and of the clock: transfers
//! (R16), ends and pulls (R19), refusals that change nothing, and close delays and
//! presence running out on time (R15).

use fenliu_worker::engine::{Account, AccountStatus, SessionState, ShopEvent, ShopState};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::harness::{Call, run};
use crate::strategies::Scenario;

/// R16, R18, R19: a transfer or manual assignment is accepted exactly when the
/// actor may make it (MAIN/ADMIN/CS_ADMIN or the holder; for the pool, the main
/// account or pool permission), even to a full or non-routing account; the session
/// then belongs to the receiver and the buyer's affinity follows it.
pub(crate) fn check_r16_transfer_goes_through_whenever_the_actor_may_make_it(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let Call::Transfer {
            session,
            actor,
            to,
            result,
        } = step.call
        else {
            return Ok(());
        };
        let before = step
            .before
            .session(*session)
            .expect("picked sessions exist");
        let (Some(actor_account), Some(_)) = (step.before.account(actor), step.before.account(to))
        else {
            prop_assert!(
                result.is_err(),
                "step {}: transfer with a removed account",
                step.index
            );
            return Ok(());
        };
        let permitted = if before.state == SessionState::Pooled {
            actor == step.before.main_account() || actor_account.config.pool_permission
        } else {
            actor_account.config.manages_sessions() || before.account.as_ref() == Some(actor)
        };
        let expected_ok =
            before.state.is_open() && before.account.as_ref() != Some(to) && permitted;
        prop_assert_eq!(
            result.is_ok(),
            expected_ok,
            "step {}: transfer of {:?} session {} by {} to {}: {:?}",
            step.index,
            before.state,
            session,
            actor,
            to,
            result
        );
        if result.is_ok() {
            let after = step.after.session(*session).expect("exists");
            prop_assert_eq!(after.state, SessionState::Assigned);
            prop_assert_eq!(after.account.as_ref(), Some(to), "step {}", step.index);
            if !step.after.settings().affinity_window.is_zero() {
                let affinity = step
                    .after
                    .affinity(&after.buyer, step.after.clock())
                    .map(|a| a.account.clone());
                prop_assert_eq!(
                    affinity.as_ref(),
                    Some(to),
                    "step {}: affinity did not follow",
                    step.index
                );
            }
        }
        Ok(())
    })
}

/// R15, R17, R19: ending is accepted exactly for an open session, by the system
/// (no actor), its holder or a MAIN/ADMIN/CS_ADMIN account; pulling exactly when the
/// account exists and the queue has a session, whatever the account's role, status,
/// participation or occupancy.
pub(crate) fn check_r19_end_and_pull_accepted_exactly_when_permitted(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        match step.call {
            Call::End {
                session,
                actor,
                result,
            } => {
                let session = step
                    .before
                    .session(*session)
                    .expect("picked sessions exist");
                let permitted = match actor {
                    None => true,
                    Some(actor) => step.before.account(actor).is_some_and(|a| {
                        session.account.as_ref() == Some(actor) || a.config.manages_sessions()
                    }),
                };
                let expected_ok = session.state.is_open() && permitted;
                prop_assert_eq!(
                    result.is_ok(),
                    expected_ok,
                    "step {}: end of {:?} session {} by {:?}: {:?}",
                    step.index,
                    session.state,
                    session.id,
                    actor,
                    result
                );
                if result.is_ok() {
                    let after = step.after.session(session.id).expect("exists");
                    let expected_state = if session.state == SessionState::Assigned
                        && !step.after.settings().close_delay.is_zero()
                    {
                        SessionState::Ended
                    } else {
                        SessionState::Closed
                    };
                    prop_assert_eq!(after.state, expected_state, "step {}", step.index);
                }
            }
            Call::Pull {
                account,
                queue,
                result,
            } => {
                let waiting = step
                    .before
                    .queues()
                    .any(|(name, ids)| name == *queue && !ids.is_empty());
                let expected_ok = step.before.account(account).is_some() && waiting;
                prop_assert_eq!(
                    result.is_ok(),
                    expected_ok,
                    "step {}: pull by {} from {}: {:?}",
                    step.index,
                    account,
                    queue,
                    result
                );
                if let Ok(pulled) = result {
                    let after = step.after.session(*pulled).expect("exists");
                    prop_assert_eq!(after.state, SessionState::Assigned);
                    prop_assert_eq!(after.account.as_ref(), Some(account), "step {}", step.index);
                }
            }
            _ => {}
        }
        Ok(())
    })
}

/// R19 and "bad input changes nothing": a refused call leaves every session and
/// account as it was and reports nothing.
pub(crate) fn check_r19_refused_calls_change_nothing(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        if !step.call.refused() {
            return Ok(());
        }
        prop_assert!(
            step.events.is_empty(),
            "step {}: refused {:?} reported {:?}",
            step.index,
            step.call,
            step.events
        );
        let sessions = |state: &ShopState| {
            let mut all: Vec<_> = state.sessions().cloned().map(|s| (s.id, s)).collect();
            all.sort_by_key(|(id, _)| *id);
            all
        };
        prop_assert_eq!(
            sessions(step.after),
            sessions(step.before),
            "step {}: refused {:?} changed sessions",
            step.index,
            step.call
        );
        let accounts: Vec<&Account> = step.after.accounts().collect();
        let before: Vec<&Account> = step.before.accounts().collect();
        prop_assert_eq!(
            accounts,
            before,
            "step {}: refused {:?} changed accounts",
            step.index,
            step.call
        );
        Ok(())
    })
}

/// R15 and presence: ended sessions close exactly when their close delay runs out,
/// and logged-in accounts go OFFLINE exactly when their presence runs out.
pub(crate) fn check_r15_close_delay_and_presence_ttl_run_out_on_time(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let after = step.after;
        let clock = after.clock();
        let delay = after.settings().close_delay;
        for timed in step.events {
            match &timed.event {
                ShopEvent::SessionEnded {
                    session, closes_at, ..
                } => {
                    prop_assert_eq!(
                        *closes_at,
                        timed.at.plus(delay),
                        "step {}: session {} close time",
                        step.index,
                        session
                    );
                }
                ShopEvent::SessionClosed {
                    session,
                    account: Some(_),
                } => {
                    let closes_at = after.session(*session).and_then(|s| s.closes_at);
                    prop_assert_eq!(
                        closes_at,
                        Some(timed.at),
                        "step {}: session {} closed at the wrong time",
                        step.index,
                        session
                    );
                }
                ShopEvent::AccountStatusChanged {
                    account,
                    presence_expired: true,
                    ..
                } => {
                    let deadline = step
                        .before
                        .account(account)
                        .and_then(|a| a.presence_expires_at);
                    prop_assert_eq!(
                        deadline,
                        Some(timed.at),
                        "step {}: {} expired at the wrong time",
                        step.index,
                        account
                    );
                }
                _ => {}
            }
            prop_assert!(
                timed.at <= clock,
                "step {}: event in the future",
                step.index
            );
        }
        for session in after.sessions().filter(|s| s.state == SessionState::Ended) {
            prop_assert!(
                session.closes_at.is_some_and(|at| at > clock),
                "step {}: session {} is still ENDED at {:?}, past {:?}",
                step.index,
                session.id,
                clock,
                session.closes_at
            );
        }
        for account in after.accounts() {
            match account.presence_expires_at {
                Some(at) => prop_assert!(
                    account.status.is_logged_in() && at > clock,
                    "step {}: {} is {:?} with presence until {:?} at {:?}",
                    step.index,
                    account.id,
                    account.status,
                    at,
                    clock
                ),
                None => prop_assert_eq!(
                    account.status,
                    AccountStatus::Offline,
                    "step {}: {} logged in without a presence deadline",
                    step.index,
                    account.id
                ),
            }
        }
        Ok(())
    })
}
