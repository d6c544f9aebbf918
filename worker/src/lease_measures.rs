//! What the lease loop ([`crate::ownership`]) counts for the metrics: shard
//! lease operations by operation and result, shards moved in and out, and the
//! shards owned. A tick tallies its shards ([`LeaseTally`]) and records them at
//! once: a renewal of hundreds of shards costs a handful of atomic adds.

use fenliu_node::metrics::names::{self, LEASE_OPS, LEASE_RESULTS, MOVE_DIRECTIONS};
use fenliu_node::metrics::{Handles, meters::counters};
use metrics::{Counter, Gauge};

/// A lease operation, in the order of [`LEASE_OPS`].
#[derive(Clone, Copy, Debug)]
pub enum LeaseOp {
    Acquire = 0,
    Renew = 1,
    Release = 2,
}

/// How it went, in the order of [`LEASE_RESULTS`].
#[derive(Clone, Copy, Debug)]
pub enum LeaseResult {
    Ok = 0,
    /// Another worker holds the lease (for a renewal: the lease was lost).
    Refused = 1,
    /// Redis failed.
    Error = 2,
    /// Taken under a new fencing token that did not reach
    /// `--redis-min-replicas` replicas in time: not served yet.
    Unreplicated = 3,
}

/// The loop's handles.
#[derive(Debug)]
struct LeaseMeters {
    /// By operation, then result.
    operations: [[Counter; LEASE_RESULTS.len()]; LEASE_OPS.len()],
    /// By [`MOVE_DIRECTIONS`]: in, out.
    moves: [Counter; MOVE_DIRECTIONS.len()],
    shards_owned: Gauge,
}

static METERS: Handles<LeaseMeters> = Handles::new(|| LeaseMeters {
    operations: std::array::from_fn(|op| {
        std::array::from_fn(|result| {
            metrics::counter!(
                names::LEASE_OPERATIONS,
                "op" => LEASE_OPS[op],
                "result" => LEASE_RESULTS[result]
            )
        })
    }),
    moves: counters(names::SHARD_MOVES, "direction", MOVE_DIRECTIONS),
    shards_owned: metrics::gauge!(names::SHARDS_OWNED),
});

/// What one tick of the lease loop did, counted when it is recorded.
#[derive(Debug, Default)]
pub struct LeaseTally {
    /// Shards by operation, then result.
    operations: [[u64; LEASE_RESULTS.len()]; LEASE_OPS.len()],
    /// Shards gained.
    moved_in: u64,
    /// Shards given up.
    moved_out: u64,
}

impl LeaseTally {
    /// `shards` shards went through `op` with `result`.
    pub fn add(&mut self, op: LeaseOp, result: LeaseResult, shards: usize) {
        self.operations[op as usize][result as usize] += shards as u64;
    }

    /// `shards` shards became this worker's.
    pub fn moved_in(&mut self, shards: usize) {
        self.moved_in += shards as u64;
    }

    /// `shards` shards stopped being this worker's.
    pub fn moved_out(&mut self, shards: usize) {
        self.moved_out += shards as u64;
    }

    /// Counts the tally; the worker now holds `owned` shards.
    pub fn record(&self, owned: usize) {
        let Some(meters) = METERS.get() else { return };
        for (op, results) in self.operations.iter().enumerate() {
            for (result, shards) in results.iter().enumerate() {
                if *shards > 0 {
                    meters.operations[op][result].increment(*shards);
                }
            }
        }
        meters.moves[0].increment(self.moved_in);
        meters.moves[1].increment(self.moved_out);
        meters.shards_owned.set(owned as f64);
    }
}
