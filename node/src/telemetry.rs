//! Logging and trace set-up, shared by every fenliu binary: structured lines to
//! stderr, filtered by `RUST_LOG`, and, when an OTLP endpoint is configured
//! ([`crate::trace_export`]), the spans of traced calls exported to it, their
//! ids on the JSON lines logged inside them.

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::trace_export::{TraceExport, TraceSettings};
use crate::tracing_context::{self, TRACE_TARGET};

/// The filter without `RUST_LOG`: info for fenliu, warn for the libraries.
pub const DEFAULT_FILTER: &str =
    "warn,fenliu=info,fenliu_node=info,fenliu_worker=info,fenliu_dispatcher=info,fenliu_cli=info";

fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// Structured logs to stderr, no traces (the tools). `RUST_LOG` filters
/// (default: info for fenliu, warn for the libraries, whose per-connection noise
/// drowns the decisions otherwise).
pub fn init_logging(json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// What a node keeps of its telemetry set-up: the trace exporter, to flush when
/// the node stops.
#[derive(Debug, Default)]
#[must_use = "stop it with `shutdown` when the node stops, or the last spans are lost"]
pub struct Telemetry {
    /// `None`: traces are off.
    export: Option<TraceExport>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn traces_on(&self) -> bool {
        self.export.is_some()
    }

    /// Sends the spans ended so far.
    pub async fn flush(&self) {
        if let Some(export) = &self.export {
            export.flush().await;
        }
    }

    /// Sends the last spans and stops exporting: call it once the node has
    /// stopped serving.
    pub async fn shutdown(self) {
        if let Some(export) = self.export {
            export.shutdown().await;
        }
    }
}

/// Logs as [`init_logging`] does, and traces as the standard OpenTelemetry
/// variables say (off without an endpoint); `role` is the default service
/// name. Call it inside the runtime, once per process.
pub fn init(json: bool, role: &str) -> Telemetry {
    init_with(json, TraceSettings::from_env(role))
}

/// [`init`] with the trace settings given (`None`: logs only).
pub fn init_with(json: bool, traces: Option<TraceSettings>) -> Telemetry {
    let Some(settings) = traces else {
        init_logging(json);
        return Telemetry::default();
    };
    let endpoint = settings.endpoint.clone();
    let (export, tracer, sampler) = match TraceExport::start(settings) {
        Ok(started) => started,
        Err(error) => {
            init_logging(json);
            tracing::warn!(
                error = format!("{error:#}"),
                "traces are off: the exporter did not start"
            );
            return Telemetry::default();
        }
    };
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(filter_fn(exported));
    // The log lines stay as they are without traces: the call spans are for
    // the exporter only, their ids reach JSON lines through `JsonWithTraceIds`.
    let logged = env_filter().add_directive(
        format!("{TRACE_TARGET}=off")
            .parse()
            .expect("a valid directive"),
    );
    let registry = tracing_subscriber::registry().with(spans);
    if json {
        let lines = fmt::layer()
            .json()
            .event_format(JsonWithTraceIds(fmt::format().json()))
            .with_writer(std::io::stderr);
        registry.with(lines.with_filter(logged)).init();
    } else {
        let lines = fmt::layer().with_writer(std::io::stderr);
        registry.with(lines.with_filter(logged)).init();
    }
    tracing_context::install(sampler);
    tracing::info!(%endpoint, "exporting traces over OTLP");
    Telemetry {
        export: Some(export),
    }
}

/// What becomes part of a trace: the call spans, and fenliu's warnings and errors
/// logged inside them (as span events). Debug lines, which name buyers, do not.
fn exported(metadata: &tracing::Metadata<'_>) -> bool {
    if metadata.is_span() {
        return metadata.target() == TRACE_TARGET;
    }
    *metadata.level() <= Level::WARN && metadata.target().starts_with("fenliu")
}

/// JSON lines as `tracing-subscriber` writes them, with the `trace_id` and
/// `span_id` of the traced span they were logged in, when there is one.
struct JsonWithTraceIds(Format<Json>);

impl<S, N> FormatEvent<S, N> for JsonWithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let Some((trace_id, span_id)) = tracing_context::current_ids() else {
            return self.0.format_event(context, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.0
            .format_event(context, Writer::new(&mut line), event)?;
        // The line is one JSON object: the ids go in before its closing brace.
        let Some(object) = line.trim_end().strip_suffix('}') else {
            return writer.write_str(&line);
        };
        writeln!(
            writer,
            "{object},\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}"
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::*;

    /// Log lines written to memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_logged_in_a_traced_span_carry_its_trace_and_span_ids() {
        let provider = SdkTracerProvider::builder().build();
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("test"))
                    .with_filter(filter_fn(exported)),
            )
            .with(
                fmt::layer()
                    .json()
                    .event_format(JsonWithTraceIds(fmt::format().json()))
                    .with_writer(move || writer.clone())
                    .with_filter(EnvFilter::new(format!("info,{TRACE_TARGET}=off"))),
            );
        let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let span_id = tracing::subscriber::with_default(subscriber, || {
            tracing::info!(shop = "s1", "outside any call");
            let span = tracing::info_span!(target: TRACE_TARGET, "call");
            let mut carrier = std::collections::HashMap::new();
            carrier.insert("traceparent".to_owned(), caller.to_owned());
            let _ = span.set_parent(TraceContextPropagator::new().extract(&carrier));
            span.in_scope(|| {
                tracing::info!(shop = "s1", "inside a call");
                opentelemetry::Context::current()
                    .span()
                    .span_context()
                    .span_id()
            })
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let parsed: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect();
        assert_eq!(parsed.len(), 2, "{text}");
        assert!(parsed[0].get("trace_id").is_none());
        assert_eq!(parsed[0]["fields"]["message"], "outside any call");
        assert_eq!(parsed[1]["fields"]["message"], "inside a call");
        assert_eq!(parsed[1]["fields"]["shop"], "s1");
        assert_eq!(parsed[1]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(parsed[1]["span_id"], span_id.to_string());
        assert_ne!(
            parsed[1]["span_id"], "b7ad6b7169203331",
            "the call's own span, not the caller's"
        );
        // The call span itself stays out of the log lines.
        assert!(parsed[1].get("span").is_none());
    }
}
