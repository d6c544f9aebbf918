//! [`FaultProxy`]: a TCP proxy of our own on `127.0.0.1:0` that forwards to one
//! upstream address and misbehaves on demand, to put network faults between two
//! processes under test (a dispatcher and a worker, a worker and Redis).
//!
//! Its [`FaultMode`] can be switched at any time and applies at once to every
//! connection, open or new:
//!
//! - `Pass`: bytes go through as they come.
//! - `Latency`: each chunk read (either way) waits `per_chunk` before it is
//!   written on; a new connection waits `on_connect` before its upstream is dialled.
//! - `Reset`: every open connection is closed with a TCP reset (both sides), and
//!   new connections are accepted and reset at once: a peer that crashed, or a
//!   middlebox that drops connections.
//! - `Blackhole`: connections are accepted but nothing is forwarded and nothing is
//!   closed: a partition. What was read is held, not dropped (TCP would
//!   retransmit it), so if the mode goes back to `Pass` before either side gives
//!   up, it arrives late, as after a healed partition.
//!
//! Dropping the proxy stops it and closes every connection it holds.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How a [`FaultProxy`] treats the bytes and connections passing through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultMode {
    /// Forward everything as it comes.
    Pass,
    /// Delay every chunk, and the dialling of every new connection.
    Latency {
        /// How long each chunk read waits before it is written on.
        per_chunk: Duration,
        /// How long a new connection waits before its upstream is dialled.
        on_connect: Duration,
    },
    /// Reset every connection, open or new.
    Reset,
    /// Accept, never forward, never close.
    Blackhole,
}

/// What a proxy has done, for a test to assert on and a chaos run to report.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    /// Connections accepted from clients.
    pub accepted: AtomicU64,
    /// Connections the proxy closed with a reset (a `Reset` mode, an upstream
    /// that refused or reset, or the proxy dropped).
    pub reset: AtomicU64,
    /// Bytes written on, both ways.
    pub forwarded_bytes: AtomicU64,
}

/// A TCP proxy from a loopback port of its own to `upstream`, with a
/// switchable [`FaultMode`].
///
/// ```no_run
/// # async fn f(worker: std::net::SocketAddr) -> std::io::Result<()> {
/// use std::time::Duration;
/// use fenliu_testkit::{FaultMode, FaultProxy};
/// let proxy = FaultProxy::start(worker).await?;
/// // Point the client at proxy.addr(), then:
/// proxy.set_mode(FaultMode::Blackhole);
/// tokio::time::sleep(Duration::from_secs(2)).await;
/// proxy.set_mode(FaultMode::Pass);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    /// Where clients connect.
    addr: SocketAddr,
    /// Where connections are forwarded.
    upstream: SocketAddr,
    /// The mode in force; every connection watches it (and ends when it is
    /// dropped with the proxy).
    mode: watch::Sender<FaultMode>,
    /// Shared with the accept loop and every connection.
    counters: Arc<ProxyCounters>,
    /// The accept loop, aborted on drop.
    accept_loop: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards each connection to `upstream`, in
    /// `Pass` mode. Must be called within a Tokio runtime, which runs the proxy.
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (mode, _) = watch::channel(FaultMode::Pass);
        let counters = Arc::new(ProxyCounters::default());
        let accept_loop = tokio::spawn(accept_loop(
            listener,
            upstream,
            mode.subscribe(),
            counters.clone(),
        ));
        Ok(FaultProxy {
            addr,
            upstream,
            mode,
            counters,
            accept_loop,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address connections are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Switches the mode; open connections follow at once.
    pub fn set_mode(&self, mode: FaultMode) {
        self.mode.send_replace(mode);
    }

    /// The mode in force.
    pub fn mode(&self) -> FaultMode {
        *self.mode.borrow()
    }

    /// What the proxy has done so far.
    pub fn counters(&self) -> &ProxyCounters {
        &self.counters
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
        // The connections end when they see the mode's sender gone.
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<FaultMode>,
    counters: Arc<ProxyCounters>,
) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(client, upstream, mode.clone(), counters.clone()));
            }
            // Out of file descriptors and the like: try again shortly.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Whether a connection goes on or is to be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    Go,
    Close,
}

