//! [`RedisServer`]: one `redis-server` process on a free loopback port, with
//! its own temp dir and no persistence (or an append-only file, to survive a
//! crash: [`RedisServer::start_with_aof`]), that a test can stop, kill, pause,
//! resume and restart on the same port, and send commands to; plain TCP, or
//! TLS only ([`RedisServer::start_tls`]).

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use super::launch::{
    ADDR_IN_USE, LaunchError, ping, read_from, redis_server_bin, serves_pid, spawn_error,
    stop_when_orphaned, url_for,
};
use super::launch::{POLL, READY_TIMEOUT, STOP_TIMEOUT};
use super::tls::RedisTls;
use crate::files::{tail_file, unique_temp_dir};
use crate::ports::{free_cluster_port, free_port};
use crate::process::{send_signal, stop_process};
use crate::resp::{self, Transport};

/// When a persistent server ([`RedisServer::start_with_aof`]) fsyncs its
/// append-only file, which decides what a crash may lose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendFsync {
    /// Before answering each write: a crash loses nothing that was answered.
    Always,
    /// Once a second, in the background: a crash may lose the last second's
    /// answered writes.
    EverySec,
}

impl AppendFsync {
    /// The `--appendfsync` value.
    pub fn as_arg(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::EverySec => "everysec",
        }
    }
}

/// One `redis-server` process on `127.0.0.1:PORT`, started by the test.
///
/// It runs with `--save "" --appendonly no` (nothing is persisted; see
/// [`start_with_aof`](Self::start_with_aof) for a server that persists),
/// `--protected-mode no`, and its working dir (`--dir`) and log file
/// (`redis.log`) in a temp dir of its own. Dropping it kills the process and
/// removes the dir.
#[derive(Debug)]
pub struct RedisServer {
    /// The running process, `None` once stopped or killed (so stop, kill and
    /// drop are idempotent and [`start_again`](Self::start_again) knows to act).
    child: Option<Child>,
    /// The client port, kept across restarts so clients can reconnect.
    port: u16,
    /// The temp dir: `--dir` (a cluster node's `nodes.conf`) and `redis.log`;
    /// removed on drop.
    dir: PathBuf,
    /// Extra `redis-server` arguments (cluster mode), reused on every launch.
    extra_args: Vec<String>,
    /// TLS only, with these files (copies in `dir`), or plain TCP.
    tls: Option<RedisTls>,
    /// Whether this is a cluster node (its TLS covers the cluster bus too).
    cluster: bool,
}

impl RedisServer {
    /// Starts a `redis-server` on a free port and waits (at most
    /// [`READY_TIMEOUT`]) until it answers `PING`. If another process grabs
    /// the port first, it retries on a new port.
    pub fn start() -> anyhow::Result<RedisServer> {
        Self::start_with(Vec::new(), false, None)
    }

    /// Starts a `redis-server` that logs every write to an append-only file in
    /// its dir (`--appendonly yes`), fsynced as `fsync` says. After a
    /// [`kill`](Self::kill) (a crash), [`start_again`](Self::start_again) loads
    /// that file: with [`AppendFsync::Always`] every write that was answered is
    /// back; with [`AppendFsync::EverySec`] the last second's may be lost.
    pub fn start_with_aof(fsync: AppendFsync) -> anyhow::Result<RedisServer> {
        let args = ["--appendonly", "yes", "--appendfsync", fsync.as_arg()];
        Self::start_with(args.map(str::to_owned).to_vec(), false, None)
    }

    /// Starts a `redis-server` that speaks TLS only (`--port 0 --tls-port
    /// PORT`), set up as `tls` says; [`url`](Self::url) is `rediss://`, and
    /// [`command`](Self::command) connects with TLS as the admin.
    pub fn start_tls(tls: &RedisTls) -> anyhow::Result<RedisServer> {
        Self::start_with(Vec::new(), false, Some(tls))
    }

