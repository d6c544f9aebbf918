//! Serving over TLS: connections accepted on a bound listener, each handshake in a
//! task of its own (a slow or hostile client never holds up the next one), with
//! the identity's configuration of the moment, so that rotated certificates are
//! used from the next connection on. A handshake that fails (a plaintext client, a
//! client certificate of another CA, none where one is required) ends the
//! connection before any call is read.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use super::identity::{Callers, NodeTls};

/// The longest a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections that may wait for the server to take them.
const BACKLOG: usize = 128;

/// The TLS connections of `listener`, for tonic's `serve_with_incoming`. The
/// accept loop ends when the server stops taking connections.
pub fn tls_incoming(
    listener: TcpListener,
    tls: Arc<NodeTls>,
    callers: Callers,
) -> ReceiverStream<io::Result<TlsStream<TcpStream>>> {
    let (handshaken, incoming) = mpsc::channel(BACKLOG);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = handshaken.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // A gRPC answer is small and must leave at once (no Nagle delay).
            let _ = tcp.set_nodelay(true);
            let acceptor = TlsAcceptor::from(tls.server_config(callers));
            let handshaken = handshaken.clone();
            tokio::spawn(handshake(acceptor, tcp, peer, handshaken));
        }
    });
    ReceiverStream::new(incoming)
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    handshaken: mpsc::Sender<io::Result<TlsStream<TcpStream>>>,
) {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => {
            let _ = handshaken.send(Ok(stream)).await;
        }
        Ok(Err(error)) => {
            tracing::info!(%peer, %error, "TLS handshake refused");
        }
        Err(_) => {
            tracing::info!(%peer, "TLS handshake did not finish in time");
        }
    }
}
