//! Properties of where a route puts a buyer: the open session and the retried
//! request (R1), the first deciding rule for a new buyer (R2–R13), non-routing
//! accounts (R11) and the bot's limits (R12).

use std::collections::{BTreeMap, HashMap};

use fenliu_worker::engine::{
    AssignCause, BuyerId, OfflinePolicy, RequestId, RouteReason, SessionId, SessionState,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::harness::{Call, route_outcome, run};
use crate::oracle::{Expected, addresses_missing_account, expected_placement, participates};
use crate::strategies::{BUYERS, Scenario};

/// R1: a buyer never has two open sessions, the buyer index agrees, and a new
/// message of a buyer with an open session joins it and changes nothing.
pub(crate) fn check_r01_each_buyer_has_at_most_one_open_session(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let mut open: BTreeMap<&BuyerId, Vec<SessionId>> = BTreeMap::new();
        for session in step.after.sessions().filter(|s| s.state.is_open()) {
            open.entry(&session.buyer).or_default().push(session.id);
        }
        for (buyer, ids) in &open {
            prop_assert_eq!(
                ids.len(),
                1,
                "step {}: buyer {} has open sessions {:?}",
                step.index,
                buyer,
                ids
            );
            prop_assert_eq!(
                step.after.open_session_of(buyer).map(|s| s.id),
                Some(ids[0])
            );
        }
        for n in 0..BUYERS {
            let buyer = BuyerId(format!("b{n}"));
            if !open.contains_key(&buyer) {
                prop_assert!(
                    step.after.open_session_of(&buyer).is_none(),
                    "step {}: buyer {} indexed without an open session",
                    step.index,
                    buyer
                );
            }
        }
        if let Call::Route {
            request,
            reused: false,
            result,
        } = step.call
            && let Some(existing) = step.before.open_session_of(&request.buyer)
            && !addresses_missing_account(step.before, request)
        {
            let outcome = route_outcome(step, result)?;
            prop_assert_eq!(
                outcome.reason,
                RouteReason::OpenSession,
                "step {}",
                step.index
            );
            prop_assert_eq!(outcome.session.id, existing.id, "step {}", step.index);
            prop_assert!(
                step.events.is_empty(),
                "step {}: joining an open session changed {:?}",
                step.index,
                step.events
            );
        }
        Ok(())
    })
}

/// R1: retrying a route with the same request id returns the first answer and
/// creates nothing; the id used for another buyer is refused.
pub(crate) fn check_r01_replayed_route_returns_the_first_answer(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    let mut first: HashMap<RequestId, (BuyerId, SessionId, RouteReason)> = HashMap::new();
    run(scenario, |step| {
        let Call::Route {
            request,
            reused,
            result,
        } = step.call
        else {
            return Ok(());
        };
        match first.get(&request.request_id) {
            Some((buyer, session, reason)) => {
                prop_assert!(*reused, "step {}: a fresh request id was known", step.index);
                if *buyer != request.buyer {
                    prop_assert!(
                        result.is_err(),
                        "step {}: request id of {} reused for {} was accepted",
                        step.index,
                        buyer,
                        request.buyer
                    );
                    return Ok(());
                }
                let outcome = route_outcome(step, result)?;
                prop_assert!(
                    outcome.replayed,
                    "step {}: retry not marked replayed",
                    step.index
                );
                prop_assert_eq!(
                    outcome.session.id,
                    *session,
                    "step {}: retry answered another session",
                    step.index
                );
                prop_assert_eq!(
                    outcome.reason,
                    *reason,
                    "step {}: retry answered another reason",
                    step.index
                );
                prop_assert!(
                    step.events.is_empty(),
                    "step {}: retry did something: {:?}",
                    step.index,
                    step.events
                );
                prop_assert_eq!(
                    step.after.sessions().count(),
                    step.before.sessions().count(),
                    "step {}: retry created a session",
                    step.index
                );
                for old in step.before.sessions() {
                    let new = step.after.session(old.id);
                    prop_assert_eq!(
                        new,
                        Some(old),
                        "step {}: retry changed session {}",
                        step.index,
                        old.id
                    );
                }
            }
            // A fresh id, or one whose first use was refused and so not recorded.
            None => {
                if addresses_missing_account(step.before, request) {
                    prop_assert!(
                        result.is_err(),
                        "step {}: addressed a removed account",
                        step.index
                    );
                    return Ok(());
                }
                let outcome = route_outcome(step, result)?;
                prop_assert!(
                    !outcome.replayed,
                    "step {}: a fresh request was answered as replayed",
                    step.index
                );
                first.insert(
                    request.request_id.clone(),
                    (request.buyer.clone(), outcome.session.id, outcome.reason),
                );
            }
        }
        Ok(())
    })
}

