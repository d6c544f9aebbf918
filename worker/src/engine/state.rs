//! `ShopState`: everything the engine knows about one shop, and the few primitive
//! mutations (assign, enqueue, pool, status; end and close are in `lifecycle`) that
//! every rule is built from. Keeping the counters in these primitives alone is what
//! keeps occupancy, queues, the buyer index and the R20–R25 indexes consistent.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use super::accounts::AccountTable;
use super::events::{ShopEvent, TimedEvent, WriteSet};
use super::follow_ups::FollowUps;
use super::limits::ShopLimits;
use super::model::{
    Account, AccountId, AccountStatus, Affinity, AssignCause, BuyerId, Group, GroupName,
    OrderStatus, QueueName, RouteReason, Session, SessionId, SessionState, ShopId, Timestamp,
};
use super::request_log::RequestLog;
use super::settings::{Profile, ShopSettings};

/// How long a `Route` request id is remembered for replay, and how long a closed
/// session can still be read with `GetSession`.
pub const RETENTION: Duration = Duration::from_secs(3600);

/// One shop's routing state. Only the engine's own methods change it.
#[derive(Clone, Debug)]
pub struct ShopState {
    /// The shop this state belongs to, for snapshots and the store's keys.
    pub(crate) shop_id: ShopId,
    /// The profile the shop was created with (its default settings), kept in
    /// snapshots.
    pub(crate) profile: Profile,
    /// The shop's main account: it cannot be removed, serves when no account
    /// takes part (R4) or as the offline fallback, and may always use the pool.
    pub(crate) main_account: AccountId,
    /// The shop's current settings, which every rule reads.
    pub(crate) settings: ShopSettings,
    /// The deployment's caps on the shop's size; not stored with the shop.
    pub(crate) limits: ShopLimits,
    /// Ordered by id, so that ties and listings are deterministic.
    pub(crate) accounts: AccountTable,
    /// Groups by name; a group bound to an order status routes it (R7).
    pub(crate) groups: BTreeMap<GroupName, Group>,
    /// Derived from `groups` and `accounts`: each group's members as positions in
    /// `accounts`, in id order, leaving out member ids that are no account (routing
    /// ignores those). Group routing walks it on every `Route` instead of looking
    /// each member up by id. Positions move when an account is added or removed, so
    /// every change of the account set or of a group calls [`Self::reindex_groups`].
    pub(crate) group_members: BTreeMap<GroupName, Vec<usize>>,
    /// Every session by id, closed ones too until `memory_retention` passes.
    pub(crate) sessions: HashMap<SessionId, Session>,
    /// R1: a buyer has at most one open session per shop.
    pub(crate) open_session_by_buyer: HashMap<BuyerId, SessionId>,
    /// Each queue oldest first; empty queues are removed.
    pub(crate) queues: BTreeMap<QueueName, VecDeque<SessionId>>,
    /// Sessions the bot holds in the message pool (R13c), oldest first.
    pub(crate) pool: VecDeque<SessionId>,
    /// Each buyer's last account and until when it is preferred (R5).
    pub(crate) affinities: HashMap<BuyerId, Affinity>,
    /// Affinities by expiry, so forgetting them costs nothing while they last.
    pub(crate) affinity_expiry: BTreeSet<(Timestamp, BuyerId)>,
    /// ENDED sessions by the time their close delay runs out (R15).
    pub(crate) closing: BTreeSet<(Timestamp, SessionId)>,
    /// Logged-in accounts by the time their presence runs out.
    pub(crate) presence_expiry: BTreeSet<(Timestamp, AccountId)>,
    /// Answered request ids (R1), forgotten after `memory_retention`.
    pub(crate) route_records: RequestLog,
    /// How long request ids and closed sessions stay in this state: `RETENTION`
    /// unless a store that remembers request ids itself asked for less.
    pub(crate) memory_retention: Duration,
    /// Closed sessions in the order they closed, to drop them after
    /// `memory_retention`.
    pub(crate) closed_expiry: VecDeque<(Timestamp, SessionId)>,
    /// The id the next new session gets, so ids are never reused.
    pub(crate) next_session_id: u64,
    /// Increases with every assignment: R9's "least recently assigned".
    pub(crate) assignment_seq: u64,
    /// Increases with every enqueue: R14's "oldest" across queues.
    pub(crate) enqueue_seq: u64,
    /// The latest time the state was brought to; the engine never goes back.
    pub(crate) clock: Timestamp,
    /// What R20–R23 keep track of: queue and reply deadlines, raised priorities,
    /// and how good past wait estimates were.
    pub(crate) follow_ups: FollowUps,
    /// Events produced since the last [`Self::take_events`].
    pub(crate) pending_events: Vec<TimedEvent>,
    /// What changed since the last [`Self::take_write_set`], for the store.
    pub(crate) write_set: WriteSet,
}

