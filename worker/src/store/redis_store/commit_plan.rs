//! The plan of a commit: turning a [`WriteSet`] (what one or more calls changed)
//! into the steps of the `COMMIT` script, and those into its `EVALSHA`.
//!
//! The steps, the plan's format and the script's arguments are documented at the
//! top of `commit.lua`.

use redis::{Cmd, RedisWrite};

use super::scripts::COMMIT;
use crate::engine::{BuyerId, SessionId, SessionState, ShopState, Timestamp, WriteSet};
use crate::store::keys::{COUNTERS_FIELD, Key, ShopKeys};
use crate::store::records;

/// A commit's `EVALSHA` as it is built (see [`COMMIT`]): its keys, its plan and
/// its values are gathered apart, because every key (and their number) comes
/// before the plan, and the plan before the values. Keys and records are written
/// straight into these buffers, without a string or a vector of their own.
pub(super) struct CommitBuilder<'k> {
    /// The shop's key names, which each step's key is written as.
    names: &'k ShopKeys,
    /// The keys so far, the fence first: the `EVALSHA`'s keys, in step order.
    keys: Cmd,
    /// How many keys `keys` holds: `EVALSHA` sends the number before the keys.
    key_count: usize,
    /// The plan so far: the creation byte, then a byte per step and a count per
    /// list step.
    plan: Vec<u8>,
    /// The steps' values so far, in step order: they follow the plan.
    values: Cmd,
    /// The list step being filled: its key and step, and where its count is.
    list: Option<(Key<'static>, u8, Option<usize>)>,
}

impl<'k> CommitBuilder<'k> {
    /// A commit to the shop named by `names`; `create`: the shop must not exist
    /// yet.
    pub(super) fn new(names: &'k ShopKeys, create: bool) -> Self {
        let mut keys = Cmd::with_capacity(16, 512);
        keys.write_arg_fmt(names.name(Key::Fence));
        CommitBuilder {
            names,
            keys,
            key_count: 1,
            plan: vec![if create { b'1' } else { b'0' }],
            values: Cmd::with_capacity(32, 1024),
            list: None,
        }
    }

    /// Adds a step on `key`; its values follow in the returned buffer.
    fn step(&mut self, key: Key<'_>, step: u8) -> &mut Cmd {
        self.list = None;
        self.keys.write_arg_fmt(self.names.name(key));
        self.key_count += 1;
        self.plan.push(step);
        &mut self.values
    }

    /// A `Route`'s answer to remember: before any other step.
    pub(super) fn remember(&mut self, key: Key<'_>, record: &[u8]) {
        debug_assert!(
            self.plan[1..].iter().all(|&step| step == b'q'),
            "answers come first"
        );
        self.step(key, b'q').arg(record);
    }

    fn set(&mut self, key: Key<'_>, record: &impl prost::Message) {
        record_arg(self.step(key, b's'), record);
    }

    /// `SET key value PX ttl`, for a key that expires by itself at `deadline`.
    fn set_until(&mut self, key: Key<'_>, value: &str, deadline: Timestamp, now: Timestamp) {
        // PX 0 is an error: clamp to 1 ms, the entry is due now.
        let ttl_ms = deadline.as_millis().saturating_sub(now.as_millis()).max(1);
        self.step(key, b'p').arg(value).arg(ttl_ms);
    }

    fn del(&mut self, key: Key<'_>) {
        self.step(key, b'd');
    }

    /// Starts a list step (`h`, `x`, `a` or `r`) on `key`: [`item`](Self::item)
    /// adds to it. A list with no item writes nothing; a long one is cut into
    /// steps of at most 255 items (Lua's `unpack` has its limits too).
    pub(super) fn list(&mut self, key: Key<'static>, step: u8) {
        self.list = Some((key, step, None));
    }

    /// Adds an item to the list step started last; its values (a field and a
    /// value for `h`, a name otherwise) follow in the returned buffer.
    pub(super) fn item(&mut self) -> &mut Cmd {
        let (key, step, count) = self.list.expect("an item belongs to a list");
        match count {
            Some(at) if self.plan[at] < u8::MAX => self.plan[at] += 1,
            _ => {
                self.step(key, step);
                self.plan.push(1);
                self.list = Some((key, step, Some(self.plan.len() - 1)));
            }
        }
        &mut self.values
    }

    /// The `EVALSHA` of the commit, for the owner holding `token`.
    pub(super) fn finish(self, token: u64) -> Cmd {
        let keys = self.keys.args_iter();
        let values = self.values.args_iter();
        let mut command = Cmd::with_capacity(5 + keys.len() + values.len(), 1024);
        command
            .arg("EVALSHA")
            .arg(COMMIT.get_hash())
            .arg(self.key_count);
        for key in keys {
            if let redis::Arg::Simple(bytes) = key {
                command.arg(bytes);
            }
        }
        command.arg(token).arg(self.plan.as_slice());
        for value in values {
            if let redis::Arg::Simple(bytes) = value {
                command.arg(bytes);
            }
        }
        command
    }
}

