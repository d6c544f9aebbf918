//! Shops in Redis, behind fencing tokens.
//!
//! Two Lua scripts do the work, each on one shop's keys only (one hash slot, so
//! Redis Cluster works):
//! - `LOAD`: raises the shop's fence to the loader's token (refusing if a newer
//!   token already touched it) and returns the shop's entities. TTLs are then read
//!   in one pipeline: presence, close delays and affinities are keys that expire by
//!   themselves, so what expired while nobody owned the shop is simply gone.
//! - `COMMIT`: checks the fence, then (for a `Route`) the request id, then applies
//!   the call's writes. One round trip per decision.
//!
//! Fencing is per shop rather than per shard so that the check and the writes sit
//! in one slot: a new owner raises a shop's fence when it loads the shop, before it
//! serves it, after which an old owner's writes are refused.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Script, ScriptInvocation, Value};

use super::StoreError;
use super::keys::ShopKeys;
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

/// `COMMIT` v2: one group commit of one or more calls' writes. KEYS: fence, then
/// one key per remembered `Route` answer, then one key per write. ARGV: token,
/// `create` (1: the shop must not exist yet), request TTL seconds, the number of
/// remembered answers, their records, then per write (kind, a, b): `set` value px
/// (0: no expiry), `del`, `hset` field value, `hdel` field, `sadd` member, `srem`
/// member, `keep` (nothing: the key is only named). Returns {status, detail,
/// record}: `ok`, `fenced` fence, `replay` index record (the index-th remembered
/// request id was answered before; nothing was written), `exists`, `missing`. The
/// first write is always the shop record: an update of a shop whose record is
/// gone (a Redis that restarted without its data) is refused rather than leaving
/// a partial shop behind.
const COMMIT_SCRIPT: &str = r"
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if fence > token then return {'fenced', tostring(fence), ''} end
local answers = tonumber(ARGV[4])
local first_write = 2 + answers
local exists = redis.call('EXISTS', KEYS[first_write]) == 1
if ARGV[2] == '1' and exists then return {'exists', '', ''} end
if ARGV[2] ~= '1' and not exists then return {'missing', '', ''} end
for i = 1, answers do
  local earlier = redis.call('GET', KEYS[1 + i])
  if earlier then return {'replay', tostring(i - 1), earlier} end
end
if fence < token then redis.call('SET', KEYS[1], ARGV[1]) end
for i = 1, answers do redis.call('SET', KEYS[1 + i], ARGV[4 + i], 'EX', ARGV[3]) end
local a = 5 + answers
for i = first_write, #KEYS do
  local kind, x, y = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  a = a + 3
  if kind == 'set' then
    if y == '0' then redis.call('SET', KEYS[i], x) else redis.call('SET', KEYS[i], x, 'PX', y) end
  elseif kind == 'del' then redis.call('DEL', KEYS[i])
  elseif kind == 'hset' then redis.call('HSET', KEYS[i], x, y)
  elseif kind == 'hdel' then redis.call('HDEL', KEYS[i], x)
  elseif kind == 'sadd' then redis.call('SADD', KEYS[i], x)
  elseif kind == 'srem' then redis.call('SREM', KEYS[i], x)
  end
end
return {'ok', '', ''}
";

/// The scripts, loaded once per process: a prepared commit borrows its script, and
/// outlives the call that prepared it (it is sent by the shop's committer).
static LOAD: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(LOAD_SCRIPT));
static COMMIT: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(COMMIT_SCRIPT));

/// The link under a [`RedisConnection`].
#[derive(Clone)]
enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A connection to one Redis or to a Redis Cluster, whose every call gives up
/// after the call timeout.
///
/// The bound is ours, around each call, because the client's own timeouts bound
/// only each attempt: while it reconnects to a Redis that went away, a call would
/// otherwise wait through every reconnection attempt, holding a shop's lock (and
/// the lease loop) far past the timeout. A call that times out is reported as
/// transient (UNAVAILABLE); the client keeps reconnecting underneath.
#[derive(Clone)]
pub struct RedisConnection {
    link: Link,
    call_timeout: Duration,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.link {
            Link::Single(_) => "single",
            Link::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisConnection")
            .field("kind", &kind)
            .field("call_timeout", &self.call_timeout)
            .finish()
    }
}

