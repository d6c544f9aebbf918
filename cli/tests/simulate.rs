//! R26 end to end: a load test recorded by the worker that decided it (`fenliu
//! loadtest --record`), and a scripted sequence recorded by a `fenliu worker`
//! process for one chosen shop (`--record-shops`), each replayed by `fenliu
//! simulate`: under the recorded settings every recorded decision is made
//! again exactly; under a changed setting the differences are reported.

#[path = "shared/run.rs"]
mod run;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fenliu_testkit::{ChildProcess, free_port};
use fenliu_tests::{ShopBuilder, bounded_by, connect, route_new, shop_state};
use run::{fenliu_bin, run_fenliu as fenliu};

/// Each test, processes included.
const TEST_LIMIT: Duration = Duration::from_secs(120);

/// A file of this test's own under the temporary directory.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fenliu-simulate-{}-{name}", std::process::id()))
}

/// The last two words of the row `label` of `fenliu simulate`'s table, last
/// first: the changed settings' value (or `*` when it differs), then the one
/// before it.
fn row(output: &str, label: &str) -> Vec<String> {
    let line = output
        .lines()
        .find(|line| line.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{output}"));
    line.split_whitespace()
        .rev()
        .take(2)
        .map(str::to_owned)
        .collect()
}

/// `reproduced: N of M` and `decisions that differ: K of M`, read from
/// `fenliu simulate`'s output.
fn counts(output: &str, label: &str) -> (usize, usize) {
    let line = output
        .lines()
        .find(|line| line.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{output}"));
    let numbers: Vec<usize> = line[label.len()..]
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

fn simulate(recording: &Path, sets: &[&str]) -> String {
    let mut args = vec!["simulate", recording.to_str().unwrap()];
    for set in sets {
        args.extend(["--set", set]);
    }
    let (ok, output) = fenliu(&args, Duration::from_secs(60));
    assert!(ok, "fenliu simulate failed:\n{output}");
    output
}

#[test]
fn r26_a_recorded_load_test_replays_to_the_same_decisions_and_a_changed_setting_shows_its_differences()
 {
    let recording = scratch("loadtest.jsonl");
    // Few slots for many buyers: they queue, and a shorter close delay frees
    // slots sooner, so the changed replay must decide differently.
    let (ok, output) = fenliu(
        &[
            "loadtest",
            "--record",
            recording.to_str().unwrap(),
            "--shops",
            "2",
            "--accounts",
            "2",
            "--max-concurrent",
            "1",
            "--concurrency",
            "8",
            "--close-delay-seconds",
            "1",
            "--think-ms",
            "100",
            "--warmup",
            "0",
            "--duration",
            "1.5",
        ],
        TEST_LIMIT,
    );
    assert!(ok, "the recorded load test failed:\n{output}");
    let lines = std::fs::read_to_string(&recording).unwrap();
    assert!(lines.lines().all(|line| line.starts_with("{\"v\":1,")));

    let unchanged = simulate(&recording, &[]);
    let (reproduced, recorded) = counts(&unchanged, "reproduced:");
    assert!(recorded > 20, "a load test records decisions:\n{unchanged}");
    assert_eq!(reproduced, recorded, "{unchanged}");
    assert_eq!(counts(&unchanged, "decisions that differ:").0, 0);

    let changed = simulate(&recording, &["close_delay_seconds=0"]);
    assert_eq!(counts(&changed, "reproduced:"), (recorded, recorded));
    let (differ, of) = counts(&changed, "decisions that differ:");
    assert_eq!(of, recorded);
    assert!(
        differ > 0,
        "freeing slots at once changes decisions:\n{changed}"
    );
    assert!(changed.contains("close_delay_seconds=0"));
    let _ = std::fs::remove_file(recording);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_a_worker_records_only_the_chosen_shop_and_its_timeouts_replay_exactly() {
    bounded_by(TEST_LIMIT, async {
        let recording = scratch("worker.jsonl");
        let port = free_port();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let worker = ChildProcess::spawn(
            fenliu_bin(),
            [
                "worker",
                "--listen",
                &addr.to_string(),
                "--record-shops",
                "recorded",
                "--record-file",
                recording.to_str().unwrap(),
            ],
            [("RUST_LOG", "warn")],
        )
        .unwrap();
        let mut client = loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break connect(addr).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for shop in ["recorded", "not-recorded"] {
            // One slot; a buyer waits at most a second, then leaves a message.
            ShopBuilder::kuaishou(shop)
                .close_delay(0)
                .settings(|s| s.max_queue_wait_seconds = Some(1))
                .cs("a", 1)
                .online(&["a"])
                .create(&mut client)
                .await;
            route_new(&mut client, shop, "first").await;
            route_new(&mut client, shop, "second").await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let state = shop_state(&mut client, "recorded").await;
        assert_eq!(state.pool.len(), 1, "R21 timed the second buyer out");
        // The pooled buyer writes again: R1 answers with the pooled session.
        route_new(&mut client, "recorded", "second").await;
        drop(worker);

        let lines = std::fs::read_to_string(&recording).unwrap();
        assert!(lines.contains("\"shop\":\"recorded\""));
        assert!(!lines.contains("not-recorded"), "only the chosen shop");
        let unchanged = simulate(&recording, &[]);
        assert_eq!(counts(&unchanged, "reproduced:"), (3, 3), "{unchanged}");
        assert_eq!(
            row(&unchanged, "timed out in a queue (R21)"),
            ["1", "1"],
            "{unchanged}"
        );
        // Without R21 the buyer still waits when it writes again.
        let changed = simulate(&recording, &["max_queue_wait_seconds=0"]);
        assert_eq!(
            counts(&changed, "decisions that differ:"),
            (1, 3),
            "{changed}"
        );
        let timed_out = row(&changed, "timed out in a queue (R21)");
        assert_eq!(timed_out, ["*", "0"], "{changed}");
        let _ = std::fs::remove_file(recording);
    })
    .await;
}
