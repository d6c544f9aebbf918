//! The shard balance the capacity model rests on: rendezvous hashing of 1,024
//! to 16,384 shards over 16 to 256 workers (ids as a deployment names them,
//! `worker-<n>`), the most and the fewest shards one worker gets against the
//! mean, and the share of shards a joining worker takes. Prints the table the
//! README shows (`cargo test -p fenliu-node --release --test shard_balance --
//! --nocapture`).

use fenliu_node::sharding::{ShardId, owner_of};

const WORKERS: [usize; 5] = [16, 32, 64, 128, 256];
const SHARDS: [u32; 3] = [1024, 4096, 16384];

/// Each shard's owner (an index into `workers`).
fn owners(workers: &[String], shards: u32) -> Vec<usize> {
    (0..shards)
        .map(|shard| {
            let owner =
                owner_of(ShardId(shard), workers.iter().map(String::as_str)).expect("workers");
            workers.iter().position(|w| w == owner).expect("a worker")
        })
        .collect()
}

fn names(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("worker-{n}")).collect()
}

#[test]
fn rendezvous_spreads_shards_within_the_bound_of_random_placement() {
    println!("| workers | shards | mean | max | max/mean | min/mean | moved when one joins |");
    println!("|---|---|---|---|---|---|---|");
    for shards in SHARDS {
        for workers in WORKERS {
            let before = owners(&names(workers), shards);
            let mut load = vec![0usize; workers];
            for &owner in &before {
                load[owner] += 1;
            }
            let mean = f64::from(shards) / workers as f64;
            let max = *load.iter().max().unwrap();
            let min = *load.iter().min().unwrap();
            // One more worker (the last index): it takes shards from the
            // others, and only it.
            let after = owners(&names(workers + 1), shards);
            let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
            let moved_to_new = after.iter().filter(|&&a| a == workers).count();
            assert_eq!(
                moved, moved_to_new,
                "a join moved shards between old workers"
            );
            println!(
                "| {workers} | {shards} | {mean:.1} | {max} | {:.2} | {:.2} | {:.2}% (1/(N+1): {:.2}%) |",
                max as f64 / mean,
                min as f64 / mean,
                100.0 * moved as f64 / f64::from(shards),
                100.0 / (workers + 1) as f64
            );
            // Random placement: the fullest of N bins of mean m holds about
            // m + sqrt(2 m ln N); rendezvous must do no worse than twice that spread.
            let bound = 1.0 + 2.0 * (2.0 * (workers as f64).ln() / mean).sqrt();
            assert!(
                (max as f64 / mean) <= bound,
                "{workers} workers, {shards} shards: max/mean {} above {bound}",
                max as f64 / mean
            );
        }
    }
}
