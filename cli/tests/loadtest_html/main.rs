//! `fenliu loadtest --html` end to end: a short load test against a real
//! worker and dispatcher on 127.0.0.1:0 whose per-shop Route limit refuses
//! part of the load, so that the run has decisions, outcomes and errors; its
//! HTML report must be well-formed (as XML) and hold in its tables the figures
//! the JSON report of the same run gives.

#[path = "../shared/run.rs"]
mod run;
mod well_formed;

use std::path::PathBuf;
use std::time::Duration;

use fenliu_tests::{NodeSettings, TestNode, bounded_by};
use fenliu_worker::router::Quotas;
use serde_json::Value;

/// The whole test, the load test process included.
const TEST_LIMIT: Duration = Duration::from_secs(120);

/// A file of this test's own under the temporary directory.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "fenliu-loadtest-html-{}-{name}",
        std::process::id()
    ))
}

/// The texts of the table cells (`th` and `td`), in document order.
fn cells(elements: &[well_formed::Element]) -> Vec<&str> {
    elements
        .iter()
        .filter(|element| element.name == "td" || element.name == "th")
        .map(|element| element.text.as_str())
        .collect()
}

/// Whether `label`'s cell is directly followed by a cell reading `value`.
fn row_has(cells: &[&str], label: &str, value: &str) -> bool {
    cells
        .windows(2)
        .any(|pair| pair[0] == label && pair[1] == value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_of_a_short_load_test_parses_and_holds_the_runs_figures() {
    bounded_by(TEST_LIMIT, async {
        // 20 Route calls a second per shop: the load's 8 tasks go past it, so
        // the run has RESOURCE_EXHAUSTED refusals beside its decisions.
        let node = TestNode::start_with(NodeSettings {
            quotas: Quotas {
                route_rate_limit: 20,
                ..Quotas::default()
            },
            ..NodeSettings::default()
        })
        .await;
        let (html_path, json_path) = (scratch("report.html"), scratch("report.json"));
        let args: Vec<String> = [
            "loadtest",
            "--addr",
            &format!("http://{}", node.dispatcher_address()),
            "--shops",
            "2",
            "--accounts",
            "3",
            "--concurrency",
            "8",
            "--warmup",
            "0.5",
            "--duration",
            "2",
            "--think-ms",
            "50",
            "--json",
            json_path.to_str().unwrap(),
            "--html",
            html_path.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec();
        let (ok, output) =
            tokio::task::spawn_blocking(move || run::run_fenliu(&args, Duration::from_secs(60)))
                .await
                .unwrap();
        assert!(ok, "the load test failed:\n{output}");
        node.stop().await;

        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
        let html = std::fs::read_to_string(&html_path).unwrap();
        let elements = well_formed::parse(&html)
            .unwrap_or_else(|why| panic!("the report is not well-formed: {why}"));
        assert_eq!(elements[0].name, "html");
        let cells = cells(&elements);

        // The decisions, and the Route p50 and p99 as the JSON gives them.
        let decisions = json["calls"]["Route"]["ok"].as_u64().unwrap();
        assert!(decisions > 0, "{json}");
        assert!(
            row_has(
                &cells,
                "Decisions (Route answered OK)",
                &decisions.to_string()
            ),
            "{decisions} decisions not in {cells:?}"
        );
        let latency = &json["route_latency_ms"];
        for (name, column) in [("p50", 1), ("p99", 3)] {
            let figure = format!("{:.3}", latency[name].as_f64().unwrap());
            let at = cells.iter().position(|cell| *cell == "corrected").unwrap();
            assert_eq!(cells[at + column], figure, "{name} in the latency table");
        }
        let per_second = format!("{:.1}", json["decisions_per_second"].as_f64().unwrap());
        assert!(row_has(&cells, "Decisions per second", &per_second));

        // Every error code and outcome reason, with its count.
        let errors = json["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["code"] == "RESOURCE_EXHAUSTED"),
            "the shops' Route limit refused nothing: {json}"
        );
        for error in errors {
            let code = error["code"].as_str().unwrap();
            let call = error["call"].as_str().unwrap();
            let count = error["count"].as_u64().unwrap().to_string();
            let at = cells
                .windows(3)
                .position(|w| w[0] == code && w[1] == call && w[2] == count);
            assert!(at.is_some(), "{code} {call} {count} not in {cells:?}");
            // A column of the errors over time.
            assert!(
                html.contains(&format!("<th scope=\"col\">{code}</th>")),
                "{code} has no column over time"
            );
        }
        let reasons = json["reasons"].as_object().unwrap();
        assert!(!reasons.is_empty());
        for (reason, count) in reasons {
            assert!(
                row_has(&cells, reason, &count.to_string()),
                "{reason} {count} not in {cells:?}"
            );
        }
        // The settings: every flag, as given.
        assert!(row_has(&cells, "--duration", "2"));
        assert!(row_has(&cells, "--concurrency", "8"));
        assert!(row_has(&cells, "--html", html_path.to_str().unwrap()));
        // Over time: one row per second of the window at least, whose
        // decisions add up to at most the run's (the drain's too).
        let over_time: u64 = elements
            .windows(4)
            .filter(|w| w[0].name == "th" && w[1].text == "1" && w[0].text.parse::<u32>().is_ok())
            .map(|w| w[2].text.parse::<u64>().unwrap())
            .sum();
        assert!(
            over_time > 0 && over_time <= decisions,
            "{over_time} of {decisions}"
        );
        // Six plots, each with its accessible name.
        assert_eq!(elements.iter().filter(|e| e.name == "svg").count(), 6);
        assert!(!html.contains("<script"));

        let _ = std::fs::remove_file(html_path);
        let _ = std::fs::remove_file(json_path);
    })
    .await;
}
