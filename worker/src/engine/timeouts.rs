//! R21 and R22: what happens by itself when a wait runs out.
//!
//! - R21, queue timeout: a session that has waited the shop's maximum queue wait
//!   leaves its queue at that moment by the queue-timeout action (the message
//!   pool, the offline list, the proxy or main account, or the least loaded
//!   available account, even full). An action whose target is gone by then (the
//!   offline list lost its accounts, nobody is available) leaves a message
//!   instead: the pool.
//! - R22, reply timeout: an assigned session whose buyer has waited that long for
//!   the holder's reply is *unanswered* (an event, the reminder); with
//!   reassignment on it moves to another available account with a free slot, by
//!   R9 among those it has not timed out on, at most `max_reassignments` times; the
//!   buyer's affinity moves only once the new holder replies ([`ShopState::record_reply`]).
//!
//! Both deadlines are derived from stored session data (when it was created, since
//! when its buyer waits) and the settings, so they survive a restart or a shard
//! move; [`super::lifecycle`] fires them in time order with everything else.

use super::distribution::pick_even;
use super::error::EngineError;
use super::events::ShopEvent;
use super::model::{
    Account, AccountId, AssignCause, Group, QueueName, RouteReason, Session, SessionId,
    SessionState, Timestamp,
};
use super::settings::{QueueTimeoutAction, RoutingMode};
use super::state::ShopState;

impl ShopState {
    /// R21: the wait of queued session `id` ran out at `at`.
    pub(crate) fn time_out_of_queue(&mut self, id: SessionId, at: Timestamp) {
        let Some(queue) = self.sessions.get(&id).and_then(|s| s.queue) else {
            return;
        };
        let target = self.queue_timeout_target(queue);
        let session = self.sessions.get_mut(&id).expect("session exists");
        session.reason = RouteReason::QueueTimeout;
        self.write_set.sessions.insert(id);
        match target {
            Some(account) => {
                self.assign(id, &account, AssignCause::QueueTimeout { from: queue }, at)
            }
            None => {
                self.detach_waiting(id);
                self.put_in_pool(id, RouteReason::QueueTimeout, at);
            }
        }
    }

    /// Who takes a session timed out of `queue`; `None`: the message pool.
    fn queue_timeout_target(&self, queue: QueueName) -> Option<AccountId> {
        match self.settings.queue_timeout_action {
            QueueTimeoutAction::MessagePool => None,
            QueueTimeoutAction::OfflineList => {
                let listed = self
                    .settings
                    .offline_list
                    .iter()
                    .filter_map(|id| self.accounts.get(id))
                    .filter(|a| a.config.participates());
                pick_even(self.settings.distribution, listed, self.seed()).map(|a| a.id.clone())
            }
            QueueTimeoutAction::ProxyAccount => self
                .settings
                .proxy_account
                .clone()
                .filter(|proxy| self.accounts.contains_key(proxy)),
            QueueTimeoutAction::MainAccount => Some(self.main_account.clone()),
            QueueTimeoutAction::LeastLoaded => self
                .accounts_serving(queue)
                .min_by(|a, b| self.by_occupancy_ratio(a, b))
                .map(|a| a.id.clone()),
        }
    }

    /// Lower occupancy ratio first (occupancy over capacity, compared without
    /// rounding), then R9's tie-break.
    fn by_occupancy_ratio(&self, a: &Account, b: &Account) -> std::cmp::Ordering {
        let ratio_a = u64::from(a.occupancy()) * u64::from(self.capacity(b));
        let ratio_b = u64::from(b.occupancy()) * u64::from(self.capacity(a));
        (ratio_a, a.last_assigned_seq, &a.id).cmp(&(ratio_b, b.last_assigned_seq, &b.id))
    }

    /// R22: the buyer of assigned session `id` waited the reply timeout at `at`.
    pub(crate) fn time_out_waiting_for_reply(&mut self, id: SessionId, at: Timestamp) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let (Some(holder), Some(since)) = (session.account.clone(), session.reply_wait_since)
        else {
            return;
        };
        self.unwatch_reply(id);
        let session = self.sessions.get_mut(&id).expect("session exists");
        if !session.timed_out_on.contains(&holder) {
            session.timed_out_on.push(holder.clone());
        }
        let may_move = self.settings.reassign_unanswered
            && session.reassignments < self.settings.max_reassignments;
        let session = &self.sessions[&id];
        let (target, candidates) = if may_move {
            let (target, group) = self.reassignment_target(session);
            let candidates = self.explain_reassignment(session, group, target.as_ref());
            (target, candidates)
        } else {
            (None, Vec::new())
        };
        let buyer = session.buyer.clone();
        self.emit(
            at,
            ShopEvent::SessionUnanswered {
                session: id,
                buyer,
                account: holder.clone(),
                waited: std::time::Duration::from_millis(
                    at.as_millis().saturating_sub(since.as_millis()),
                ),
                reassigned_to: target.clone(),
                candidates,
            },
        );
        if let Some(target) = target {
            let session = self.sessions.get_mut(&id).expect("session exists");
            session.reassignments += 1;
            self.assign(id, &target, AssignCause::ReplyTimeout { from: holder }, at);
        }
    }

    /// R22's pick for an unanswered session: R9 among the available accounts with a
    /// free slot it has not timed out on; in group mode among its status's group
    /// while any such member is available (as R7b), else among all. Returns the
    /// group the pick was made in, for the explanation.
    fn reassignment_target(&self, session: &Session) -> (Option<AccountId>, Option<&Group>) {
        let untried = |account: &Account| {
            account.is_available() && !session.timed_out_on.contains(&account.id)
        };
        let takes = |account: &&Account| untried(account) && self.has_free_slot(account);
        let group_routing =
            self.settings.routing_mode == RoutingMode::Group && !self.groups.is_empty();
        if group_routing
            && let Some(group) = self.group_of(session.order_status)
            && self.members_of(group).any(untried)
        {
            let members = self.members_of(group).filter(takes);
            let picked = pick_even(self.settings.distribution, members, self.seed());
            return (picked.map(|a| a.id.clone()), Some(group));
        }
        let everyone = self.accounts.values().filter(takes);
        let picked = pick_even(self.settings.distribution, everyone, self.seed());
        (picked.map(|a| a.id.clone()), None)
    }

    /// R22: the platform tells that `account` replied in session `id`. Only its
    /// holder can reply; the buyer stops waiting, and a buyer whose session was
    /// moved for want of a reply now has its affinity with this account. Recording
    /// the same reply again changes nothing.
    pub fn record_reply(
        &mut self,
        id: SessionId,
        account: &AccountId,
        now: Timestamp,
    ) -> Result<&Session, EngineError> {
        self.advance_to(now);
        let session = self.require_session(id)?;
        self.require_account("account_id", account)?;
        let holds_it =
            session.state == SessionState::Assigned && session.account.as_ref() == Some(account);
        if !holds_it {
            return Err(EngineError::failed_precondition(
                "account_id",
                format!("{account} does not hold session {id}: only its holder replies in it"),
            ));
        }
        let now = self.clock;
        self.unwatch_reply(id);
        let session = self.sessions.get_mut(&id).expect("session exists");
        if session.affinity_pending {
            session.affinity_pending = false;
            let buyer = session.buyer.clone();
            self.write_set.sessions.insert(id);
            self.remember_affinity(&buyer, account, now);
        }
        Ok(&self.sessions[&id])
    }
}
