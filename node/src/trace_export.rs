//! Exporting traces over OTLP/gRPC, configured as every OpenTelemetry SDK is: by
//! the standard variables. `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns it on; without one nothing is
//! exported and no span is made. `OTEL_SERVICE_NAME` names the process (default:
//! its role), `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` choose which
//! calls are traced (the SDK's own reading of them; its default is
//! `parentbased_always_on`), `OTEL_SDK_DISABLED=true` turns it all off, and the
//! exporter and batch variables (`OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*`) are read by the SDK.
//!
//! Spans are exported in batches from a thread of the SDK's own; the
//! [`TraceExport`] handle flushes the batch when the node stops.

use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider, ShouldSample};

/// How long a stopping node waits for its last spans to reach the collector.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where traces go and which calls are traced.
#[derive(Debug)]
pub struct TraceSettings {
    /// The OTLP/gRPC endpoint of the collector, e.g. `http://otel-collector:4317`.
    pub endpoint: String,
    /// The `service.name` of this process's spans.
    pub service_name: String,
    /// Decides, per call entering fenliu, whether it is traced.
    pub sampler: Box<dyn ShouldSample>,
}

impl TraceSettings {
    /// The settings of the standard variables; `None` when no endpoint is set
    /// (or the SDK is disabled). `role` names the service by default.
    pub fn from_env(role: &str) -> Option<TraceSettings> {
        let mut settings = Self::from_vars(role, |name| std::env::var(name).ok())?;
        // The SDK reads OTEL_TRACES_SAMPLER(_ARG) as the specification says.
        settings.sampler = opentelemetry_sdk::trace::Config::default().sampler;
        Some(settings)
    }

    /// [`TraceSettings::from_env`] with the variables read by `var`, and the
    /// specification's default sampler.
    fn from_vars(role: &str, var: impl Fn(&str) -> Option<String>) -> Option<TraceSettings> {
        let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|value| value.trim().eq_ignore_ascii_case("true")) {
            return None;
        }
        let endpoint = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))?;
        Some(TraceSettings {
            endpoint,
            service_name: set("OTEL_SERVICE_NAME").unwrap_or_else(|| role.to_owned()),
            sampler: Box::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
        })
    }
}

/// The exporting pipeline of a process: flushed and stopped with the node.
#[derive(Debug, Clone)]
pub struct TraceExport {
    /// The SDK's provider, which owns the batch of spans not yet sent.
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// Starts the exporter (lazily connected: a collector that is down costs
    /// dropped spans, never a failed start) and returns it with the tracer the
    /// spans are made by and the sampler calls are decided with. Must run
    /// inside the tokio runtime the exporter's connection lives on.
    pub fn start(
        settings: TraceSettings,
    ) -> anyhow::Result<(TraceExport, SdkTracer, Box<dyn ShouldSample>)> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(settings.endpoint.clone())
            .build()
            .with_context(|| format!("OTEL_EXPORTER_OTLP_ENDPOINT {}", settings.endpoint))?;
        let provider = SdkTracerProvider::builder()
            .with_resource(
                Resource::builder()
                    .with_service_name(settings.service_name)
                    .build(),
            )
            // Every span made is sampled already: calls are decided where they
            // enter (`tracing_context`), their inner spans follow them.
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("fenliu");
        Ok((TraceExport { provider }, tracer, settings.sampler))
    }

    /// Sends the spans ended so far, waiting until they are sent (off the
    /// async threads: the SDK's export thread needs the runtime meanwhile).
    pub async fn flush(&self) {
        let provider = self.provider.clone();
        let flushed = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(%error, "could not flush traces");
        }
    }

    /// Sends the last spans and stops exporting, waiting at most a few seconds
    /// for an unreachable collector.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let stopped =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
                .await;
        if let Ok(Err(error)) = stopped {
            tracing::warn!(%error, "could not send the last traces");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Option<TraceSettings> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        TraceSettings::from_vars("fenliu-worker", |name| vars.get(name).cloned())
    }

    #[test]
    fn traces_are_off_without_an_endpoint() {
        assert!(settings(&[]).is_none());
        assert!(settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).is_none());
        assert!(settings(&[("OTEL_SERVICE_NAME", "x")]).is_none());
    }

    #[test]
    fn the_standard_variables_configure_the_export() {
        let on = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")]).unwrap();
        assert_eq!(on.endpoint, "http://collector:4317");
        assert_eq!(on.service_name, "fenliu-worker");
        let named = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
            ("OTEL_SERVICE_NAME", "fenliu-eu-1"),
        ])
        .unwrap();
        assert_eq!(named.endpoint, "http://traces:4317");
        assert_eq!(named.service_name, "fenliu-eu-1");
        assert!(
            settings(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
                ("OTEL_SDK_DISABLED", "TRUE"),
            ])
            .is_none()
        );
    }
}
