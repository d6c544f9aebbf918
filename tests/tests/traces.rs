//! Traces, end to end: an OTLP receiver runs in this process, a dispatcher and a
//! worker on Redis export to it, and calls sent with a known `traceparent` come
//! back as one trace each: the caller's span → the dispatcher's → the worker's →
//! the engine's decision and the Redis commit, with the shop, method, reason and
//! commit size as attributes and no buyer id anywhere.
//!
//! The tracer provider and the `tracing` subscriber are process-global, so this
//! binary holds one test, which installs them once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use fenliu_node::trace_export::TraceSettings;
use fenliu_tests::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_sdk::trace::Sampler;
use tonic::{Request, Response, Status};

const SHOP: &str = "traced-shop";
/// The caller's trace and span of the one call followed alone.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
/// Calls sent together, each with a trace of its own, to share group commits.
const TOGETHER: usize = 16;

/// What the receiver got: every span, and the `service.name` it came under.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut received = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let attributes = resource_spans.resource.map(|r| r.attributes);
            let attributes = attributes.unwrap_or_default();
            let service = attribute(&attributes, "service.name");
            let service = service.and_then(string).unwrap_or_default();
            for scope in resource_spans.scope_spans {
                received.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Starts an OTLP/gRPC receiver on a free loopback port; returns its endpoint.
async fn start_receiver() -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let received = Received::default();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(received.clone()))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    (endpoint, received)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

fn string(value: &AnyValue) -> Option<String> {
    match &value.value {
        Some(any_value::Value::StringValue(text)) => Some(text.clone()),
        _ => None,
    }
}

fn text(span: &Span, key: &str) -> String {
    attribute(&span.attributes, key)
        .and_then(string)
        .unwrap_or_else(|| panic!("span {} has no string attribute {key}", span.name))
}

fn int(span: &Span, key: &str) -> i64 {
    match attribute(&span.attributes, key).and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::IntValue(n)) => *n,
        other => panic!("span {} has no int attribute {key}: {other:?}", span.name),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every string in a span's attributes, its events' and its links'.
fn strings_of(span: &Span) -> Vec<String> {
    let mut all: Vec<&KeyValue> = span.attributes.iter().collect();
    all.extend(span.events.iter().flat_map(|e| e.attributes.iter()));
    all.extend(span.links.iter().flat_map(|l| l.attributes.iter()));
    let mut strings: Vec<String> = all
        .iter()
        .flat_map(|kv| [Some(kv.key.clone()), kv.value.as_ref().and_then(string)])
        .flatten()
        .collect();
    strings.push(span.name.clone());
    strings
}

/// Routes a new buyer with a `traceparent` of the caller's.
async fn traced_route(client: &mut Client, traceparent: &str, buyer: &str) -> Routed {
    let mut request = Request::new(route_request(SHOP, buyer, pb::OrderStatus::NoActiveOrder));
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    let answer = client.route(request).await.expect("routed");
    Routed::from_response(answer.into_inner())
}

/// The spans received so far, by trace id.
fn by_trace(received: &Received) -> HashMap<String, Vec<Span>> {
    let mut traces: HashMap<String, Vec<Span>> = HashMap::new();
    for (_, span) in received.0.lock().unwrap().iter() {
        traces
            .entry(hex(&span.trace_id))
            .or_default()
            .push(span.clone());
    }
    traces
}

/// The one span of `spans` named `name` (and of `role`, for call spans).
fn one<'a>(spans: &'a [Span], name: &str, role: Option<&str>) -> &'a Span {
    let found: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| role.is_none_or(|role| text(s, "fenliu.role") == role))
        .collect();
    assert_eq!(found.len(), 1, "one {name} {role:?} span: {spans:#?}");
    found[0]
}

