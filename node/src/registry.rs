//! Membership and shard leases in Redis: the scripts and their callers.
//!
//! All keys share the hash tag `{meta}`, so each script touches one Redis Cluster
//! slot. Every key a script touches is passed in its KEYS, never built inside it:
//! while Redis Cluster moves the slot to another master, Redis checks a script's
//! declared keys before running it and answers `ASK` or `TRYAGAIN` (retried by
//! the client) unless they are all on the node; a key built inside the script
//! that has already moved makes the script fail half-way ("Script attempted to
//! access a non local key"), its writes so far applied.
//!
//! | key | what | expires |
//! |---|---|---|
//! Keys below are shown with the default namespace `fenliu`.
//!
//! | `fenliu:{meta}:members` | set of worker ids that registered | pruned by readers |
//! | `fenliu:{meta}:member:{worker}` | the worker's advertised address | membership TTL, refreshed by its heartbeat |
//! | `fenliu:{meta}:lease:{shard}` | `worker:token` of the shard's owner | lease TTL, renewed by the owner |
//! | `fenliu:{meta}:token:{shard}` | the shard's last fencing token (INCR) | never |
//! | `fenliu:{meta}:shops:{shard}` | set of the shard's shops, for eager loading | never |
//! | `fenliu:{meta}:shards` | the deployment's shard count, recorded by the first node to start | never |
//!
//! Worker ids come from configuration, never from callers, and shard numbers
//! are decimal, so they go into names as they are. A *shop* called `meta` has
//! the same hash tag (its record is `fenliu:{meta}:shop`), so its keys sit in
//! this slot, but they never share a name with a key here: the word after the
//! tag of a shop key is one of the shop key kinds (worker `store/keys.rs`), none
//! of which is in [`META_KEY_KINDS`], and either word ends at the next `:` or
//! at the end of the name (a shop key's escaped id holds no `:`). The worker's
//! key tests check the kinds against this list, and the tests below check that
//! every name built here (in Rust or in a script) is of a listed kind.

use redis::Script;

/// The words that follow `<namespace>:{meta}:` in the keys here: kept apart
/// from the shop key kinds (see the module's doc).
pub const META_KEY_KINDS: [&str; 6] = ["members", "member", "lease", "token", "shops", "shards"];

use crate::redis_connection::{RedisConnection, RedisFailure};

/// `HEARTBEAT` v1. KEYS: members set, the worker's member key. ARGV: worker id,
/// address, TTL ms.
const HEARTBEAT_SCRIPT: &str = r"
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[1], ARGV[1])
return 1
";

/// `MEMBERS` v2. KEYS: members set, then the member key of each id of ARGV.
/// ARGV: the ids the members set held when read. Returns a flat list [id,
/// address, ...] of live workers, and forgets those whose member key expired.
const MEMBERS_SCRIPT: &str = r"
local live = {}
for i = 1, #ARGV do
  local address = redis.call('GET', KEYS[i + 1])
  if address then
    table.insert(live, ARGV[i])
    table.insert(live, address)
  else
    redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return live
";

/// Shards claimed per script: a script's run holds Redis, and 128 shards take
/// about 0.3 ms where 1,024 took 2.4.
pub const CLAIM_CHUNK: usize = 128;

