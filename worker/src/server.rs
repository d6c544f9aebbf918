//! Serving a worker: takes an already-bound listener and any shutdown future, so
//! the binary, `fenliu dev` and the tests all start it the same way (tests bind
//! `127.0.0.1:0`).

use std::future::Future;
use std::sync::Arc;

use fenliu_proto::internal::v1::worker_link_server::WorkerLinkServer;
use fenliu_proto::v1::routing_server::RoutingServer;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;
use tonic::service::RoutesBuilder;

use crate::cluster::ownership::ShardOwnership;
use crate::grpc::RoutingService;
use crate::grpc::link::LinkService;
use crate::probes;
use crate::router::{Persistence, Router, SoleOwner, SystemClock};

/// Tells long-lived streams (WatchShop) that the node is stopping, so that a
/// graceful shutdown is not held open by subscribers.
#[derive(Clone, Debug)]
pub struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// A signal and the function that raises it.
    pub fn new() -> (ShutdownSignal, impl FnOnce()) {
        let (sender, receiver) = watch::channel(false);
        (ShutdownSignal(receiver), move || {
            let _ = sender.send(true);
        })
    }

    /// Resolves once shutdown begins.
    pub async fn raised(mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// Forwards a response stream until it ends, fails, or the node begins to stop; on
/// stopping, the stream ends with `UNAVAILABLE` so that the client reconnects
/// (to this node's successor). A gRPC stream ends after its first error, so this
/// one does too.
pub fn until_shutdown<T, S>(
    mut stream: S,
    stopping: ShutdownSignal,
) -> ReceiverStream<Result<T, Status>>
where
    T: Send + 'static,
    S: Stream<Item = Result<T, Status>> + Send + Unpin + 'static,
{
    let (sender, receiver) = mpsc::channel(64);
    tokio::spawn(async move {
        let stopping = stopping.raised();
        tokio::pin!(stopping);
        loop {
            let item = tokio::select! {
                () = &mut stopping => {
                    let _ = sender
                        .send(Err(Status::unavailable("the node is shutting down; reconnect")))
                        .await;
                    return;
                }
                () = sender.closed() => return,
                item = stream.next() => item,
            };
            let Some(item) = item else { return };
            let is_error = item.is_err();
            if sender.send(item).await.is_err() || is_error {
                return;
            }
        }
    });
    ReceiverStream::new(receiver)
}

/// The connections accepted on `listener`, with Nagle's algorithm off: a gRPC
/// answer is small and must leave at once, not wait for the peer's delayed ACK
/// (a 40 ms stall). tonic does this itself only when it binds the listener.
pub fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

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
    routes.add_service(RoutingServer::new(service));
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
