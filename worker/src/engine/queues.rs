//! R14: when an account gets a free slot, the oldest waiting session it may serve is
//! assigned to it at once (the first by R23's order when priorities are raised).
//!
//! Draining is run after anything that can free a slot or make an account available
//! (a close, a status change, a capacity or group change, a settings change). It is a
//! fixed point: while some available account with a free slot may serve a waiting
//! session, the most even such account (R9) takes the oldest one it may serve.

use super::distribution::pick_even;
use super::model::{Account, AccountId, AssignCause, QueueName, SessionId, Timestamp};
use super::settings::RoutingMode;
use super::state::ShopState;

impl ShopState {
    /// Assigns waiting sessions to accounts with free slots until none can be.
    ///
    /// The accounts able to take a session are listed once: an assignment changes
    /// only its own account (which leaves the list when full), and changes no
    /// one's availability, so the list stays true while the queues drain.
    pub(crate) fn drain_queues(&mut self, now: Timestamp) {
        if self.queues.is_empty() {
            return;
        }
        let mut ready: Vec<AccountId> = self
            .accounts
            .values()
            .filter(|a| a.is_available() && self.has_free_slot(a))
            .map(|a| a.id.clone())
            .collect();
        while !self.queues.is_empty() && !ready.is_empty() {
            let Some((session, account)) = self.next_from_queue(&mut ready) else {
                return;
            };
            let from = self.sessions[&session]
                .queue
                .expect("queued session has a queue");
            self.assign(session, &account, AssignCause::Queue { from }, now);
            let still_free = self
                .accounts
                .get(&account)
                .is_some_and(|a| self.has_free_slot(a));
            if !still_free {
                ready.retain(|id| *id != account);
            }
        }
    }

    /// The next (session, account) pair R14 makes, if any: accounts are tried in
    /// the order an even pick would choose them; those that may serve no waiting
    /// session leave `ready`.
    fn next_from_queue(&self, ready: &mut Vec<AccountId>) -> Option<(SessionId, AccountId)> {
        while !ready.is_empty() {
            let candidates = ready.iter().filter_map(|id| self.accounts.get(id));
            let account = pick_even(self.settings.distribution, candidates, self.seed())?;
            if let Some(session) = self.oldest_servable_by(account) {
                return Some((session, account.id.clone()));
            }
            let id = account.id.clone();
            ready.retain(|a| *a != id);
        }
        None
    }

    /// The oldest waiting session `account` may serve (R23: the first served). In group mode it serves its own
    /// groups' queues first, then queues whose status has no group or whose group has
    /// nobody available; a group's queue never goes to a non-member while a member is
    /// available (R7b).
    pub(crate) fn oldest_servable_by(&self, account: &Account) -> Option<SessionId> {
        let group_routing =
            self.settings.routing_mode == RoutingMode::Group && !self.groups.is_empty();
        if !group_routing {
            return self.first_served_of(self.queues.keys().copied());
        }
        let own_queues = self
            .queues
            .keys()
            .copied()
            .filter(|queue| self.is_member_queue(account, *queue));
        if let Some(session) = self.first_served_of(own_queues) {
            return Some(session);
        }
        let open_queues = self
            .queues
            .keys()
            .copied()
            .filter(|queue| self.queue_open_to_anyone(*queue));
        self.first_served_of(open_queues)
    }

    fn is_member_queue(&self, account: &Account, queue: QueueName) -> bool {
        let QueueName::Status(status) = queue else {
            return false;
        };
        self.groups
            .values()
            .any(|g| g.order_statuses.contains(&status) && g.members.contains(&account.id))
    }

    /// A queue anyone may serve: the shop queue, a status without a group, or a
    /// status whose group has no available member.
    fn queue_open_to_anyone(&self, queue: QueueName) -> bool {
        let QueueName::Status(status) = queue else {
            return true;
        };
        let Some(group) = self.group_of(status) else {
            return true;
        };
        !self.members_of(group).any(|member| member.is_available())
    }
}
