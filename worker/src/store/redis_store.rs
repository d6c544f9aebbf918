//! Shops in Redis, behind fencing tokens.
//!
//! Two Lua scripts do the work, each on one shop's keys only (one hash slot, so
//! Redis Cluster works):
//! - `LOAD`: raises the shop's fence to the loader's token (refusing if a newer
//!   token already touched it) and returns the shop's entities. TTLs are then read
//!   in one pipeline: presence, close delays and affinities are keys that expire by
//!   themselves, so what expired while nobody owned the shop is simply gone.
//! - `COMMIT`: checks the fence, then the request ids of the `Route`s it carries,
//!   then applies the writes. One round trip per group commit: every call a shop
//!   decided while its previous commit was in flight.
//!
//! Fencing is per shop rather than per shard so that the check and the writes sit
//! in one slot: a new owner raises a shop's fence when it loads the shop, before it
//! serves it, after which an old owner's writes are refused.

use fenliu_node::redis_connection::RedisConnection;
use redis::{Cmd, ErrorKind, RedisWrite, Script, ServerErrorKind, Value};

use super::StoreError;
use super::keys::{COUNTERS_FIELD, Key, ShopKeys};
use super::records::{self, decode, encode};
use crate::engine::{
    BuyerId, RequestId, RouteOutcome, SessionId, SessionState, ShopId, ShopSnapshot, ShopState,
    Timestamp, WriteSet,
};

/// How long a remembered `Route` answer is kept (R1 retries).
const REQUEST_RETENTION_SECONDS: u64 = 3600;

/// `LOAD` v1. KEYS: fence, shop, accounts, groups, sessions, affinity index.
/// ARGV: token. Returns {status, shop, accounts, groups, sessions, buyers,
/// fence}; status is `ok`, `missing` or `fenced`.
const LOAD_SCRIPT: &str = r"
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if fence > token then return {'fenced', false, {}, {}, {}, {}, tostring(fence)} end
local shop = redis.call('GET', KEYS[2])
if not shop then return {'missing', false, {}, {}, {}, {}, tostring(fence)} end
if fence < token then redis.call('SET', KEYS[1], ARGV[1]) end
return {'ok', shop, redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4]),
        redis.call('HGETALL', KEYS[5]), redis.call('SMEMBERS', KEYS[6]), tostring(fence)}
";

