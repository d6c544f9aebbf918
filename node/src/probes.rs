//! What every fenliu server serves besides the API: gRPC health (Kubernetes'
//! `grpc` probes, `grpc_health_probe`) and reflection, in both protocol versions
//! (grpcurl still speaks only `v1alpha`).
//!
//! Health follows the lesson of schedulers that crash-loop their fleet when a
//! dependency flaps: the overall status (service `""`, the liveness probe) is
//! SERVING for as long as the process runs; only `fenliu.v1.Routing` (the
//! readiness probe) follows the node's dependencies, and turns NOT_SERVING when
//! the node starts draining.

use std::time::Duration;

use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::shutdown::ShutdownSignal;

/// The name readiness is reported under.
pub const ROUTING_SERVICE: &str = "fenliu.v1.Routing";

/// Adds health and reflection to `routes`; returns the reporter for readiness.
pub fn add_standard_services(routes: &mut RoutesBuilder) -> HealthReporter {
    let (reporter, health) = tonic_health::server::health_reporter();
    routes.add_service(health);
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(fenliu_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1();
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(fenliu_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha();
    match (v1, v1alpha) {
        (Ok(v1), Ok(v1alpha)) => {
            routes.add_service(v1);
            routes.add_service(v1alpha);
        }
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, "gRPC reflection unavailable");
        }
    }
    reporter
}

/// Keeps readiness in step with `ready()` (polled twice a second) until the node
/// starts stopping, then reports NOT_SERVING.
pub async fn track_readiness(
    reporter: HealthReporter,
    stopping: ShutdownSignal,
    ready: impl Fn() -> bool + Send + 'static,
) {
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let stopped = stopping.raised();
    tokio::pin!(stopped);
    let mut last = None;
    loop {
        let now_ready = ready();
        if last != Some(now_ready) {
            let status = if now_ready {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status(ROUTING_SERVICE, status).await;
            last = Some(now_ready);
        }
        tokio::select! {
            () = &mut stopped => break,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    reporter
        .set_service_status(ROUTING_SERVICE, ServingStatus::NotServing)
        .await;
}
