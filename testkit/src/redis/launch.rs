//! What [`RedisServer`](super::RedisServer) and
//! [`RedisCluster`](super::RedisCluster) share to spawn and watch a Redis
//! process: the binaries' names, spawn errors that say how to install them,
//! the launch outcome, readiness probes, reading a log from an offset, and
//! the watcher that stops a server once the test process is gone.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::anyhow;

use crate::resp::{self, Transport};

/// How long `RedisServer::start` and `RedisServer::restart` wait for the server
/// to answer `PING`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `RedisServer::stop` waits after SIGTERM before it sends SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `RedisCluster::start` waits for `redis-cli --cluster create` and then
/// for `cluster_state:ok` on every node (each).
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a wait for a process (ready, exited) looks again.
pub(super) const POLL: Duration = Duration::from_millis(20);

/// What redis-server logs when its port (or bus port) is taken.
pub(super) const ADDR_IN_USE: &str = "Address already in use";

/// The `redis-server` binary: `FENLIU_REDIS_SERVER`, else from `PATH`.
pub(super) fn redis_server_bin() -> String {
    std::env::var("FENLIU_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

/// The `redis-cli` binary: `FENLIU_REDIS_CLI`, else from `PATH`.
pub(super) fn redis_cli_bin() -> String {
    std::env::var("FENLIU_REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_string())
}

/// Turns a failed spawn of `program` into an error; a missing binary names
/// the script that installs it.
pub(super) fn spawn_error(program: &str, e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        anyhow!(
            "`{program}` not found on PATH: run scripts/install-deps (installs Debian's redis-server package)"
        )
    } else {
        anyhow!(e).context(format!("spawning {program}"))
    }
}

/// Renders `redis://127.0.0.1:PORT/`, or `rediss://` with `tls`.
pub(super) fn url_for(tls: bool, port: u16) -> String {
    let scheme = if tls { "rediss" } else { "redis" };
    format!("{scheme}://127.0.0.1:{port}/")
}

/// Why launching a server failed: a taken port is retried, anything else is
/// reported.
pub(super) enum LaunchError {
    /// The server exited because its port (or bus port) was taken.
    AddrInUse,
    /// Any other failure, reported as it is.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for LaunchError {
    fn from(e: anyhow::Error) -> Self {
        LaunchError::Other(e)
    }
}

impl From<std::io::Error> for LaunchError {
    fn from(e: std::io::Error) -> Self {
        LaunchError::Other(e.into())
    }
}

/// Reads `path` from byte `start` on (lossy UTF-8), for error messages.
pub(super) fn read_from(path: &Path, start: u64) -> String {
    let mut text = Vec::new();
    let read = File::open(path).and_then(|mut f| {
        f.seek(SeekFrom::Start(start))?;
        f.read_to_end(&mut text)
    });
    match read {
        Ok(_) => String::from_utf8_lossy(&text).into_owned(),
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

/// Stops redis-server `pid` once the test process is gone. A server held in a
/// `static` (the Redis Cluster a test binary shares) is never dropped, so without
/// this its processes would outlive every test run. A shell loop rather than
/// `PR_SET_PDEATHSIG`, which fires when the spawning *thread* exits.
pub(super) fn stop_when_orphaned(pid: u32) {
    let watcher = format!(
        "while kill -0 {test} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; kill {pid} 2>/dev/null",
        test = std::process::id()
    );
    // Best effort: a missing `sh` only means a leftover server.
    let _ = Command::new("sh")
        .args(["-c", &watcher])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// Whether something on `port` answers `PING` with `PONG` over `transport`.
pub(super) fn ping(transport: &Transport, port: u16) -> bool {
    matches!(
        resp::command_via(transport, port, &["PING"]).as_deref(),
        Ok("PONG")
    )
}

/// Whether the Redis on `port` is process `pid` (per `INFO server`).
pub(super) fn serves_pid(transport: &Transport, port: u16, pid: u32) -> bool {
    let want = format!("process_id:{pid}");
    resp::command_via(transport, port, &["INFO", "server"])
        .map(|info| info.lines().any(|l| l.trim() == want))
        .unwrap_or(false)
}

/// Runs `redis-cli` with `args` (after the TLS arguments of `tls`, if any), its
/// output in `log_path`, for at most `timeout`; fails if it does not finish,
/// exits non-zero, or prints an `[ERR]` line (`redis-cli --cluster` exits 0 on
/// some failures). `what` names the step in errors.
pub(super) fn run_redis_cli(
    what: &str,
    tls: Option<&super::tls::RedisTls>,
    args: &[String],
    log_path: &Path,
    timeout: Duration,
) -> anyhow::Result<()> {
    let program = redis_cli_bin();
    let log = File::create(log_path)?;
    let mut cmd = Command::new(&program);
    if let Some(tls) = tls {
        cmd.args(tls.cli_args());
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|e| spawn_error(&program, e))?;
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "redis-cli {what} did not finish within {timeout:?}; output:\n{}",
                crate::files::tail_file(log_path, 40)
            );
        }
        std::thread::sleep(POLL);
    };
    let output = crate::files::tail_file(log_path, 40);
    if !status.success() || output.contains("[ERR]") {
        anyhow::bail!("redis-cli {what} failed ({status}); output:\n{output}");
    }
    Ok(())
}
