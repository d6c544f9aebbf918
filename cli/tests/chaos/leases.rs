//! The shard leases watched from the side (read from Redis directly, every
//! 100 ms): each change of a shard's owner is a shard move, kept with when it
//! was seen, to count the moves no fault explains (spurious moves: a worker
//! that did not die, join, pause or lose Redis should keep its shards).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fenliu_node::sharding::{ShardId, owner_of};
use tokio::time::Instant;

use crate::deployment::read_lease_owners;

/// How often the leases are read.
const POLL: Duration = Duration::from_millis(100);

/// A shard seen leased by another worker than before.
#[derive(Clone, Debug)]
pub struct ShardMove {
    /// When it was seen, from the run's start.
    pub at: Duration,
    pub shard: u32,
    pub from: String,
    pub to: String,
}

/// What the watcher saw.
#[derive(Debug, Default)]
pub struct LeaseLog {
    pub moves: Vec<ShardMove>,
    /// Reads that failed (Redis down): moves across them are still seen, later.
    pub failed_reads: usize,
    pub reads: usize,
}

/// The rendezvous owner of `shard` among `workers`.
pub fn rendezvous(shard: u32, workers: &[&str]) -> Option<String> {
    owner_of(ShardId(shard), workers.iter().copied()).map(str::to_owned)
}

/// Reads the leases until `stop` is set; returns the moves seen.
pub async fn watch(
    redis_port: u16,
    namespace: String,
    started: Instant,
    stop: Arc<AtomicBool>,
) -> LeaseLog {
    let mut log = LeaseLog::default();
    let mut last: Vec<Option<String>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match read_lease_owners(redis_port, &namespace).await {
            Ok(owners) => {
                log.reads += 1;
                let at = started.elapsed();
                if last.is_empty() {
                    last = owners.clone();
                }
                for (shard, owner) in owners.into_iter().enumerate() {
                    let Some(owner) = owner else { continue };
                    match &last[shard] {
                        Some(before) if *before != owner => log.moves.push(ShardMove {
                            at,
                            shard: shard as u32,
                            from: before.clone(),
                            to: owner.clone(),
                        }),
                        _ => {}
                    }
                    last[shard] = Some(owner);
                }
            }
            Err(_) => log.failed_reads += 1,
        }
        tokio::time::sleep(POLL).await;
    }
    log
}
