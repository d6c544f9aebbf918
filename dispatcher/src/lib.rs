//! fenliu's dispatcher: a stateless front that serves the same `fenliu.v1.Routing`
//! API as a worker and forwards each call to the worker that serves the shop.
//!
//! - [`forward`]: the forwarding service, carrying the caller's deadline and
//!   metadata (such as `traceparent`) to the worker.
//! - [`serve`]: serving on a bound listener until a shutdown future resolves.
//!
//! On this version every shop is served by one configured worker; sharding over
//! many workers builds on the same forwarding.

pub mod forward;

use std::future::Future;

use fenliu_proto::v1::routing_server::RoutingServer;
use fenliu_worker::server::ShutdownSignal;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Endpoint};

pub use forward::Forwarder;

/// A lazily connected channel to a worker at `url` (e.g. `http://127.0.0.1:50061`):
/// the dispatcher starts even when the worker is not up yet.
pub fn worker_channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .tcp_nodelay(true)
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect_lazy())
}

/// Serves the routing API on `listener`, forwarding to `worker`, until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    worker: Channel,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let address = listener.local_addr().ok();
    tracing::info!(?address, "dispatcher serving fenliu.v1.Routing");
    let (stopping, raise_stopping) = ShutdownSignal::new();
    let result = tonic::transport::Server::builder()
        .add_service(RoutingServer::new(Forwarder::new(worker, stopping)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            shutdown.await;
            tracing::info!("dispatcher draining");
            raise_stopping();
        })
        .await;
    tracing::info!("dispatcher stopped");
    result
}
