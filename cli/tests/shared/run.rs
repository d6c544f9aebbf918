//! Runs the `fenliu` binary cargo built for the test to its end, bounded in
//! time, for the tests that drive it as a user would (`loadtest`, `simulate`).
//! Included by path (`#[path]`) by each test that needs it.

use std::ffi::OsStr;
use std::fmt::Debug;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `fenliu` binary under test.
pub fn fenliu_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fenliu"))
}

/// Runs `fenliu args…` to its end (killed and a panic past `limit`); whether it
/// succeeded, and its stdout and stderr together.
pub fn run_fenliu<S: AsRef<OsStr> + Debug>(args: &[S], limit: Duration) -> (bool, String) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let out_path = std::env::temp_dir().join(format!(
        "fenliu-run-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(fenliu_bin())
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fenliu {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(out_path);
    (status.success(), output)
}
