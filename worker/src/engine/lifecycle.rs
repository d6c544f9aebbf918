//! Time: what happens by itself as the clock moves. Close delays run out (R15, then
//! R14), presences run out (the account is OFFLINE), queue waits and reply waits
//! run out (R21, R22), affinities and remembered request ids are forgotten. The
//! engine is told the time; the server wakes it at [`ShopState::next_deadline`].
//! Ending and closing a session (R15's primitives) are here too.

use super::events::ShopEvent;
use super::model::{AccountId, AccountStatus, SessionId, SessionState, Timestamp};
use super::state::ShopState;

/// One thing due at a moment. Things due at the same millisecond happen in this
/// order: a slot freeing first (the account was still there when it happened, and
/// a waiting buyer is better served than timed out), then a presence running out,
/// then a queue wait, then a reply wait (`next_due` picks them so).
enum Due {
    Close(SessionId),
    PresenceExpired(AccountId),
    QueueTimeout(SessionId),
    ReplyTimeout(SessionId),
}

impl ShopState {
    /// The earliest moment something happens by itself, if anything is pending.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        [
            self.closing.first().map(|(at, _)| *at),
            self.presence_expiry.first().map(|(at, _)| *at),
            self.follow_ups.queue_deadlines.first().map(|(at, _)| *at),
            self.follow_ups.reply_deadlines.first().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Brings the shop to `now`, applying everything due on the way in time order,
    /// each at its own moment. Time never goes back: an earlier `now` is a no-op.
    pub fn advance_to(&mut self, now: Timestamp) {
        if now < self.clock {
            return;
        }
        while let Some((at, due)) = self.next_due(now) {
            self.clock = at;
            match due {
                Due::Close(session) => self.close(session, at),
                Due::PresenceExpired(account) => {
                    self.set_status(&account, AccountStatus::Offline, true, at)
                }
                Due::QueueTimeout(session) => self.time_out_of_queue(session, at),
                Due::ReplyTimeout(session) => self.time_out_waiting_for_reply(session, at),
            }
            self.drain_queues(at);
        }
        self.clock = now;
        self.forget_expired(now);
    }

    fn next_due(&self, now: Timestamp) -> Option<(Timestamp, Due)> {
        let follow_ups = &self.follow_ups;
        // The earliest of each kind, compared without building a `Due` (which
        // would clone an account id on every call, due or not).
        let firsts = [
            self.closing.first().map(|(at, _)| *at),
            self.presence_expiry.first().map(|(at, _)| *at),
            follow_ups.queue_deadlines.first().map(|(at, _)| *at),
            follow_ups.reply_deadlines.first().map(|(at, _)| *at),
        ];
        let (kind, at) = firsts
            .into_iter()
            .enumerate()
            .filter_map(|(kind, at)| Some((kind, at?)))
            .filter(|(_, at)| *at <= now)
            .min_by_key(|(kind, at)| (*at, *kind))?;
        let due = match kind {
            0 => Due::Close(self.closing.first()?.1),
            1 => Due::PresenceExpired(self.presence_expiry.first()?.1.clone()),
            2 => Due::QueueTimeout(follow_ups.queue_deadlines.first()?.1),
            _ => Due::ReplyTimeout(follow_ups.reply_deadlines.first()?.1),
        };
        Some((at, due))
    }

    /// R15: an assigned session ends and keeps its slot until the close delay passes.
    pub(crate) fn end_assigned(&mut self, id: SessionId, now: Timestamp) {
        let close_delay = self.settings.close_delay;
        let closes_at = now.plus(close_delay);
        self.unwatch_reply(id);
        let session = self.sessions.get_mut(&id).expect("session exists");
        debug_assert_eq!(session.state, SessionState::Assigned);
        session.state = SessionState::Ended;
        session.closes_at = Some(closes_at);
        self.write_set.sessions.insert(id);
        let buyer = session.buyer.clone();
        let affinity_pending = session.affinity_pending;
        let account_id = session
            .account
            .clone()
            .expect("assigned session has an account");
        self.open_session_by_buyer.remove(&buyer);
        if let Some(account) = self.accounts.get_mut(&account_id) {
            account.assigned -= 1;
            account.ending += 1;
        }
        // The window runs from the last contact, which is now; after R22's move
        // the affinity stays with the last account that replied.
        if !affinity_pending {
            self.remember_affinity(&buyer, &account_id, now);
        }
        self.closing.insert((closes_at, id));
        self.emit(
            now,
            ShopEvent::SessionEnded {
                session: id,
                account: account_id,
                closes_at,
            },
        );
        if close_delay.is_zero() {
            self.close(id, now);
        }
    }

    /// Closes a session for good: an ENDED one frees its slot; a QUEUED or POOLED one
    /// leaves its line.
    pub(crate) fn close(&mut self, id: SessionId, now: Timestamp) {
        self.detach_waiting(id);
        let session = self.sessions.get_mut(&id).expect("session exists");
        let was_ending = session.state == SessionState::Ended;
        if let Some(closes_at) = session.closes_at
            && was_ending
        {
            self.closing.remove(&(closes_at, id));
        }
        session.state = SessionState::Closed;
        let account_id = session.account.clone();
        let buyer = session.buyer.clone();
        if self.open_session_by_buyer.get(&buyer) == Some(&id) {
            self.open_session_by_buyer.remove(&buyer);
        }
        if was_ending
            && let Some(account_id) = &account_id
            && let Some(account) = self.accounts.get_mut(account_id)
        {
            account.ending -= 1;
            // The slot is free: R20 counts it.
            account.frees.record(now.as_millis());
            self.write_set.accounts.insert(account_id.clone());
        }
        self.closed_expiry.push_back((now, id));
        self.write_set.sessions.insert(id);
        self.emit(
            now,
            ShopEvent::SessionClosed {
                session: id,
                account: account_id,
            },
        );
    }

    /// Drops what has passed its time: affinities (R5's window), remembered request
    /// ids and closed sessions (after `memory_retention`).
    fn forget_expired(&mut self, now: Timestamp) {
        while let Some((expires_at, buyer)) = self.affinity_expiry.first().cloned() {
            if expires_at > now {
                break;
            }
            self.affinity_expiry.pop_first();
            // The index may outlive an affinity dropped by other means; only forget
            // the affinity this entry was made for.
            if self
                .affinities
                .get(&buyer)
                .is_some_and(|affinity| affinity.expires_at == expires_at)
            {
                self.affinities.remove(&buyer);
                self.write_set.affinities.insert(buyer);
            }
        }
        self.route_records
            .forget_older_than(self.memory_retention, now);
        while let Some((closed_at, _)) = self.closed_expiry.front() {
            if closed_at.plus(self.memory_retention) > now {
                break;
            }
            let (_, session) = self.closed_expiry.pop_front().expect("checked");
            if self
                .sessions
                .get(&session)
                .is_some_and(|s| s.state == SessionState::Closed)
            {
                self.sessions.remove(&session);
            }
        }
    }
}
