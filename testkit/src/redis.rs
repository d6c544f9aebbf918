//! Throwaway Redis for tests: [`RedisServer`] runs one `redis-server` process
//! on a free loopback port with its own temp dir and no persistence;
//! [`RedisCluster`] runs N of them with cluster mode on and joins them with
//! `redis-cli --cluster create` into a cluster of N masters and no replicas.
//!
//! The binaries are looked up on `PATH` as `redis-server` and `redis-cli`
//! unless the environment variables `FENLIU_REDIS_SERVER` /
//! `FENLIU_REDIS_CLI` name others. `scripts/install-deps` installs them.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use crate::ports::{free_cluster_port, free_port};
use crate::process::{send_signal, stop_process};
use crate::resp::{self, Reply};
use crate::{tail_file, unique_temp_dir};

/// How long [`RedisServer::start`] and [`RedisServer::restart`] wait for the
/// server to answer `PING`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`RedisServer::stop`] waits after SIGTERM before it sends SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`RedisCluster::start`] waits for `redis-cli --cluster create` and
/// then for `cluster_state:ok` on every node (each).
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

const POLL: Duration = Duration::from_millis(20);
const ADDR_IN_USE: &str = "Address already in use";

fn redis_server_bin() -> String {
    std::env::var("FENLIU_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

fn redis_cli_bin() -> String {
    std::env::var("FENLIU_REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_string())
}

fn spawn_error(program: &str, e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        anyhow!(
            "`{program}` not found on PATH: run scripts/install-deps (installs Debian's redis-server package)"
        )
    } else {
        anyhow!(e).context(format!("spawning {program}"))
    }
}

/// Renders `redis://127.0.0.1:PORT/`.
fn url_for(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

enum LaunchError {
    /// The server exited because its port (or bus port) was taken.
    AddrInUse,
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

/// One `redis-server` process on `127.0.0.1:PORT`, started by the test.
///
/// It runs with `--save "" --appendonly no` (nothing is persisted),
/// `--protected-mode no`, and its working dir (`--dir`) and log file
/// (`redis.log`) in a temp dir of its own. Dropping it kills the process and
/// removes the dir.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra_args: Vec<String>,
}

impl RedisServer {
    /// Starts a `redis-server` on a free port and waits (at most
    /// [`READY_TIMEOUT`]) until it answers `PING`. If another process grabs
    /// the port first, it retries on a new port.
    pub fn start() -> anyhow::Result<RedisServer> {
        Self::start_with(Vec::new(), false)
    }

    fn start_with(extra_args: Vec<String>, cluster: bool) -> anyhow::Result<RedisServer> {
        let pick = || {
            if cluster {
                free_cluster_port()
            } else {
                free_port()
            }
        };
        let dir = unique_temp_dir("redis").context("creating redis temp dir")?;
        let mut server = RedisServer {
            child: None,
            port: pick(),
            dir,
            extra_args,
        };
        for _ in 0..5 {
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(LaunchError::AddrInUse) => server.port = pick(),
                Err(LaunchError::Other(e)) => return Err(e),
            }
        }
        bail!("redis-server could not bind a free port in 5 attempts (ports kept being taken)")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// Spawns redis-server on `self.port` and waits until it is ready.
    fn launch(&mut self) -> Result<(), LaunchError> {
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let log_start = log.metadata()?.len();
        let program = redis_server_bin();
        let port = self.port.to_string();
        let mut cmd = Command::new(&program);
        cmd.arg("--port")
            .arg(&port)
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir)
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .args(["--daemonize", "no"])
            .args(["--logfile", ""])
            .args(&self.extra_args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().map_err(|e| spawn_error(&program, e))?;
        let pid = child.id();
        self.child = Some(child);
        stop_when_orphaned(pid);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("child was just set");
            if let Some(status) = child.try_wait()? {
                self.child = None;
                let log = read_from(&log_path, log_start);
                if log.contains(ADDR_IN_USE) {
                    return Err(LaunchError::AddrInUse);
                }
                return Err(anyhow!(
                    "redis-server on port {} exited ({status}) before answering PING; its log:\n{log}",
                    self.port
                )
                .into());
            }
            // Answering PING is not enough: if the port was taken by another
            // redis, that one would answer. Check it is our process.
            if ping(self.port) && serves_pid(self.port, pid) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill_now();
                return Err(anyhow!(
                    "redis-server on port {} did not answer PING within {READY_TIMEOUT:?}; its log:\n{}",
                    self.port,
                    read_from(&log_path, log_start)
                )
                .into());
            }
            sleep(POLL);
        }
    }

    /// `redis://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        url_for(self.port)
    }

    /// The client port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's socket address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The pid of the running server, `None` after [`stop`](Self::stop) /
    /// [`kill`](Self::kill).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's temp dir (its `--dir`, also holding `redis.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_file(&self.log_path(), lines)
    }

    /// Stops the server: SIGTERM (and SIGCONT, in case it is paused), then waits for it to exit (SIGKILL after
    /// [`STOP_TIMEOUT`]). Does nothing if it is not running. The port stays
    /// this server's: [`restart`](Self::restart) reuses it.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        send_signal(child.id(), "TERM")?;
        // A paused server would not act on SIGTERM until continued.
        let _ = send_signal(child.id(), "CONT");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            sleep(POLL);
        }
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Kills the server with SIGKILL (a crash: no shutdown work) and reaps it.
    /// Does nothing if it is not running.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    fn kill_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server with SIGSTOP: connections stay open but nothing is
    /// answered (simulates a hung Redis). Undo with [`resume`](Self::resume).
    pub fn pause(&self) -> anyhow::Result<()> {
        stop_process(self.pid().context("redis-server is not running")?)
    }

    /// Resumes a server frozen by [`pause`](Self::pause) (SIGCONT).
    pub fn resume(&self) -> anyhow::Result<()> {
        send_signal(self.pid().context("redis-server is not running")?, "CONT")
    }

    /// Stops the server (as [`stop`](Self::stop)) and starts it again on the
    /// same port with the same arguments and dir, waiting until it answers
    /// `PING`. Without persistence the data is gone; a cluster node keeps its
    /// identity and slots (its `nodes.conf` is in the dir). If the port is
    /// briefly unavailable, retries for up to [`READY_TIMEOUT`].
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.start_again()
    }

    /// Starts a stopped or killed server again on the same port (as the second
    /// half of [`restart`](Self::restart)). Does nothing if it is running.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.launch() {
                Ok(()) => return Ok(()),
                Err(LaunchError::AddrInUse) if Instant::now() < deadline => {
                    sleep(Duration::from_millis(100))
                }
                Err(LaunchError::AddrInUse) => {
                    bail!(
                        "port {} stayed in use; cannot restart redis-server",
                        self.port
                    )
                }
                Err(LaunchError::Other(e)) => return Err(e),
            }
        }
    }

    /// Sends one command on a new connection and returns the reply as text:
    /// simple and bulk strings as they are, integers in decimal, nil as
    /// `(nil)`, arrays as their elements joined by `\n`. An error reply is
    /// `Err` with the error message (e.g. `WRONGTYPE ...`).
    ///
    /// ```no_run
    /// # fn f(redis: &fenliu_testkit::RedisServer) -> anyhow::Result<()> {
    /// assert_eq!(redis.command(&["EXISTS", "fenliu:session:1"])?, "0");
    /// let keys = redis.command(&["KEYS", "fenliu:*"])?;
    /// # Ok(()) }
    /// ```
    pub fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        resp::command(self.port, args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill_now();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads `path` from byte `start` on (lossy UTF-8), for error messages.
fn read_from(path: &Path, start: u64) -> String {
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
fn stop_when_orphaned(pid: u32) {
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

fn ping(port: u16) -> bool {
    matches!(resp::command(port, &["PING"]).as_deref(), Ok("PONG"))
}

fn serves_pid(port: u16, pid: u32) -> bool {
    let want = format!("process_id:{pid}");
    resp::command(port, &["INFO", "server"])
        .map(|info| info.lines().any(|l| l.trim() == want))
        .unwrap_or(false)
}

/// A Redis Cluster of N masters (no replicas), each a [`RedisServer`] with
/// `--cluster-enabled yes --cluster-config-file nodes.conf
/// --cluster-node-timeout 2000` on a port whose bus port (`port + 10000`) is
/// free too. Dropping it kills every node and removes their dirs.
///
/// Timings to expect (node timeout 2 s, no replicas): a killed master makes
/// the other nodes report `cluster_state:fail` after about 4 s; once it is
/// started again ([`RedisServer::start_again`]) they report `ok` again only
/// when the FAIL flag may be cleared, 2 × node timeout after it was set, so
/// about 4 s later. Use [`RedisCluster::wait_until_ok`] rather than sleeps.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3, as Redis Cluster requires), joins
    /// them with `redis-cli --cluster create ... --cluster-replicas 0
    /// --cluster-yes`, and waits until every node reports `cluster_state:ok`
    /// (each step bounded by [`CLUSTER_TIMEOUT`]).
    pub fn start(masters: usize) -> anyhow::Result<RedisCluster> {
        anyhow::ensure!(
            masters >= 3,
            "a Redis Cluster needs at least 3 masters, asked for {masters}"
        );
        let dir = unique_temp_dir("redis-cluster").context("creating cluster temp dir")?;
        let mut cluster = RedisCluster {
            nodes: Vec::with_capacity(masters),
            dir,
        };
        let args: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ]
        .map(String::from)
        .to_vec();
        for _ in 0..masters {
            cluster
                .nodes
                .push(RedisServer::start_with(args.clone(), true)?);
        }
        cluster.create()?;
        cluster.wait_until_ok(CLUSTER_TIMEOUT)?;
        Ok(cluster)
    }

    /// Runs `redis-cli --cluster create` over the nodes, bounded in time.
    fn create(&self) -> anyhow::Result<()> {
        let program = redis_cli_bin();
        let log_path = self.dir.join("redis-cli.log");
        let log = File::create(&log_path)?;
        let mut cmd = Command::new(&program);
        cmd.args(["--cluster", "create"])
            .args(self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut child = cmd.spawn().map_err(|e| spawn_error(&program, e))?;
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "redis-cli --cluster create did not finish within {CLUSTER_TIMEOUT:?}; output:\n{}",
                    tail_file(&log_path, 40)
                );
            }
            sleep(POLL);
        };
        let output = tail_file(&log_path, 40);
        // redis-cli exits 0 even on some failures; its errors start with [ERR].
        if !status.success() || output.contains("[ERR]") {
            bail!("redis-cli --cluster create failed ({status}); output:\n{output}");
        }
        Ok(())
    }

    /// Waits until `CLUSTER INFO` on every running node reports
    /// `cluster_state:ok`, at most `timeout`. Use after restarting a node.
    pub fn wait_until_ok(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let not_ok: Vec<u16> = self
                .nodes
                .iter()
                .filter(|n| n.pid().is_some())
                .filter(|n| {
                    !n.command(&["CLUSTER", "INFO"])
                        .map(|info| info.lines().any(|l| l.trim() == "cluster_state:ok"))
                        .unwrap_or(false)
                })
                .map(RedisServer::port)
                .collect();
            if not_ok.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let info = self.nodes[0]
                    .command(&["CLUSTER", "INFO"])
                    .unwrap_or_else(|e| e.to_string());
                bail!(
                    "cluster not ok within {timeout:?} on ports {not_ok:?}; CLUSTER INFO of port {}:\n{info}",
                    self.nodes[0].port()
                );
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The nodes' URLs, `redis://127.0.0.1:PORT/` each.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes' client ports.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// The nodes, e.g. to stop, kill, pause or restart one.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The nodes, mutably (for [`RedisServer::stop`], [`RedisServer::restart`], ...).
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// Sends one command to the first node that accepts a connection and, if
    /// it answers `-MOVED SLOT HOST:PORT`, sends it once more to that node.
    /// The reply is rendered as by [`RedisServer::command`]. Keys of one
    /// command must share a hash slot (else Redis answers `CROSSSLOT`).
    pub fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut last_err = anyhow!("no running cluster node");
        for node in self.nodes.iter().filter(|n| n.pid().is_some()) {
            match resp::request(node.addr(), args) {
                Ok(Reply::Error(e)) if e.starts_with("MOVED ") => {
                    let target = e
                        .split_whitespace()
                        .nth(2)
                        .with_context(|| format!("malformed redirect {e:?}"))?;
                    let addr = target
                        .to_socket_addrs()
                        .with_context(|| format!("bad address in redirect {e:?}"))?
                        .next()
                        .with_context(|| format!("no address in redirect {e:?}"))?;
                    return resp::request(addr, args)?.into_text();
                }
                Ok(reply) => return reply.into_text(),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Sends one command to every running node (no redirects) and returns
    /// the replies in node order, e.g. `KEYS fenliu:*` to see every key.
    pub fn command_on_all(&self, args: &[&str]) -> anyhow::Result<Vec<String>> {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .map(|n| n.command(args))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_answers_ping_set_get() {
        let redis = RedisServer::start().unwrap();
        assert_eq!(redis.command(&["PING"]).unwrap(), "PONG");
        assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.port()));
        assert_eq!(redis.command(&["SET", "k", "hello world"]).unwrap(), "OK");
        assert_eq!(redis.command(&["GET", "k"]).unwrap(), "hello world");
        assert_eq!(redis.command(&["GET", "missing"]).unwrap(), "(nil)");
        assert_eq!(redis.command(&["INCR", "n"]).unwrap(), "1");
        assert_eq!(redis.command(&["RPUSH", "l", "a", "b"]).unwrap(), "2");
        assert_eq!(redis.command(&["LRANGE", "l", "0", "-1"]).unwrap(), "a\nb");
        assert_eq!(redis.command(&["KEYS", "nomatch:*"]).unwrap(), "");
        let err = redis.command(&["INCR", "k"]).unwrap_err().to_string();
        assert!(err.starts_with("ERR"), "{err}");
        // Nothing is persisted.
        assert_eq!(redis.command(&["CONFIG", "GET", "save"]).unwrap(), "save\n");
    }

    #[test]
    fn key_with_px_expires() {
        let redis = RedisServer::start().unwrap();
        assert_eq!(
            redis.command(&["SET", "k", "v", "PX", "300"]).unwrap(),
            "OK"
        );
        assert_eq!(redis.command(&["EXISTS", "k"]).unwrap(), "1");
        let pttl: i64 = redis.command(&["PTTL", "k"]).unwrap().parse().unwrap();
        assert!((1..=300).contains(&pttl), "PTTL {pttl}");
        sleep(Duration::from_millis(500));
        assert_eq!(redis.command(&["EXISTS", "k"]).unwrap(), "0");
    }

    #[test]
    fn restart_keeps_the_port() {
        let mut redis = RedisServer::start().unwrap();
        let port = redis.port();
        let pid = redis.pid().unwrap();
        redis.command(&["SET", "k", "v"]).unwrap();
        redis.stop().unwrap();
        assert!(redis.command(&["PING"]).is_err(), "stopped server answered");
        redis.start_again().unwrap();
        assert_eq!(redis.command(&["PING"]).unwrap(), "PONG");
        redis.restart().unwrap();
        assert_eq!(redis.port(), port);
        assert_ne!(redis.pid().unwrap(), pid);
        assert_eq!(redis.command(&["PING"]).unwrap(), "PONG");
        // No persistence: the data did not survive.
        assert_eq!(redis.command(&["EXISTS", "k"]).unwrap(), "0");
    }

    #[test]
    fn drop_kills_and_cleans_up() {
        let redis = RedisServer::start().unwrap();
        let (port, dir) = (redis.port(), redis.dir().to_path_buf());
        assert!(dir.join("redis.log").exists());
        drop(redis);
        assert!(!ping(port));
        assert!(!dir.exists());
    }

    #[test]
    fn cluster_of_three_routes_moved_keys() {
        let cluster = RedisCluster::start(3).unwrap();
        assert_eq!(cluster.urls().len(), 3);
        for node in cluster.nodes() {
            let info = node.command(&["CLUSTER", "INFO"]).unwrap();
            assert!(info.contains("cluster_state:ok"), "{info}");
            assert!(info.contains("cluster_known_nodes:3"), "{info}");
        }
        // Pick keys owned by a node other than the first one, so that the
        // first node answers MOVED and `command` must follow it.
        let first = &cluster.nodes()[0];
        let mut moved = 0;
        for i in 0..20 {
            let key = format!("fenliu:test:{i}");
            let direct = resp::request(first.addr(), &["GET", &key]).unwrap();
            let value = format!("v{i}");
            assert_eq!(cluster.command(&["SET", &key, &value]).unwrap(), "OK");
            assert_eq!(cluster.command(&["GET", &key]).unwrap(), value);
            if matches!(&direct, Reply::Error(e) if e.starts_with("MOVED ")) {
                moved += 1;
            }
        }
        assert!(moved > 0, "no key of 20 lived on another node");
        // Every key is on exactly one node.
        let keys = cluster.command_on_all(&["KEYS", "fenliu:test:*"]).unwrap();
        let total: usize = keys.iter().map(|k| k.lines().count()).sum();
        assert_eq!(total, 20, "{keys:?}");
        assert!(keys.iter().filter(|k| !k.is_empty()).count() > 1);
    }

    #[test]
    fn cluster_needs_three_masters() {
        assert!(RedisCluster::start(2).is_err());
    }
}

#[cfg(test)]
mod cluster_restart_tests {
    use super::*;

    #[test]
    fn cluster_node_restart_rejoins() {
        let mut cluster = RedisCluster::start(3).unwrap();
        let t0 = Instant::now();
        cluster.nodes_mut()[1].kill().unwrap();
        // With no replicas, a dead master's slots are uncovered: the others
        // declare the cluster failed once node-timeout (2 s) has passed.
        let others_fail = || {
            [0, 2].iter().all(|&i| {
                cluster.nodes()[i]
                    .command(&["CLUSTER", "INFO"])
                    .map(|info| info.contains("cluster_state:fail"))
                    .unwrap_or(false)
            })
        };
        while !others_fail() {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "cluster never failed"
            );
            sleep(Duration::from_millis(50));
        }
        eprintln!("cluster_state:fail after {:?}", t0.elapsed());
        let t1 = Instant::now();
        cluster.nodes_mut()[1].start_again().unwrap();
        cluster.wait_until_ok(CLUSTER_TIMEOUT).unwrap();
        eprintln!("cluster_state:ok again after {:?}", t1.elapsed());
        assert_eq!(cluster.command(&["SET", "after", "restart"]).unwrap(), "OK");
        assert_eq!(cluster.command(&["GET", "after"]).unwrap(), "restart");
    }
}
