//! One trace per call across the hops of fenliu: the spans a call makes, and the
//! W3C trace context (`traceparent`, `tracestate`) that ties them together.
//!
//! A call's trace is decided once, where it enters fenliu: the dispatcher (or a
//! worker called directly) reads the caller's `traceparent` with OpenTelemetry's
//! [`TraceContextPropagator`] and asks the configured sampler. An unsampled call
//! makes no span at all, so that at 1% sampling 99 calls in 100 cost one parse of
//! a header and one draw; with traces off (no exporter), every function here
//! returns at its first branch. A sampled call's span is handed on: the
//! dispatcher writes its own span's context into the link call's metadata, and
//! the worker's span of that call is its child. Over the link the worker only
//! follows: a linked call is traced if and only if its `traceparent` says
//! sampled (the dispatcher already decided).
//!
//! The attributes are the shop, the method, the route reason and the size of the
//! group commit; never the ids of buyers or sessions, which are personal data
//! of the shops' customers.

use std::sync::OnceLock;

use fenliu_proto::internal::v1 as link;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceId};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SamplingDecision, ShouldSample};
use tonic::Code;
use tonic::metadata::{KeyRef, MetadataMap};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of every span that becomes an OpenTelemetry span: the
/// exporting layer sees only these, and the log layer none of them.
pub const TRACE_TARGET: &str = "fenliu_trace";

/// Which calls are traced: set once, when a process exports traces. Unset, no
/// span is made anywhere.
static SAMPLER: OnceLock<Box<dyn ShouldSample>> = OnceLock::new();

/// Turns span-making on with `sampler` deciding which calls are traced. Returns
/// false when it was on already (the first sampler stays).
pub(crate) fn install(sampler: Box<dyn ShouldSample>) -> bool {
    SAMPLER.set(sampler).is_ok()
}

/// Whether this process exports traces at all.
#[inline]
pub fn enabled() -> bool {
    SAMPLER.get().is_some()
}

/// Which role a call's span belongs to (`fenliu.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Dispatcher,
    Worker,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Dispatcher => "dispatcher",
            Role::Worker => "worker",
        }
    }
}

/// Where a call came from, which says who decides whether it is traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// From a caller: the sampler decides, following the caller's `traceparent`
    /// if the sampler is parent-based.
    Caller,
    /// From a dispatcher over the link: the dispatcher decided; its span's
    /// `traceparent` (or the caller's, when it made no span) says what.
    Link,
}

/// The span of a call from a caller: a child of the caller's `traceparent` if it
/// sent one, or the root of a new trace; [`Span::none`] when the call is not
/// sampled. `rpc` is its gRPC name (`fenliu.v1.Routing/Route`).
pub fn caller_span(role: Role, rpc: &'static str, shop: &str, metadata: &MetadataMap) -> Span {
    call_span(role, rpc, Some(shop), metadata, Origin::Caller)
}

/// The worker's span of a call that came over the link; its shop is recorded
/// once the request is decoded ([`record_shop`]).
pub fn linked_span(rpc: &'static str, metadata: &MetadataMap) -> Span {
    call_span(Role::Worker, rpc, None, metadata, Origin::Link)
}

fn call_span(
    role: Role,
    rpc: &'static str,
    shop: Option<&str>,
    metadata: &MetadataMap,
    origin: Origin,
) -> Span {
    let Some(sampler) = SAMPLER.get() else {
        return Span::none();
    };
    // Most calls carry no trace context: no parent to read, and over the link
    // nothing to follow.
    let parent = if metadata.contains_key("traceparent") {
        TraceContextPropagator::new().extract(&MetadataExtractor(metadata))
    } else if origin == Origin::Link {
        return Span::none();
    } else {
        opentelemetry::Context::new()
    };
    if !sampled(sampler.as_ref(), &parent, origin, rpc) {
        return Span::none();
    }
    let method = rpc.rsplit('/').next().unwrap_or(rpc);
    let span = tracing::info_span!(
        target: TRACE_TARGET,
        "call",
        otel.name = rpc,
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = "fenliu.v1.Routing",
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        fenliu.role = role.as_str(),
        fenliu.shop = shop,
    );
    // An empty context (no `traceparent`) leaves the span a root.
    let _ = span.set_parent(parent);
    span
}

