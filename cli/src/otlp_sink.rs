//! `fenliu bench-otlp-sink`: a stand-in OpenTelemetry collector for the
//! benchmark. It takes OTLP/gRPC trace exports, counts them and throws them
//! away, so that `scripts/bench` measures what tracing costs fenliu's nodes (the
//! spans made, batched and sent over gRPC) and not what a real collector costs
//! on the same two cores. On Ctrl-C or SIGTERM it prints what it received.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::{Request, Response, Status};

#[derive(Debug, clap::Args)]
pub struct SinkArgs {
    /// Where to take OTLP/gRPC exports (point `OTEL_EXPORTER_OTLP_ENDPOINT` here).
    #[arg(long, default_value = "127.0.0.1:4317")]
    pub listen: SocketAddr,
}

/// What has been received so far.
#[derive(Default)]
struct Received {
    /// Export calls (one per batch a node sent).
    exports: AtomicU64,
    /// Spans in them.
    spans: AtomicU64,
}

#[derive(Clone, Default)]
struct Sink(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let spans: usize = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len())
            .sum();
        self.0.exports.fetch_add(1, Ordering::Relaxed);
        self.0.spans.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Serves until the process is asked to stop, then prints the counts.
pub async fn run(args: SinkArgs) -> anyhow::Result<()> {
    let sink = Sink::default();
    let received = sink.0.clone();
    tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(sink))
        .serve_with_shutdown(args.listen, async {
            fenliu_node::shutdown::requested_by_os().await;
        })
        .await?;
    println!(
        "otlp sink: {} exports, {} spans",
        received.exports.load(Ordering::Relaxed),
        received.spans.load(Ordering::Relaxed)
    );
    Ok(())
}
