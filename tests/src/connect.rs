//! How tests connect to nodes: plaintext or TLS (trusting the test fleet's CA,
//! with or without a client certificate), with or without a bearer token, and
//! only ever to loopback addresses.

use std::net::SocketAddr;
use std::time::Duration;

use fenliu_proto::v1::routing_client::RoutingClient;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::auth::BearerToken;
use crate::calls::Client;

/// Connects to a server on loopback (plaintext, no token).
pub async fn connect(address: SocketAddr) -> Client {
    connect_to(address, None, None).await
}

/// Connects to a server on loopback, sending `token` with every call.
pub async fn connect_with_token(address: SocketAddr, token: Option<&str>) -> Client {
    connect_to(address, None, token).await
}

/// Connects to a server on loopback, over TLS with `tls` when given, sending
/// `token` with every call.
pub async fn connect_to(
    address: SocketAddr,
    tls: Option<ClientTlsConfig>,
    token: Option<&str>,
) -> Client {
    let bearer = BearerToken::new(token).expect("a token is metadata");
    let channel = try_channel(address, tls)
        .await
        .unwrap_or_else(|error| panic!("connect to {address}: {error}"));
    RoutingClient::with_interceptor(channel, bearer)
}

/// A connected plaintext channel to a server on loopback, for hand-made calls.
pub async fn channel(address: SocketAddr) -> Channel {
    try_channel(address, None)
        .await
        .unwrap_or_else(|error| panic!("connect to {address}: {error}"))
}

/// A connected channel, or why it could not be made (a refused handshake).
pub async fn try_channel(
    address: SocketAddr,
    tls: Option<ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    assert!(
        address.ip().is_loopback(),
        "tests only use loopback addresses"
    );
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
        .expect("a valid endpoint")
        .connect_timeout(Duration::from_secs(2));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls)?;
    }
    endpoint.connect().await
}
