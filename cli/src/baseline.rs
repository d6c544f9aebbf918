//! The speed-of-light baseline for benchmarks: the least work any design with a
//! dispatcher hop and one Redis round trip per decision must do.
//!
//! - `fenliu baseline-server`: serves `fenliu.v1.Routing`; every call makes one
//!   `EVALSHA` of a trivial script (it increments a counter in one key of the
//!   shop's slot) and answers with a fixed, well-formed reply. No rules, no state.
//! - `fenliu baseline-proxy`: serves `fenliu.v1.Routing` by forwarding each call
//!   to one upstream over one lazily connected channel. No shard map, no retries.
//!
//! Driving this chain and fenliu with the same `fenliu loadtest` settings, in one
//! run on one machine, gives the ratio the benchmark reports.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use fenliu_dispatcher::WorkerDialer;
use fenliu_node::redis_connection::RedisConnection;
use fenliu_node::telemetry;
use fenliu_node::tls::TlsOptions;
use fenliu_node::tls::identity::Callers;
use fenliu_node::transport::serve_routes;
use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_client::RoutingClient;
use fenliu_proto::v1::routing_server::{Routing, RoutingServer};
use redis::Script;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// The trivial script: one key of the shop's slot, one increment.
const TRIVIAL_SCRIPT: &str = "return redis.call('INCR', KEYS[1])";

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:50161")]
    pub listen: SocketAddr,
    /// The Redis each call makes its one round trip to.
    #[arg(long, env = "FENLIU_REDIS_URL", value_delimiter = ',', required = true)]
    pub redis_url: Vec<String>,
    /// With a rediss:// URL: the CA bundle the Redis certificate is checked against.
    #[arg(long, env = "FENLIU_REDIS_CA")]
    pub redis_ca: Option<std::path::PathBuf>,
    /// TLS as a worker has it (mutual: only the fleet's proxy gets in).
    #[command(flatten)]
    pub tls: TlsOptions,
}

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:50151")]
    pub listen: SocketAddr,
    /// The baseline server to forward to.
    #[arg(long, default_value = "http://127.0.0.1:50161")]
    pub upstream: String,
    /// TLS as a dispatcher has it: toward callers, and mutual to the server.
    #[command(flatten)]
    pub tls: TlsOptions,
}

/// Serves `Routing` with one EVALSHA per call.
#[derive(Debug, Clone)]
struct BaselineServer {
    /// The Redis each call makes its one round trip to.
    redis: RedisConnection,
    /// The one script each call runs, as cheap as a real commit can be.
    script: std::sync::Arc<Script>,
}

impl BaselineServer {
    async fn one_round_trip(&self, shop_id: &str) -> Result<(), Status> {
        let mut connection = self.redis.clone();
        let _: i64 = self
            .script
            .key(format!("baseline:{{{shop_id}}}:calls"))
            .invoke_async(&mut connection)
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        Ok(())
    }
}

fn fixed_session(buyer_id: &str) -> pb::Session {
    pb::Session {
        session_id: 1,
        buyer_id: buyer_id.to_owned(),
        state: pb::SessionState::Assigned as i32,
        account_id: "baseline".to_owned(),
        reason: pb::RouteReason::Even as i32,
        ..Default::default()
    }
}

/// Each unary call: one round trip, then a fixed reply built from the request.
macro_rules! baseline_impl {
    ($($method:ident($request:ty) -> $response:ty = |$req:ident| $reply:expr;)*) => {
        #[tonic::async_trait]
        impl Routing for BaselineServer {
            $(
                async fn $method(&self, request: Request<$request>) -> Result<Response<$response>, Status> {
                    let $req = request.into_inner();
                    self.one_round_trip(&$req.shop_id).await?;
                    Ok(Response::new($reply))
                }
            )*

            type WatchShopStream = ReceiverStream<Result<pb::ShopEvent, Status>>;

            async fn watch_shop(
                &self,
                _request: Request<pb::WatchShopRequest>,
            ) -> Result<Response<Self::WatchShopStream>, Status> {
                Err(Status::unimplemented("the baseline has no events"))
            }
        }
    };
}

