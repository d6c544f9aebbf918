//! Serving a worker: takes an already-bound listener and any shutdown future, so
//! the binary, `fenliu dev` and the tests all start it the same way (tests bind
//! `127.0.0.1:0`).

use std::future::Future;
use std::sync::Arc;

use fenliu_node::ShutdownSignal;
use fenliu_node::probes;
use fenliu_node::transport::incoming;
use fenliu_node::undecodable::RefuseUndecodable;
use fenliu_proto::internal::v1::worker_link_server::WorkerLinkServer;
use fenliu_proto::v1::routing_server::RoutingServer;
use tokio::net::TcpListener;
use tonic::service::RoutesBuilder;

use crate::grpc::RoutingService;
use crate::grpc::link::LinkService;
use crate::ownership::ShardOwnership;
use crate::router::{Persistence, Router, SoleOwner, SystemClock};

/// A router on the embedded (in-memory) default with the wall clock.
pub fn embedded_router() -> Arc<Router> {
    Router::new(
        Persistence::Memory,
        Arc::new(SoleOwner),
        Arc::new(SystemClock),
    )
}

/// Serves the routing API on `listener` until `shutdown` resolves, then stops
/// accepting calls, ends event streams, and returns once calls in flight are done.
pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    serve_worker(listener, router, None, shutdown).await
}

/// [`serve`], for a worker among many: `ownership` keeps its membership and shard
/// leases while it serves. On shutdown the worker first stops serving its shards
/// and releases their leases (so that others take them at once), then drains.
pub async fn serve_worker(
    listener: TcpListener,
    router: Arc<Router>,
    ownership: Option<Arc<ShardOwnership>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (stopping, raise_stopping) = ShutdownSignal::new();
    let timers = tokio::spawn(router.clone().run_timers(stopping.clone().raised()));
    let ready_ownership = ownership.clone();
    let leases = ownership
        .map(|ownership| tokio::spawn(ownership.run(router.clone(), stopping.clone().raised())));
    let service = RoutingService::new(router, stopping.clone());
    let address = listener.local_addr().ok();
    tracing::info!(?address, "worker serving fenliu.v1.Routing");
    let mut routes = RoutesBuilder::default();
    routes.add_service(WorkerLinkServer::new(LinkService::new(
        service.clone(),
        stopping.clone(),
    )));
    routes.add_service(RefuseUndecodable::new(RoutingServer::new(service)));
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
    let result = tonic::transport::Server::builder()
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(incoming(listener), async move {
            shutdown.await;
            tracing::info!("worker draining");
            raise_stopping();
        })
        .await;
    let _ = timers.await;
    let _ = readiness.await;
    if let Some(leases) = leases {
        let _ = leases.await;
    }
    tracing::info!("worker stopped");
    result
}