/// `CLAIM` v2. KEYS: members set (for the slot), then each shard's lease key
/// and token key. ARGV: worker id, lease TTL ms. For each shard: takes the
/// lease if free (with a new token), renews it if already ours, or leaves it.
/// Returns per shard [token, owner]: token 0 when another worker holds it.
const CLAIM_SCRIPT: &str = r"
local result = {}
for i = 1, (#KEYS - 1) / 2 do
  local held = redis.call('GET', KEYS[2 * i])
  if not held then
    local token = redis.call('INCR', KEYS[2 * i + 1])
    redis.call('SET', KEYS[2 * i], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
    table.insert(result, token)
    table.insert(result, ARGV[1])
  else
    local owner, token = string.match(held, '^(.*):(%d+)$')
    if owner == ARGV[1] then
      redis.call('PEXPIRE', KEYS[2 * i], ARGV[2])
      table.insert(result, tonumber(token))
    else
      table.insert(result, 0)
    end
    table.insert(result, owner)
  end
end
return result
";

/// `RELEASE` v2. KEYS: members set (for the slot), then the lease keys. ARGV:
/// worker id. Deletes each lease that is ours.
const RELEASE_SCRIPT: &str = r"
for i = 2, #KEYS do
  local held = redis.call('GET', KEYS[i])
  if held and string.match(held, '^(.*):%d+$') == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
";

/// A live worker as registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The worker's name (its pod name on Kubernetes); rendezvous hashes it.
    pub worker_id: String,
    /// host:port the dispatchers reach the worker at.
    pub address: String,
}

/// A shard's lease as a claim found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// Ours, under this fencing token.
    Held { token: u64 },
    /// Another worker's.
    Taken { owner: String },
}

/// The registry's scripts, hashed once.
#[derive(Debug)]
struct Scripts {
    /// Registers or refreshes a member.
    heartbeat: Script,
    /// Reads the live members, forgetting expired ones.
    members: Script,
    /// Takes or renews shard leases.
    claim: Script,
    /// Gives leases back on shutdown or when a shard moves.
    release: Script,
}

/// Talks to the membership and lease keys.
#[derive(Debug, Clone)]
pub struct Registry {
    /// The deployment's Redis.
    connection: RedisConnection,
    /// `<namespace>:{meta}:`, the start of every key here.
    prefix: String,
    /// Shared by every clone, so each script is hashed once.
    scripts: std::sync::Arc<Scripts>,
}

impl Registry {
    pub fn new(connection: RedisConnection, namespace: &str) -> Self {
        Registry {
            connection,
            prefix: format!("{namespace}:{{meta}}:"),
            scripts: std::sync::Arc::new(Scripts {
                heartbeat: Script::new(HEARTBEAT_SCRIPT),
                members: Script::new(MEMBERS_SCRIPT),
                claim: Script::new(CLAIM_SCRIPT),
                release: Script::new(RELEASE_SCRIPT),
            }),
        }
    }

    /// This registry on a connection a rotation of the Redis credentials does
    /// not replace: for a claim and the [`Registry::wait_for_replicas`] that
    /// must follow it on the same connection (`WAIT` counts the replicas that
    /// have this connection's writes).
    pub fn pinned(&self) -> Registry {
        Registry {
            connection: self.connection.pinned(),
            prefix: self.prefix.clone(),
            scripts: std::sync::Arc::clone(&self.scripts),
        }
    }

    /// Waits until this connection's writes to the `{meta}` slot (the last
    /// claim's new fencing tokens) are on `replicas` replicas, for at most
    /// `timeout`; returns how many have them. A token only the master has would
    /// be issued again by a replica promoted in its place: a worker serves
    /// under a new token only once it is on the replicas.
    pub async fn wait_for_replicas(
        &self,
        replicas: u32,
        timeout: std::time::Duration,
    ) -> Result<u32, RedisFailure> {
        self.connection
            .wait_for_replicas(&self.members_key(), replicas, timeout)
            .await
    }

