//! A shop as stored entities, and back. A store keeps only the entities (settings,
//! accounts, groups, sessions, affinities, counters); everything derived — queues,
//! the pool, the buyer index, occupancy counters, deadline and priority indexes — is rebuilt by
//! [`ShopState::restore`], so a stored shop can never disagree with itself.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::events::WriteSet;
use super::free_rate::EstimateAccuracy;
use super::model::{Account, Affinity, BuyerId, Group, GroupName, SessionState, ShopId, Timestamp};
use super::model::{AccountId, Session};
use super::settings::{Profile, ShopSettings};
use super::state::ShopState;

/// The counters that order assignments and arrivals, stored with the shop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShopCounters {
    pub next_session_id: u64,
    pub assignment_seq: u64,
    pub enqueue_seq: u64,
}

/// Everything a store keeps of a shop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopSnapshot {
    pub shop_id: ShopId,
    pub profile: Profile,
    pub main_account: AccountId,
    pub settings: ShopSettings,
    pub counters: ShopCounters,
    /// `assigned` and `ending` are recounted from the sessions on restore.
    pub accounts: Vec<Account>,
    pub groups: Vec<Group>,
    /// Open and ended sessions (closed ones are not needed to route).
    pub sessions: Vec<Session>,
    pub affinities: Vec<(BuyerId, Affinity)>,
    /// How well past wait estimates held (R20); stored with the counters.
    pub estimate_accuracy: EstimateAccuracy,
}

impl ShopState {
    pub fn counters(&self) -> ShopCounters {
        ShopCounters {
            next_session_id: self.next_session_id,
            assignment_seq: self.assignment_seq,
            enqueue_seq: self.enqueue_seq,
        }
    }

    /// The buyer's stored affinity, expired or not.
    pub fn stored_affinity(&self, buyer: &BuyerId) -> Option<&Affinity> {
        self.affinities.get(buyer)
    }

    /// Everything a store keeps of this shop.
    pub fn snapshot(&self) -> ShopSnapshot {
        let mut sessions: Vec<Session> = self
            .sessions
            .values()
            .filter(|s| s.state != SessionState::Closed)
            .cloned()
            .collect();
        sessions.sort_by_key(|s| s.id);
        let mut affinities: Vec<(BuyerId, Affinity)> = self
            .affinities
            .iter()
            .map(|(buyer, affinity)| (buyer.clone(), affinity.clone()))
            .collect();
        affinities.sort_by(|a, b| a.0.cmp(&b.0));
        ShopSnapshot {
            shop_id: self.shop_id.clone(),
            profile: self.profile,
            main_account: self.main_account.clone(),
            settings: self.settings.clone(),
            counters: self.counters(),
            accounts: self.accounts.values().cloned().collect(),
            groups: self.groups.values().cloned().collect(),
            sessions,
            affinities,
            estimate_accuracy: self.follow_ups.accuracy,
        }
    }

    /// Rebuilds a shop from stored entities at `now`. Deadlines already passed
    /// (a close delay, a presence) take effect at the next `advance_to`, with
    /// their events, as they would have on the node that stored them.
    pub fn restore(snapshot: ShopSnapshot, now: Timestamp) -> ShopState {
        let mut accounts: BTreeMap<AccountId, Account> = snapshot
            .accounts
            .into_iter()
            .map(|mut account| {
                account.assigned = 0;
                account.ending = 0;
                if !account.status.is_logged_in() {
                    account.presence_expires_at = None;
                } else if account.presence_expires_at.is_none() {
                    // A logged-in account must have a deadline; without one (its
                    // presence key expired while nobody owned the shop) it expires
                    // at once, so the next advance turns it OFFLINE with its event.
                    account.presence_expires_at = Some(now);
                }
                (account.id.clone(), account)
            })
            .collect();
        let mut sessions = HashMap::new();
        let mut open_session_by_buyer = HashMap::new();
        let mut queued: Vec<&Session> = Vec::new();
        let mut pooled: Vec<&Session> = Vec::new();
        let mut closing = BTreeSet::new();
        for session in &snapshot.sessions {
            if session.state.is_open() {
                open_session_by_buyer.insert(session.buyer.clone(), session.id);
            }
            match session.state {
                SessionState::Queued => queued.push(session),
                SessionState::Pooled => pooled.push(session),
                SessionState::Assigned | SessionState::Ended => {
                    let holder = session.account.as_ref().and_then(|id| accounts.get_mut(id));
                    if let Some(holder) = holder {
                        if session.state == SessionState::Assigned {
                            holder.assigned += 1;
                        } else {
                            holder.ending += 1;
                        }
                    }
                    if session.state == SessionState::Ended {
                        closing.insert((session.closes_at.unwrap_or(now), session.id));
                    }
                }
                SessionState::Closed => {}
            }
        }
        queued.sort_by_key(|s| s.enqueued_seq);
        let mut queues: BTreeMap<_, VecDeque<_>> = BTreeMap::new();
        for session in queued {
            if let Some(queue) = session.queue {
                queues.entry(queue).or_default().push_back(session.id);
            }
        }
        pooled.sort_by_key(|s| s.id);
        let pool: VecDeque<_> = pooled.iter().map(|s| s.id).collect();
        for session in snapshot.sessions {
            let mut session = session;
            if session.state == SessionState::Ended && session.closes_at.is_none() {
                session.closes_at = Some(now);
            }
            sessions.insert(session.id, session);
        }
        let presence_expiry = accounts
            .values()
            .filter_map(|a| a.presence_expires_at.map(|at| (at, a.id.clone())))
            .collect();
        let affinity_expiry = snapshot
            .affinities
            .iter()
            .map(|(buyer, affinity)| (affinity.expires_at, buyer.clone()))
            .collect();
        let groups: BTreeMap<GroupName, Group> = snapshot
            .groups
            .into_iter()
            .map(|g| (g.name.clone(), g))
            .collect();
        let mut state = ShopState::new(
            snapshot.shop_id,
            snapshot.profile,
            snapshot.main_account,
            now,
        );
        state.settings = snapshot.settings;
        state.accounts = std::mem::take(&mut accounts).into();
        state.groups = groups;
        state.reindex_groups();
        state.sessions = sessions;
        state.open_session_by_buyer = open_session_by_buyer;
        state.queues = queues;
        state.pool = pool;
        state.affinities = snapshot.affinities.into_iter().collect();
        state.affinity_expiry = affinity_expiry;
        state.closing = closing;
        state.presence_expiry = presence_expiry;
        state.next_session_id = snapshot.counters.next_session_id.max(1);
        state.assignment_seq = snapshot.counters.assignment_seq;
        state.enqueue_seq = snapshot.counters.enqueue_seq;
        state.follow_ups.accuracy = snapshot.estimate_accuracy;
        // R21–R23's deadlines and priorities come back from the sessions: a wait
        // that ran out while nobody owned the shop fires at the next advance.
        state.reindex_follow_ups();
        state.write_set = WriteSet::default();
        state
    }
}
