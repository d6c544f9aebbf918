//! fenliu's dispatcher: a stateless front that serves the same `fenliu.v1.Routing`
//! API as a worker and forwards each call to the worker that serves the shop.
//!
//! - [`admission`]: verifying callers' tokens and cleaning their metadata.
//! - [`workers`]: where a shop's calls go — one fixed worker, or the owner of the
//!   shop's shard among the live workers registered in Redis.
//! - [`forward`]: the forwarding service: the caller's deadline and metadata
//!   (`traceparent`) carried on, retries that follow a shard to its new owner.
//! - [`link`]: unary calls to a worker multiplexed on one long-lived stream.
//! - [`console`]: the live shop console (`--console-listen`): a page per shop,
//!   fed by the dispatcher's own `WatchShop`, acting through the same calls.
//! - [`serve`]: serving on a bound listener until a shutdown future resolves
//!   ([`serve_with`]: with the admission and per-connection limits of the flags).

pub mod admission;
pub mod console;
pub mod forward;
pub mod launch;
pub mod link;
pub mod workers;

use std::future::Future;
use std::sync::Arc;

use fenliu_node::metrics::Role;
use fenliu_node::metrics::rpc::MeasuredRpcs;
use fenliu_node::probes;
use fenliu_node::server_limits::{DISPATCHER_CONCURRENT_STREAMS, DISPATCHER_MAX_IN_FLIGHT};
use fenliu_node::tls::Tls;
use fenliu_node::tls::identity::Callers;
use fenliu_node::transport::serve_routes;
use fenliu_node::undecodable::RefuseUndecodable;
use fenliu_node::{ServerLimits, ShutdownSignal};
use fenliu_proto::v1::routing_server::RoutingServer;
use tokio::net::TcpListener;
use tonic::service::RoutesBuilder;
use tonic::transport::Channel;

pub use admission::Admission;
pub use forward::Forwarder;
pub use workers::{ShardedWorkers, Worker, WorkerDialer, Workers, worker_channel};

/// Serves the routing API on `listener`, forwarding every shop to `worker`, until
/// `shutdown`.
pub async fn serve(
    listener: TcpListener,
    worker: Channel,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let options = DispatcherOptions::default();
    serve_with(listener, Workers::fixed(worker), options, shutdown).await
}

/// What a dispatcher serves with besides its workers.
#[derive(Debug, Default)]
pub struct DispatcherOptions {
    /// Who may call (authentication off by default).
    pub admission: Admission,
    /// Per-connection limits: a request over the size limit is refused here,
    /// before it is decoded or forwarded.
    pub limits: ServerLimits,
    /// TLS toward callers (client certificates optional unless required);
    /// `None`: plaintext. (Workers are dialled as the [`Workers`] say.)
    pub tls: Option<Tls>,
    /// Where the shop console is served (`--console-listen`); `None`: no console.
    pub console: Option<TcpListener>,
}

/// Serves the routing API on `listener`, finding each shop's worker with
/// `workers`, until `shutdown`. A sharded dispatcher keeps its membership fresh
/// meanwhile.
pub async fn serve_with(
    listener: TcpListener,
    workers: Workers,
    options: DispatcherOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let DispatcherOptions {
        admission,
        limits,
        tls,
        console,
    } = options;
    let address = listener.local_addr().ok();
    tracing::info!(?address, "dispatcher serving fenliu.v1.Routing");
    let (stopping, raise_stopping) = ShutdownSignal::new();
    let membership = match &workers {
        Workers::Sharded(sharded) => {
            Some(tokio::spawn(sharded.clone().run(stopping.clone().raised())))
        }
        Workers::Fixed(_) => None,
    };
    let workers = Arc::new(workers);
    let admission = admission.with_max_in_flight(limits.max_in_flight(DISPATCHER_MAX_IN_FLIGHT));
    let forwarder = Forwarder::new(workers.clone(), stopping.clone(), admission);
    let console = console.map(|listener| {
        tokio::spawn(console::serve(
            listener,
            forwarder.clone(),
            stopping.clone().raised(),
        ))
    });
    let mut routes = RoutesBuilder::default();
    routes.add_service(MeasuredRpcs::new(
        Role::Dispatcher,
        RefuseUndecodable::new(
            RoutingServer::new(forwarder).max_decoding_message_size(limits.request_bytes()),
        ),
    ));
    let reporter = probes::add_standard_services(&mut routes);
    let readiness = tokio::spawn(probes::track_readiness(
        reporter,
        stopping.clone(),
        move || workers.is_ready(),
    ));
    let result = serve_routes(
        listener,
        routes.routes(),
        limits.concurrent_streams(DISPATCHER_CONCURRENT_STREAMS),
        tls.as_ref(),
        Callers::Anyone,
        async move {
            shutdown.await;
            tracing::info!("dispatcher draining");
            raise_stopping();
        },
    )
    .await;
    let _ = readiness.await;
    if let Some(membership) = membership {
        let _ = membership.await;
    }
    if let Some(console) = console {
        let _ = console.await;
    }
    tracing::info!("dispatcher stopped");
    result
}