    /// Starts a server with `extra_args` on a free port (one whose bus port
    /// is free too if `cluster`), retrying on a new port if it is taken.
    pub(super) fn start_with(
        extra_args: Vec<String>,
        cluster: bool,
        tls: Option<&RedisTls>,
    ) -> anyhow::Result<RedisServer> {
        let pick = || {
            if cluster {
                free_cluster_port()
            } else {
                free_port()
            }
        };
        let dir = unique_temp_dir("redis").context("creating redis temp dir")?;
        let tls = tls
            .map(|tls| tls.copied_into(&dir.join("tls")))
            .transpose()?;
        let mut server = RedisServer {
            child: None,
            port: pick(),
            dir,
            extra_args,
            tls,
            cluster,
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
        let ports = match &self.tls {
            Some(tls) => tls.server_args(self.port, self.cluster),
            None => vec!["--port".to_owned(), self.port.to_string()],
        };
        let mut cmd = Command::new(&program);
        cmd.args(&ports)
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
            let transport = self.transport();
            if ping(&transport, self.port) && serves_pid(&transport, self.port, pid) {
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

    /// `redis://127.0.0.1:PORT/`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        url_for(self.tls.is_some(), self.port)
    }

    /// How the test's own connections reach this server (TLS as the admin, or
    /// plain TCP).
    pub fn transport(&self) -> Transport {
        self.tls
            .as_ref()
            .map(RedisTls::transport)
            .unwrap_or_default()
    }

    /// The TLS setup in force (its files are this server's copies), if TLS.
    pub fn tls(&self) -> Option<&RedisTls> {
        self.tls.as_ref()
    }

    /// Rotates a TLS server to `next`'s certificate, key and trusted CAs: copies
    /// them over the files the server was started with and has it load them
    /// again (`CONFIG SET` of the same paths reloads them). Connections made
    /// from then on see the new certificate; open ones are left as they are.
    pub fn rotate_tls(&self, next: &RedisTls) -> anyhow::Result<()> {
        let current = self.tls.as_ref().context("not a TLS server")?;
        // Asked for over a connection that the server trusts until it reloads,
        // and that trusts its current certificate: the current files, kept aside.
        let previous = current.copied_into(&self.dir.join("tls-previous"))?;
        next.copy_over(current)?;
        let (cert, key, ca) = (
            current.server.cert.to_string_lossy(),
            current.server.key.to_string_lossy(),
            current.ca_file.to_string_lossy(),
        );
        let args = [
            "CONFIG",
            "SET",
            "tls-cert-file",
            &cert,
            "tls-key-file",
            &key,
            "tls-ca-cert-file",
            &ca,
        ];
        resp::command_via(&previous.transport(), self.port, &args).map(|_| ())
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
        resp::command_via(&self.transport(), self.port, args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill_now();
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
    fn a_server_with_an_aof_fsynced_always_keeps_every_answered_write_across_a_crash() {
        let mut redis = RedisServer::start_with_aof(AppendFsync::Always).unwrap();
        assert_eq!(
            redis.command(&["CONFIG", "GET", "appendfsync"]).unwrap(),
            "appendfsync\nalways"
        );
        for i in 0..50 {
            redis.command(&["SET", &format!("k{i}"), "v"]).unwrap();
        }
        redis.command(&["SET", "ttl", "v", "PX", "60000"]).unwrap();
        redis.kill().unwrap();
        redis.start_again().unwrap();
        assert_eq!(redis.command(&["DBSIZE"]).unwrap(), "51");
        let pttl: i64 = redis.command(&["PTTL", "ttl"]).unwrap().parse().unwrap();
        assert!((1..=60_000).contains(&pttl), "PTTL {pttl}");
    }

    #[test]
    fn drop_kills_and_cleans_up() {
        let redis = RedisServer::start().unwrap();
        let (port, dir) = (redis.port(), redis.dir().to_path_buf());
        assert!(dir.join("redis.log").exists());
        drop(redis);
        assert!(!ping(&Transport::Plain, port));
        assert!(!dir.exists());
    }
}
