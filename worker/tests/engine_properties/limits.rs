//! The caps on a shop's size (`ShopLimits`), on random scenarios run under caps
//! tight enough to be met: a call is refused for a cap only when the shop is at
//! it, the refusal changes nothing, and every `Route` decides exactly as the
//! same shop without caps would (R1–R13 unchanged).

use fenliu_worker::engine::{EngineError, ShopLimits, ShopState};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::harness::{Call, Step, run_with_limits};
use crate::strategies::Scenario;

/// Caps the scenarios meet often: they have up to 7 accounts, 2 groups and 8
/// buyers.
const TIGHT: ShopLimits = ShopLimits {
    max_accounts: 4,
    max_groups: 1,
    max_open_sessions: 4,
    max_queued_sessions: 1,
};

const UNLIMITED: ShopLimits = ShopLimits {
    max_accounts: u32::MAX,
    max_groups: u32::MAX,
    max_open_sessions: u32::MAX,
    max_queued_sessions: u32::MAX,
};

/// How many of what `cap` counts the shop has.
fn count_of(cap: &str, state: &ShopState) -> usize {
    match cap {
        "max_accounts" => state.accounts().count(),
        "max_groups" => state.groups().count(),
        "max_open_sessions" => state.open_session_count(),
        "max_queued_sessions" => state.queued_session_count(),
        other => panic!("no such cap: {other}"),
    }
}

fn value_of(cap: &str, limits: ShopLimits) -> u32 {
    match cap {
        "max_accounts" => limits.max_accounts,
        "max_groups" => limits.max_groups,
        "max_open_sessions" => limits.max_open_sessions,
        "max_queued_sessions" => limits.max_queued_sessions,
        other => panic!("no such cap: {other}"),
    }
}

/// The refusal of a cap, if `call` was one.
fn cap_refusal(call: &Call) -> Option<&'static str> {
    let error = match call {
        Call::Route { result, .. } => result.as_ref().err(),
        Call::Upsert { result, .. } | Call::Group { result } => result.as_ref().err(),
        _ => None,
    }?;
    matches!(error, EngineError::ResourceExhausted { .. }).then(|| error.field())
}

fn check_step(step: &Step<'_>) -> Result<(), TestCaseError> {
    if let Some(cap) = cap_refusal(step.call) {
        let reached = count_of(cap, step.before) >= value_of(cap, TIGHT) as usize;
        prop_assert!(reached, "step {}: {cap} refused below it", step.index);
        prop_assert!(
            step.events.is_empty() && step.write_set.is_empty(),
            "step {}: the refusal of {cap} changed something",
            step.index
        );
        prop_assert_eq!(step.after.snapshot(), step.before.snapshot());
    }
    // A Route decides as without caps: the same answer, or a refusal where
    // the uncapped shop would have grown past a cap.
    if let Call::Route {
        request, result, ..
    } = step.call
    {
        let mut free = step.before.clone();
        free.set_limits(UNLIMITED);
        let uncapped = free.route(request, step.before.clock());
        match (result, uncapped) {
            (Ok(capped), Ok(uncapped)) => prop_assert_eq!(capped, &uncapped),
            (Err(EngineError::ResourceExhausted { .. }), Ok(uncapped)) => {
                prop_assert!(
                    !uncapped.replayed
                        && free.open_session_count() > step.before.open_session_count()
                );
            }
            (Err(capped), Err(uncapped)) => prop_assert_eq!(capped, &uncapped),
            (capped, uncapped) => {
                return Err(TestCaseError::fail(format!(
                    "step {}: capped {capped:?}, uncapped {uncapped:?}",
                    step.index
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn check_caps_refuse_only_growth_and_otherwise_decide_as_without_them(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run_with_limits(scenario, TIGHT, check_step)
}
