//! Measuring: [`timed`] puts only the engine call inside the timer, [`record`]
//! keeps each criterion sample's time per call by benchmark id, and
//! [`print_summary`] prints the medians next to the targets.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::SAMPLE_SIZE;

/// Adds the time `call` takes to `total`. Only the engine call is inside the timer;
/// its answer is dropped after it. Never inlined, so that a profiler can collect
/// inside it alone (`valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect='engine::samples::timed*'`).
#[inline(never)]
pub(crate) fn timed<O>(total: &mut Duration, call: impl FnOnce() -> O) -> O {
    let started = Instant::now();
    let output = black_box(call());
    *total += started.elapsed();
    output
}

/// Nanoseconds per call of each criterion sample, by benchmark id. The last
/// `SAMPLE_SIZE` entries are the measured samples (warm-up comes first).
static SAMPLES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

/// Adds one criterion sample of `iters` calls taking `total` to [`SAMPLES`], as
/// time per call, and returns `total` for criterion.
pub(crate) fn record(id: &str, iters: u64, total: Duration) -> Duration {
    let per_call = total.as_nanos() as f64 / iters.max(1) as f64;
    SAMPLES
        .lock()
        .unwrap()
        .entry(id.to_owned())
        .or_default()
        .push(per_call);
    total
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn format_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Prints each benchmark's median time per call next to the targets.
pub(crate) fn print_summary() {
    let samples = SAMPLES.lock().unwrap();
    if samples.is_empty() {
        return;
    }
    println!();
    println!("Engine decision time: median over the measured samples, per call.");
    println!("Targets (printed, never asserted): <= 10 µs at 500 accounts, <= 50 µs at 5,000.");
    println!();
    println!(
        "{:<30} {:>12}  {:>8}  verdict",
        "benchmark", "median", "target"
    );
    for (id, per_call) in samples.iter() {
        let measured = per_call.len().min(SAMPLE_SIZE);
        let mut last = per_call[per_call.len() - measured..].to_vec();
        let median = median(&mut last);
        let accounts = id.rsplit('/').next().and_then(|n| n.parse::<usize>().ok());
        let target_ns = match accounts {
            Some(500) => Some(10_000.0),
            Some(5000) => Some(50_000.0),
            _ => None,
        };
        let (target, verdict) = match target_ns {
            Some(target) if median <= target => (format_ns(target), "met"),
            Some(target) => (format_ns(target), "MISSED"),
            None => ("-".to_owned(), ""),
        };
        println!("{id:<30} {:>12}  {target:>8}  {verdict}", format_ns(median));
    }
}
