//! Serving a worker: takes an already-bound listener and any shutdown future, so
//! the binary, `fenliu dev` and the tests all start it the same way (tests bind
//! `127.0.0.1:0`).

use std::future::Future;
use std::sync::Arc;

use fenliu_node::metrics::Role;
use fenliu_node::metrics::rpc::MeasuredRpcs;
use fenliu_node::probes;
use fenliu_node::server_limits::WORKER_CONCURRENT_STREAMS;
use fenliu_node::tls::Tls;
use fenliu_node::tls::identity::Callers;
use fenliu_node::transport::serve_routes;
use fenliu_node::undecodable::RefuseUndecodable;
use fenliu_node::versions::Versions;
use fenliu_node::{ServerLimits, ShutdownSignal};
use fenliu_proto::internal::v1::worker_link_server::WorkerLinkServer;
use fenliu_proto::v1::routing_server::RoutingServer;
use tokio::net::TcpListener;
use tonic::service::RoutesBuilder;

use crate::grpc::RoutingService;
use crate::grpc::access::Access;
use crate::grpc::link::LinkService;
use crate::ownership::ShardOwnership;
use crate::router::{Persistence, Quotas, Router, SoleOwner, SystemClock};

/// A router on the embedded (in-memory) default with the wall clock.
pub fn embedded_router() -> Arc<Router> {
    embedded_router_with(Quotas::default())
}

/// [`embedded_router`] with the deployment's `quotas`.
pub fn embedded_router_with(quotas: Quotas) -> Arc<Router> {
    Router::with_quotas(
        Persistence::Memory,
        Arc::new(SoleOwner),
        Arc::new(SystemClock),
        quotas,
    )
}

/// Serves the routing API on `listener` until `shutdown` resolves, then stops
/// accepting calls, ends event streams, and returns once calls in flight are done.
pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    serve_worker(listener, router, ServeOptions::default(), shutdown).await
}

/// What a worker serves with besides its router.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// For a worker among many: keeps its membership and shard leases while it
    /// serves. `None`: the embedded default, which serves every shop.
    pub ownership: Option<Arc<ShardOwnership>>,
    /// Who may call (authentication off by default).
    pub access: Access,
    /// Per-connection limits: concurrent streams, the size of a request.
    pub limits: ServerLimits,
    /// TLS (mutual: callers must be the fleet's dispatchers); `None`: plaintext.
    pub tls: Option<Tls>,
    /// The link versions it accepts from dispatchers (this build's by default;
    /// the next release's for tests of rolling upgrades).
    pub versions: Versions,
}

/// [`serve`], with `options`. A worker among many first stops serving its shards
/// on shutdown and releases their leases (so that others take them at once),
/// then drains.
pub async fn serve_worker(
    listener: TcpListener,
    router: Arc<Router>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let ServeOptions {
        ownership,
        access,
        limits,
        tls,
        versions,
    } = options;
    let (stopping, raise_stopping) = ShutdownSignal::new();
    let timers = tokio::spawn(router.clone().run_timers(stopping.clone().raised()));
    let ready_ownership = ownership.clone();
    let leases = ownership
        .map(|ownership| tokio::spawn(ownership.run(router.clone(), stopping.clone().raised())));
    let service = RoutingService::new(router, stopping.clone(), access);
    let address = listener.local_addr().ok();
    tracing::info!(?address, "worker serving fenliu.v1.Routing");
    let mut routes = RoutesBuilder::default();
    let streams = limits.concurrent_streams(WORKER_CONCURRENT_STREAMS);
    let (request_bytes, link_call_bytes) = (limits.request_bytes(), limits.link_call_bytes());
    routes.add_service(
        WorkerLinkServer::new(LinkService::new(
            service.clone(),
            stopping.clone(),
            limits,
            versions.link,
        ))
        .max_decoding_message_size(link_call_bytes),
    );
    routes.add_service(MeasuredRpcs::new(
        Role::Worker,
        RefuseUndecodable::new(
            RoutingServer::new(service).max_decoding_message_size(request_bytes),
        ),
    ));
    let reporter = probes::add_standard_services(&mut routes);
    let readiness = tokio::spawn(probes::track_readiness(
        reporter,
        stopping.clone(),
        move || {
            ready_ownership
                .as_ref()
                .is_none_or(|ownership| ownership.is_ready())
        },
    ));
    // A worker's callers are the fleet's dispatchers: with TLS, only a client
    // certificate of the fleet CA gets a connection.
    let result = serve_routes(
        listener,
        routes.routes(),
        streams,
        tls.as_ref(),
        Callers::Peers,
        async move {
            shutdown.await;
            tracing::info!("worker draining");
            raise_stopping();
        },
    )
    .await;
    let _ = timers.await;
    let _ = readiness.await;
    if let Some(leases) = leases {
        let _ = leases.await;
    }
    tracing::info!("worker stopped");
    result
}
