//! The admin port: `GET /metrics` in Prometheus' text format, and nothing else
//! (any other path is 404). A small axum router of ours (axum is already in the
//! build through tonic) rather than the exporter's own listener, which would
//! answer on any path.
//!
//! Gauges that sum over a node's state (a worker's queued sessions over its
//! shops) are brought up to date just before each scrape by the role's
//! [`MetricsEndpoint::on_scrape`] hooks, instead of on every call. Histogram
//! samples are folded into their buckets at each scrape and every few seconds
//! (upkeep), so that memory stays bounded when nobody scrapes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The content type of Prometheus' text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A hook run before each scrape.
type ScrapeHook = Box<dyn Fn() + Send + Sync>;

/// What a scrape reads.
struct Scrape {
    /// The process' recorder.
    handle: PrometheusHandle,
    /// The role's scrape-time gauges.
    hooks: Vec<ScrapeHook>,
}

/// The admin port, bound and not yet serving.
pub struct MetricsEndpoint {
    /// The bound admin port.
    listener: TcpListener,
    /// The process' recorder, rendered at each scrape.
    handle: PrometheusHandle,
    /// Run before each scrape, in order.
    hooks: Vec<ScrapeHook>,
}

impl std::fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsEndpoint")
            .field("listener", &self.listener)
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

impl MetricsEndpoint {
    pub fn new(listener: TcpListener, handle: PrometheusHandle) -> MetricsEndpoint {
        MetricsEndpoint {
            listener,
            handle,
            hooks: Vec::new(),
        }
    }

    /// Where the admin port listens.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Runs `refresh` before each scrape: it sets gauges computed from the
    /// node's state.
    pub fn on_scrape(&mut self, refresh: impl Fn() + Send + Sync + 'static) {
        self.hooks.push(Box::new(refresh));
    }

    /// Serves `/metrics` until [`ServingEndpoint::stop`].
    pub fn spawn(self) -> ServingEndpoint {
        let (stop, stopped) = oneshot::channel::<()>();
        let upkeep = self.handle.clone();
        let scrape = Arc::new(Scrape {
            handle: self.handle,
            hooks: self.hooks,
        });
        let app = Router::new()
            .route("/metrics", get(render))
            .with_state(scrape);
        let listener = self.listener;
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            let upkeep = async move {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    upkeep.run_upkeep();
                }
            };
            tokio::select! {
                served = serve => {
                    if let Err(error) = served {
                        tracing::warn!(%error, "the metrics port stopped serving");
                    }
                }
                () = upkeep => {}
            }
        });
        ServingEndpoint { stop, task }
    }
}

async fn render(State(scrape): State<Arc<Scrape>>) -> impl IntoResponse {
    for hook in &scrape.hooks {
        hook();
    }
    (
        [(header::CONTENT_TYPE, TEXT_FORMAT)],
        scrape.handle.render(),
    )
}

/// The admin port serving; stopped with the node.
#[derive(Debug)]
pub struct ServingEndpoint {
    /// Stops it gracefully (scrapes under way finish).
    stop: oneshot::Sender<()>,
    /// Ends once it stopped.
    task: JoinHandle<()>,
}

impl ServingEndpoint {
    /// Stops serving, after the scrapes under way.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
