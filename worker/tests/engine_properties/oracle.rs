//! The rules oracle: the routing rules restated plainly over a shop's public state
//! (who is available, which causes may exceed capacity, where R2–R13 must place a new
//! buyer), for the properties to hold the engine's decisions against.

use std::collections::BTreeSet;

use fenliu_worker::engine::{
    Account, AccountId, AccountStatus, AssignCause, OfflinePolicy, OrderStatus, QueueName,
    RouteReason, RouteRequest, RoutingMode, ShopState,
};

pub(crate) fn capacity_of(state: &ShopState, id: &AccountId) -> u32 {
    state.account(id).map_or(0, |a| state.capacity(a))
}

pub(crate) fn participates(state: &ShopState, id: &AccountId) -> bool {
    state.account(id).is_some_and(|a| a.config.participates())
}

pub(crate) fn is_available(account: &Account) -> bool {
    account.config.participates() && account.status == AccountStatus::Online
}

pub(crate) fn group_routing(state: &ShopState) -> bool {
    state.settings().routing_mode == RoutingMode::Group && state.groups().next().is_some()
}

pub(crate) fn group_members_of(
    state: &ShopState,
    status: OrderStatus,
) -> Option<BTreeSet<AccountId>> {
    state
        .groups()
        .find(|g| g.order_statuses.contains(&status))
        .map(|g| g.members.clone())
}

fn effective_policy(state: &ShopState) -> OfflinePolicy {
    if state.settings().bot_enabled {
        OfflinePolicy::MessagePool
    } else {
        state.settings().offline_policy
    }
}

/// Placed by a route with an exception to capacity (R2, R3, R4, R5, R13b/d/e), by
/// hand (R16, R17), or by a queue timeout's action (R21).
pub(crate) fn may_exceed_capacity(cause: &AssignCause) -> bool {
    match cause {
        AssignCause::Rule(reason) => matches!(
            reason,
            RouteReason::Addressed
                | RouteReason::AddressedOffline
                | RouteReason::NoParticipants
                | RouteReason::Affinity
                | RouteReason::OfflineList
                | RouteReason::Proxy
                | RouteReason::MainAccount
        ),
        AssignCause::Transfer { .. } | AssignCause::Manual { .. } | AssignCause::Pull { .. } => {
            true
        }
        // R21's timeout actions take full accounts; R22 moves only into a free slot.
        AssignCause::QueueTimeout { .. } => true,
        AssignCause::Queue { .. } | AssignCause::ReplyTimeout { .. } => false,
    }
}

/// Automatic placements that need an available account with a free slot (R7, R8, R14).
pub(crate) fn needs_free_slot(cause: &AssignCause) -> bool {
    matches!(
        cause,
        AssignCause::Rule(RouteReason::Even | RouteReason::Group | RouteReason::AnyOnline)
            | AssignCause::Queue { .. }
    )
}

/// The request addresses an account that does not exist (removed): refused.
pub(crate) fn addresses_missing_account(state: &ShopState, request: &RouteRequest) -> bool {
    request
        .addressed
        .as_ref()
        .is_some_and(|id| state.account(id).is_none())
}

/// Where a new, unaddressed-or-addressed buyer must go, by R2–R13 in order, judged on
/// the state before the call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expected {
    Assign {
        reason: RouteReason,
        to: BTreeSet<AccountId>,
    },
    Queue(QueueName),
    Pool,
}

pub(crate) fn expected_placement(state: &ShopState, request: &RouteRequest) -> Expected {
    let Some(addressed) = &request.addressed else {
        return expected_unaddressed(state, request, None);
    };
    let account = state.account(addressed).expect("generated accounts exist");
    let only = |id: &AccountId| [id.clone()].into_iter().collect::<BTreeSet<_>>();
    // R2.
    if account.status.is_logged_in() {
        return Expected::Assign {
            reason: RouteReason::Addressed,
            to: only(addressed),
        };
    }
    // R3.
    if state.settings().offline_forwarding && account.config.participates() {
        return expected_unaddressed(state, request, Some(addressed));
    }
    Expected::Assign {
        reason: RouteReason::AddressedOffline,
        to: only(addressed),
    }
}

fn expected_unaddressed(
    state: &ShopState,
    request: &RouteRequest,
    excluded: Option<&AccountId>,
) -> Expected {
    let main = state.main_account().clone();
    let only = |id: &AccountId| [id.clone()].into_iter().collect::<BTreeSet<_>>();
    // R4.
    if !state.accounts().any(|a| a.config.participates()) {
        return Expected::Assign {
            reason: RouteReason::NoParticipants,
            to: only(&main),
        };
    }
    // R5, R6, R11, R12.
    if !state.settings().bot_enabled
        && !request.from_bot
        && let Some(affinity) = state.affinity(&request.buyer, state.clock())
        && let Some(account) = state.account(&affinity.account)
        && account.config.participates()
        && account.status.is_logged_in()
        && Some(&account.id) != excluded
    {
        return Expected::Assign {
            reason: RouteReason::Affinity,
            to: only(&account.id),
        };
    }
    let available: Vec<&Account> = state
        .accounts()
        .filter(|a| is_available(a) && Some(&a.id) != excluded)
        .collect();
    let free = |accounts: &[&Account]| -> BTreeSet<AccountId> {
        accounts
            .iter()
            .filter(|a| state.has_free_slot(a))
            .map(|a| a.id.clone())
            .collect()
    };
    let queue = if group_routing(state) {
        let status = request.order_status;
        let queue = QueueName::Status(status);
        if let Some(members) = group_members_of(state, status) {
            let in_group: Vec<&Account> = available
                .iter()
                .copied()
                .filter(|a| members.contains(&a.id))
                .collect();
            if !in_group.is_empty() {
                // R7a, R7b.
                let to = free(&in_group);
                return if to.is_empty() {
                    Expected::Queue(queue)
                } else {
                    Expected::Assign {
                        reason: RouteReason::Group,
                        to,
                    }
                };
            }
        }
        // R7c.
        let to = free(&available);
        if !to.is_empty() {
            return Expected::Assign {
                reason: RouteReason::AnyOnline,
                to,
            };
        }
        queue
    } else {
        // R8.
        let to = free(&available);
        if !to.is_empty() {
            return Expected::Assign {
                reason: RouteReason::Even,
                to,
            };
        }
        QueueName::Shop
    };
    if !available.is_empty() {
        return Expected::Queue(queue);
    }
    // R13.
    match effective_policy(state) {
        OfflinePolicy::Queue => Expected::Queue(queue),
        OfflinePolicy::OfflineList => {
            let to: BTreeSet<AccountId> = state
                .settings()
                .offline_list
                .iter()
                .filter(|id| Some(*id) != excluded && participates(state, id))
                .cloned()
                .collect();
            if to.is_empty() {
                Expected::Queue(queue)
            } else {
                Expected::Assign {
                    reason: RouteReason::OfflineList,
                    to,
                }
            }
        }
        OfflinePolicy::MessagePool => Expected::Pool,
        OfflinePolicy::ProxyAccount => match &state.settings().proxy_account {
            Some(proxy) if Some(proxy) != excluded => Expected::Assign {
                reason: RouteReason::Proxy,
                to: only(proxy),
            },
            _ => Expected::Queue(queue),
        },
        OfflinePolicy::MainAccount => {
            if Some(&main) == excluded {
                Expected::Queue(queue)
            } else {
                Expected::Assign {
                    reason: RouteReason::MainAccount,
                    to: only(&main),
                }
            }
        }
    }
}
