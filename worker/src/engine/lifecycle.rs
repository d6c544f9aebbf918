//! Time: what happens by itself as the clock moves. Close delays run out (R15, then
//! R14), presences run out (the account is OFFLINE), affinities and remembered
//! request ids are forgotten. The engine is told the time; the server wakes it at
//! [`ShopState::next_deadline`].

use super::model::{AccountStatus, SessionState, Timestamp};
use super::state::ShopState;

/// One thing due at a moment.
enum Due {
    Close(super::model::SessionId),
    PresenceExpired(super::model::AccountId),
}

impl ShopState {
    /// The earliest moment something happens by itself, if anything is pending.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let close = self.closing.first().map(|(at, _)| *at);
        let presence = self.presence_expiry.first().map(|(at, _)| *at);
        match (close, presence) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
            }
            self.drain_queues(at);
        }
        self.clock = now;
        self.forget_expired(now);
    }

    fn next_due(&self, now: Timestamp) -> Option<(Timestamp, Due)> {
        let close = self.closing.first().filter(|(at, _)| *at <= now);
        let presence = self.presence_expiry.first().filter(|(at, _)| *at <= now);
        match (close, presence) {
            // A slot freeing and a presence running out at the same moment: the
            // close goes first, as the account was still there when it happened.
            (Some((close_at, session)), Some((presence_at, _))) if close_at <= presence_at => {
                Some((*close_at, Due::Close(*session)))
            }
            (_, Some((at, account))) => Some((*at, Due::PresenceExpired(account.clone()))),
            (Some((at, session)), None) => Some((*at, Due::Close(*session))),
            (None, None) => None,
        }
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