/// `COMMIT` v3: one group commit of one or more calls' writes.
///
/// KEYS: the fence, then one key per step of the plan. ARGV: the token, the plan,
/// then the steps' values in order. The plan is a byte string: `1` for a creation
/// (the shop must not exist yet) or `0`, then one byte per step, followed for the
/// steps that take a list by the number of its items (1..=255):
///
/// | step | does | values |
/// |---|---|---|
/// | `q` | remembers a `Route`'s answer (`SET NX EX`) | record |
/// | `s` | `SET` | value |
/// | `p` | `SET PX` | value, milliseconds |
/// | `d` | `DEL` | |
/// | `h` n | `HSET` | n (field, value) pairs |
/// | `x` n | `HDEL` | n fields |
/// | `a` n | `SADD` | n members |
/// | `r` n | `SREM` | n members |
///
/// The `q` steps come first: if one finds its request id answered before, the
/// answers stored before it are deleted again and the script returns {`replay`,
/// index, record} having written nothing (a batch never holds one request id
/// twice: the engine answers a repeat from memory, and a replay is not kept).
/// Otherwise the fence is raised to the token if lower, the other steps run, and
/// the script returns 1. It returns {`fenced`, fence} if a newer token touched the
/// shop, {`exists`} for a creation of a shop that exists, {`missing`} for an update
/// of a shop that is gone.
///
/// Gone (a Redis that restarted without its data) is refused rather than leaving a
/// partial shop behind; it is told by the fence key, which the shop's creation
/// sets and nothing deletes (`LOAD` raises only the fence of a shop it found). A
/// creation checks the shop record itself, which is then its first step after any
/// `q`.
///
/// What a commit costs Redis is mostly counted in arguments (each is parsed, then
/// made a Lua string: about a thousand instructions), `redis.call`s (a few
/// thousand each, the command's own work aside) and the reply (a table of strings
/// costs more than a small script's whole run). Hence one byte per step rather
/// than a command name, constants in the script rather than arguments, one call
/// per hash or set, and a bare 1 on success.
const COMMIT_SCRIPT: &str = r"
local raw = redis.call('GET', KEYS[1])
local fence = tonumber(raw or '0')
local token = tonumber(ARGV[1])
if fence > token then return {'fenced', tostring(fence)} end
local plan = ARGV[2]
local byte = string.byte
if byte(plan, 1) == 49 then
  if redis.call('EXISTS', KEYS[string.find(plan, '[^q]', 2) or #plan + 1]) == 1 then
    return {'exists'}
  end
elseif not raw then
  return {'missing'}
end
local p, k, a = 2, 2, 3
local step = byte(plan, p)
while step == 113 do
  if not redis.call('SET', KEYS[k], ARGV[a], 'NX', 'EX', REQUEST_RETENTION_SECONDS) then
    local earlier = redis.call('GET', KEYS[k])
    for j = 2, k - 1 do redis.call('DEL', KEYS[j]) end
    return {'replay', tostring(k - 2), earlier}
  end
  p, k, a = p + 1, k + 1, a + 1
  step = byte(plan, p)
end
if fence < token or not raw then redis.call('SET', KEYS[1], ARGV[1]) end
while step do
  if step == 112 then
    redis.call('SET', KEYS[k], ARGV[a], 'PX', ARGV[a + 1])
    a, p = a + 2, p + 1
  elseif step == 104 then
    local n = 2 * byte(plan, p + 1)
    redis.call('HSET', KEYS[k], unpack(ARGV, a, a + n - 1))
    a, p = a + n, p + 2
  elseif step == 100 then
    redis.call('DEL', KEYS[k])
    p = p + 1
  elseif step == 115 then
    redis.call('SET', KEYS[k], ARGV[a])
    a, p = a + 1, p + 1
  else
    local n = byte(plan, p + 1)
    local command
    if step == 120 then command = 'HDEL' elseif step == 97 then command = 'SADD'
    elseif step == 114 then command = 'SREM' else return redis.error_reply('unknown step ' .. step) end
    redis.call(command, KEYS[k], unpack(ARGV, a, a + n - 1))
    a, p = a + n, p + 2
  end
  k = k + 1
  step = byte(plan, p)
end
return 1
";

/// The scripts, loaded once per process: a prepared commit borrows its script, and
/// outlives the call that prepared it (it is sent by the shop's committer).
static LOAD: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(LOAD_SCRIPT));
static COMMIT: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| {
    Script::new(&COMMIT_SCRIPT.replace(
        "REQUEST_RETENTION_SECONDS",
        &REQUEST_RETENTION_SECONDS.to_string(),
    ))
});

/// What a commit did.
#[derive(Debug)]
pub enum CommitOutcome {
    Committed,
    /// The `route`-th remembered request id had been answered already (by this or
    /// an earlier owner): nothing was written and this is the first answer.
    Replay {
        route: usize,
        buyer: BuyerId,
        outcome: RouteOutcome,
    },
    /// Creating a shop that another call created meanwhile: nothing was written.
    AlreadyExists,
}

/// A `Route`'s answer to remember with the commit, encoded when it is decided.
#[derive(Debug, Clone)]
pub struct RememberedRoute {
    request_id: RequestId,
    record: Vec<u8>,
}

impl RememberedRoute {
    pub fn new(request_id: &RequestId, buyer: &BuyerId, outcome: &RouteOutcome) -> Self {
        RememberedRoute {
            request_id: request_id.clone(),
            record: encode(&records::route_record(buyer, outcome)),
        }
    }
}