/// Whether a call whose caller's context is `parent` is traced.
fn sampled(
    sampler: &dyn ShouldSample,
    parent: &opentelemetry::Context,
    origin: Origin,
    name: &str,
) -> bool {
    let parent_span = parent.span();
    let parent_context = parent_span.span_context();
    let has_parent = parent_context.is_valid();
    if origin == Origin::Link {
        return has_parent && parent_context.is_sampled();
    }
    // A root's trace id is not known before its span exists; a fresh random one
    // gives a ratio sampler the same odds.
    let trace_id = if has_parent {
        parent_context.trace_id()
    } else {
        RandomIdGenerator::default().new_trace_id()
    };
    let parent = has_parent.then_some(parent);
    let result = sampler.should_sample(parent, trace_id, name, &SpanKind::Server, &[], &[]);
    result.decision == SamplingDecision::RecordAndSample
}

/// Records how a call ended on its span: the gRPC code, and an error status
/// for the codes that mean the server failed (not the caller's mistakes).
pub fn record_code(span: &Span, code: Code) {
    if span.is_none() {
        return;
    }
    span.record("rpc.grpc.status_code", code as i64);
    if matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    ) {
        span.record("otel.status_code", "error");
    }
}

/// Records the call's shop on the current call span (a linked call's shop is
/// known once its request is decoded).
pub fn record_shop(shop: &str) {
    if enabled() {
        Span::current().record("fenliu.shop", shop);
    }
}

/// Records why the engine routed a buyer as it did, on the current decision span.
pub fn record_reason(reason: &'static str) {
    if enabled() {
        Span::current().record("fenliu.reason", reason);
    }
}

/// The span of the engine deciding a call on `shop`: a child of the current call
/// span, or [`Span::none`] outside a traced call. Enter it only around the
/// engine's own (synchronous) work.
pub fn decision_span(shop: &str) -> Span {
    if !enabled() || Span::current().is_none() {
        return Span::none();
    }
    tracing::info_span!(
        target: TRACE_TARGET,
        "engine.decide",
        fenliu.shop = shop,
        fenliu.reason = Empty,
    )
}

/// The traced call a group commit carries: its span's context, kept until the
/// commit is sent (by a committer task, after the call's span may have ended).
#[derive(Debug, Clone)]
pub struct CallTrace(opentelemetry::Context);

impl CallTrace {
    /// The call running now, if it is traced.
    pub fn current() -> Option<CallTrace> {
        if !enabled() {
            return None;
        }
        let span = Span::current();
        (!span.is_none()).then(|| CallTrace(span.context()))
    }
}

/// The span of one Redis commit of `shop` carrying `calls` calls, of which the
/// traced ones are `traced` (in the order they joined the commit); [`Span::none`]
/// when none of them is traced.
///
/// One commit carries many calls, each of its own trace, but a span has one
/// parent. It is the child of the first traced call it carries (the call that
/// started the committer, when that call is traced) and is linked to every other
/// traced call it carries, so each of those traces leads to the commit that
/// stored its decision; `fenliu.commit.calls` says how many calls shared it.
pub fn commit_span(shop: &str, calls: usize, traced: &[CallTrace]) -> Span {
    let Some((first, others)) = traced.split_first() else {
        return Span::none();
    };
    // An integer attribute (a `usize` would reach OpenTelemetry as text).
    let calls = i64::try_from(calls).unwrap_or(i64::MAX);
    let span = tracing::info_span!(
        target: TRACE_TARGET,
        "redis.commit",
        otel.kind = "client",
        otel.status_code = Empty,
        db.system.name = "redis",
        fenliu.shop = shop,
        fenliu.commit.calls = calls,
    );
    let _ = span.set_parent(first.0.clone());
    for other in others {
        span.add_link(other.0.span().span_context().clone());
    }
    span
}

/// Marks a commit span failed.
pub fn record_failure(span: &Span) {
    if !span.is_none() {
        span.record("otel.status_code", "error");
    }
}

/// Writes the current span's context into a link call's metadata entries as
/// `traceparent` and `tracestate`, in place of the caller's: the worker's span
/// of the call is then the child of the dispatcher's span. Outside a traced call
/// the entries stay as the caller sent them.
pub fn inject_current(entries: &mut Vec<link::MetadataEntry>) {
    if !enabled() {
        return;
    }
    let span = Span::current();
    if span.is_none() {
        return;
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut EntryInjector(entries));
}

