//! The report as the JSON object `--json` writes. `scripts/bench` and
//! `scripts/bench-report.py` read these files, so the keys, their nesting and
//! the kinds of values stay as they are: the structs below spell them out.

use serde::{Serialize, Serializer};

use super::{CallRow, ErrorRow, FloodReport, Report, check_slo};
use crate::loadtest::measures::Percentiles;

impl Report {
    /// The report as one JSON object (numbers in milliseconds and counts).
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string(&ReportJson::of(self))
            .expect("the report serializes: every map key is a string");
        json.push('\n');
        json
    }
}

/// The JSON object, its keys in the order they are written.
#[derive(Debug, Serialize)]
struct ReportJson<'a> {
    target: &'a str,
    run_id: &'a str,
    mode: &'a str,
    concurrency: Option<u64>,
    rps: Option<Figure>,
    connections: u64,
    shops: u64,
    accounts_per_shop: u64,
    zipf_s: Figure,
    seed: u64,
    warmup_seconds: Figure,
    duration_seconds: Figure,
    measured_seconds: Figure,
    answers_lag_seconds: Figure,
    decisions_per_second: Figure,
    #[serde(serialize_with = "as_object")]
    calls: Vec<(&'a str, &'a CallRow)>,
    route_latency_ms: LatencyJson,
    route_service_ms: LatencyJson,
    correction: &'a str,
    errors: &'a [ErrorRow],
    #[serde(serialize_with = "as_object")]
    reasons: &'a [(String, u64)],
    unfinished: u64,
    #[serde(serialize_with = "as_object")]
    cpu: Vec<(&'a str, CpuJson)>,
    slo_p99_ms: Option<Figure>,
    /// Null when no SLO was given.
    slo_met: Option<bool>,
    /// Null without `--flood-shop-rps`.
    flood: Option<&'a FloodReport>,
}

impl<'a> ReportJson<'a> {
    fn of(report: &'a Report) -> ReportJson<'a> {
        let run = &report.run;
        ReportJson {
            target: &run.target,
            run_id: &run.run_id,
            mode: run.mode,
            concurrency: run.concurrency,
            rps: run.rps.map(Figure),
            connections: run.connections,
            shops: run.shops,
            accounts_per_shop: run.accounts,
            zipf_s: Figure(run.zipf_s),
            seed: run.seed,
            warmup_seconds: Figure(run.warmup_seconds),
            duration_seconds: Figure(run.duration_seconds),
            measured_seconds: Figure(report.measured_seconds),
            answers_lag_seconds: Figure(report.answers_lag_seconds),
            decisions_per_second: Figure(report.decisions_per_second),
            calls: report.calls.iter().map(|row| (row.call, row)).collect(),
            route_latency_ms: LatencyJson::of(&report.route_latency),
            route_service_ms: LatencyJson::of(&report.route_service),
            correction: &report.correction,
            errors: &report.errors,
            reasons: &report.reasons,
            unfinished: report.unfinished,
            cpu: report
                .cpu
                .iter()
                .map(|row| {
                    let spent = CpuJson {
                        seconds: Figure(row.seconds),
                        us_per_call: Figure(report.cpu_us_per_call(row)),
                    };
                    (row.name.as_str(), spent)
                })
                .collect(),
            slo_p99_ms: run.slo_p99_ms.map(Figure),
            slo_met: run.slo_p99_ms.map(|slo| check_slo(report, slo).is_ok()),
            flood: report.flood.as_ref(),
        }
    }
}

/// Latency figures in milliseconds; p99.9 is `p99_9`, a key scripts can name.
#[derive(Debug, Serialize)]
struct LatencyJson {
    count: u64,
    mean: Figure,
    p50: Figure,
    p90: Figure,
    p99: Figure,
    #[serde(rename = "p99_9")]
    p999: Figure,
    max: Figure,
}

impl LatencyJson {
    fn of(latency: &Percentiles) -> LatencyJson {
        LatencyJson {
            count: latency.count,
            mean: Figure(latency.mean),
            p50: Figure(latency.p50),
            p90: Figure(latency.p90),
            p99: Figure(latency.p99),
            p999: Figure(latency.p999),
            max: Figure(latency.max),
        }
    }
}

/// A watched process's CPU time over the window, in all and per call answered.
#[derive(Debug, Serialize)]
struct CpuJson {
    seconds: Figure,
    us_per_call: Figure,
}

/// Name-value pairs as a JSON object, in their order (calls in the order of the
/// table, processes in the order of `--cpu-of`).
fn as_object<K, V, S>(pairs: &[(K, V)], serializer: S) -> Result<S::Ok, S::Error>
where
    K: Serialize,
    V: Serialize,
    S: Serializer,
{
    serializer.collect_map(pairs.iter().map(|(key, value)| (key, value)))
}

/// A measured figure: whole numbers without a fraction, others to 3 decimals
/// (a microsecond, in milliseconds), as precise as the measurement and no
/// more; NaN and infinities, which JSON lacks, as null.
#[derive(Debug, Clone, Copy)]
struct Figure(f64);

impl Serialize for Figure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Figure(value) = *self;
        if !value.is_finite() {
            return serializer.serialize_none();
        }
        // Rounded as decimal text rounds it: scaling by 1000 and back is not
        // exact in binary and can land on the other side of a half.
        let rounded: f64 = format!("{value:.3}")
            .parse()
            .expect("a formatted finite f64 parses back");
        if rounded.fract() == 0.0 && rounded.abs() < 1e15 {
            // Also turns -0 into 0.
            serializer.serialize_i64(rounded as i64)
        } else {
            serializer.serialize_f64(rounded)
        }
    }
}