impl ShopState {
    /// A new shop with its main account, settings from the profile.
    pub fn new(shop_id: ShopId, profile: Profile, main_account: AccountId, now: Timestamp) -> Self {
        let settings = ShopSettings::for_profile(profile);
        let mut state = ShopState {
            shop_id,
            profile,
            main_account: main_account.clone(),
            settings,
            limits: ShopLimits::default(),
            accounts: AccountTable::default(),
            groups: BTreeMap::new(),
            group_members: BTreeMap::new(),
            sessions: HashMap::new(),
            open_session_by_buyer: HashMap::new(),
            queues: BTreeMap::new(),
            pool: VecDeque::new(),
            affinities: HashMap::new(),
            affinity_expiry: BTreeSet::new(),
            closing: BTreeSet::new(),
            presence_expiry: BTreeSet::new(),
            route_records: RequestLog::default(),
            memory_retention: RETENTION,
            closed_expiry: VecDeque::new(),
            next_session_id: 1,
            assignment_seq: 0,
            enqueue_seq: 0,
            clock: now,
            follow_ups: FollowUps::default(),
            pending_events: Vec::new(),
            write_set: WriteSet::default(),
        };
        state.insert_main_account(main_account);
        state.write_set.settings = true;
        state
    }

    // ------------------------------------------------------------ outputs
    // (read-only queries are in `reading.rs`, `check_invariants` in `invariants.rs`)

    /// Takes the events produced since the last call, in order.
    pub fn take_events(&mut self) -> Vec<TimedEvent> {
        std::mem::take(&mut self.pending_events)
    }

    /// Keeps request ids and closed sessions in memory for `retention` only
    /// (never longer than [`RETENTION`]). For a store that remembers each
    /// request id's answer itself for [`RETENTION`]: memory then holds only what
    /// a prompt retry needs, instead of an hour of traffic.
    pub fn limit_memory_retention(&mut self, retention: Duration) {
        self.memory_retention = retention.min(RETENTION);
    }

    /// Sets the caps on the shop's size (the deployment's; see [`ShopLimits`]).
    pub fn set_limits(&mut self, limits: ShopLimits) {
        self.limits = limits;
    }

    /// Takes what changed since the last call, for a store to persist.
    pub fn take_write_set(&mut self) -> WriteSet {
        std::mem::take(&mut self.write_set)
    }

    // ------------------------------------------------------------ primitives

    fn insert_main_account(&mut self, id: AccountId) {
        let account = Account {
            id: id.clone(),
            config: super::model::AccountConfig {
                display_name: id.0.clone(),
                roles: [super::model::Role::Main].into_iter().collect(),
                non_routing: false,
                max_concurrent: None,
                pool_permission: true,
                main_account_participates: false,
            },
            status: AccountStatus::Offline,
            presence_expires_at: None,
            assigned: 0,
            ending: 0,
            last_assigned_seq: 0,
            frees: super::free_rate::FreeRate::default(),
            tally: super::tally::AssignTally::default(),
        };
        self.write_set.accounts.insert(id);
        self.insert_account(account);
    }

    /// Adds an account, or replaces the one with its id. A new id moves the positions
    /// the group index holds, so it is rebuilt.
    pub(crate) fn insert_account(&mut self, account: Account) {
        let is_new = !self.accounts.contains_key(&account.id);
        self.accounts.insert(account);
        if is_new {
            self.reindex_groups();
        }
    }

    /// Rebuilds `group_members` from `groups` and `accounts`: after an account is
    /// added or removed, a group changes, or a shop is restored.
    pub(crate) fn reindex_groups(&mut self) {
        self.group_members = self.recount_group_members();
    }

