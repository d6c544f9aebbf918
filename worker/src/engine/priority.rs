//! R23: priority. A `Route` may give its buyer a priority, 0 (normal) to
//! [`MAX_PRIORITY`]; a queue serves the highest *effective* priority first and,
//! within one level, the oldest first. A waiting session's effective priority
//! rises one level per aging interval (capped at the top level), so a normal buyer
//! is never starved: once it has waited [`MAX_PRIORITY`] intervals, no later
//! arrival is served before it.
//!
//! Queues keep their sessions in arrival order; the sessions with a raised
//! priority are indexed apart (`FollowUps::raised`). A queue without any is served
//! first in, first out exactly as before, and aging alone never reorders one: among
//! equal priorities the older has waited longer.

use std::cmp::Reverse;

use super::model::{MAX_PRIORITY, QueueName, Session, SessionId, Timestamp};
use super::state::ShopState;

/// How a waiting session ranks: higher effective priority first, then the older.
type Rank = (u8, Reverse<u64>);

impl ShopState {
    /// A waiting session's priority at `now`: its own, plus one level per aging
    /// interval waited.
    pub fn effective_priority(&self, session: &Session, now: Timestamp) -> u8 {
        let aging = self.settings.priority_aging;
        if aging.is_zero() {
            return session.priority;
        }
        let waited = now
            .as_millis()
            .saturating_sub(session.created_at.as_millis());
        let interval = u64::try_from(aging.as_millis()).unwrap_or(u64::MAX).max(1);
        let levels = waited / interval;
        let effective = u64::from(session.priority).saturating_add(levels);
        u8::try_from(effective.min(u64::from(MAX_PRIORITY))).unwrap_or(MAX_PRIORITY)
    }

    fn rank(&self, session: &Session, now: Timestamp) -> Rank {
        (
            self.effective_priority(session, now),
            Reverse(session.enqueued_seq),
        )
    }

    /// The session `queue` serves next (R14, R23), if it has any.
    pub fn next_in(&self, queue: QueueName) -> Option<SessionId> {
        self.next_ranked(queue, self.clock).map(|(_, id)| id)
    }

    /// The session a queue serves next, with its rank at `now`. Only the first of
    /// each priority level can be it: within a level, the oldest ranks highest.
    fn next_ranked(&self, queue: QueueName, now: Timestamp) -> Option<(Rank, SessionId)> {
        let ids = self.queues.get(&queue)?;
        let Some(raised) = self.follow_ups.raised.get(&queue) else {
            let first = *ids.front()?;
            return Some((self.rank(&self.sessions[&first], now), first));
        };
        // The oldest of level 0: the first in arrival order not raised. Raised
        // sessions older than it rank above it, so are served first: few, if any,
        // are skipped here.
        let normal = ids
            .iter()
            .find(|id| self.sessions[*id].priority == 0)
            .copied();
        let mut heads: Vec<SessionId> = normal.into_iter().collect();
        let mut next = raised.first().copied();
        while let Some((level, _, id)) = next {
            heads.push(id);
            next = raised
                .range((level.saturating_add(1), 0, SessionId(0))..)
                .next()
                .copied()
                .filter(|(higher, _, _)| *higher > level);
        }
        heads
            .into_iter()
            .map(|id| (self.rank(&self.sessions[&id], now), id))
            .max_by_key(|(rank, _)| *rank)
    }

    /// The session served first across `queues`: with no raised priority in the
    /// shop, the one that arrived first (R14); otherwise the best ranked (R23).
    pub(crate) fn first_served_of(
        &self,
        queues: impl Iterator<Item = QueueName>,
    ) -> Option<SessionId> {
        if self.follow_ups.raised.is_empty() {
            return queues
                .filter_map(|queue| self.queues.get(&queue)?.front().copied())
                .min_by_key(|id| self.sessions[id].enqueued_seq);
        }
        let now = self.clock;
        queues
            .filter_map(|queue| self.next_ranked(queue, now))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, id)| id)
    }

    /// 1-based place of a queued session in the order its queue will serve it.
    pub(crate) fn service_position(&self, session: &Session) -> Option<u32> {
        let queue_name = session.queue?;
        let queue = self.queues.get(&queue_name)?;
        if !self.follow_ups.raised.contains_key(&queue_name) {
            let index = queue.iter().position(|id| *id == session.id)?;
            return u32::try_from(index + 1).ok();
        }
        if !queue.contains(&session.id) {
            return None;
        }
        let now = self.clock;
        let mine = self.rank(session, now);
        let ahead = queue
            .iter()
            .filter(|id| self.rank(&self.sessions[*id], now) > mine)
            .count();
        u32::try_from(ahead + 1).ok()
    }

    /// A queue's sessions in the order it will serve them (arrival order when
    /// nothing in it has a raised priority).
    pub fn queue_in_service_order(&self, queue: QueueName) -> Vec<SessionId> {
        let Some(ids) = self.queues.get(&queue) else {
            return Vec::new();
        };
        let mut ordered: Vec<SessionId> = ids.iter().copied().collect();
        if self.follow_ups.raised.contains_key(&queue) {
            let now = self.clock;
            ordered.sort_by_key(|id| Reverse(self.rank(&self.sessions[id], now)));
        }
        ordered
    }
}
