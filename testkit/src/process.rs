//! The binaries under test as child processes: [`ChildProcess`] spawns one with
//! its stdout and stderr captured to a log file in a temp dir, and lets a test
//! kill it (SIGKILL), freeze and thaw it (SIGSTOP / SIGCONT), stop it politely
//! (SIGTERM), and wait for a line in its log. Dropping it kills the process; if
//! the test is panicking, the log's path and tail are printed first.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::files::{tail_file, unique_temp_dir};

/// How many log lines [`ChildProcess`] prints when dropped during a panic.
pub const PANIC_TAIL_LINES: usize = 60;

/// Sends signal `signal` (a name such as `"STOP"`, `"CONT"`, `"TERM"`,
/// `"KILL"`) to process `pid` by running `kill -s SIGNAL PID`.
pub fn send_signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let pid_arg = pid.to_string();
    let output = match Command::new("kill")
        .args(["-s", signal, &pid_arg])
        .stdin(Stdio::null())
        .output()
    {
        // No kill(1) binary: the shell's builtin does the same.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Command::new("sh")
            .args(["-c", "kill -s \"$0\" \"$1\"", signal, &pid_arg])
            .stdin(Stdio::null())
            .output(),
        other => other,
    }
    .with_context(|| format!("running kill -s {signal} {pid}"))?;
    if !output.status.success() {
        bail!(
            "kill -s {signal} {pid} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Sends SIGSTOP to `pid` and returns once the process is stopped: a signal is
/// delivered asynchronously, and on a busy machine a process may run on for a
/// moment after `kill` returned (a test would then see it still answering).
pub fn stop_process(pid: u32) -> anyhow::Result<()> {
    send_signal(pid, "STOP")?;
    let deadline = Instant::now() + Duration::from_secs(2);
    while process_state(pid) != Some('T') {
        anyhow::ensure!(
            Instant::now() < deadline,
            "process {pid} did not stop within 2 s of SIGSTOP"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// The state letter of process `pid` from `/proc/PID/stat` (`R` running, `S`
/// sleeping, `T` stopped, `Z` zombie, ...), or `None` if there is no such
/// process (or no procfs).
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE ...": COMM may contain spaces and parentheses.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().next()?.chars().next()
}

/// A spawned binary under test. Its stdin is null; stdout and stderr both go
/// to one log file (`<name>.log` in a temp dir of its own).
///
/// Dropping it kills the process (SIGKILL) and reaps it. If the thread is
/// panicking (a failed assertion), the drop prints the log's path and its
/// last [`PANIC_TAIL_LINES`] lines to stderr and keeps the log; otherwise the
/// temp dir is removed.
///
/// Signals go to the child only, not to processes it forks: spawn binaries
/// directly, and in `sh -c` scripts `exec` the long-running command.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    name: String,
    dir: PathBuf,
    log_path: PathBuf,
    status: Option<ExitStatus>,
}

impl ChildProcess {
    /// Spawns `program` (a path, or a bare name looked up on `PATH`) with
    /// `args` and the extra environment variables `envs` (on top of this
    /// process's environment).
    ///
    /// ```no_run
    /// # async fn f(worker_bin: &std::path::Path, redis_url: &str) -> anyhow::Result<()> {
    /// use std::time::Duration;
    /// use fenliu_testkit::ChildProcess;
    /// // worker_bin: e.g. the path of a binary built by cargo for the test.
    /// let worker = ChildProcess::spawn(worker_bin, ["--redis-url", redis_url], [("RUST_LOG", "info")])?;
    /// worker.wait_for_log("listening", Duration::from_secs(10)).await?;
    /// # Ok(()) }
    /// ```
    pub fn spawn<I, S, E, K, V>(program: &Path, args: I, envs: E) -> anyhow::Result<ChildProcess>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
        E: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "child".to_string());
        let dir = unique_temp_dir(&format!("proc-{name}")).context("creating log temp dir")?;
        let log_path = dir.join(format!("{name}.log"));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let spawned = Command::new(program)
            .args(args)
            .envs(envs)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(
                    anyhow::Error::new(e).context(format!("spawning {}", program.display()))
                );
            }
        };
        Ok(ChildProcess {
            child,
            name,
            dir,
            log_path,
            status: None,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The file receiving the child's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the child has written so far (lossy UTF-8).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_file(&self.log_path, lines)
    }

    /// The process's state letter from `/proc` ([`process_state`]); `T` while
    /// paused, `None` once reaped.
    pub fn state(&self) -> Option<char> {
        if self.status.is_some() {
            return None;
        }
        process_state(self.id())
    }

    /// Returns the exit status if the child has exited, without blocking.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Kills the child with SIGKILL (a crash) and reaps it. Returns its exit
    /// status; if it had already exited, that status.
    pub fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        self.child.kill().context("sending SIGKILL")?;
        let status = self.child.wait()?;
        self.status = Some(status);
        Ok(status)
    }

    /// Freezes the child with SIGSTOP (a hung process: its sockets stay open
    /// but nothing is served); returns once it is stopped.
    pub fn pause(&self) -> anyhow::Result<()> {
        stop_process(self.id())
    }

    /// Thaws a child frozen by [`pause`](Self::pause) with SIGCONT.
    pub fn resume(&self) -> anyhow::Result<()> {
        send_signal(self.id(), "CONT")
    }

    /// Asks the child to shut down with SIGTERM (and SIGCONT, in case it is
    /// paused) and waits up to `timeout` for it to exit. Returns its exit
    /// status, or an error if it did not exit in time; then it is killed.
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        send_signal(self.id(), "TERM")?;
        let _ = send_signal(self.id(), "CONT");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = self.kill();
                bail!(
                    "{} (pid {}) did not exit within {timeout:?} of SIGTERM; killed. Log tail:\n{}",
                    self.name,
                    self.id(),
                    self.log_tail(20)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls the log (every 20 ms, at most `timeout`) until it contains
    /// `substring`. Fails early if the child exits without having written it;
    /// the error carries the log's tail.
    pub async fn wait_for_log(&self, substring: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(substring) {
                return Ok(());
            }
            // Only a peek: `try_wait` needs `&mut`, so look at /proc instead.
            let exited = matches!(self.state(), None | Some('Z' | 'X'));
            if exited && !self.log().contains(substring) {
                bail!(
                    "{} (pid {}) exited without logging {substring:?}; log tail:\n{}",
                    self.name,
                    self.id(),
                    self.log_tail(20)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} (pid {}) did not log {substring:?} within {timeout:?}; log tail:\n{}",
                    self.name,
                    self.id(),
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- {} (pid {}) log: {} ---- last {PANIC_TAIL_LINES} lines:\n{}\n---- end of {} log ----",
                self.name,
                self.id(),
                self.log_path.display(),
                self.log_tail(PANIC_TAIL_LINES),
                self.name
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;
    use crate::wait::wait_until;

    fn sleeper() -> ChildProcess {
        ChildProcess::spawn(Path::new("sleep"), ["30"], [("FENLIU_TEST", "1")]).unwrap()
    }

    async fn state_becomes(child: &ChildProcess, want: char) -> bool {
        wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
            child.state() == Some(want)
        })
        .await
    }

    #[tokio::test]
    async fn pause_resume_kill() {
        let mut child = sleeper();
        assert_eq!(child.try_wait().unwrap(), None);
        assert!(state_becomes(&child, 'S').await, "{:?}", child.state());
        child.pause().unwrap();
        assert!(state_becomes(&child, 'T').await, "{:?}", child.state());
        child.resume().unwrap();
        assert!(state_becomes(&child, 'S').await, "{:?}", child.state());
        let pid = child.id();
        let status = child.kill().unwrap();
        assert_eq!(status.signal(), Some(9));
        assert_eq!(child.state(), None);
        assert_eq!(process_state(pid), None);
        // Killing again is harmless.
        assert_eq!(child.kill().unwrap().signal(), Some(9));
    }

    #[tokio::test]
    async fn terminate_stops_a_paused_child() {
        let mut child = sleeper();
        child.pause().unwrap();
        assert!(state_becomes(&child, 'T').await);
        let status = child.terminate(Duration::from_secs(5)).unwrap();
        assert_eq!(status.signal(), Some(15));
    }

    #[tokio::test]
    async fn log_captures_stdout_and_stderr() {
        let child = ChildProcess::spawn(
            Path::new("sh"),
            ["-c", "echo out $GREETING; echo err >&2; exec sleep 30"],
            [("GREETING", "hello")],
        )
        .unwrap();
        child
            .wait_for_log("out hello", Duration::from_secs(5))
            .await
            .unwrap();
        child
            .wait_for_log("err", Duration::from_secs(5))
            .await
            .unwrap();
        let err = child
            .wait_for_log("never", Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("out hello"), "{err}");
        let dir = child.dir.clone();
        drop(child);
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn wait_for_log_fails_fast_when_the_child_exits() {
        let child = ChildProcess::spawn(
            Path::new("sh"),
            ["-c", "echo bye; exit 3"],
            std::iter::empty::<(&str, &str)>(),
        )
        .unwrap();
        let start = Instant::now();
        let err = child
            .wait_for_log("ready", Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exited"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn spawn_missing_program_fails() {
        let err = ChildProcess::spawn(
            Path::new("/nonexistent/fenliu-bin"),
            std::iter::empty::<&str>(),
            std::iter::empty::<(&str, &str)>(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("fenliu-bin"), "{err:#}");
    }
}
