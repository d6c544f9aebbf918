//! How every fenliu server accepts connections and serves its routes. Servers take
//! an already-bound listener (tests bind `127.0.0.1:0`) and serve plaintext, or
//! TLS when the node has an identity ([`crate::tls`]).

use std::future::Future;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::tls::Tls;
use crate::tls::acceptor::tls_incoming;
use crate::tls::identity::Callers;

/// The connections accepted on `listener`, with Nagle's algorithm off: a gRPC
/// answer is small and must leave at once, not wait for the peer's delayed ACK
/// (a 40 ms stall). tonic does this itself only when it binds the listener.
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Streams a peer may reset before the server accepted them, at once, before
/// its connection is closed (h2's default: 20).
pub const PENDING_ACCEPT_RESETS: usize = 256;

/// Serves `routes` on `listener` until `shutdown` resolves, then returns once the
/// calls in flight are done. `streams`: concurrent HTTP/2 streams per connection.
/// With `tls`, connections are TLS (client certificates as `callers` need) and
/// are closed gracefully after the TLS connection age, so that rotated
/// certificates reach long-lived connections too.
pub async fn serve_routes(
    listener: TcpListener,
    routes: Routes,
    streams: u32,
    tls: Option<&Tls>,
    callers: Callers,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    // h2 closes a connection (GOAWAY) once its peer has reset 20 streams the
    // server had not accepted yet (its guard against "rapid reset" floods).
    // An overloaded node falls behind in accepting, and callers whose
    // deadlines run out reset exactly those streams: at 20 every call on the
    // connection failed `UNKNOWN "transport error"` and the load turned into
    // reconnections (seen in `scripts/bench`'s overload row). A few hundred
    // keeps the guard (a flood holds at most that many reset streams besides
    // those it may have open) while a burst of expired deadlines passes.
    let mut builder = Server::builder()
        .max_concurrent_streams(streams)
        .http2_max_pending_accept_reset_streams(Some(PENDING_ACCEPT_RESETS));
    match tls {
        None => {
            builder
                .add_routes(routes)
                .serve_with_incoming_shutdown(incoming(listener), shutdown)
                .await
        }
        Some(tls) => {
            builder
                .max_connection_age(tls.max_connection_age)
                .max_connection_age_grace(tls.connection_age_grace())
                .add_routes(routes)
                .serve_with_incoming_shutdown(
                    tls_incoming(listener, tls.identity.clone(), callers),
                    shutdown,
                )
                .await
        }
    }
}
