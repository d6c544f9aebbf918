//! Properties of R9, how even picks spread the load: the LEAST_LOADED check over
//! random sequences, and the runs of new buyers over equal accounts in which the
//! LEAST_LOADED and ROUND_ROBIN properties count each account's share.

use std::time::Duration;

use fenliu_worker::engine::{
    Account, AccountConfig, AccountId, AccountStatus, AccountUpsert, AssignCause, BuyerId,
    Distribution, OrderStatus, Profile, RequestId, Role, RouteReason, RouteRequest, RoutingMode,
    SettingsPatch, ShopId, ShopState, Timestamp,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::harness::run;
use crate::oracle::group_members_of;
use crate::shop::account_id;
use crate::strategies::{Scenario, T0, millis};

/// R9 with LEAST_LOADED: every even pick has the fewest occupied slots among its
/// candidates, ties going to the least recently assigned.
pub(crate) fn check_r09_least_loaded_pick_has_fewest_occupied_slots(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        if step.after.settings().distribution != Distribution::LeastLoaded {
            return Ok(());
        }
        for a in step.assignments {
            let AssignCause::Rule(
                reason @ (RouteReason::Even | RouteReason::Group | RouteReason::AnyOnline),
            ) = a.cause
            else {
                continue;
            };
            let session = step.after.session(a.session).expect("exists");
            let members = (reason == RouteReason::Group)
                .then(|| group_members_of(step.after, session.order_status))
                .flatten();
            let occupancy = |id: &AccountId| a.occupancy.get(id).copied().unwrap_or(0);
            let candidates: Vec<&Account> = step
                .before
                .accounts()
                .filter(|c| c.config.participates())
                .filter(|c| a.status.get(&c.id) == Some(&AccountStatus::Online))
                .filter(|c| occupancy(&c.id) < step.before.capacity(c))
                .filter(|c| members.as_ref().is_none_or(|m| m.contains(&c.id)))
                .collect();
            let picked = occupancy(&a.account);
            let fewest = candidates.iter().map(|c| occupancy(&c.id)).min();
            prop_assert_eq!(
                Some(picked),
                fewest,
                "step {}: {:?} picked {} with {} slots taken",
                step.index,
                reason,
                a.account,
                picked
            );
            let picked_seq = step
                .before
                .account(&a.account)
                .expect("exists")
                .last_assigned_seq;
            for c in candidates.iter().filter(|c| occupancy(&c.id) == picked) {
                prop_assert!(
                    picked_seq <= c.last_assigned_seq,
                    "step {}: {} (last assigned #{}) picked over less recently assigned {} (#{})",
                    step.index,
                    a.account,
                    picked_seq,
                    c.id,
                    c.last_assigned_seq
                );
            }
        }
        Ok(())
    })
}

/// N available customer-service accounts with equal (large) capacity, M new buyers,
/// nothing ending and nobody changing status: per-account counts.
pub(crate) fn even_run(
    distribution: Distribution,
    profile: Profile,
    accounts: usize,
    buyers: &[(usize, bool, u64)],
) -> Result<Vec<usize>, TestCaseError> {
    let mut now = Timestamp(T0);
    let mut state = ShopState::new(ShopId::from("shop"), profile, AccountId::from("main"), now);
    state
        .update_settings(
            &SettingsPatch {
                routing_mode: Some(RoutingMode::Basic),
                distribution: Some(distribution),
                presence_ttl: Some(Duration::from_secs(24 * 3600)),
                ..SettingsPatch::default()
            },
            now,
        )
        .expect("valid settings");
    let ids: Vec<AccountId> = (1..=accounts).map(account_id).collect();
    for id in &ids {
        state
            .upsert_account(
                AccountUpsert {
                    id: id.clone(),
                    config: AccountConfig {
                        display_name: id.to_string(),
                        roles: [Role::CustomerService].into_iter().collect(),
                        non_routing: false,
                        max_concurrent: Some(500),
                        pool_permission: false,
                        main_account_participates: false,
                    },
                },
                now,
            )
            .expect("valid account");
        state
            .set_account_status(id, AccountStatus::Online, now)
            .expect("account exists");
    }
    let mut counts = vec![0usize; accounts];
    for (n, (status, from_bot, wait_ms)) in buyers.iter().enumerate() {
        now = Timestamp(now.as_millis() + wait_ms);
        let request = RouteRequest {
            buyer: BuyerId(format!("b{n}")),
            request_id: RequestId(format!("r{n}")),
            order_status: OrderStatus::ALL[status % OrderStatus::ALL.len()],
            addressed: None,
            from_bot: *from_bot,
        };
        let outcome = state
            .route(&request, now)
            .map_err(|e| TestCaseError::fail(format!("route {n} refused: {e}")))?;
        prop_assert_eq!(outcome.reason, RouteReason::Even, "route {}", n);
        let holder = outcome.session.account.expect("assigned");
        let index = ids.iter().position(|id| *id == holder);
        prop_assert!(index.is_some(), "route {} went to {}", n, holder);
        if let Some(index) = index {
            counts[index] += 1;
        }
    }
    Ok(counts)
}

pub(crate) fn buyers_strategy() -> impl Strategy<Value = Vec<(usize, bool, u64)>> {
    prop::collection::vec((0usize..6, prop::bool::weighted(0.2), millis(20)), 1..=100)
}

pub(crate) fn spread(counts: &[usize]) -> usize {
    counts.iter().max().copied().unwrap_or(0) - counts.iter().min().copied().unwrap_or(0)
}
