//! What the engine reports besides its answers: the shop's events (for `WatchShop`)
//! and the write set (which entities changed, for a store to persist).

use std::collections::BTreeSet;
use std::time::Duration;

use super::free_rate::WaitRange;
use super::model::{
    AccountId, AccountStatus, AssignCause, BuyerId, GroupName, QueueName, RouteReason, SessionId,
    Timestamp,
};
use super::route_call::Candidate;

/// Something that happened in a shop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShopEvent {
    SessionAssigned {
        session: SessionId,
        buyer: BuyerId,
        account: AccountId,
        cause: AssignCause,
    },
    SessionQueued {
        session: SessionId,
        buyer: BuyerId,
        queue: QueueName,
        position: u32,
        /// R20: the wait estimated at that moment; `None`: unknown.
        estimate: Option<WaitRange>,
    },
    SessionPooled {
        session: SessionId,
        buyer: BuyerId,
        /// R13c (`MessagePool`), or R21's timeout (`QueueTimeout`).
        reason: RouteReason,
    },
    /// R22: the buyer waited the reply timeout for `account`'s reply (the
    /// reminder). With reassignment on, the session then moved to
    /// `reassigned_to` (a `SessionAssigned` with cause `ReplyTimeout` follows), or
    /// stayed when nobody else could take it.
    SessionUnanswered {
        session: SessionId,
        buyer: BuyerId,
        account: AccountId,
        waited: Duration,
        reassigned_to: Option<AccountId>,
        /// R24 for the reassignment: every account and why it did or did not
        /// take the session; empty when no reassignment was tried.
        candidates: Vec<Candidate>,
    },
    SessionEnded {
        session: SessionId,
        account: AccountId,
        closes_at: Timestamp,
    },
    SessionClosed {
        session: SessionId,
        account: Option<AccountId>,
    },
    AccountStatusChanged {
        account: AccountId,
        from: AccountStatus,
        to: AccountStatus,
        /// The presence TTL ran out without a heartbeat.
        presence_expired: bool,
    },
}

/// An event with the (virtual) time it happened: a close delay that ran out is
/// reported at the moment it ran out, not when the engine noticed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedEvent {
    pub at: Timestamp,
    pub event: ShopEvent,
}

/// The entities a call changed. A store that keeps shops elsewhere (Redis) writes
/// exactly these, so the engine never needs to know how state is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteSet {
    pub settings: bool,
    /// The shop's counters moved (a session was created, assigned or queued).
    pub counters: bool,
    pub pool: bool,
    /// Accounts whose own fields changed (configuration, status, last assignment);
    /// not those whose slot counts alone moved, which are counted from the
    /// sessions whenever a shop is restored.
    pub accounts: BTreeSet<AccountId>,
    /// Accounts whose status or presence deadline changed: presence is stored
    /// apart, as a key that expires by itself.
    pub presence: BTreeSet<AccountId>,
    pub groups: BTreeSet<GroupName>,
    pub sessions: BTreeSet<SessionId>,
    pub queues: BTreeSet<QueueName>,
    pub affinities: BTreeSet<BuyerId>,
    /// Buyers of `affinities` who had no affinity stored before (a subset): a
    /// store that indexes the buyers with an affinity adds only these, since a
    /// refresh replaces an affinity that is indexed already.
    pub new_affinities: BTreeSet<BuyerId>,
    pub route_records: BTreeSet<super::model::RequestId>,
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        *self == WriteSet::default()
    }

    /// Adds what a later call changed: a store that commits several calls at once
    /// writes each entity once, as it stands after the last of them.
    pub fn merge(&mut self, later: WriteSet) {
        self.settings |= later.settings;
        self.counters |= later.counters;
        self.pool |= later.pool;
        self.accounts.extend(later.accounts);
        self.presence.extend(later.presence);
        self.groups.extend(later.groups);
        self.sessions.extend(later.sessions);
        self.queues.extend(later.queues);
        self.affinities.extend(later.affinities);
        self.new_affinities.extend(later.new_affinities);
        self.route_records.extend(later.route_records);
    }
}