    /// Registers (or refreshes) a worker for `ttl_ms`.
    pub async fn heartbeat(
        &self,
        worker_id: &str,
        address: &str,
        ttl_ms: u64,
    ) -> Result<(), RedisFailure> {
        let mut connection = self.connection.clone();
        let _: i64 = self
            .scripts
            .heartbeat
            .key(self.members_key())
            .key(self.member_key(worker_id))
            .arg(worker_id)
            .arg(address)
            .arg(ttl_ms)
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    /// Removes a worker at once (graceful leave).
    pub async fn leave(&self, worker_id: &str) -> Result<(), RedisFailure> {
        let mut connection = self.connection.clone();
        let mut pipeline = redis::pipe();
        pipeline.cmd("DEL").arg(self.member_key(worker_id)).ignore();
        pipeline
            .cmd("SREM")
            .arg(self.members_key())
            .arg(worker_id)
            .ignore();
        let () = pipeline.query_async(&mut connection).await?;
        Ok(())
    }

    /// The live workers, sorted by id.
    pub async fn members(&self) -> Result<Vec<Member>, RedisFailure> {
        let mut connection = self.connection.clone();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.members_key())
            .query_async(&mut connection)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.scripts.members.key(self.members_key());
        for id in &ids {
            invocation.key(self.member_key(id)).arg(id);
        }
        let flat: Vec<String> = invocation.invoke_async(&mut connection).await?;
        let mut members: Vec<Member> = flat
            .chunks(2)
            .filter_map(|pair| match pair {
                [worker_id, address] => Some(Member {
                    worker_id: worker_id.clone(),
                    address: address.clone(),
                }),
                _ => None,
            })
            .collect();
        members.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        Ok(members)
    }

    /// Claims or renews the leases of `shards` for `worker_id`, a chunk of
    /// [`CLAIM_CHUNK`] shards per script: one script over a thousand shards held
    /// Redis for milliseconds, stalling every shop's commit behind it.
    pub async fn claim(
        &self,
        worker_id: &str,
        ttl_ms: u64,
        shards: &[u32],
    ) -> Result<Vec<(u32, LeaseState)>, RedisFailure> {
        let mut states = Vec::with_capacity(shards.len());
        for chunk in shards.chunks(CLAIM_CHUNK) {
            states.extend(self.claim_chunk(worker_id, ttl_ms, chunk).await?);
        }
        Ok(states)
    }

    async fn claim_chunk(
        &self,
        worker_id: &str,
        ttl_ms: u64,
        shards: &[u32],
    ) -> Result<Vec<(u32, LeaseState)>, RedisFailure> {
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.claim.key(self.members_key());
        invocation.arg(worker_id).arg(ttl_ms);
        for &shard in shards {
            invocation
                .key(lease_key(&self.prefix, shard))
                .key(token_key(&self.prefix, shard));
        }
        let flat: Vec<redis::Value> = invocation.invoke_async(&mut connection).await?;
        let mut states = Vec::with_capacity(shards.len());
        for (shard, pair) in shards.iter().zip(flat.chunks(2)) {
            let token = match pair.first() {
                Some(redis::Value::Int(token)) => u64::try_from(*token).unwrap_or(0),
                _ => 0,
            };
            let owner = match pair.get(1) {
                Some(redis::Value::BulkString(bytes)) => {
                    String::from_utf8_lossy(bytes).into_owned()
                }
                _ => String::new(),
            };
            let state = if token > 0 {
                LeaseState::Held { token }
            } else {
                LeaseState::Taken { owner }
            };
            states.push((*shard, state));
        }
        Ok(states)
    }

    /// Gives back the leases of `shards` held by `worker_id`.
    pub async fn release(&self, worker_id: &str, shards: &[u32]) -> Result<(), RedisFailure> {
        if shards.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.release.key(self.members_key());
        invocation.arg(worker_id);
        for &shard in shards {
            invocation.key(lease_key(&self.prefix, shard));
        }
        let _: i64 = invocation.invoke_async(&mut connection).await?;
        Ok(())
    }