#[cfg(test)]
mod tests {
    use fenliu_proto::v1 as pb;
    use serde_json::{Value, json};

    use super::*;
    use crate::loadtest::cpu::CpuRow;
    use crate::loadtest::measures::Call;
    use crate::loadtest::report::{RunInfo, tests::report_with};
    use crate::loadtest::stats::{Failure, Stats};

    #[test]
    fn json_strings_are_escaped() {
        let json_string = |s: &str| serde_json::to_string(s).unwrap();
        assert_eq!(json_string("plain"), "\"plain\"");
        assert_eq!(json_string("a \"b\" c"), r#""a \"b\" c""#);
        assert_eq!(json_string("back\\slash"), r#""back\\slash""#);
        assert_eq!(json_string("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(json_string("\u{1}\u{1f}"), r#""\u0001\u001f""#);
        assert_eq!(json_string("分流 é"), "\"分流 é\"");
    }

    #[test]
    fn json_numbers_are_valid_json() {
        let json_number = |value: f64| serde_json::to_string(&Figure(value)).unwrap();
        assert_eq!(json_number(3.0), "3");
        assert_eq!(json_number(0.25), "0.25");
        assert_eq!(json_number(1.23456), "1.235");
        assert_eq!(json_number(-0.0001), "0");
        assert_eq!(json_number(f64::NAN), "null");
        assert_eq!(json_number(f64::INFINITY), "null");
        // Too large for an integer: still a JSON number, and the same one.
        let huge = json_number(1e300);
        assert_eq!(serde_json::from_str::<f64>(&huge).unwrap(), 1e300, "{huge}");
    }

    #[test]
    fn the_json_report_has_its_fields_and_escapes_messages() {
        let mut stats = Stats::new(true, 0, 1_000_000);
        stats.record_route(10, 10, 510, Ok(pb::RouteReason::Even as i32));
        stats.record_route(20, 20, 2_020, Ok(pb::RouteReason::OpenSession as i32));
        stats.record_route(
            30,
            30,
            40,
            Err(Failure {
                code: tonic::Code::Unavailable,
                message: "worker \"w1\" gone\nretry".to_owned(),
            }),
        );
        stats.record_call(Call::EndSession, 40, 90, Ok(()));
        // Outside the window: not counted.
        stats.record_call(Call::Transfer, 2_000_000, 2_000_100, Ok(()));
        let report = stats.report(
            RunInfo {
                target: "http://127.0.0.1:50071".to_owned(),
                run_id: "lt-1".to_owned(),
                mode: "open-loop",
                rps: Some(2000.0),
                slo_p99_ms: Some(5.0),
                ..RunInfo::default()
            },
            0,
        );
        let json = report.to_json();
        for needle in [
            r#""target":"http://127.0.0.1:50071""#,
            r#""mode":"open-loop""#,
            r#""concurrency":null"#,
            r#""rps":2000"#,
            r#""decisions_per_second":2"#,
            r#""Route":{"ok":2,"errors":1}"#,
            r#""EndSession":{"ok":1,"errors":0}"#,
            r#""Transfer":{"ok":0,"errors":0}"#,
            r#""reasons":{"OPEN_SESSION":1,"EVEN":1}"#,
            r#""code":"UNAVAILABLE""#,
            r#""example":"worker \"w1\" gone\nretry""#,
            r#""slo_met":true"#,
            r#""route_latency_ms":{"count":2,"#,
        ] {
            assert!(json.contains(needle), "{needle} not in {json}");
        }
        assert!(json.starts_with('{') && json.ends_with("}\n"));
        // Valid JSON (which rules out raw control characters in strings), and
        // the message comes back as it was.
        let parsed: Value = serde_json::from_str(&json).unwrap();
        assert!(parsed.is_object());
        assert_eq!(parsed["errors"][0]["example"], "worker \"w1\" gone\nretry");
        // The table mentions the same figures.
        let text = report.to_text();
        assert!(text.contains("decisions/s"));
        assert!(text.contains("UNAVAILABLE"));
        assert!(text.contains("SLO Route p99 ≤ 5 ms: met"));
    }

    /// What `scripts/bench` and `scripts/bench-report.py` read from the file:
    /// every key, at its place, with numbers as numbers.
    #[test]
    fn the_json_report_has_what_the_bench_scripts_read() {
        let mut report = report_with(4.0, 900);
        report.run.rps = Some(10_000.0);
        report.decisions_per_second = 899.5;
        report.route_latency.p50 = 1.25;
        report.route_latency.p999 = 7.5;
        report.calls.push(CallRow {
            call: "EndSession",
            ok: 90,
            errors: 10,
        });
        report.errors.push(ErrorRow {
            call: "EndSession",
            code: "UNAVAILABLE",
            count: 10,
            example: "gone".to_owned(),
        });
        report.reasons.push(("EVEN".to_owned(), 900));
        report.cpu = vec![
            CpuRow {
                name: "front".to_owned(),
                seconds: 0.5,
            },
            CpuRow {
                name: "server".to_owned(),
                seconds: 0.25,
            },
        ];
        let json: Value = serde_json::from_str(&report.to_json()).unwrap();

        // Sorted: the order of a parsed object's keys depends on serde_json's
        // features.
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut expected = vec![
            "target",
            "run_id",
            "mode",
            "concurrency",
            "rps",
            "connections",
            "shops",
            "accounts_per_shop",
            "zipf_s",
            "seed",
            "warmup_seconds",
            "duration_seconds",
            "measured_seconds",
            "answers_lag_seconds",
            "decisions_per_second",
            "calls",
            "route_latency_ms",
            "route_service_ms",
            "correction",
            "errors",
            "reasons",
            "unfinished",
            "cpu",
            "slo_p99_ms",
            "slo_met",
            "flood",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);

        assert_eq!(json["decisions_per_second"].as_f64(), Some(899.5));
        assert_eq!(json["rps"].as_f64(), Some(10_000.0));
        for latency in ["route_latency_ms", "route_service_ms"] {
            let figures = json[latency].as_object().unwrap();
            let mut keys: Vec<&str> = figures.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["count", "max", "mean", "p50", "p90", "p99", "p99_9"]);
            assert!(figures.values().all(Value::is_number), "{latency}");
        }
        assert_eq!(json["route_latency_ms"]["p50"].as_f64(), Some(1.25));
        assert_eq!(json["route_latency_ms"]["p99"].as_f64(), Some(4.0));
        assert_eq!(json["route_latency_ms"]["p99_9"].as_f64(), Some(7.5));
        assert_eq!(json["route_latency_ms"]["count"].as_u64(), Some(900));
        // 1,000 calls answered: 0.5 s is 500 µs a call, 0.25 s 250.
        assert_eq!(
            json["cpu"],
            json!({
                "front": {"seconds": 0.5, "us_per_call": 500},
                "server": {"seconds": 0.25, "us_per_call": 250},
            })
        );
        assert_eq!(
            json["calls"],
            json!({
                "Route": {"ok": 900, "errors": 0},
                "EndSession": {"ok": 90, "errors": 10},
            })
        );
        assert_eq!(
            json["errors"],
            json!([{"call": "EndSession", "code": "UNAVAILABLE", "count": 10, "example": "gone"}])
        );
        assert_eq!(json["reasons"], json!({"EVEN": 900}));
        assert_eq!(json["concurrency"].as_u64(), Some(8));
        assert_eq!(json["slo_p99_ms"], Value::Null);
        assert_eq!(json["slo_met"], Value::Null);
        assert_eq!(json["flood"], Value::Null);
    }
}
