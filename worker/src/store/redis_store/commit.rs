//! Committing a shop's changes: a commit prepared while the shop is held, sent
//! after it is let go (one `EVALSHA` of `COMMIT`), and what its reply says.

use fenliu_node::redis_connection::RedisConnection;
use redis::{Cmd, ErrorKind, ServerErrorKind, Value};

use super::commit_plan::{CommitBuilder, add_writes};
use super::events::{StoredEvent, entry_id};
use super::scripts::COMMIT;
use crate::engine::{BuyerId, RequestId, RouteOutcome, ShopId, ShopState, Timestamp, WriteSet};
use crate::store::error::StoreError;
use crate::store::keys::{Key, ShopKeys};
use crate::store::records::{self, decode, encode};

/// What a commit did.
#[derive(Debug)]
pub enum CommitOutcome {
    /// Every write was applied, and every remembered answer stored.
    Committed,
    /// The `route`-th remembered request id had been answered already (by this or
    /// an earlier owner): nothing was written and this is the first answer.
    Replay {
        /// Which of the commit's remembered routes (from 0) was answered before:
        /// the call that carried it gets the first answer.
        route: usize,
        /// The buyer of the first answer.
        buyer: BuyerId,
        /// The first answer, as it was stored. Boxed: a rare outcome, and an
        /// answer is large.
        outcome: Box<RouteOutcome>,
    },
    /// Creating a shop that another call created meanwhile: nothing was written.
    AlreadyExists,
    /// The events were numbered behind the shop's stored stream (a commit whose
    /// answer was lost landed after all): nothing was written; the shop is
    /// reloaded and its calls decided again.
    Behind,
}

/// A `Route`'s answer to remember with the commit, encoded when it is decided.
#[derive(Debug, Clone)]
pub struct RememberedRoute {
    /// The request id the answer is kept under, so that a retry finds it.
    request_id: RequestId,
    /// The answer, encoded as a route record: what a replay returns.
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
    /// The `EVALSHA`, with every value read when the commit was prepared.
    command: Cmd,
    /// The shop committed to, named in the errors.
    shop_id: ShopId,
    /// The fencing token the commit was prepared with, named in a refusal.
    token: u64,
    /// A key of the shop's slot, where a `WAIT` for replicas goes.
    fence_key: String,
}

impl std::fmt::Debug for PreparedCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCommit")
            .field("shop_id", &self.shop_id)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// What one commit carries besides the state's changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitExtras<'c> {
    /// The `Route` answers to remember under their request ids (R1).
    pub routes: &'c [RememberedRoute],
    /// The events the commit's calls caused, numbered on from the shop's last.
    pub events: &'c [StoredEvent],
}

/// Which shop a commit writes, and in which record format.
pub(super) struct CommitTarget<'k> {
    /// The shop's keys.
    pub keys: &'k ShopKeys,
    /// The record format this worker writes, stamped on the shop record.
    pub format: u32,
}

/// The `EVALSHA` of a commit to `target`: a `q` step per remembered route, the
/// `e` steps of the events, then the steps of `writes` (`commit_plan`), their
/// values read from `state` now.
pub(super) fn prepare(
    CommitTarget { keys, format }: CommitTarget<'_>,
    state: &ShopState,
    writes: &WriteSet,
    token: u64,
    now: Timestamp,
    extras: CommitExtras<'_>,
    create: bool,
) -> PreparedCommit {
    let mut commit = CommitBuilder::new(keys, create);
    for route in extras.routes {
        commit.remember(Key::Request(route.request_id.as_str()), &route.record);
    }
    commit.list(Key::Events, b'e');
    for event in extras.events {
        commit
            .item()
            .arg(entry_id(event.sequence))
            .arg(event.bytes.as_slice());
    }
    add_writes(&mut commit, state, writes, now, create, format);
    PreparedCommit {
        command: commit.finish(token),
        shop_id: state.shop_id().clone(),
        token,
        fence_key: keys.fence(),
    }
}

/// How durable an acknowledged decision is: on the primary only, or on this
/// many replicas too (`WAIT` after the commit, on the same connection).
#[derive(Debug, Clone, Copy, Default)]
pub struct Replication {
    /// Replicas that must have a commit; 0: the primary suffices.
    pub min_replicas: u32,
    /// How long to wait for them before the commit counts as failed.
    pub timeout: std::time::Duration,
}

/// Sends `prepared` on `connection` (loading `COMMIT` into a Redis that does not
/// know it) and reads the reply.
pub(super) async fn send(
    connection: RedisConnection,
    prepared: PreparedCommit,
    replication: Replication,
) -> Result<CommitOutcome, StoreError> {
    // The WAIT must follow the write on the same connection: a rotation of the
    // Redis credentials in between must not move it to a fresh one.
    let mut connection = if replication.min_replicas > 0 {
        connection.pinned()
    } else {
        connection
    };
    let reply = match prepared.command.query_async(&mut connection).await {
        // A Redis that has not seen the script yet (or restarted): load it and
        // send the commit again, as `ScriptInvocation` does.
        Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            COMMIT.load_async(&mut connection).await?;
            prepared.command.query_async(&mut connection).await
        }
        reply => reply,
    };
    let fence_key = prepared.fence_key.clone();
    let outcome = read_reply(reply?, prepared)?;
    // A replayed answer is acknowledged too: it was stored by an earlier
    // commit, whose WAIT may be the one that failed (its call answered
    // UNAVAILABLE, and retried), so it waits for the replicas as well.
    let acknowledged = matches!(
        outcome,
        CommitOutcome::Committed | CommitOutcome::Replay { .. }
    );
    if replication.min_replicas > 0 && acknowledged {
        let replicas = connection
            .wait_for_replicas(&fence_key, replication.min_replicas, replication.timeout)
            .await?;
        if replicas < replication.min_replicas {
            return Err(StoreError::NotReplicated {
                wanted: replication.min_replicas,
                got: replicas,
            });
        }
    }
    Ok(outcome)
}

/// What `COMMIT`'s reply to `prepared` says (the replies are listed at the top
/// of `commit.lua`).
fn read_reply(reply: Value, prepared: PreparedCommit) -> Result<CommitOutcome, StoreError> {
    let parts = match reply {
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
                outcome: Box::new(outcome),
            })
        }
        // Behind the stream: a commit whose answer was lost (a timeout) landed
        // after all. The shop is reloaded, numbering on from what is stored.
        b"sequence" => Ok(CommitOutcome::Behind),
        b"fenced" => Err(StoreError::fenced(
            prepared.shop_id.0,
            detail.parse().unwrap_or(u64::MAX),
            prepared.token,
        )),
        status => Err(StoreError::Corrupt(format!(
            "commit status {:?}",
            String::from_utf8_lossy(status)
        ))),
    }
}