    /// Records that a shop belongs to a shard, so a new owner loads it eagerly.
    pub async fn register_shop(&self, shard: u32, shop_id: &str) -> Result<(), RedisFailure> {
        let mut connection = self.connection.clone();
        let _: i64 = redis::cmd("SADD")
            .arg(self.shard_shops_key(shard))
            .arg(shop_id)
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    /// Records `shards` as the deployment's shard count if none is yet, and
    /// returns the count recorded (the first node's): a node whose count differs
    /// must not serve, since one shop would have two shards, two owners and two
    /// fencing sequences.
    pub async fn record_shard_count(&self, shards: u32) -> Result<u32, RedisFailure> {
        let mut connection = self.connection.clone();
        let key = shard_count_key(&self.prefix);
        let mut pipeline = redis::pipe();
        pipeline.cmd("SET").arg(&key).arg(shards).arg("NX").ignore();
        pipeline.cmd("GET").arg(&key);
        let (recorded,): (String,) = pipeline.query_async(&mut connection).await?;
        recorded.parse().map_err(|_| {
            RedisFailure::Corrupt(format!(
                "the recorded shard count {recorded:?} is no number"
            ))
        })
    }

    /// Refuses to go on (naming both counts) unless `shards` is the count the
    /// deployment recorded at its first start.
    pub async fn check_shard_count(&self, shards: u32) -> anyhow::Result<()> {
        let recorded = self.record_shard_count(shards).await?;
        anyhow::ensure!(
            recorded == shards,
            "--shards (FENLIU_SHARDS) is {shards}, but this deployment (its Redis namespace) \
             was started with {recorded} shards and its leases and fencing tokens are numbered \
             by those: start every node with --shards {recorded} (the count is fixed for a \
             deployment's life; to change it, run a second deployment in a namespace of its own)"
        );
        Ok(())
    }

    /// The shops of a shard.
    pub async fn shops_of(&self, shard: u32) -> Result<Vec<String>, RedisFailure> {
        let mut connection = self.connection.clone();
        Ok(redis::cmd("SMEMBERS")
            .arg(self.shard_shops_key(shard))
            .query_async(&mut connection)
            .await?)
    }
}

impl Registry {
    fn members_key(&self) -> String {
        members_key(&self.prefix)
    }

    fn member_key(&self, worker_id: &str) -> String {
        member_key(&self.prefix, worker_id)
    }

    fn shard_shops_key(&self, shard: u32) -> String {
        shard_shops_key(&self.prefix, shard)
    }
}

fn members_key(prefix: &str) -> String {
    format!("{prefix}members")
}

fn member_key(prefix: &str, worker_id: &str) -> String {
    format!("{prefix}member:{worker_id}")
}

fn shard_shops_key(prefix: &str, shard: u32) -> String {
    format!("{prefix}shops:{shard}")
}

fn shard_count_key(prefix: &str) -> String {
    format!("{prefix}shards")
}

fn lease_key(prefix: &str, shard: u32) -> String {
    format!("{prefix}lease:{shard}")
}

fn token_key(prefix: &str, shard: u32) -> String {
    format!("{prefix}token:{shard}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kind word of a name built on `prefix`.
    fn kind_of<'n>(prefix: &str, name: &'n str) -> &'n str {
        let rest = name.strip_prefix(prefix).expect("built on the prefix");
        rest.split(':').next().unwrap_or(rest)
    }

    #[test]
    fn every_name_built_in_rust_is_of_a_listed_kind() {
        let prefix = "fenliu:{meta}:";
        for name in [
            members_key(prefix),
            member_key(prefix, "worker-127.0.0.1:50061"),
            shard_shops_key(prefix, 7),
            lease_key(prefix, 7),
            token_key(prefix, 7),
            shard_count_key(prefix),
        ] {
            assert!(META_KEY_KINDS.contains(&kind_of(prefix, &name)), "{name}");
        }
    }

    #[test]
    fn every_key_a_script_touches_is_declared_in_its_keys() {
        // Each command's first argument (its key) is one of KEYS: a script
        // never builds a name, which Redis Cluster could not check before
        // running it while the slot moves.
        let mut calls = 0;
        for script in [
            HEARTBEAT_SCRIPT,
            MEMBERS_SCRIPT,
            CLAIM_SCRIPT,
            RELEASE_SCRIPT,
        ] {
            for (at, _) in script.match_indices("redis.call(") {
                let key = script[at..].split(',').nth(1).unwrap_or_default().trim();
                assert!(key.starts_with("KEYS["), "{key} in {script}");
                calls += 1;
            }
        }
        assert_eq!(calls, 10);
    }
}
