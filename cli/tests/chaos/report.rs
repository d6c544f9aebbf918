//! The figures of a run, printed: the set-up, the faults injected, the calls by
//! kind and outcome (and by code), the longest time each shop went without a
//! successful call, shard moves (and those no fault explains), and each
//! invariant with its counts and examples.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::checker::{EXAMPLES, Invariant};
use crate::history::{Op, Outcome, is_unexpected};
use crate::leases::LeaseLog;
use crate::nemesis::FaultRecord;
use crate::shops::ShopSpec;

/// How long after a fault that may move shards a move is still put down to it:
/// the lease running out, the survivors' next tick, and the way back.
pub fn move_window(lease_ttl: Duration) -> Duration {
    lease_ttl * 3 + Duration::from_secs(2)
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

pub fn faults(records: &[FaultRecord]) {
    println!("-- faults injected: {} --", records.len());
    for record in records {
        let trouble = record
            .trouble
            .as_ref()
            .map(|t| format!("  TROUBLE: {t}"))
            .unwrap_or_default();
        println!(
            "  {:>6} .. {:>6}  {:?}{trouble}",
            secs(record.began),
            secs(record.ended),
            record.fault
        );
    }
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for record in records {
        *by_kind.entry(record.fault.kind()).or_default() += 1;
    }
    for (kind, count) in by_kind {
        println!("  {count:>3} × {kind}");
    }
}

pub fn operations(ops: &[Op]) {
    println!("-- operations: {} --", ops.len());
    let mut table: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut unexpected: Vec<&Op> = Vec::new();
    for op in ops {
        let row = table.entry(op.call.kind()).or_default();
        match &op.outcome {
            Outcome::Ok(_) => row[0] += 1,
            Outcome::Fail(refusal) | Outcome::Unknown(refusal) => {
                let column = if matches!(op.outcome, Outcome::Fail(_)) {
                    1
                } else {
                    2
                };
                row[column] += 1;
                *codes.entry(format!("{:?}", refusal.code)).or_default() += 1;
                if is_unexpected(refusal) {
                    unexpected.push(op);
                }
            }
        }
    }
    println!(
        "  {:<18} {:>7} {:>7} {:>8}",
        "call", "ok", "fail", "unknown"
    );
    for (kind, [ok, fail, unknown]) in &table {
        println!("  {kind:<18} {ok:>7} {fail:>7} {unknown:>8}");
    }
    let total = table.values().fold([0; 3], |sum, row| {
        [sum[0] + row[0], sum[1] + row[1], sum[2] + row[2]]
    });
    println!(
        "  {:<18} {:>7} {:>7} {:>8}",
        "all", total[0], total[1], total[2]
    );
    println!("  refusals by code: {codes:?}");
    println!(
        "  unexpected codes (neither a definite refusal nor UNAVAILABLE or a deadline): {}",
        unexpected.len()
    );
    for op in unexpected.iter().take(EXAMPLES) {
        println!("    {}", op.describe());
    }
}

/// Per shop, the longest stretch of the chaos without a successful call, and
/// the faults it overlapped.
pub fn unavailability(ops: &[Op], specs: &[ShopSpec], chaos: Duration, records: &[FaultRecord]) {
    println!("-- longest unavailability per shop (no successful call) --");
    for spec in specs {
        let mut successes: Vec<Duration> = ops
            .iter()
            .filter(|op| op.shop == spec.id && op.is_ok() && op.answered <= chaos)
            .map(|op| op.answered)
            .collect();
        successes.sort();
        let mut previous = Duration::ZERO;
        let mut longest = (Duration::ZERO, Duration::ZERO);
        for at in successes.iter().copied().chain([chaos]) {
            if at.saturating_sub(previous) > longest.1 {
                longest = (previous, at - previous);
            }
            previous = at;
        }
        let (from, gap) = longest;
        let during: Vec<String> = records
            .iter()
            .filter(|r| r.began < from + gap && r.ended > from)
            .map(|r| r.fault.kind())
            .collect();
        println!(
            "  {:<34} {:<20} {:>6} from {:>6}  during {during:?}",
            spec.id,
            spec.label,
            secs(gap),
            secs(from)
        );
    }
}

/// Shard moves, and those no fault explains: none was on the worker the shard
/// left or joined (or on Redis, or restarting every worker) within the window.
pub fn shard_moves(
    leases: &LeaseLog,
    records: &[FaultRecord],
    worker_ids: &[String],
    lease_ttl: Duration,
) -> usize {
    let window = move_window(lease_ttl);
    let index = |id: &str| {
        worker_ids
            .iter()
            .position(|w| w == id)
            .unwrap_or(usize::MAX)
    };
    let spurious: Vec<_> = leases
        .moves
        .iter()
        .filter(|m| {
            let (from, to) = (index(&m.from), index(&m.to));
            !records.iter().any(|r| {
                r.fault.explains_move(from, to) && r.began <= m.at && m.at <= r.ended + window
            })
        })
        .collect();
    println!(
        "-- shard moves: {} seen ({} lease reads, {} failed while Redis was down); spurious (neither worker of the move died, joined, paused or lost Redis, nor Redis died, within {}): {} --",
        leases.moves.len(),
        leases.reads,
        leases.failed_reads,
        secs(window),
        spurious.len()
    );
    for m in spurious.iter().take(EXAMPLES) {
        println!("    {} shard {} {} → {}", secs(m.at), m.shard, m.from, m.to);
    }
    spurious.len()
}

/// Prints each invariant; returns how many violations there were in all.
pub fn invariants(invariants: &[Invariant]) -> usize {
    println!("-- invariants --");
    let mut violations = 0;
    for invariant in invariants {
        violations += invariant.violations.len();
        let verdict = if invariant.violations.is_empty() {
            "ok  "
        } else {
            "FAIL"
        };
        println!(
            "  [{verdict}] {}: {} checked, {} violations, {} excused by the Redis set-up",
            invariant.name,
            invariant.checked,
            invariant.violations.len(),
            invariant.excused.len()
        );
        for note in &invariant.notes {
            println!("         {note}");
        }
        for example in invariant.violations.iter().take(EXAMPLES) {
            println!("         VIOLATION {example}");
        }
        for example in invariant.excused.iter().take(EXAMPLES) {
            println!("         excused   {example}");
        }
    }
    violations
}
