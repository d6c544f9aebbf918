//! How the `fenliu` commands that call a node connect: its address, and the
//! bearer token sent with every call when the node has authentication on.

use fenliu_node::auth::client::BearerToken;
use fenliu_proto::v1::routing_client::RoutingClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// A client of the `fenliu.v1.Routing` API that sends the caller's token.
pub type ApiClient = RoutingClient<InterceptedService<Channel, BearerToken>>;

/// The token flag every calling command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TokenArg {
    /// Bearer token sent with every call (when the node has authentication on;
    /// `fenliu auth token` makes one for trying it).
    #[arg(long, env = "FENLIU_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl TokenArg {
    /// The interceptor sending this token, or why the token cannot be sent.
    pub fn bearer(&self) -> anyhow::Result<BearerToken> {
        BearerToken::new(self.token.as_deref())
            .map_err(|_| anyhow::anyhow!("--token (FENLIU_TOKEN): not a valid header value"))
    }
}

/// Connects to `addr` (e.g. `http://127.0.0.1:50051`), sending `token`.
pub async fn connect(addr: &str, token: &TokenArg) -> anyhow::Result<ApiClient> {
    let channel = Endpoint::from_shared(addr.to_owned())?.connect().await?;
    Ok(RoutingClient::with_interceptor(channel, token.bearer()?))
}
