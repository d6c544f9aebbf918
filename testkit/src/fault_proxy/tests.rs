//! The fault proxy's modes, each against an echo server on loopback: what a
//! client sees through it, and when.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// How long a test waits for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);
/// How long a test waits for something that must happen.
const SOON: Duration = Duration::from_secs(3);

/// An echo server on `127.0.0.1:0`: every byte read is written back.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Sends `message` and reads back as many bytes, within `within`.
async fn round_trip(stream: &mut TcpStream, message: &[u8], within: Duration) -> Option<Vec<u8>> {
    stream.write_all(message).await.ok()?;
    let mut back = vec![0u8; message.len()];
    match tokio::time::timeout(within, stream.read_exact(&mut back)).await {
        Ok(Ok(_)) => Some(back),
        _ => None,
    }
}

/// What a read on a connection comes to within `within`.
#[derive(Debug, PartialEq)]
enum ReadEnd {
    /// Closed: end of stream or a reset.
    Closed,
    /// Nothing at all: still open, silent.
    Silent,
    Data,
}

async fn read_end(stream: &mut TcpStream, within: Duration) -> ReadEnd {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Err(_) => ReadEnd::Silent,
        Ok(Ok(0) | Err(_)) => ReadEnd::Closed,
        Ok(Ok(_)) => ReadEnd::Data,
    }
}

#[tokio::test]
async fn pass_forwards_both_ways_and_counts() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    assert_eq!(proxy.mode(), FaultMode::Pass);
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let back = round_trip(&mut stream, b"hello", SOON).await;
    assert_eq!(back.as_deref(), Some(&b"hello"[..]));
    assert_eq!(proxy.counters().accepted.load(Ordering::Relaxed), 1);
    // Counted once written on: the echo may be read a moment before.
    let counted = crate::wait_until(SOON, Duration::from_millis(5), || {
        proxy.counters().forwarded_bytes.load(Ordering::Relaxed) == 10
    })
    .await;
    assert!(counted, "{:?}", proxy.counters());
    assert_eq!(proxy.counters().reset.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn latency_delays_every_chunk_and_every_new_connection() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut open, b"warm", SOON).await.unwrap();
    let delay = Duration::from_millis(150);
    proxy.set_mode(FaultMode::Latency {
        per_chunk: delay,
        on_connect: Duration::ZERO,
    });
    // The request and its echo each wait once.
    let sent = Instant::now();
    assert!(round_trip(&mut open, b"slow", SOON).await.is_some());
    let took = sent.elapsed();
    assert!(took >= 2 * delay, "round trip took {took:?}");

    proxy.set_mode(FaultMode::Latency {
        per_chunk: Duration::ZERO,
        on_connect: Duration::from_millis(400),
    });
    let sent = Instant::now();
    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(round_trip(&mut new, b"late", SOON).await.is_some());
    let took = sent.elapsed();
    assert!(took >= Duration::from_millis(400), "took {took:?}");

    proxy.set_mode(FaultMode::Pass);
    let sent = Instant::now();
    assert!(round_trip(&mut open, b"fast", SOON).await.is_some());
    assert!(sent.elapsed() < delay, "took {:?}", sent.elapsed());
}

#[tokio::test]
async fn reset_closes_open_connections_and_resets_new_ones_until_it_passes_again() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut open, b"before", SOON).await.unwrap();

    proxy.set_mode(FaultMode::Reset);
    assert_eq!(read_end(&mut open, SOON).await, ReadEnd::Closed);
    // A new connection is accepted, then closed at once, unanswered.
    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(round_trip(&mut new, b"refused", SOON).await.is_none());
    assert!(proxy.counters().reset.load(Ordering::Relaxed) >= 2);

    proxy.set_mode(FaultMode::Pass);
    let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
    let back = round_trip(&mut again, b"after", SOON).await;
    assert_eq!(back.as_deref(), Some(&b"after"[..]));
}

#[tokio::test]
async fn blackhole_accepts_but_never_forwards_nor_closes_and_delivers_late_once_healed() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut open, b"before", SOON).await.unwrap();

    proxy.set_mode(FaultMode::Blackhole);
    open.write_all(b"held").await.unwrap();
    assert_eq!(read_end(&mut open, QUIET).await, ReadEnd::Silent);
    // A new connection is accepted and left hanging too.
    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    new.write_all(b"also").await.unwrap();
    assert_eq!(read_end(&mut new, QUIET).await, ReadEnd::Silent);
    let forwarded = proxy.counters().forwarded_bytes.load(Ordering::Relaxed);
    assert_eq!(forwarded, 12, "only the bytes before the blackhole");

    // Healed: what was held arrives, on both connections.
    proxy.set_mode(FaultMode::Pass);
    let mut back = [0u8; 4];
    tokio::time::timeout(SOON, open.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"held");
    tokio::time::timeout(SOON, new.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"also");
}

#[tokio::test]
async fn a_blackholed_connection_is_reset_when_the_mode_turns_to_reset() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    proxy.set_mode(FaultMode::Blackhole);
    open.write_all(b"held").await.unwrap();
    assert_eq!(read_end(&mut open, QUIET).await, ReadEnd::Silent);
    proxy.set_mode(FaultMode::Reset);
    assert_eq!(read_end(&mut open, SOON).await, ReadEnd::Closed);
}

#[tokio::test]
async fn a_closed_upstream_closes_the_client_and_dropping_the_proxy_closes_everything() {
    // Nothing listens on the upstream address.
    let gone = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let gone_addr = gone.local_addr().unwrap();
    drop(gone);
    let proxy = FaultProxy::start(gone_addr).await.unwrap();
    let mut refused = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(read_end(&mut refused, SOON).await, ReadEnd::Closed);

    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut open, b"x", SOON).await.unwrap();
    let addr = proxy.addr();
    drop(proxy);
    assert_eq!(read_end(&mut open, SOON).await, ReadEnd::Closed);
    // The port no longer accepts (or, if the accept loop had not stopped yet,
    // closes at once).
    if let Ok(mut late) = TcpStream::connect(addr).await {
        assert_eq!(read_end(&mut late, SOON).await, ReadEnd::Closed);
    }
}