/// Serves one client connection: dials the upstream (as the mode allows) and
/// pumps both ways until either side closes or the mode resets it.
async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<FaultMode>,
    counters: Arc<ProxyCounters>,
) {
    if gate(&mut mode, Stage::Connect).await == Gate::Close {
        reset(&[&client], &counters);
        return;
    }
    let server = tokio::select! {
        server = TcpStream::connect(upstream) => server,
        _ = reset_ordered(&mut mode) => {
            reset(&[&client], &counters);
            return;
        }
    };
    let Ok(server) = server else {
        // The upstream refused: so does the proxy, as a reset.
        reset(&[&client], &counters);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // One way may end cleanly (a half-close) while the other goes on; a reset
    // either way ends both.
    let ended = {
        let up = pump(&mut client_read, &mut server_write, mode.clone(), &counters);
        let down = pump(&mut server_read, &mut client_write, mode, &counters);
        tokio::pin!(up, down);
        let (first, up_goes_on) = tokio::select! {
            first = &mut up => (first, false),
            first = &mut down => (first, true),
        };
        match (first, up_goes_on) {
            (Gate::Close, _) => Gate::Close,
            (Gate::Go, true) => up.await,
            (Gate::Go, false) => down.await,
        }
    };
    if ended == Gate::Close {
        reset(&[client_write.as_ref(), server_write.as_ref()], &counters);
    }
}

/// Copies `from` to `to` chunk by chunk, each chunk let through by the mode.
/// Returns `Go` when `from` ended cleanly (and `to` was shut down in turn), `Close`
/// when the connection is to be reset.
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    mut mode: watch::Receiver<FaultMode>,
    counters: &ProxyCounters,
) -> Gate {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut chunk) => read,
            _ = reset_ordered(&mut mode) => return Gate::Close,
        };
        let n = match read {
            Ok(0) => {
                let _ = to.shutdown().await;
                return Gate::Go;
            }
            Ok(n) => n,
            Err(_) => return Gate::Close,
        };
        if gate(&mut mode, Stage::Chunk).await == Gate::Close {
            return Gate::Close;
        }
        let written = tokio::select! {
            written = to.write_all(&chunk[..n]) => written,
            _ = reset_ordered(&mut mode) => return Gate::Close,
        };
        if written.is_err() {
            return Gate::Close;
        }
        counters
            .forwarded_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// What the mode is consulted for: a new connection, or a chunk.
#[derive(Clone, Copy, Debug)]
enum Stage {
    Connect,
    Chunk,
}

/// Waits until the mode lets the connection go on (after its latency, or once a
/// blackhole lifts), or says it is to be closed.
async fn gate(mode: &mut watch::Receiver<FaultMode>, stage: Stage) -> Gate {
    loop {
        let current = *mode.borrow_and_update();
        match current {
            FaultMode::Pass => return Gate::Go,
            FaultMode::Reset => return Gate::Close,
            FaultMode::Latency {
                per_chunk,
                on_connect,
            } => {
                let delay = match stage {
                    Stage::Connect => on_connect,
                    Stage::Chunk => per_chunk,
                };
                return tokio::select! {
                    _ = tokio::time::sleep(delay) => Gate::Go,
                    _ = reset_ordered(mode) => Gate::Close,
                };
            }
            FaultMode::Blackhole => {
                if mode.changed().await.is_err() {
                    return Gate::Close;
                }
            }
        }
    }
}

/// Returns once the mode is `Reset`, or the proxy is gone.
async fn reset_ordered(mode: &mut watch::Receiver<FaultMode>) {
    loop {
        if *mode.borrow_and_update() == FaultMode::Reset {
            return;
        }
        if mode.changed().await.is_err() {
            return;
        }
    }
}

/// Closes with a reset rather than a FIN: the sockets are dropped by the caller
/// right after, with a zero linger.
fn reset(sockets: &[&TcpStream], counters: &ProxyCounters) {
    for socket in sockets {
        let _ = socket.set_zero_linger();
    }
    counters.reset.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests;