/// A commit ready to send (its `EVALSHA`): built while the shop is held, sent
/// after it is let go.
pub struct PreparedCommit {
    command: Cmd,
    shop_id: ShopId,
    token: u64,
}

impl std::fmt::Debug for PreparedCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCommit")
            .field("shop_id", &self.shop_id)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Shops in Redis.
#[derive(Debug, Clone)]
pub struct RedisStore {
    connection: RedisConnection,
    /// Shared: each shop's committer holds a clone of the store.
    namespace: std::sync::Arc<str>,
}

impl RedisStore {
    pub fn new(connection: RedisConnection, namespace: &str) -> RedisStore {
        RedisStore {
            connection,
            namespace: namespace.into(),
        }
    }

    pub fn connection(&self) -> RedisConnection {
        self.connection.clone()
    }

    /// Loads a shop for the owner holding `token`, fencing out older owners.
    /// `Ok(None)`: the shop does not exist.
    pub async fn load(
        &self,
        shop_id: &ShopId,
        token: u64,
        now: Timestamp,
    ) -> Result<Option<ShopState>, StoreError> {
        let keys = ShopKeys::new(&self.namespace, shop_id.as_str());
        let mut connection = self.connection.clone();
        type Loaded = (
            String,
            Option<Vec<u8>>,
            Vec<Vec<u8>>,
            Vec<Vec<u8>>,
            Vec<Vec<u8>>,
            Vec<String>,
            String,
        );
        let (status, shop, accounts, groups, sessions, buyers, fence): Loaded = LOAD
            .key(keys.fence())
            .key(keys.shop())
            .key(keys.accounts())
            .key(keys.groups())
            .key(keys.sessions())
            .key(keys.affinity_index())
            .arg(token)
            .invoke_async(&mut connection)
            .await?;
        match status.as_str() {
            "ok" => {}
            "missing" => return Ok(None),
            _ => {
                return Err(StoreError::Fenced {
                    shop: shop_id.0.clone(),
                    fence: fence.parse().unwrap_or(u64::MAX),
                    token,
                });
            }
        }
        let shop: records::ShopRecord = decode("shop", &shop.unwrap_or_default())?;
        let account_records: Vec<records::AccountRecord> = hash_values("account", &accounts)?;
        let group_records: Vec<records::GroupRecord> = hash_values("group", &groups)?;
        // The sessions hash also holds the shop's counters (see `keys`).
        let mut counters = None;
        let mut session_records = Vec::with_capacity(sessions.len() / 2);
        for pair in sessions.chunks_exact(2) {
            if pair[0] == COUNTERS_FIELD.as_bytes() {
                counters = Some(records::counters_from(&decode("counters", &pair[1])?));
            } else {
                session_records.push(decode::<records::SessionRecord>("session", &pair[1])?);
            }
        }
        // A shop stored before the counters moved out of its record has none here:
        // pre-1.0, no such data is kept anywhere, so it is refused, not migrated.
        let counters =
            counters.ok_or_else(|| StoreError::Corrupt("shop without counters".to_owned()))?;
        let session_list = session_records
            .iter()
            .map(records::session_from)
            .collect::<Result<Vec<_>, _>>()?;

        // The TTL keys: what is left of each presence, close delay and affinity.
        let mut pipeline = redis::pipe();
        for account in &account_records {
            pipeline.cmd("PTTL").arg(keys.presence(&account.id));
        }
        let ended: Vec<SessionId> = session_list
            .iter()
            .filter(|s| s.state == SessionState::Ended)
            .map(|s| s.id)
            .collect();
        for session in &ended {
            pipeline.cmd("PTTL").arg(keys.ending(session.0));
        }
        for buyer in &buyers {
            pipeline.cmd("GET").arg(keys.affinity(buyer));
            pipeline.cmd("PTTL").arg(keys.affinity(buyer));
        }
        let ttls: Vec<Value> =
            if account_records.is_empty() && ended.is_empty() && buyers.is_empty() {
                Vec::new()
            } else {
                pipeline.query_async(&mut connection).await?
            };
        // The replies come in the order the pipeline asked: presences, close
        // delays, then (value, TTL) per affinity.
        let mut replies = ttls.into_iter();

        let mut account_list = Vec::with_capacity(account_records.len());
        for record in &account_records {
            // No key: the presence ran out meanwhile (restore expires it at once).
            let expires = remaining_ms(replies.next()).map(|ms| Timestamp(now.as_millis() + ms));
            account_list.push(records::account_from(record, expires)?);
        }
        let mut session_list = session_list;
        // The close-delay replies come in the order `ended` was listed.
        let ended_sessions = session_list
            .iter_mut()
            .filter(|s| s.state == SessionState::Ended);
        for session in ended_sessions {
            // Gone: the close delay ran out while nobody owned the shop; it closes
            // at the next advance.
            let remaining = remaining_ms(replies.next()).unwrap_or(0);
            session.closes_at = Some(Timestamp(now.as_millis() + remaining));
        }
        let mut affinities = Vec::new();
        for buyer in &buyers {
            let account = match replies.next() {
                Some(Value::BulkString(bytes)) => String::from_utf8(bytes).ok(),
                _ => None,
            };
            let remaining = remaining_ms(replies.next());
            if let (Some(account), Some(remaining)) = (account, remaining) {
                affinities.push((
                    BuyerId(buyer.clone()),
                    records::affinity_from(account, remaining, now),
                ));
            }
        }
        let settings = records::settings_from(
            shop.settings
                .as_ref()
                .ok_or_else(|| StoreError::Corrupt("shop without settings".to_owned()))?,
        )?;
        let snapshot = ShopSnapshot {
            shop_id: shop_id.clone(),
            profile: records::profile_from(shop.profile)?,
            main_account: crate::engine::AccountId(shop.main_account.clone()),
            settings,
            counters,
            accounts: account_list,
            groups: group_records
                .iter()
                .map(records::group_from)
                .collect::<Result<_, _>>()?,
            sessions: session_list,
            affinities,
        };
        Ok(Some(ShopState::restore(snapshot, now)))
    }

