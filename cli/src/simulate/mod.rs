//! `fenliu simulate` (R26): replays a recording of shops' calls (`fenliu
//! loadtest --record`, a worker's `--record-shops`) through the engine in
//! virtual time, under the recorded settings and under changed ones, and prints
//! both side by side with the decisions that differ. The replay under the
//! recorded settings is first checked against the recorded decisions: it must
//! reproduce each exactly.
//!
//! - `changes`: `--set name=value` and `--settings FILE`;
//! - `replay`: one replay of the recording through the engine;
//! - `figures`: what a replay adds up to.

mod changes;
mod figures;
mod replay;

use std::path::PathBuf;

use fenliu_worker::grpc::checks;
use fenliu_worker::recording::{self, RecordedCall, RecordedDecision};

use replay::{Decided, Replay};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The recording: one JSON object a line (format in the README).
    pub file: PathBuf,
    /// Replay only this shop (default: every shop of the recording).
    #[arg(long)]
    pub shop: Option<String>,
    /// A changed setting, as `UpsertShop` names it: `--set
    /// max_queue_wait_seconds=600`. Repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Changed settings from a file, one `name=value` a line (`#` comments).
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// How many differing decisions to list (all are counted).
    #[arg(long, default_value_t = 20)]
    pub show: usize,
}

/// Runs `fenliu simulate`; fails when the unchanged replay does not reproduce
/// the recording.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let mut calls = recording::read(&args.file)?;
    if let Some(shop) = &args.shop {
        calls.retain(|call| &call.shop == shop);
    }
    anyhow::ensure!(
        !calls.is_empty(),
        "no calls to replay in {}",
        args.file.display()
    );
    let changes = changes::gather(args.settings.as_deref(), &args.set)?;
    let patch = checks::settings_patch(&changes)
        .map_err(|status| anyhow::anyhow!("the changed settings: {}", status.message()))?;
    let shops = calls
        .iter()
        .map(|call| call.shop.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let span_ms = calls.last().map_or(0, |c| c.at_ms) - calls.first().map_or(0, |c| c.at_ms);
    println!(
        "fenliu simulate: {} calls of {shops} shop(s) over {:.1} s from {}",
        calls.len(),
        span_ms as f64 / 1000.0,
        args.file.display()
    );

    let recorded = Replay::run(&calls, None);
    let mismatches = check_reproduced(&calls, &recorded);
    let changed = Replay::run(&calls, Some(patch));
    let differing = differences(&recorded.decided, &changed.decided);

    println!(
        "reproduced: {} of {} recorded decisions",
        recorded.decided.len() - mismatches.len(),
        recorded.decided.len()
    );
    for line in mismatches.iter().take(args.show) {
        println!("  NOT REPRODUCED {line}");
    }
    println!(
        "changed settings: {}",
        if args.set.is_empty() && args.settings.is_none() {
            "none".to_owned()
        } else {
            args.set.join(" ")
                + &args
                    .settings
                    .as_ref()
                    .map(|f| format!(" (and {})", f.display()))
                    .unwrap_or_default()
        }
    );
    print_side_by_side(&recorded, &changed);
    println!(
        "\ndecisions that differ: {} of {}",
        differing.len(),
        recorded.decided.len()
    );
    for line in differing.iter().take(args.show) {
        println!("  {line}");
    }
    if differing.len() > args.show {
        println!("  … {} more (--show)", differing.len() - args.show);
    }
    anyhow::ensure!(
        mismatches.is_empty(),
        "{} recorded decisions were not reproduced",
        mismatches.len()
    );
    Ok(())
}

/// Each recorded decision the unchanged replay did not make alike, described.
fn check_reproduced(calls: &[RecordedCall], replay: &Replay) -> Vec<String> {
    let mut mismatches = Vec::new();
    let replayed: std::collections::HashMap<usize, &Decided> =
        replay.decided.iter().map(|d| (d.index, d)).collect();
    for (index, call) in calls.iter().enumerate() {
        let Some(recorded) = &call.decision else {
            continue;
        };
        match replayed.get(&index) {
            Some(again) if &again.decision == recorded => {}
            Some(again) => mismatches.push(format!(
                "call {index} ({}): recorded {}, replayed {}",
                call.shop,
                describe(recorded),
                describe(&again.decision)
            )),
            None => {
                let why = replay
                    .refused
                    .iter()
                    .find(|(i, _)| *i == index)
                    .map_or("not replayed", |(_, why)| why.as_str());
                mismatches.push(format!("call {index} ({}): {why}", call.shop));
            }
        }
    }
    mismatches
}

/// The decisions the two replays made differently, call by call.
fn differences(before: &[Decided], after: &[Decided]) -> Vec<String> {
    let after: std::collections::HashMap<usize, &Decided> =
        after.iter().map(|d| (d.index, d)).collect();
    let first_ms = before.first().map_or(0, |d| d.at_ms);
    before
        .iter()
        .filter_map(|was| {
            let now = after.get(&was.index);
            let changed = now.map(|d| describe(&d.decision));
            (now.map(|d| &d.decision) != Some(&was.decision)).then(|| {
                format!(
                    "+{:>7.3} s {} {}: {} → {}",
                    (was.at_ms - first_ms) as f64 / 1000.0,
                    was.shop,
                    was.buyer,
                    describe(&was.decision),
                    changed.unwrap_or_else(|| "refused".to_owned())
                )
            })
        })
        .collect()
}

fn describe(decision: &RecordedDecision) -> String {
    let place = match (&decision.account, &decision.queue) {
        (Some(account), _) => account.clone(),
        (None, Some(queue)) => format!("queue {queue}"),
        (None, None) => "pool".to_owned(),
    };
    format!("session {} {}: {place}", decision.session, decision.reason)
}

fn print_side_by_side(recorded: &Replay, changed: &Replay) {
    let before = recorded.figures.rows();
    let after = changed.figures.rows();
    println!(
        "\n{:<40} {:>18} {:>18}",
        "", "recorded settings", "changed settings"
    );
    for ((label, was), (_, now)) in before.iter().zip(after.iter()) {
        let mark = if was == now { "" } else { "  *" };
        println!("{label:<40} {was:>18} {now:>18}{mark}");
    }
    for (label, replay) in [("recorded", recorded), ("changed", changed)] {
        if !replay.refused.is_empty() {
            println!(
                "calls refused under the {label} settings: {} (first: {})",
                replay.refused.len(),
                replay.refused[0].1
            );
        }
    }
}
