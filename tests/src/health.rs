//! What a node's gRPC health service says: liveness (service `""`) and
//! readiness (`fenliu.v1.Routing`), as Kubernetes' probes ask.

use std::net::SocketAddr;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

pub use tonic_health::pb::health_check_response::ServingStatus;

use crate::connect::channel;

/// The status `address` reports for `service` (`""`: liveness;
/// `fenliu.v1.Routing`: readiness), as the `ServingStatus` number.
pub async fn health(address: SocketAddr, service: &str) -> i32 {
    HealthClient::new(channel(address).await)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health check answers")
        .into_inner()
        .status
}
