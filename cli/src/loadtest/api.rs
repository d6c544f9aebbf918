//! The gRPC side of `fenliu loadtest`: the `--connections` HTTP/2 connections
//! to `--addr`, used round-robin, and every call's deadline, sent to the server
//! and enforced on this side a little later.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use fenliu_proto::v1::routing_client::RoutingClient;

use super::args::LoadtestArgs;
use crate::client::ApiClient;

/// How much longer than the deadline it sends this side waits for an answer.
/// The server's own deadline normally ends a late call first, with an answer;
/// a call given up here is reset instead, and a client resetting many streams
/// gets its HTTP/2 connection closed by the h2 crate's reset limits (on
/// either side), failing every call on it.
pub const CLIENT_GRACE: Duration = Duration::from_secs(1);

/// Opens `count` connections to `--addr` (`--connections` for the load; the
/// flood shop's client has one of its own, as another tenant would). Every call
/// carries `--token` when one is given.
pub async fn connect(args: &LoadtestArgs, count: usize) -> anyhow::Result<Vec<ApiClient>> {
    let bearer = args.caller.bearer()?;
    let endpoint = args
        .caller
        .endpoint(&args.addr)?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    let mut clients = Vec::with_capacity(count);
    // One Endpoint::connect per client: each is its own HTTP/2 connection.
    for _ in 0..count {
        let channel = endpoint.connect().await.with_context(|| {
            format!(
                "cannot connect to {} (is a fenliu dispatcher or worker listening there?)",
                args.addr
            )
        })?;
        clients.push(RoutingClient::with_interceptor(channel, bearer.clone()));
    }
    Ok(clients)
}

/// The connections to `--addr`, used round-robin, and the calls' deadline.
#[derive(Debug, Clone)]
pub struct Api {
    /// One client per HTTP/2 connection, so that the load is spread over them.
    clients: Arc<[ApiClient]>,
    /// Calls handed a client so far, shared by the clones: the round-robin's
    /// position.
    next_client: Arc<AtomicUsize>,
    /// `--timeout-ms`: the deadline sent with every call.
    timeout: Duration,
}

impl Api {
    /// Calls over `clients` in turn, each with the deadline `timeout`.
    pub fn new(clients: Vec<ApiClient>, timeout: Duration) -> Api {
        Api {
            clients: clients.into(),
            next_client: Arc::new(AtomicUsize::new(0)),
            timeout,
        }
    }

    /// The next connection, round-robin.
    pub fn client(&self) -> ApiClient {
        let i = self.next_client.fetch_add(1, Ordering::Relaxed);
        self.clients[i % self.clients.len()].clone()
    }

    /// A request carrying the deadline, so that a dispatcher forwards it.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeout);
        request
    }

    /// A call bounded on this side too, a little after its deadline.
    pub async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        match tokio::time::timeout(self.timeout + CLIENT_GRACE, call).await {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                "no answer within --timeout-ms {}",
                self.timeout.as_millis()
            ))),
        }
    }
}
