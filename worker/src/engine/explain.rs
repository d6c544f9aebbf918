//! R24: the full explanation of a decision. Every account of the shop, in id
//! order, with why it was or was not chosen: the rule that decided before any
//! pick, its availability, the group, its slots, its load against the account
//! chosen. Read-only: it is computed from the same state the decision was made on,
//! before the decision is applied, so asking for it never changes the decision.
//! R22's reassignments are explained the same way (who the session had already
//! timed out on).

use super::model::{Account, AccountId, AccountStatus, Group, RouteReason, Session};
use super::route::{Decision, Placement};
use super::route_call::{Candidate, RouteRequest, Why};
use super::settings::{Distribution, RoutingMode};
use super::state::ShopState;

/// What an account is compared against when it was not chosen.
struct PickScope<'a> {
    /// The offline addressed account R3 forwards away from.
    excluded: Option<&'a AccountId>,
    /// Accounts the session timed out on (R22).
    timed_out: &'a [AccountId],
    /// The group the pick was made in, when it was made in one (R7a, R7b).
    group: Option<&'a Group>,
    /// The pick was among the offline list's participating accounts, whatever
    /// their status and occupancy (R13b).
    offline_list: bool,
    /// The account chosen, whose load the others are compared with.
    picked: Option<&'a Account>,
}

impl ShopState {
    /// Every account and why it was or was not chosen by `decision`, made for
    /// `request` on this state.
    pub(crate) fn explain(&self, request: &RouteRequest, decision: &Decision) -> Vec<Candidate> {
        let chosen = match &decision.placement {
            Placement::Assign(account) => Some(account),
            Placement::Existing(session) => self.sessions[session].account.as_ref(),
            Placement::Queue(_) | Placement::Pool => None,
        };
        let before_any_pick = matches!(
            decision.reason,
            RouteReason::OpenSession
                | RouteReason::Addressed
                | RouteReason::AddressedOffline
                | RouteReason::NoParticipants
                | RouteReason::Affinity
        );
        let in_group = matches!(decision.reason, RouteReason::Group | RouteReason::Queued);
        let scope = PickScope {
            excluded: self.forwarded_away_from(request),
            timed_out: &[],
            group: in_group
                .then(|| self.group_with_available_member(request.order_status))
                .flatten(),
            offline_list: decision.reason == RouteReason::OfflineList,
            picked: chosen.and_then(|id| self.accounts.get(id)),
        };
        self.accounts
            .values()
            .map(|account| {
                let why = if Some(&account.id) == chosen {
                    Why::Chosen
                } else if before_any_pick {
                    Why::EarlierRule
                } else {
                    self.why_not(account, &scope)
                };
                Candidate {
                    account: account.id.clone(),
                    why,
                }
            })
            .collect()
    }

    /// Why each account did or did not get R22's reassignment of `session` (to
    /// `chosen`, if anyone), for the unanswered event.
    pub(crate) fn explain_reassignment(
        &self,
        session: &Session,
        group: Option<&Group>,
        chosen: Option<&AccountId>,
    ) -> Vec<Candidate> {
        let scope = PickScope {
            excluded: None,
            timed_out: &session.timed_out_on,
            group,
            offline_list: false,
            picked: chosen.and_then(|id| self.accounts.get(id)),
        };
        self.accounts
            .values()
            .map(|account| Candidate {
                account: account.id.clone(),
                why: if Some(&account.id) == chosen {
                    Why::Chosen
                } else {
                    self.why_not(account, &scope)
                },
            })
            .collect()
    }

    /// R3's excluded account: the offline, participating addressed account while
    /// offline forwarding is on.
    fn forwarded_away_from<'a>(&self, request: &'a RouteRequest) -> Option<&'a AccountId> {
        let addressed = request.addressed.as_ref()?;
        let account = self.accounts.get(addressed)?;
        let forwarded = self.settings.offline_forwarding
            && !account.status.is_logged_in()
            && account.config.participates();
        forwarded.then_some(addressed)
    }

    /// The group R7 routes the order status to, when it has an available member
    /// (otherwise R7c looks beyond it).
    fn group_with_available_member(&self, status: super::model::OrderStatus) -> Option<&Group> {
        if self.settings.routing_mode != RoutingMode::Group {
            return None;
        }
        self.group_of(status)
            .filter(|group| self.members_of(group).any(|a| a.is_available()))
    }

    fn why_not(&self, account: &Account, scope: &PickScope<'_>) -> Why {
        if Some(&account.id) == scope.excluded {
            return Why::ExcludedAddressed;
        }
        if scope.timed_out.contains(&account.id) {
            return Why::AlreadyTimedOut;
        }
        let listed = scope.offline_list
            && account.config.participates()
            && self.settings.offline_list.contains(&account.id);
        if listed {
            return self.compared_with_pick(account, scope.picked);
        }
        if account.config.non_routing {
            return Why::NonRouting;
        }
        if !account.config.participates() {
            return Why::NotParticipating;
        }
        match account.status {
            AccountStatus::Offline => return Why::Offline,
            AccountStatus::Suspended => return Why::Suspended,
            AccountStatus::Online => {}
        }
        if let Some(group) = scope.group
            && !group.members.contains(&account.id)
        {
            return Why::NotInGroup;
        }
        if !self.has_free_slot(account) {
            return Why::Full;
        }
        self.compared_with_pick(account, scope.picked)
    }

    /// An eligible account that was not chosen: more loaded than the account that
    /// was (R9's least loaded), or it lost the tie-break (or RANDOM's draw, or
    /// ROUND_ROBIN's turn).
    fn compared_with_pick(&self, account: &Account, picked: Option<&Account>) -> Why {
        match picked {
            Some(picked)
                if self.settings.distribution == Distribution::LeastLoaded
                    && account.occupancy() > picked.occupancy() =>
            {
                Why::MoreLoaded
            }
            _ => Why::LostTieBreak,
        }
    }
}
