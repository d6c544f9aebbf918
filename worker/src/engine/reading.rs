//! Read-only queries on [`ShopState`]: its identity and settings, accounts and
//! groups, sessions, queues and the pool, affinities, capacity, the clock, and
//! R20's and R25's shop-wide figures.
//! None of them changes the state; the mutations are in `state.rs`.

use std::collections::{HashMap, VecDeque};

use super::free_rate::EstimateAccuracy;
use super::limits::ShopLimits;
use super::model::{
    Account, AccountId, Affinity, BuyerId, Group, GroupName, OrderStatus, QueueName, RequestId,
    Session, SessionId, SessionState, ShopId, Timestamp,
};
use super::settings::{Profile, ShopSettings};
use super::state::ShopState;

impl ShopState {
    pub fn shop_id(&self) -> &ShopId {
        &self.shop_id
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    pub fn main_account(&self) -> &AccountId {
        &self.main_account
    }

    pub fn settings(&self) -> &ShopSettings {
        &self.settings
    }

    /// The deployment's caps on this shop's size.
    pub fn limits(&self) -> ShopLimits {
        self.limits
    }

    /// Whether a `Route` with this request id was answered and the answer is
    /// still in memory: a retry of it is a replay (R1), which decides nothing.
    pub fn remembers_answer(&self, request_id: &RequestId) -> bool {
        self.route_records.get(request_id).is_some()
    }

    /// Sessions assigned, queued or in the message pool: what
    /// [`ShopLimits::max_open_sessions`] caps.
    pub fn open_session_count(&self) -> usize {
        self.open_session_by_buyer.len()
    }

    /// Sessions waiting in any of the shop's queues: what
    /// [`ShopLimits::max_queued_sessions`] caps.
    pub fn queued_session_count(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.get(id)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    pub fn group(&self, name: &GroupName) -> Option<&Group> {
        self.groups.get(name)
    }

    /// The group bound to an order status, if any (R7).
    pub(crate) fn group_of(&self, status: OrderStatus) -> Option<&Group> {
        self.groups
            .values()
            .find(|group| group.order_statuses.contains(&status))
    }

    /// A group's members that are accounts of the shop, in id order.
    pub(crate) fn members_of<'a>(&'a self, group: &Group) -> impl Iterator<Item = &'a Account> {
        self.group_members
            .get(&group.name)
            .into_iter()
            .flatten()
            .map(|&position| self.accounts.at(position))
    }

    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// Every session the state still holds, closed ones included until `RETENTION`.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn open_session_of(&self, buyer: &BuyerId) -> Option<&Session> {
        self.open_session_by_buyer
            .get(buyer)
            .and_then(|id| self.sessions.get(id))
    }

    /// Non-empty queues with their sessions, oldest first.
    pub fn queues(&self) -> impl Iterator<Item = (QueueName, &VecDeque<SessionId>)> {
        self.queues.iter().map(|(name, ids)| (*name, ids))
    }

    pub fn pool(&self) -> &VecDeque<SessionId> {
        &self.pool
    }

    /// 1-based position of a queued session in its queue: in the order the queue
    /// serves it (arrival, or R23's when priorities are raised).
    pub fn queue_position(&self, session: &Session) -> Option<u32> {
        self.service_position(session)
    }

    /// The buyer's affinity, if still within the window at `now`.
    pub fn affinity(&self, buyer: &BuyerId, now: Timestamp) -> Option<&Affinity> {
        self.affinities
            .get(buyer)
            .filter(|affinity| affinity.expires_at > now)
    }

    /// The account's capacity: its own max concurrent or the shop's default.
    pub fn capacity(&self, account: &Account) -> u32 {
        account
            .config
            .max_concurrent
            .unwrap_or(self.settings.default_max_concurrent)
    }

    pub fn has_free_slot(&self, account: &Account) -> bool {
        account.occupancy() < self.capacity(account)
    }

    /// The sessions that occupy each account's slots (ASSIGNED or ENDED), by id,
    /// in one pass over the sessions.
    pub fn sessions_by_holder(&self) -> HashMap<&AccountId, Vec<SessionId>> {
        let mut held: HashMap<&AccountId, Vec<SessionId>> = HashMap::new();
        for session in self.sessions.values() {
            if let (Some(account), SessionState::Assigned | SessionState::Ended) =
                (&session.account, session.state)
            {
                held.entry(account).or_default().push(session.id);
            }
        }
        for ids in held.values_mut() {
            ids.sort_unstable();
        }
        held
    }

    /// The latest time this state has been brought to.
    pub fn clock(&self) -> Timestamp {
        self.clock
    }

    /// How well past wait estimates held (R20).
    pub fn estimate_accuracy(&self) -> EstimateAccuracy {
        self.follow_ups.accuracy
    }

    /// R25's spread of load among the available accounts: the highest occupancy
    /// ratio (occupied slots over capacity) less the lowest; 0 with fewer than two.
    pub fn load_spread(&self) -> f64 {
        let mut ratios = self
            .accounts
            .values()
            .filter(|account| account.is_available())
            .map(|account| f64::from(account.occupancy()) / f64::from(self.capacity(account)));
        let Some(first) = ratios.next() else {
            return 0.0;
        };
        let (low, high) = ratios.fold((first, first), |(low, high), ratio| {
            (low.min(ratio), high.max(ratio))
        });
        high - low
    }
}
