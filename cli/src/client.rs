//! How the `fenliu` commands that call a node connect: its address (`https://`
//! for a node with TLS, trusting `--tls-ca`), and the bearer token sent with
//! every call when the node has authentication on.

use std::path::PathBuf;

use anyhow::Context;
use fenliu_node::auth::client::BearerToken;
use fenliu_proto::v1::routing_client::RoutingClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// A client of the `fenliu.v1.Routing` API that sends the caller's token.
pub type ApiClient = RoutingClient<InterceptedService<Channel, BearerToken>>;

/// What every calling command takes besides the address: who it is, and whom
/// it trusts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CallerArgs {
    /// Bearer token sent with every call (when the node has authentication on;
    /// `fenliu auth token` makes one for trying it).
    #[arg(long, env = "FENLIU_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// With an https:// address: the CA bundle (PEM) the node's certificate is
    /// verified against (`fenliu tls gen` writes one).
    #[arg(long = "tls-ca", env = "FENLIU_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
}

impl CallerArgs {
    /// The interceptor sending this token, or why the token cannot be sent.
    pub fn bearer(&self) -> anyhow::Result<BearerToken> {
        BearerToken::new(self.token.as_deref())
            .map_err(|_| anyhow::anyhow!("--token (FENLIU_TOKEN): not a valid header value"))
    }

    /// The endpoint of `addr`, with TLS when it is an https:// address.
    pub fn endpoint(&self, addr: &str) -> anyhow::Result<Endpoint> {
        let endpoint = Endpoint::from_shared(addr.to_owned())
            .with_context(|| format!("--addr: {addr} is not a valid URL"))?;
        if !addr.starts_with("https://") {
            return Ok(endpoint);
        }
        let mut tls = ClientTlsConfig::new();
        if let Some(path) = &self.tls_ca {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("--tls-ca {}", path.display()))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint.tls_config(tls).context("--tls-ca")
    }
}

/// Connects to `addr` (e.g. `http://127.0.0.1:50051`) as `caller`.
pub async fn connect(addr: &str, caller: &CallerArgs) -> anyhow::Result<ApiClient> {
    let channel = caller.endpoint(addr)?.connect().await?;
    Ok(RoutingClient::with_interceptor(channel, caller.bearer()?))
}
