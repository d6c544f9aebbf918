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
//!
//! [`RedisStore`] is the handle the router holds; its work is done apart, each
//! module taking the connection and the shop's keys it is given:
//!
//! - `scripts`: the two scripts, from `load.lua` and `commit.lua` beside it (each
//!   file's header documents its keys, arguments and reply).
//! - `load`: loading a shop: `LOAD`, the TTL pipeline, the snapshot restored.
//! - `commit`: [`CommitOutcome`], [`RememberedRoute`], [`PreparedCommit`]:
//!   preparing a commit, sending it and reading the script's reply.
//! - `commit_plan`: turning a [`WriteSet`] into the steps of `COMMIT`.
//! - `events`: the shop's stored events (a capped stream `COMMIT` appends to),
//!   read back to replay what a watcher missed.
//!
//! They depend on one another one way only: `commit` on `commit_plan` and
//! `events`, both it and `load` on `scripts`, and nothing of them on this module.

mod commit;
mod commit_plan;
mod events;
mod load;
mod scripts;

pub use commit::{CommitExtras, CommitOutcome, PreparedCommit, RememberedRoute, Replication};
pub use events::StoredEvent;
pub use load::StoredShop;
pub use scripts::EVENTS_KEPT;

use std::sync::Arc;

use fenliu_node::redis_connection::RedisConnection;
use fenliu_node::versions::{Versions, Window};

use super::keys::ShopKeys;
use crate::engine::{ShopId, ShopState, Timestamp, WriteSet};
use crate::store::error::StoreError;

/// Shops in Redis.
#[derive(Debug, Clone)]
pub struct RedisStore {
    /// The Redis (or Redis Cluster) every load and commit goes through; each
    /// call works on a clone, which shares the connection.
    connection: RedisConnection,
    /// What every key starts with, so that deployments can share one Redis (see
    /// `keys`). Shared: each shop's committer holds a clone of the store.
    namespace: Arc<str>,
    /// How many replicas must have a commit before its calls are answered.
    replication: Replication,
    /// The record formats this worker reads; it writes the newest. A shop
    /// stored in a newer one is refused at load, never overwritten.
    formats: Window,
}

impl RedisStore {
    pub fn new(connection: RedisConnection, namespace: &str) -> RedisStore {
        RedisStore {
            connection,
            replication: Replication::default(),
            namespace: namespace.into(),
            formats: Versions::CURRENT.records,
        }
    }

    /// Reads the record formats of `formats` and writes its newest (this
    /// build's by default; the next release's for tests of rolling upgrades).
    pub fn with_record_formats(mut self, formats: Window) -> Self {
        self.formats = formats;
        self
    }

    pub fn connection(&self) -> RedisConnection {
        self.connection.clone()
    }

    /// The keys of shop `shop_id`.
    fn keys(&self, shop_id: &ShopId) -> ShopKeys {
        ShopKeys::new(&self.namespace, shop_id.as_str())
    }

    /// Loads a shop for the owner holding `token`, fencing out older owners.
    /// `Ok(None)`: the shop does not exist. A shop stored in a record format
    /// newer than this worker reads is refused ([`StoreError::NewerFormat`]);
    /// one stored in an older format is read, and its shop record rewritten in
    /// this worker's format before it is served, so that from its first
    /// commit on no worker of the older release misreads it.
    pub async fn load(
        &self,
        shop_id: &ShopId,
        token: u64,
        now: Timestamp,
    ) -> Result<Option<StoredShop>, StoreError> {
        let keys = self.keys(shop_id);
        let loaded =
            load::load_shop(self.connection(), &keys, shop_id, token, now, self.formats).await?;
        let Some((stored, format)) = loaded else {
            return Ok(None);
        };
        if format < self.formats.newest {
            let stamp = WriteSet {
                settings: true,
                ..WriteSet::default()
            };
            self.commit(&stored.state, &stamp, token, now, &[], false)
                .await?;
        }
        Ok(Some(stored))
    }

    /// Commits what one or more calls changed, with no events (a creation has
    /// none), if the shop's fence still allows `token`. `create`: the shop is
    /// new and must not exist in Redis yet.
    pub async fn commit(
        &self,
        state: &ShopState,
        writes: &WriteSet,
        token: u64,
        now: Timestamp,
        routes: &[RememberedRoute],
        create: bool,
    ) -> Result<CommitOutcome, StoreError> {
        let extras = CommitExtras {
            routes,
            events: &[],
        };
        let prepared = self.prepare_commit(state, writes, token, now, extras, create);
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
        extras: CommitExtras<'_>,
        create: bool,
    ) -> PreparedCommit {
        let keys = self.keys(state.shop_id());
        let target = commit::CommitTarget {
            keys: &keys,
            format: self.formats.newest,
        };
        commit::prepare(target, state, writes, token, now, extras, create)
    }

    /// The shop's stored events numbered after `after` and up to `until`, oldest
    /// first, at most `limit`: what a watcher resuming from `after` missed, as
    /// far as the stream still keeps it.
    pub async fn events_after(
        &self,
        shop_id: &ShopId,
        after: u64,
        until: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        events::read_after(self.connection(), &self.keys(shop_id), after, until, limit).await
    }

    /// Acknowledges commits only once `min_replicas` replicas have them, waiting
    /// at most `timeout` (0 replicas: once the primary has them).
    pub fn requiring_replicas(mut self, min_replicas: u32, timeout: std::time::Duration) -> Self {
        self.replication = Replication {
            min_replicas,
            timeout,
        };
        self
    }

    /// Sends a prepared commit: one round trip, applied whole or not at all (and,
    /// when replicas are required, a `WAIT` for them).
    pub async fn send_commit(&self, prepared: PreparedCommit) -> Result<CommitOutcome, StoreError> {
        commit::send(self.connection(), prepared, self.replication).await
    }
}