    /// `group_members` as it should be; [`Self::check_invariants`] compares the two.
    pub(super) fn recount_group_members(&self) -> BTreeMap<GroupName, Vec<usize>> {
        self.groups
            .values()
            .map(|group| {
                let positions = group
                    .members
                    .iter()
                    .filter_map(|id| self.accounts.position(id))
                    .collect();
                (group.name.clone(), positions)
            })
            .collect()
    }

    pub(crate) fn emit(&mut self, at: Timestamp, event: ShopEvent) {
        self.pending_events.push(TimedEvent { at, event });
    }

    /// Creates a session for a buyer that has none open. The caller places it.
    pub(crate) fn new_session(
        &mut self,
        buyer: &BuyerId,
        order_status: OrderStatus,
        reason: RouteReason,
        priority: u8,
        now: Timestamp,
    ) -> SessionId {
        let id = SessionId(self.next_session_id);
        self.next_session_id += 1;
        self.write_set.counters = true;
        let session = Session {
            id,
            buyer: buyer.clone(),
            state: SessionState::Closed,
            account: None,
            order_status,
            queue: None,
            enqueued_seq: 0,
            created_at: now,
            closes_at: None,
            reason,
            priority,
            queued_estimate: None,
            reply_wait_since: None,
            timed_out_on: Vec::new(),
            reassignments: 0,
            affinity_pending: false,
        };
        self.sessions.insert(id, session);
        self.open_session_by_buyer.insert(buyer.clone(), id);
        self.write_set.sessions.insert(id);
        id
    }

    /// Takes a session out of whatever queue or pool it waits in.
    pub(crate) fn detach_waiting(&mut self, id: SessionId) -> Option<QueueName> {
        if let Some(queue) = self.sessions[&id].queue {
            self.unwatch_waiting(id, queue);
        }
        let session = self.sessions.get_mut(&id).expect("session exists");
        let from_queue = session.queue.take();
        if let Some(queue_name) = from_queue
            && let Some(queue) = self.queues.get_mut(&queue_name)
        {
            // Sessions leave queues from the front (R14) far more often than
            // from the middle (a buyer giving up): no scan for those.
            if queue.front() == Some(&id) {
                queue.pop_front();
            } else {
                queue.retain(|queued| *queued != id);
            }
            if queue.is_empty() {
                self.queues.remove(&queue_name);
            }
            self.write_set.queues.insert(queue_name);
        }
        if session.state == SessionState::Pooled {
            self.pool.retain(|pooled| *pooled != id);
            self.write_set.pool = true;
        }
        from_queue
    }

    /// Gives a session to an account: from nothing, a queue, the pool, or another
    /// account. The buyer's affinity follows (R5, R16), except after R22's move,
    /// where it waits for the new holder's reply. R25 counts it.
    pub(crate) fn assign(
        &mut self,
        id: SessionId,
        account_id: &AccountId,
        cause: AssignCause,
        now: Timestamp,
    ) {
        if self.detach_waiting(id).is_some() {
            self.record_served_from_queue(id, now);
        }
        let previous_holder = {
            let session = &self.sessions[&id];
            (session.state == SessionState::Assigned)
                .then(|| session.account.clone())
                .flatten()
        };
        if let Some(previous) = &previous_holder {
            self.unwatch_reply(id);
            if let Some(account) = self.accounts.get_mut(previous) {
                account.assigned -= 1;
                // The slot it held is free: R20 counts it.
                account.frees.record(now.as_millis());
                self.write_set.accounts.insert(previous.clone());
            }
        }
        self.assignment_seq += 1;
        self.write_set.counters = true;
        let default_capacity = self.settings.default_max_concurrent;
        let account = self.accounts.get_mut(account_id).expect("account exists");
        let capacity = account.config.max_concurrent.unwrap_or(default_capacity);
        let overflow = (account.occupancy() >= capacity)
            .then(|| cause.overflow_rule())
            .flatten();
        account.tally.record(cause.kind(), overflow);
        account.assigned += 1;
        account.last_assigned_seq = self.assignment_seq;
        self.write_set.accounts.insert(account_id.clone());

        let affinity_waits_for_reply = matches!(cause, AssignCause::ReplyTimeout { .. });
        let session = self.sessions.get_mut(&id).expect("session exists");
        session.state = SessionState::Assigned;
        session.account = Some(account_id.clone());
        session.affinity_pending = affinity_waits_for_reply;
        self.write_set.sessions.insert(id);
        let buyer = session.buyer.clone();
        if !affinity_waits_for_reply {
            self.remember_affinity(&buyer, account_id, now);
        }
        self.watch_reply(id, now);
        self.emit(
            now,
            ShopEvent::SessionAssigned {
                session: id,
                buyer,
                account: account_id.clone(),
                cause,
            },
        );
    }

