//! The live progress bar of `fenliu loadtest` on stderr: phase, elapsed time,
//! decisions per second and the Route p99 so far, redrawn about four times a
//! second; hidden when stderr is not a terminal (CI logs, redirections).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::shared::Shared;
use super::shared::lock;

/// The bar and its status line.
#[derive(Debug)]
pub struct Progress {
    /// indicatif's bar, its length the whole run in milliseconds.
    bar: ProgressBar,
}

impl Progress {
    /// A bar over the whole run (`total`: warm-up plus duration).
    pub fn new(total: Duration) -> Progress {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr_with_hz(4)
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total.as_millis() as u64), target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{bar:12}] {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        Progress { bar }
    }

    pub fn update(&self, elapsed: Duration, line: String) {
        self.bar.set_position(elapsed.as_millis() as u64);
        self.bar.set_message(line);
        self.bar.tick();
    }

    /// Removes the bar, so that the report starts on a clean line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The text beside the bar.
pub fn status_line(
    phase: &str,
    elapsed: Duration,
    rate: f64,
    p99_ms: Option<f64>,
    errors: u64,
) -> String {
    let p99 = match p99_ms {
        Some(p99) => format!("{p99:.2} ms"),
        None => "-".to_owned(),
    };
    format!(
        "{phase:<7} {:>5.1} s {rate:>7.0} decisions/s  p99 {p99}  errors {errors}",
        elapsed.as_secs_f64()
    )
}

/// Redraws the progress bar about four times a second until aborted.
pub async fn show_progress(shared: Arc<Shared>, progress: Progress, warmup: Duration) {
    /// Clears the bar when the task is aborted, so that the report starts on
    /// a clean line.
    struct Clear(
        /// The bar to clear.
        Progress,
    );
    impl Drop for Clear {
        fn drop(&mut self) {
            self.0.finish();
        }
    }
    let progress = Clear(progress);
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    let mut last = (Instant::now(), 0u64);
    loop {
        ticks.tick().await;
        let now = Instant::now();
        let (ok, latency, errors) = {
            let stats = lock(&shared.stats);
            (
                stats.route_ok_all(),
                stats.latency_snapshot(),
                stats.failures(),
            )
        };
        let p99 = latency.p99_ms();
        let dt = now.saturating_duration_since(last.0).as_secs_f64();
        let rate = if dt > 0.0 {
            (ok - last.1) as f64 / dt
        } else {
            0.0
        };
        last = (now, ok);
        let elapsed = now.saturating_duration_since(shared.origin);
        let phase = if elapsed < warmup {
            "warm-up"
        } else if now < shared.end {
            "run"
        } else {
            "drain"
        };
        progress
            .0
            .update(elapsed, status_line(phase, elapsed, rate, p99, errors));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_shows_rate_and_p99() {
        let line = status_line("run", Duration::from_millis(2500), 1234.4, Some(1.234), 2);
        assert_eq!(
            line,
            "run       2.5 s    1234 decisions/s  p99 1.23 ms  errors 2"
        );
        let warming = status_line("warm-up", Duration::ZERO, 0.0, None, 0);
        assert!(warming.contains("p99 -"));
        // With the spinner and the bar (16 columns), it fits 80 columns.
        let widest = status_line(
            "warm-up",
            Duration::from_secs(999),
            999_999.0,
            Some(9_999.99),
            9_999,
        );
        assert!(widest.chars().count() + 16 <= 80, "{widest}");
    }
}