    /// Commits what one or more calls changed, if the shop's fence still allows
    /// `token`. `create`: the shop is new and must not exist in Redis yet.
    pub async fn commit(
        &self,
        state: &ShopState,
        writes: &WriteSet,
        token: u64,
        now: Timestamp,
        routes: &[RememberedRoute],
        create: bool,
    ) -> Result<CommitOutcome, StoreError> {
        let prepared = self.prepare_commit(state, writes, token, now, routes, create);
        self.send_commit(prepared).await
    }

    /// Builds the commit of `writes` as `state` has them now: the values are
    /// read here, so the shop may change (and be let go) before it is sent.
    pub fn prepare_commit(
        &self,
        state: &ShopState,
        writes: &WriteSet,
        token: u64,
        now: Timestamp,
        routes: &[RememberedRoute],
        create: bool,
    ) -> PreparedCommit {
        let keys = ShopKeys::new(&self.namespace, state.shop_id().as_str());
        let mut commit = CommitBuilder::new(&keys, create);
        for route in routes {
            commit.remember(Key::Request(route.request_id.as_str()), &route.record);
        }
        add_writes(&mut commit, state, writes, now, create);
        PreparedCommit {
            command: commit.finish(token),
            shop_id: state.shop_id().clone(),
            token,
        }
    }