    /// Puts a session at the back of a queue (R14: first in, first out; R23: served
    /// by effective priority first). It is told its position and wait (R20).
    pub(crate) fn enqueue(&mut self, id: SessionId, queue_name: QueueName, now: Timestamp) {
        self.enqueue_seq += 1;
        self.write_set.counters = true;
        let seq = self.enqueue_seq;
        let session = self.sessions.get_mut(&id).expect("session exists");
        session.state = SessionState::Queued;
        session.queue = Some(queue_name);
        session.enqueued_seq = seq;
        self.write_set.sessions.insert(id);
        let buyer = session.buyer.clone();
        let queue = self.queues.entry(queue_name).or_default();
        queue.push_back(id);
        self.write_set.queues.insert(queue_name);
        self.watch_waiting(id, queue_name);
        let session = &self.sessions[&id];
        let position = self.queue_position(session).unwrap_or(u32::MAX);
        let estimate = self.estimate_wait(session, position, now);
        self.sessions
            .get_mut(&id)
            .expect("session exists")
            .queued_estimate = estimate;
        self.emit(
            now,
            ShopEvent::SessionQueued {
                session: id,
                buyer,
                queue: queue_name,
                position,
                estimate,
            },
        );
    }

    /// The bot holds a session in the message pool: by R13c, or by R21's timeout
    /// (`reason`).
    pub(crate) fn put_in_pool(&mut self, id: SessionId, reason: RouteReason, now: Timestamp) {
        let session = self.sessions.get_mut(&id).expect("session exists");
        session.state = SessionState::Pooled;
        let buyer = session.buyer.clone();
        self.write_set.sessions.insert(id);
        self.pool.push_back(id);
        self.write_set.pool = true;
        self.emit(
            now,
            ShopEvent::SessionPooled {
                session: id,
                buyer,
                reason,
            },
        );
    }

    /// Changes an account's status and its presence deadline.
    pub(crate) fn set_status(
        &mut self,
        account_id: &AccountId,
        status: AccountStatus,
        presence_expired: bool,
        now: Timestamp,
    ) {
        let presence_ttl = self.settings.presence_ttl;
        let account = self.accounts.get_mut(account_id).expect("account exists");
        if let Some(expires) = account.presence_expires_at.take() {
            self.presence_expiry.remove(&(expires, account_id.clone()));
        }
        if status.is_logged_in() {
            let expires = now.plus(presence_ttl);
            account.presence_expires_at = Some(expires);
            self.presence_expiry.insert((expires, account_id.clone()));
        }
        let previous = account.status;
        account.status = status;
        if previous != status {
            self.write_set.accounts.insert(account_id.clone());
        }
        self.write_set.presence.insert(account_id.clone());
        if previous != status {
            self.emit(
                now,
                ShopEvent::AccountStatusChanged {
                    account: account_id.clone(),
                    from: previous,
                    to: status,
                    presence_expired,
                },
            );
        }
    }

    pub(crate) fn remember_affinity(
        &mut self,
        buyer: &BuyerId,
        account: &AccountId,
        now: Timestamp,
    ) {
        let old = self.affinities.remove(buyer);
        if let Some(old) = &old {
            self.affinity_expiry
                .remove(&(old.expires_at, buyer.clone()));
        }
        self.write_set.affinities.insert(buyer.clone());
        let window = self.settings.affinity_window;
        if window.is_zero() {
            return;
        }
        if old.is_none() {
            self.write_set.new_affinities.insert(buyer.clone());
        }
        let expires_at = now.plus(window);
        self.affinities.insert(
            buyer.clone(),
            Affinity {
                account: account.clone(),
                expires_at,
            },
        );
        self.affinity_expiry.insert((expires_at, buyer.clone()));
    }
}
