//! Running a property against a real deployment: proptest draws the cases (and
//! keeps failing ones in `proptest-regressions/`), a tokio runtime of the test's own
//! serves the deployment between cases, each case is bounded in time, and a panic
//! hook sees any panic of a server of this process (a panicked handler shows to a
//! client only as a dropped call, or not at all behind the link).

use std::cell::Cell;
use std::future::Future;
use std::sync::{Mutex, Once};
use std::time::Duration;

use fenliu_tests::*;
use proptest::test_runner::{Config, TestCaseError, TestCaseResult, TestRunner};

use crate::fixture::Deployment;

/// The longest one case may take (a case is a few calls and reads, milliseconds
/// each).
const CASE_LIMIT: Duration = Duration::from_secs(10);
/// The longest proptest may spend shrinking a failure.
const SHRINK_LIMIT_MS: u32 = 60_000;

/// Every panic message of this process since the hook was installed.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

thread_local! {
    /// Set on a test's own thread while it reports its failure: that panic is the
    /// test failing, not a server panicking, and must not fail the properties that
    /// run beside it in this process.
    static REPORTING_FAILURE: Cell<bool> = const { Cell::new(false) };
}

fn watch_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if REPORTING_FAILURE.get() {
                return report(info);
            }
            PANICS.lock().expect("panics lock").push(info.to_string());
            report(info);
        }));
    });
}

/// How many panics this process has had so far.
pub fn panic_count() -> usize {
    PANICS.lock().expect("panics lock").len()
}

/// Fails the case if anything panicked since `count` was taken.
pub fn check_no_panic_since(count: usize, during: &str) -> TestCaseResult {
    let panics = PANICS.lock().expect("panics lock");
    if panics.len() > count {
        return Err(TestCaseError::fail(format!(
            "a panic during {during}: {:?}",
            &panics[count..]
        )));
    }
    Ok(())
}

/// Runs `cases` cases drawn from `strategy` against one deployment (on Redis or
/// the embedded default); `FUZZ_CASES=<n>` runs `n` instead, for a longer hunt.
/// `source_file` (the property's `file!()`) names the file failing cases are kept
/// in.
pub fn run_property<S: proptest::strategy::Strategy>(
    source_file: &'static str,
    cases: u32,
    on_redis: bool,
    strategy: S,
    case: impl AsyncFn(&Deployment, S::Value) -> TestCaseResult,
) {
    watch_panics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let deployment = runtime.block_on(bounded(Deployment::start(on_redis)));
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let config = Config {
        cases,
        source_file: Some(source_file),
        max_shrink_time: SHRINK_LIMIT_MS,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        runtime.block_on(within_case_limit(case(&deployment, value)))
    });
    runtime.block_on(bounded(deployment.node.stop()));
    if let Err(failure) = result {
        REPORTING_FAILURE.set(true);
        panic!("{failure}");
    }
}

async fn within_case_limit(case: impl Future<Output = TestCaseResult>) -> TestCaseResult {
    tokio::time::timeout(CASE_LIMIT, case)
        .await
        .unwrap_or_else(|_| {
            Err(TestCaseError::fail(format!(
                "the case took over {CASE_LIMIT:?}"
            )))
        })
}