baseline_impl! {
    upsert_shop(pb::UpsertShopRequest) -> pb::Shop = |r| pb::Shop { shop_id: r.shop_id, ..Default::default() };
    get_shop(pb::GetShopRequest) -> pb::Shop = |r| pb::Shop { shop_id: r.shop_id, ..Default::default() };
    upsert_account(pb::UpsertAccountRequest) -> pb::Account = |r| pb::Account { account_id: r.account_id, ..Default::default() };
    remove_account(pb::RemoveAccountRequest) -> pb::RemoveAccountResponse = |_r| pb::RemoveAccountResponse {};
    upsert_group(pb::UpsertGroupRequest) -> pb::Group = |r| pb::Group { name: r.name, ..Default::default() };
    remove_group(pb::RemoveGroupRequest) -> pb::RemoveGroupResponse = |_r| pb::RemoveGroupResponse {};
    set_account_status(pb::SetAccountStatusRequest) -> pb::AccountState = |r| pb::AccountState { status: r.status, ..Default::default() };
    heartbeat(pb::HeartbeatRequest) -> pb::HeartbeatResponse = |_r| pb::HeartbeatResponse::default();
    route(pb::RouteRequest) -> pb::RouteResponse = |r| pb::RouteResponse {
        session: Some(fixed_session(&r.buyer_id)),
        reason: pb::RouteReason::Even as i32,
        explanation: String::new(),
        replayed: false,
        candidates: Vec::new(),
    };
    end_session(pb::EndSessionRequest) -> pb::Session = |_r| fixed_session("");
    transfer(pb::TransferRequest) -> pb::Session = |_r| fixed_session("");
    pull_queued(pb::PullQueuedRequest) -> pb::Session = |_r| fixed_session("");
    get_session(pb::GetSessionRequest) -> pb::Session = |_r| fixed_session("");
    get_shop_state(pb::GetShopStateRequest) -> pb::ShopState = |_r| pb::ShopState::default();
    record_reply(pb::RecordReplyRequest) -> pb::Session = |_r| fixed_session("");
}

/// Forwards `Routing` to one upstream.
#[derive(Debug, Clone)]
struct BaselineProxy {
    /// The baseline server every call is forwarded to.
    upstream: RoutingClient<Channel>,
}

macro_rules! proxy_impl {
    ($($method:ident($request:ty) -> $response:ty;)*) => {
        #[tonic::async_trait]
        impl Routing for BaselineProxy {
            $(
                async fn $method(&self, request: Request<$request>) -> Result<Response<$response>, Status> {
                    self.upstream.clone().$method(Request::new(request.into_inner())).await
                }
            )*

            type WatchShopStream = ReceiverStream<Result<pb::ShopEvent, Status>>;

            async fn watch_shop(
                &self,
                _request: Request<pb::WatchShopRequest>,
            ) -> Result<Response<Self::WatchShopStream>, Status> {
                Err(Status::unimplemented("the baseline has no events"))
            }
        }
    };
}

proxy_impl! {
    upsert_shop(pb::UpsertShopRequest) -> pb::Shop;
    get_shop(pb::GetShopRequest) -> pb::Shop;
    upsert_account(pb::UpsertAccountRequest) -> pb::Account;
    remove_account(pb::RemoveAccountRequest) -> pb::RemoveAccountResponse;
    upsert_group(pb::UpsertGroupRequest) -> pb::Group;
    remove_group(pb::RemoveGroupRequest) -> pb::RemoveGroupResponse;
    set_account_status(pb::SetAccountStatusRequest) -> pb::AccountState;
    heartbeat(pb::HeartbeatRequest) -> pb::HeartbeatResponse;
    route(pb::RouteRequest) -> pb::RouteResponse;
    end_session(pb::EndSessionRequest) -> pb::Session;
    transfer(pb::TransferRequest) -> pb::Session;
    pull_queued(pb::PullQueuedRequest) -> pb::Session;
    get_session(pb::GetSessionRequest) -> pb::Session;
    get_shop_state(pb::GetShopStateRequest) -> pb::ShopState;
    record_reply(pb::RecordReplyRequest) -> pb::Session;
}

pub async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    telemetry::init_logging(false);
    let access = fenliu_node::redis_connection::RedisAccess {
        ca_file: args.redis_ca.clone(),
        ..Default::default()
    };
    let redis = RedisConnection::connect_with(&args.redis_url, access, Duration::from_millis(500))
        .await
        .context("--redis-url: cannot connect")?;
    let server = BaselineServer {
        redis,
        script: std::sync::Arc::new(Script::new(TRIVIAL_SCRIPT)),
    };
    tracing::info!(listen = %args.listen, "baseline server: one EVALSHA per call");
    serve(
        args.listen,
        Routes::new(RoutingServer::new(server)),
        &args.tls,
        Callers::Peers,
    )
    .await
}

pub async fn run_proxy(args: ProxyArgs) -> anyhow::Result<()> {
    telemetry::init_logging(false);
    // The same dialer a dispatcher uses: plaintext, or mutual TLS.
    let upstream = WorkerDialer::new(args.tls.tls()?)
        .dial(&args.upstream)
        .context("--upstream")?;
    let proxy = BaselineProxy {
        upstream: RoutingClient::new(upstream.channel),
    };
    tracing::info!(listen = %args.listen, upstream = %args.upstream, "baseline proxy");
    serve(
        args.listen,
        Routes::new(RoutingServer::new(proxy)),
        &args.tls,
        Callers::Anyone,
    )
    .await
}

/// Serves `routes` on `listen`, with TLS as `tls` says, until SIGTERM or Ctrl-C:
/// the same transport fenliu's nodes use.
async fn serve(
    listen: SocketAddr,
    routes: Routes,
    tls: &TlsOptions,
    callers: Callers,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("--listen {listen}"))?;
    let tls = tls.tls()?;
    serve_routes(
        listener,
        routes,
        1024,
        tls.as_ref(),
        callers,
        fenliu_node::shutdown::requested_by_os(),
    )
    .await?;
    Ok(())
}