/// A call's spans: the dispatcher's, the worker's and the engine's decision,
/// each the child of the one before, the first the child of `caller_span`.
fn call_chain<'a>(spans: &'a [Span], caller_span: &str) -> [&'a Span; 3] {
    let rpc = "fenliu.v1.Routing/Route";
    let dispatcher = one(spans, rpc, Some("dispatcher"));
    let worker = one(spans, rpc, Some("worker"));
    let decision = one(spans, "engine.decide", None);
    assert_eq!(hex(&dispatcher.parent_span_id), caller_span);
    assert_eq!(worker.parent_span_id, dispatcher.span_id);
    assert_eq!(decision.parent_span_id, worker.span_id);
    for call in [dispatcher, worker] {
        assert_eq!(call.kind, SpanKind::Server as i32);
        assert_eq!(text(call, "rpc.method"), "Route");
        assert_eq!(text(call, "rpc.service"), "fenliu.v1.Routing");
        assert_eq!(text(call, "fenliu.shop"), SHOP);
        assert_eq!(int(call, "rpc.grpc.status_code"), 0);
    }
    assert_eq!(text(decision, "fenliu.shop"), SHOP);
    [dispatcher, worker, decision]
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_one_trace_from_the_callers_traceparent_through_dispatcher_worker_engine_and_commit()
 {
    bounded(async {
        let (endpoint, received) = start_receiver().await;
        let telemetry = fenliu_node::telemetry::init_with(
            false,
            Some(TraceSettings {
                endpoint,
                service_name: "fenliu-traces-test".to_owned(),
                // Never a trace of fenliu's own: only callers' sampled ones.
                sampler: Box::new(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                    0.0,
                )))),
            }),
        );
        assert!(telemetry.traces_on());
        let node = TestNode::start_on_redis(1).await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 100)
            .cs("b", 100)
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        // Not traced: no traceparent (fenliu starts no trace of its own here),
        // and a caller's trace that is not sampled.
        route_new(&mut client, SHOP, "buyer-untraced").await;
        let unsampled_trace = "0af7651916cd43dd8448eb211c80319c";
        let unsampled = format!("00-{unsampled_trace}-b7ad6b7169203331-00");
        traced_route(&mut client, &unsampled, "buyer-unsampled").await;

        // One call alone: its commit carries it alone.
        let alone = traced_route(
            &mut client,
            &format!("00-{TRACE}-{CALLER_SPAN}-01"),
            "buyer-alone",
        )
        .await;

        // Calls at once on one shop: they share group commits.
        let mut together = tokio::task::JoinSet::new();
        for n in 0..TOGETHER {
            let mut client = client.clone();
            together.spawn(async move {
                let trace = format!("{:032x}", 0x5eed_0000 + n);
                let caller = format!("{:016x}", 0xca11_0000 + n);
                traced_route(
                    &mut client,
                    &format!("00-{trace}-{caller}-01"),
                    &format!("buyer-{n}"),
                )
                .await;
                (trace, caller)
            });
        }
        let together = together.join_all().await;

        // Every span of these calls has ended before its answer was sent.
        telemetry.flush().await;
        let expected = 1 + TOGETHER;
        let traces = wait_for("the spans of every traced call", || {
            let traces = by_trace(&received);
            let complete = traces.values().filter(|spans| spans.len() >= 3).count();
            let commits = traces
                .values()
                .flatten()
                .filter(|s| s.name == "redis.commit")
                .count();
            async move { (complete >= expected && commits >= 1).then_some(traces) }
        })
        .await;

        // Only the sampled callers' traces, nothing of the untraced calls.
        let mut wanted: HashSet<String> = together.iter().map(|(t, _)| t.clone()).collect();
        wanted.insert(TRACE.to_owned());
        let got: HashSet<String> = traces.keys().cloned().collect();
        assert_eq!(
            got, wanted,
            "no span of an unsampled call ({unsampled_trace})"
        );
        for (service, span) in received.0.lock().unwrap().iter() {
            assert_eq!(service, "fenliu-traces-test");
            for text in strings_of(span) {
                assert!(
                    !text.contains("buyer"),
                    "a buyer id in span {}: {text}",
                    span.name
                );
            }
        }

        // The call alone: caller → dispatcher → worker → decision and commit.
        let spans = &traces[TRACE];
        assert_eq!(spans.len(), 4, "{spans:#?}");
        let [_, worker, decision] = call_chain(spans, CALLER_SPAN);
        assert_eq!(text(decision, "fenliu.reason"), alone.reason.as_str_name());
        let commit = one(spans, "redis.commit", None);
        assert_eq!(commit.parent_span_id, worker.span_id);
        assert_eq!(commit.kind, SpanKind::Client as i32);
        assert_eq!(text(commit, "fenliu.shop"), SHOP);
        assert_eq!(text(commit, "db.system.name"), "redis");
        assert_eq!(int(commit, "fenliu.commit.calls"), 1);
        assert!(commit.links.is_empty());

        // The calls at once: every worker span leads to exactly one commit, as
        // its parent or through a link; a commit counts every call it carries.
        let mut workers = HashMap::new();
        for (trace, caller) in &together {
            let [_, worker, _] = call_chain(&traces[trace], caller);
            workers.insert((worker.trace_id.clone(), worker.span_id.clone()), 0);
        }
        let commits: Vec<&Span> = together
            .iter()
            .flat_map(|(trace, _)| &traces[trace])
            .filter(|s| s.name == "redis.commit")
            .collect();
        let mut largest = 0;
        for commit in &commits {
            let calls = int(commit, "fenliu.commit.calls");
            assert_eq!(calls, 1 + commit.links.len() as i64, "{commit:#?}");
            largest = largest.max(calls);
            let parent = (commit.trace_id.clone(), commit.parent_span_id.clone());
            let linked = commit
                .links
                .iter()
                .map(|l| (l.trace_id.clone(), l.span_id.clone()));
            for call in std::iter::once(parent).chain(linked) {
                *workers.get_mut(&call).expect("a commit of a call sent") += 1;
            }
        }
        assert!(workers.values().all(|&commits| commits == 1), "{workers:?}");
        println!(
            "{TOGETHER} calls at once: {} commits, the largest of {largest} calls",
            commits.len()
        );

        node.stop().await;
        telemetry.shutdown().await;
    })
    .await;
}
