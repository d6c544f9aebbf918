//! How every fenliu server accepts connections. Servers take an already-bound
//! listener (tests bind `127.0.0.1:0`), and this turns it into tonic's stream of
//! connections with the settings every node wants.

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// The connections accepted on `listener`, with Nagle's algorithm off: a gRPC
/// answer is small and must leave at once, not wait for the peer's delayed ACK
/// (a 40 ms stall). tonic does this itself only when it binds the listener.
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}