/// R2–R13: a fresh route of a buyer without an open session is placed by the
/// first rule that decides, judged on the state before the call.
pub(crate) fn check_r02_to_r13_new_buyer_placed_by_first_deciding_rule(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let Call::Route {
            request,
            reused: false,
            result,
        } = step.call
        else {
            return Ok(());
        };
        if addresses_missing_account(step.before, request) {
            prop_assert!(
                result.is_err(),
                "step {}: addressed a removed account",
                step.index
            );
            return Ok(());
        }
        if step.before.open_session_of(&request.buyer).is_some() {
            return Ok(());
        }
        let outcome = route_outcome(step, result)?;
        let session = step
            .after
            .session(outcome.session.id)
            .expect("routed session exists");
        let expected = expected_placement(step.before, request);
        match &expected {
            Expected::Assign { reason, to } => {
                prop_assert_eq!(
                    outcome.reason,
                    *reason,
                    "step {}: expected {:?}",
                    step.index,
                    expected
                );
                prop_assert_eq!(session.state, SessionState::Assigned, "step {}", step.index);
                let holder = session.account.clone().expect("assigned");
                prop_assert!(
                    to.contains(&holder),
                    "step {}: went to {}, expected one of {:?}",
                    step.index,
                    holder,
                    to
                );
            }
            Expected::Queue(queue) => {
                prop_assert_eq!(
                    outcome.reason,
                    RouteReason::Queued,
                    "step {}: expected {:?}",
                    step.index,
                    expected
                );
                prop_assert_eq!(session.state, SessionState::Queued, "step {}", step.index);
                prop_assert_eq!(session.queue, Some(*queue), "step {}", step.index);
            }
            Expected::Pool => {
                prop_assert_eq!(
                    outcome.reason,
                    RouteReason::MessagePool,
                    "step {}: expected {:?}",
                    step.index,
                    expected
                );
                prop_assert_eq!(session.state, SessionState::Pooled, "step {}", step.index);
            }
        }
        prop_assert_eq!(session.reason, outcome.reason);
        Ok(())
    })
}

/// R11: automatic placements go only to participating accounts; the exceptions go
/// exactly where their rule says (R2/R3 the addressed account, R4/R13e the main
/// account, R13d the proxy).
pub(crate) fn check_r11_non_routing_never_assigned_automatically(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let addressed = match step.call {
            Call::Route { request, .. } => request.addressed.clone(),
            _ => None,
        };
        for a in step.assignments {
            let expected_holder = match &a.cause {
                AssignCause::Rule(RouteReason::Addressed | RouteReason::AddressedOffline) => {
                    Some(addressed.clone())
                }
                AssignCause::Rule(RouteReason::NoParticipants | RouteReason::MainAccount) => {
                    Some(Some(step.after.main_account().clone()))
                }
                AssignCause::Rule(RouteReason::Proxy) => {
                    Some(step.after.settings().proxy_account.clone())
                }
                AssignCause::Rule(_) | AssignCause::Queue { .. } => {
                    prop_assert!(
                        participates(step.after, &a.account),
                        "step {}: {:?} gave session {} to non-participating {}",
                        step.index,
                        a.cause,
                        a.session,
                        a.account
                    );
                    None
                }
                AssignCause::Transfer { .. }
                | AssignCause::Manual { .. }
                | AssignCause::Pull { .. }
                | AssignCause::QueueTimeout { .. }
                | AssignCause::ReplyTimeout { .. } => None,
            };
            if let Some(holder) = expected_holder {
                prop_assert_eq!(
                    holder.as_ref(),
                    Some(&a.account),
                    "step {}: {:?} gave session {} to the wrong account",
                    step.index,
                    a.cause,
                    a.session
                );
            }
        }
        Ok(())
    })
}

/// R12: while the bot is enabled, no affinity (R5) and no PROXY_ACCOUNT or
/// MAIN_ACCOUNT policy; a bot hand-over never goes by affinity.
pub(crate) fn check_r12_bot_disables_affinity_and_forbidden_policies(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let settings = step.after.settings();
        if settings.bot_enabled {
            prop_assert!(
                !matches!(
                    settings.offline_policy,
                    OfflinePolicy::ProxyAccount | OfflinePolicy::MainAccount
                ),
                "bot enabled with policy {:?}",
                settings.offline_policy
            );
            for a in step.assignments {
                prop_assert!(
                    !matches!(
                        a.cause,
                        AssignCause::Rule(
                            RouteReason::Affinity | RouteReason::Proxy | RouteReason::MainAccount
                        )
                    ),
                    "step {}: bot on, yet {:?}",
                    step.index,
                    a.cause
                );
            }
        }
        if let Call::Route {
            request,
            reused: false,
            result: Ok(outcome),
        } = step.call
            && request.from_bot
        {
            prop_assert_ne!(outcome.reason, RouteReason::Affinity, "step {}", step.index);
        }
        Ok(())
    })
}
