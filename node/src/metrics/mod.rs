//! Prometheus metrics of both roles, served on an admin port of their own
//! (`--metrics-listen`), off unless configured.
//!
//! Every role records through the `metrics` facade; this process' one recorder
//! is `metrics-exporter-prometheus`'s, installed by [`MetricsOptions::bind`]
//! before the node serves anything. Without it the facade's calls do nothing,
//! which is what nodes started inside a test process get: metrics are read
//! from real processes, where the process is the node.
//!
//! - [`names`]: the contract: every family's name, label values, help and
//!   buckets.
//! - [`recorder`]: installing the recorder once per process, and handles
//!   registered with it once it is ([`Handles`]).
//! - [`rpc`]: calls counted and timed by role, method and code, for the
//!   `Routing` service (a tower service of ours) and for calls that come on the
//!   dispatcher–worker link.
//! - [`meters`]: the families each role registers at start, and the records
//!   both roles make (Redis errors, auth refusals, open streams, link calls).
//! - [`endpoint`]: the admin port: `GET /metrics` renders the recorder, after
//!   the role's scrape-time gauges are brought up to date.
//!
//! Hot paths use handles registered once (a counter increment is one atomic
//! add), so that a call pays a few atomic operations, never a registry lookup.

pub mod endpoint;
pub mod meters;
pub mod names;
pub mod recorder;
pub mod rpc;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use anyhow::Context;

pub use endpoint::{MetricsEndpoint, ServingEndpoint};
pub use recorder::{Handles, Role, enabled};

/// The metrics flag both roles take.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MetricsOptions {
    /// Address (host:port) to serve Prometheus metrics on, at /metrics: a port
    /// of its own, apart from the gRPC one. Unset: no metrics are kept.
    #[arg(long, env = "FENLIU_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

impl MetricsOptions {
    /// With `--metrics-listen`: installs the recorder, registers the families
    /// `role` emits, and binds the admin port (serve it with
    /// [`MetricsEndpoint::spawn`]). Without it: `None`, and nothing is kept.
    pub async fn bind(&self, role: Role) -> anyhow::Result<Option<MetricsEndpoint>> {
        let Some(address) = self.metrics_listen else {
            return Ok(None);
        };
        let handle = recorder::install()?;
        meters::register_families(role);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("--metrics-listen (FENLIU_METRICS_LISTEN) {address}"))?;
        tracing::info!(address = %listener.local_addr()?, "serving Prometheus metrics at /metrics");
        Ok(Some(MetricsEndpoint::new(listener, handle)))
    }
}
