//! R20: a waiting session's estimated wait, from how fast the slots of the
//! accounts able to serve its queue freed recently (see [`super::free_rate`]) and
//! its position, counting only the accounts available now: an agent going offline
//! takes its share of the rate with it at once. With too little recent data the
//! estimate is unknown. When a session leaves its queue for an account, its wait
//! is compared with the estimate it was given when queued.

use super::free_rate::{WaitRange, wait_range};
use super::model::{Account, QueueName, Session, SessionId, Timestamp};
use super::settings::RoutingMode;
use super::state::ShopState;

impl ShopState {
    /// A fresh estimate of a queued session's wait, at the shop's clock (R20);
    /// `None` when unknown or when the session does not wait.
    pub fn wait_estimate(&self, session: &Session) -> Option<WaitRange> {
        let position = self.queue_position(session)?;
        self.estimate_wait(session, position, self.clock)
    }

    /// The estimated wait of `session` at `position` in its queue, at `now`.
    pub(crate) fn estimate_wait(
        &self,
        session: &Session,
        position: u32,
        now: Timestamp,
    ) -> Option<WaitRange> {
        let queue = session.queue?;
        wait_range(position, self.observed_frees(queue, now))
    }

    /// How many slots of the accounts that can serve `queue` now freed recently
    /// (decayed): what every estimate for that queue is made of, so that a
    /// reader estimating many sessions of one queue reads it once.
    pub fn observed_frees(&self, queue: QueueName, now: Timestamp) -> f64 {
        let now_ms = now.as_millis();
        self.accounts_serving(queue)
            .map(|account| account.frees.count_at(now_ms))
            .sum()
    }

    /// The accounts available now that may serve `queue`: in group mode, the
    /// members of its status's group while any member is available (R7b, R14);
    /// otherwise every available account.
    pub(crate) fn accounts_serving(
        &self,
        queue: QueueName,
    ) -> Box<dyn Iterator<Item = &Account> + '_> {
        let group_routing =
            self.settings.routing_mode == RoutingMode::Group && !self.groups.is_empty();
        if let (true, QueueName::Status(status)) = (group_routing, queue)
            && let Some(group) = self.group_of(status)
            && self.members_of(group).any(|member| member.is_available())
        {
            return Box::new(self.members_of(group).filter(|a| a.is_available()));
        }
        Box::new(self.accounts.values().filter(|a| a.is_available()))
    }

    /// A session that waited in a queue was just given to an account at `now`:
    /// how its wait compares with the estimate it was given is counted.
    pub(crate) fn record_served_from_queue(&mut self, id: SessionId, now: Timestamp) {
        let session = &self.sessions[&id];
        let waited = std::time::Duration::from_millis(
            now.as_millis()
                .saturating_sub(session.created_at.as_millis()),
        );
        let estimate = session.queued_estimate;
        self.follow_ups.accuracy.record(estimate, waited);
        self.write_set.counters = true;
    }
}
