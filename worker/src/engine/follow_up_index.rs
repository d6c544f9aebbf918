//! Keeps [`super::follow_ups::FollowUps`]' indexes in step with the sessions: a
//! session entering a queue or being assigned is watched, one leaving is
//! forgotten, and a settings change or a restore rebuilds them from the sessions.
//! With the R21–R23 settings off and no priorities, nothing is ever watched.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{QueueName, Session, SessionId, SessionState, Timestamp};
use super::settings::ShopSettings;
use super::state::ShopState;

impl ShopState {
    /// R21's deadline of a session queued at `created_at`, if the shop has one.
    fn queue_deadline(&self, created_at: Timestamp) -> Option<Timestamp> {
        let wait = self.settings.max_queue_wait;
        (!wait.is_zero()).then(|| created_at.plus(wait))
    }

    /// R22's deadline of a session whose buyer has waited since `since`.
    pub(crate) fn reply_deadline(&self, since: Timestamp) -> Option<Timestamp> {
        let timeout = self.settings.reply_timeout;
        (!timeout.is_zero()).then(|| since.plus(timeout))
    }

    /// When the buyer of an assigned session stops waiting for a reply and the
    /// session is unanswered (R22), if it waits for one.
    pub fn reply_due_at(&self, session: &Session) -> Option<Timestamp> {
        if session.state != SessionState::Assigned {
            return None;
        }
        self.reply_deadline(session.reply_wait_since?)
    }

    /// A session just entered `queue`: its wait deadline (R21) and its priority
    /// (R23) are indexed.
    pub(crate) fn watch_waiting(&mut self, id: SessionId, queue: QueueName) {
        let session = &self.sessions[&id];
        let (priority, seq, created_at) =
            (session.priority, session.enqueued_seq, session.created_at);
        if let Some(deadline) = self.queue_deadline(created_at) {
            self.follow_ups.queue_deadlines.insert((deadline, id));
        }
        if priority > 0 {
            self.follow_ups
                .raised
                .entry(queue)
                .or_default()
                .insert((priority, seq, id));
        }
    }

    /// A session is leaving `queue`.
    pub(crate) fn unwatch_waiting(&mut self, id: SessionId, queue: QueueName) {
        let session = &self.sessions[&id];
        let (priority, seq, created_at) =
            (session.priority, session.enqueued_seq, session.created_at);
        if let Some(deadline) = self.queue_deadline(created_at) {
            self.follow_ups.queue_deadlines.remove(&(deadline, id));
        }
        if priority > 0
            && let Some(raised) = self.follow_ups.raised.get_mut(&queue)
        {
            raised.remove(&(priority, seq, id));
            if raised.is_empty() {
                self.follow_ups.raised.remove(&queue);
            }
        }
    }

    /// A session was just assigned at `now`: with a reply timeout, the buyer now
    /// waits for the new holder's reply (R22).
    pub(crate) fn watch_reply(&mut self, id: SessionId, now: Timestamp) {
        let deadline = self.reply_deadline(now);
        let session = self.sessions.get_mut(&id).expect("session exists");
        session.reply_wait_since = deadline.map(|_| now);
        if let Some(deadline) = deadline {
            self.follow_ups.reply_deadlines.insert((deadline, id));
        }
    }

    /// An assigned session stops waiting for a reply (its holder replied, it moves
    /// or ends, or its reminder went out).
    pub(crate) fn unwatch_reply(&mut self, id: SessionId) {
        let session = self.sessions.get_mut(&id).expect("session exists");
        let Some(since) = session.reply_wait_since.take() else {
            return;
        };
        self.write_set.sessions.insert(id);
        if let Some(deadline) = self.reply_deadline(since) {
            self.follow_ups.reply_deadlines.remove(&(deadline, id));
        }
    }

    /// The buyer of an assigned session that waits for nothing wrote again (R1): with
    /// a reply timeout, the wait for a reply starts now (R22).
    pub(crate) fn buyer_wrote_again(&mut self, id: SessionId, now: Timestamp) {
        let Some(deadline) = self.reply_deadline(now) else {
            return;
        };
        let session = self.sessions.get_mut(&id).expect("session exists");
        if session.state != SessionState::Assigned || session.reply_wait_since.is_some() {
            return;
        }
        session.reply_wait_since = Some(now);
        self.write_set.sessions.insert(id);
        self.follow_ups.reply_deadlines.insert((deadline, id));
    }

    /// The settings changed from `old`: deadlines follow the new waits. A reply
    /// timeout turned on starts every assigned session's wait now, so that turning
    /// it on never reminds about a conversation from before.
    pub(crate) fn refollow_after_settings(&mut self, old: &ShopSettings, now: Timestamp) {
        let new = &self.settings;
        if new.max_queue_wait != old.max_queue_wait {
            self.follow_ups.queue_deadlines = self.recount_queue_deadlines();
        }
        if new.reply_timeout == old.reply_timeout {
            return;
        }
        if old.reply_timeout.is_zero() {
            let mut started = Vec::new();
            for session in self.sessions.values_mut() {
                if session.state == SessionState::Assigned {
                    session.reply_wait_since = Some(now);
                    started.push(session.id);
                }
            }
            self.write_set.sessions.extend(started);
        }
        self.follow_ups.reply_deadlines = self.recount_reply_deadlines();
    }

    /// Rebuilds every index from the sessions (a restored shop).
    pub(crate) fn reindex_follow_ups(&mut self) {
        self.follow_ups.queue_deadlines = self.recount_queue_deadlines();
        self.follow_ups.reply_deadlines = self.recount_reply_deadlines();
        self.follow_ups.raised = self.recount_raised();
    }

    pub(super) fn recount_queue_deadlines(&self) -> BTreeSet<(Timestamp, SessionId)> {
        self.queues
            .values()
            .flatten()
            .filter_map(|id| Some((self.queue_deadline(self.sessions[id].created_at)?, *id)))
            .collect()
    }

    pub(super) fn recount_reply_deadlines(&self) -> BTreeSet<(Timestamp, SessionId)> {
        self.sessions
            .values()
            .filter(|s| s.state == SessionState::Assigned)
            .filter_map(|s| Some((self.reply_deadline(s.reply_wait_since?)?, s.id)))
            .collect()
    }

    pub(super) fn recount_raised(&self) -> BTreeMap<QueueName, BTreeSet<(u8, u64, SessionId)>> {
        let mut raised: BTreeMap<QueueName, BTreeSet<_>> = BTreeMap::new();
        for (queue, ids) in &self.queues {
            for id in ids {
                let session = &self.sessions[id];
                if session.priority > 0 {
                    raised.entry(*queue).or_default().insert((
                        session.priority,
                        session.enqueued_seq,
                        *id,
                    ));
                }
            }
        }
        raised
    }
}