fn timed_out(timeout: Duration) -> redis::RedisError {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("redis call took longer than {} ms", timeout.as_millis()),
    )
    .into()
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let timeout = self.call_timeout;
        let call = match &mut self.link {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        };
        Box::pin(async move {
            tokio::time::timeout(timeout, call)
                .await
                .unwrap_or_else(|_| Err(timed_out(timeout)))
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let timeout = self.call_timeout;
        let call = match &mut self.link {
            Link::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        };
        Box::pin(async move {
            tokio::time::timeout(timeout, call)
                .await
                .unwrap_or_else(|_| Err(timed_out(timeout)))
        })
    }

    fn get_db(&self) -> i64 {
        match &self.link {
            Link::Single(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConnection {
    /// Connects to `urls`: one URL is a single Redis, several are the seed nodes
    /// of a Redis Cluster. Every call gives up after `call_timeout`.
    pub async fn connect(
        urls: &[String],
        call_timeout: Duration,
    ) -> Result<RedisConnection, StoreError> {
        let link = match urls {
            [] => return Err(StoreError::Unavailable("no Redis URL given".to_owned())),
            [url] => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(call_timeout))
                    .set_connection_timeout(Some(call_timeout))
                    // Reconnect quickly and keep trying: Redis comes back by
                    // itself, and so should we.
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                Link::Single(client.get_connection_manager_with_config(config).await?)
            }
            seeds => {
                let client = ClusterClient::builder(seeds.iter().map(String::as_str))
                    .response_timeout(call_timeout)
                    .connection_timeout(call_timeout)
                    .build()?;
                Link::Cluster(client.get_async_connection().await?)
            }
        };
        Ok(RedisConnection { link, call_timeout })
    }
}

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

/// A commit ready to send: built while the shop is held, sent after it is let go.
pub struct PreparedCommit {
    invocation: ScriptInvocation<'static>,
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
    namespace: String,
}

impl RedisStore {
    pub fn new(connection: RedisConnection, namespace: &str) -> RedisStore {
        RedisStore {
            connection,
            namespace: namespace.to_owned(),
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
        let session_records: Vec<records::SessionRecord> = hash_values("session", &sessions)?;
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
            profile: crate::grpc::convert::profile(shop.profile)
                .map_err(|e| StoreError::Corrupt(e.message().to_owned()))?,
            main_account: crate::engine::AccountId(shop.main_account.clone()),
            settings,
            counters: crate::engine::ShopCounters {
                next_session_id: shop.next_session_id,
                assignment_seq: shop.assignment_seq,
                enqueue_seq: shop.enqueue_seq,
            },
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
        let mut invocation = COMMIT.key(keys.fence());
        invocation
            .arg(token)
            .arg(if create { "1" } else { "0" })
            .arg(REQUEST_RETENTION_SECONDS)
            .arg(routes.len());
        for route in routes {
            invocation
                .key(keys.request(route.request_id.as_str()))
                .arg(&route.record);
        }
        for write in writes_for(state, writes, &keys, now) {
            invocation
                .key(write.key)
                .arg(write.kind)
                .arg(write.a)
                .arg(write.b);
        }
        PreparedCommit {
            invocation,
            shop_id: state.shop_id().clone(),
            token,
        }
    }

    /// Sends a prepared commit: one round trip, applied whole or not at all.
    pub async fn send_commit(&self, prepared: PreparedCommit) -> Result<CommitOutcome, StoreError> {
        let mut connection = self.connection.clone();
        let (status, detail, record): (String, String, Vec<u8>) =
            prepared.invocation.invoke_async(&mut connection).await?;
        match status.as_str() {
            "ok" => Ok(CommitOutcome::Committed),
            "exists" => Ok(CommitOutcome::AlreadyExists),
            "missing" => Err(StoreError::Unavailable(format!(
                "the state of shop {} is gone from Redis (restarted without persistence?)",
                prepared.shop_id
            ))),
            "replay" => {
                let record: records::RouteRecordProto = decode("route record", &record)?;
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
            _ => Err(StoreError::Fenced {
                shop: prepared.shop_id.0,
                fence: detail.parse().unwrap_or(u64::MAX),
                token: prepared.token,
            }),
        }
    }
}

/// One write of a commit.
struct Write {
    key: String,
    kind: &'static str,
    a: Vec<u8>,
    b: Vec<u8>,
}

impl Write {
    fn set(key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Write {
        // A TTL of zero would mean "no expiry" to the script; EXPIRE 0 would
        // delete. Clamp to 1 ms: the entry is due now.
        let ttl = ttl_ms.map_or(0, |ms| ms.max(1));
        Write {
            key,
            kind: "set",
            a: value,
            b: ttl.to_string().into_bytes(),
        }
    }
    /// Names a key without writing it.
    fn keep(key: String) -> Write {
        Write {
            key,
            kind: "keep",
            a: Vec::new(),
            b: Vec::new(),
        }
    }
    fn del(key: String) -> Write {
        Write {
            key,
            kind: "del",
            a: Vec::new(),
            b: Vec::new(),
        }
    }
    fn hset(key: String, field: String, value: Vec<u8>) -> Write {
        Write {
            key,
            kind: "hset",
            a: field.into_bytes(),
            b: value,
        }
    }
    fn hdel(key: String, field: String) -> Write {
        Write {
            key,
            kind: "hdel",
            a: field.into_bytes(),
            b: Vec::new(),
        }
    }
    fn set_member(key: String, kind: &'static str, member: String) -> Write {
        Write {
            key,
            kind,
            a: member.into_bytes(),
            b: Vec::new(),
        }
    }
}

fn until(deadline: Timestamp, now: Timestamp) -> u64 {
    deadline.as_millis().saturating_sub(now.as_millis())
}

/// The Redis writes for what a call changed.
///
/// The shop record (settings and counters) comes first when it changed; when it
/// did not (a message joining an open session, a heartbeat), the first key is
/// still the shop record, with a `keep` write that only names it, because the
/// script checks the shop exists through its first written key.
fn writes_for(
    state: &ShopState,
    changed: &WriteSet,
    keys: &ShopKeys,
    now: Timestamp,
) -> Vec<Write> {
    let mut writes = Vec::new();
    if changed.settings || changed.counters {
        let record = records::shop_record(
            state.shop_id(),
            state.profile(),
            state.main_account(),
            state.settings(),
            state.counters(),
        );
        writes.push(Write::set(keys.shop(), encode(&record), None));
    } else {
        writes.push(Write::keep(keys.shop()));
    }
    for account_id in &changed.accounts {
        match state.account(account_id) {
            Some(account) => writes.push(Write::hset(
                keys.accounts(),
                account_id.0.clone(),
                encode(&records::account_record(account)),
            )),
            None => writes.push(Write::hdel(keys.accounts(), account_id.0.clone())),
        }
    }
    // Presence only where it changed: an assignment changes an account's
    // counters, not how long it stays logged in.
    for account_id in &changed.presence {
        let presence = state
            .account(account_id)
            .filter(|account| account.status.is_logged_in())
            .and_then(|account| account.presence_expires_at);
        match presence {
            Some(expires) => writes.push(Write::set(
                keys.presence(account_id.as_str()),
                b"1".to_vec(),
                Some(until(expires, now)),
            )),
            None => writes.push(Write::del(keys.presence(account_id.as_str()))),
        }
    }
    for group in &changed.groups {
        match state.groups().find(|g| &g.name == group) {
            Some(group) => writes.push(Write::hset(
                keys.groups(),
                group.name.0.clone(),
                encode(&records::group_record(group)),
            )),
            None => writes.push(Write::hdel(keys.groups(), group.0.clone())),
        }
    }
    for session_id in &changed.sessions {
        let field = session_id.0.to_string();
        match state.session(*session_id) {
            Some(session) if session.state != SessionState::Closed => {
                writes.push(Write::hset(
                    keys.sessions(),
                    field,
                    encode(&records::session_record(session)),
                ));
                if let (SessionState::Ended, Some(closes_at)) = (session.state, session.closes_at) {
                    writes.push(Write::set(
                        keys.ending(session_id.0),
                        b"1".to_vec(),
                        Some(until(closes_at, now)),
                    ));
                }
            }
            _ => {
                writes.push(Write::hdel(keys.sessions(), field));
                writes.push(Write::del(keys.ending(session_id.0)));
            }
        }
    }
    for buyer in &changed.affinities {
        match state.stored_affinity(buyer).filter(|a| a.expires_at > now) {
            Some(affinity) => {
                writes.push(Write::set(
                    keys.affinity(buyer.as_str()),
                    affinity.account.0.clone().into_bytes(),
                    Some(until(affinity.expires_at, now)),
                ));
                writes.push(Write::set_member(
                    keys.affinity_index(),
                    "sadd",
                    buyer.0.clone(),
                ));
            }
            None => {
                writes.push(Write::del(keys.affinity(buyer.as_str())));
                writes.push(Write::set_member(
                    keys.affinity_index(),
                    "srem",
                    buyer.0.clone(),
                ));
            }
        }
    }
    writes
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