/// The trace and span ids of the traced span being run now, for log lines.
pub fn current_ids() -> Option<(TraceId, SpanId)> {
    opentelemetry::Context::map_current(|context| {
        let span = context.span();
        let span_context = span.span_context();
        span_context
            .is_valid()
            .then(|| (span_context.trace_id(), span_context.span_id()))
    })
}

/// Reads trace context from a call's metadata.
struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                KeyRef::Ascii(key) => Some(key.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// Writes trace context into a link call's metadata entries, replacing an entry
/// of the same key.
struct EntryInjector<'a>(&'a mut Vec<link::MetadataEntry>);

impl Injector for EntryInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        match self.0.iter_mut().find(|entry| entry.key == key) {
            Some(entry) => entry.value = value,
            None => self.0.push(link::MetadataEntry {
                key: key.to_owned(),
                value,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::trace::Sampler;

    use super::*;

    const SAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const UNSAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

    fn parent(traceparent: Option<&str>) -> opentelemetry::Context {
        let mut metadata = MetadataMap::new();
        if let Some(value) = traceparent {
            metadata.insert("traceparent", value.parse().unwrap());
        }
        TraceContextPropagator::new().extract(&MetadataExtractor(&metadata))
    }

    fn ratio(ratio: f64) -> Sampler {
        Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
    }

    #[test]
    fn a_parent_based_sampler_follows_the_callers_flag_and_draws_for_roots() {
        let never_a_root = ratio(0.0);
        let always_a_root = ratio(1.0);
        let sampled = |sampler: &Sampler, traceparent| {
            super::sampled(sampler, &parent(traceparent), Origin::Caller, "x")
        };
        assert!(sampled(&never_a_root, Some(SAMPLED)));
        assert!(!sampled(&always_a_root, Some(UNSAMPLED)));
        assert!(!sampled(&never_a_root, None));
        assert!(sampled(&always_a_root, None));
        // A header that is not a traceparent is no parent.
        assert!(!sampled(&never_a_root, Some("00-zz-b7ad6b7169203331-01")));
    }

    #[test]
    fn a_root_is_sampled_at_about_the_configured_ratio() {
        let sampler = ratio(0.25);
        let kept = (0..4000)
            .filter(|_| super::sampled(&sampler, &parent(None), Origin::Caller, "x"))
            .count();
        assert!((800..1200).contains(&kept), "kept {kept} of 4000 at 25%");
    }

    #[test]
    fn a_linked_call_follows_the_dispatcher_and_never_starts_a_trace() {
        let always = Sampler::AlwaysOn;
        let linked = |traceparent| super::sampled(&always, &parent(traceparent), Origin::Link, "x");
        assert!(linked(Some(SAMPLED)));
        assert!(!linked(Some(UNSAMPLED)));
        assert!(!linked(None));
    }

    #[test]
    fn injecting_replaces_the_callers_trace_context_in_the_link_entries() {
        let mut entries = vec![
            link::MetadataEntry {
                key: "traceparent".to_owned(),
                value: SAMPLED.to_owned(),
            },
            link::MetadataEntry {
                key: "x-request".to_owned(),
                value: "7".to_owned(),
            },
        ];
        let ours = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
        TraceContextPropagator::new()
            .inject_context(&parent(Some(ours)), &mut EntryInjector(&mut entries));
        let value = |key: &str| {
            let found: Vec<&str> = entries
                .iter()
                .filter(|entry| entry.key == key)
                .map(|entry| entry.value.as_str())
                .collect();
            found
        };
        assert_eq!(value("traceparent"), [ours]);
        assert_eq!(value("tracestate"), [""]);
        assert_eq!(value("x-request"), ["7"]);
    }

    #[test]
    fn with_traces_off_no_span_is_made() {
        // This test binary never installs a sampler.
        let mut metadata = MetadataMap::new();
        metadata.insert("traceparent", SAMPLED.parse().unwrap());
        assert!(caller_span(Role::Dispatcher, "fenliu.v1.Routing/Route", "s", &metadata).is_none());
        assert!(linked_span("fenliu.v1.Routing/Route", &metadata).is_none());
        assert!(decision_span("s").is_none());
        assert!(CallTrace::current().is_none());
        assert!(commit_span("s", 3, &[]).is_none());
        let mut entries = Vec::new();
        inject_current(&mut entries);
        assert!(entries.is_empty());
    }
}
