//! The live progress bar of `fenliu loadtest` on stderr: phase, elapsed time,
//! decisions per second and the Route p99 so far, redrawn about four times a
//! second; hidden when stderr is not a terminal (CI logs, redirections).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug)]
pub struct Progress {
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