/// Writes `record` as the next argument of `args`, encoded in place.
fn record_arg(args: &mut Cmd, record: &impl prost::Message) {
    record
        .encode(&mut args.bufmut_for_next_arg(record.encoded_len()))
        .expect("a command's buffer grows as needed");
}

/// Adds the Redis writes for what one or more calls changed: one step per key,
/// a hash's or a set's changes in one list step each.
///
/// The shop record comes first when the settings changed, and always for a
/// creation, whose script checks through its first written key that the shop
/// does not exist yet. The counters are a field of the sessions hash, written
/// with the sessions that moved them. A buyer's affinity joins the affinity index
/// only when it is new: a refreshed one is indexed already. The shop record is
/// stamped with `format`, the record format this worker writes.
pub(super) fn add_writes(
    commit: &mut CommitBuilder<'_>,
    state: &ShopState,
    changed: &WriteSet,
    now: Timestamp,
    create: bool,
    format: u32,
) {
    if create || changed.settings {
        commit.set(
            Key::Shop,
            &records::shop_record(
                state.shop_id(),
                state.profile(),
                state.main_account(),
                state.settings(),
                format,
            ),
        );
    }

    commit.list(Key::Accounts, b'h');
    for account in changed.accounts.iter().filter_map(|id| state.account(id)) {
        let values = commit.item().arg(account.id.as_str());
        record_arg(values, &records::account_record(account));
    }
    commit.list(Key::Accounts, b'x');
    for id in &changed.accounts {
        if state.account(id).is_none() {
            commit.item().arg(id.as_str());
        }
    }
    // Presence only where it changed: an assignment changes an account's
    // counters, not how long it stays logged in.
    for account_id in &changed.presence {
        let presence = state
            .account(account_id)
            .filter(|account| account.status.is_logged_in())
            .and_then(|account| account.presence_expires_at);
        let key = Key::Presence(account_id.as_str());
        match presence {
            Some(expires) => commit.set_until(key, "1", expires, now),
            None => commit.del(key),
        }
    }

    commit.list(Key::Groups, b'h');
    for group in changed.groups.iter().filter_map(|name| state.group(name)) {
        let values = commit.item().arg(group.name.0.as_str());
        record_arg(values, &records::group_record(group));
    }
    commit.list(Key::Groups, b'x');
    for name in &changed.groups {
        if state.group(name).is_none() {
            commit.item().arg(name.0.as_str());
        }
    }

    // A closed session is gone from the store (it may linger in memory a while).
    let stored = |id: &SessionId| {
        state
            .session(*id)
            .filter(|session| session.state != SessionState::Closed)
    };
    commit.list(Key::Sessions, b'h');
    if create || changed.counters {
        let values = commit.item().arg(COUNTERS_FIELD);
        record_arg(
            values,
            &records::counters_record(state.counters(), state.estimate_accuracy()),
        );
    }
    for session in changed.sessions.iter().filter_map(stored) {
        let values = commit.item().arg(session.id.0);
        record_arg(values, &records::session_record(session));
    }
    commit.list(Key::Sessions, b'x');
    for id in &changed.sessions {
        if stored(id).is_none() {
            commit.item().arg(id.0);
        }
    }
    for id in &changed.sessions {
        match stored(id) {
            Some(session) => {
                if let (SessionState::Ended, Some(closes_at)) = (session.state, session.closes_at) {
                    commit.set_until(Key::Ending(id.0), "1", closes_at, now);
                }
            }
            None => commit.del(Key::Ending(id.0)),
        }
    }

    let live = |buyer: &BuyerId| state.stored_affinity(buyer).filter(|a| a.expires_at > now);
    for buyer in &changed.affinities {
        let key = Key::Affinity(buyer.as_str());
        match live(buyer) {
            Some(affinity) => {
                commit.set_until(key, affinity.account.as_str(), affinity.expires_at, now);
            }
            None => commit.del(key),
        }
    }
    commit.list(Key::AffinityIndex, b'a');
    for buyer in &changed.affinities {
        if changed.new_affinities.contains(buyer) && live(buyer).is_some() {
            commit.item().arg(buyer.as_str());
        }
    }
    commit.list(Key::AffinityIndex, b'r');
    for buyer in &changed.affinities {
        if live(buyer).is_none() {
            commit.item().arg(buyer.as_str());
        }
    }
}