    /// Sends a prepared commit: one round trip, applied whole or not at all.
    pub async fn send_commit(&self, prepared: PreparedCommit) -> Result<CommitOutcome, StoreError> {
        let mut connection = self.connection.clone();
        let reply = match prepared.command.query_async(&mut connection).await {
            // A Redis that has not seen the script yet (or restarted): load it
            // and send the commit again, as `ScriptInvocation` does.
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                COMMIT.load_async(&mut connection).await?;
                prepared.command.query_async(&mut connection).await
            }
            reply => reply,
        };
        let parts = match reply? {
            Value::Int(_) => return Ok(CommitOutcome::Committed),
            Value::Array(parts) => parts,
            other => return Err(StoreError::Corrupt(format!("commit reply {other:?}"))),
        };
        let part = |i: usize| match parts.get(i) {
            Some(Value::BulkString(bytes)) => bytes.as_slice(),
            _ => &[],
        };
        let detail = String::from_utf8_lossy(part(1));
        match part(0) {
            b"exists" => Ok(CommitOutcome::AlreadyExists),
            b"missing" => Err(StoreError::Unavailable(format!(
                "the state of shop {} is gone from Redis (restarted without persistence?)",
                prepared.shop_id
            ))),
            b"replay" => {
                let record: records::RouteRecordProto = decode("route record", part(2))?;
                let (buyer, outcome) = records::route_outcome_from(&record)?;
                let route = detail
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("replay index {detail:?}")))?;
                Ok(CommitOutcome::Replay {
                    route,
                    buyer,
                    outcome,
                })
            }
            b"fenced" => Err(StoreError::Fenced {
                shop: prepared.shop_id.0,
                fence: detail.parse().unwrap_or(u64::MAX),
                token: prepared.token,
            }),
            status => Err(StoreError::Corrupt(format!(
                "commit status {:?}",
                String::from_utf8_lossy(status)
            ))),
        }
    }
}

/// A commit's `EVALSHA` as it is built (see [`COMMIT_SCRIPT`]): its keys, its
/// plan and its values are gathered apart, because every key (and their number)
/// comes before the plan, and the plan before the values. Keys and records are
/// written straight into these buffers, without a string or a vector of their own.
struct CommitBuilder<'k> {
    names: &'k ShopKeys,
    keys: Cmd,
    key_count: usize,
    plan: Vec<u8>,
    values: Cmd,
    /// The list step being filled: its key and step, and where its count is.
    list: Option<(Key<'static>, u8, Option<usize>)>,
}

impl<'k> CommitBuilder<'k> {
    fn new(names: &'k ShopKeys, create: bool) -> Self {
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
    fn remember(&mut self, key: Key<'_>, record: &[u8]) {
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
    fn list(&mut self, key: Key<'static>, step: u8) {
        self.list = Some((key, step, None));
    }

    /// Adds an item to the list step started last; its values (a field and a
    /// value for `h`, a name otherwise) follow in the returned buffer.
    fn item(&mut self) -> &mut Cmd {
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

    fn finish(self, token: u64) -> Cmd {
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
/// only when it is new: a refreshed one is indexed already.
fn add_writes(
    commit: &mut CommitBuilder<'_>,
    state: &ShopState,
    changed: &WriteSet,
    now: Timestamp,
    create: bool,
) {
    if create || changed.settings {
        commit.set(
            Key::Shop,
            &records::shop_record(
                state.shop_id(),
                state.profile(),
                state.main_account(),
                state.settings(),
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
        record_arg(values, &records::counters_record(state.counters()));
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

/// Decodes HGETALL's flat [field, value, field, value, ...] into the values.
fn hash_values<M: prost::Message + Default>(
    what: &str,
    flat: &[Vec<u8>],
) -> Result<Vec<M>, StoreError> {
    flat.chunks(2)
        .filter_map(|pair| pair.get(1))
        .map(|bytes| decode(what, bytes))
        .collect()
}

/// A PTTL reply: remaining milliseconds, or `None` when the key is gone.
fn remaining_ms(reply: Option<Value>) -> Option<u64> {
    match reply {
        Some(Value::Int(ms)) if ms > 0 => u64::try_from(ms).ok(),
        _ => None,
    }
}
