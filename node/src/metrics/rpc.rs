//! Calls counted and timed: `fenliu_rpc_requests_total{role,method,code}` and
//! `fenliu_rpc_duration_seconds{role,method}`.
//!
//! [`MeasuredRpcs`] wraps the `Routing` service of either role. A unary call's
//! code is read where gRPC puts it: the response headers of an answer given at
//! once (an error, "trailers-only"), else the trailers after the message, so
//! its time runs until the last byte of the answer is handed to the
//! connection. A `WatchShop` stream is counted when it opens, with the code it
//! opened with and the time it took to open: its lifetime is no latency (open
//! streams are `fenliu_watch_streams`). A call the caller abandoned before its
//! answer is counted as `CANCELLED`.
//!
//! A worker's calls mostly come on the dispatcher link, one stream carrying
//! many; the link counts each of them with [`record_call`], so that a worker's
//! figures are its calls whichever way they came.
//!
//! Every handle is registered once per (role, method, code): a call costs a
//! clock read, one atomic add and one histogram sample.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::Frame;
use metrics::{Counter, Histogram};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::codegen::{BoxFuture, Bytes, Service};
use tonic::server::NamedService;

use super::names::{RPC_DURATION, RPC_REQUESTS};
use super::recorder::{Handles, Role};

/// The methods of `fenliu.v1.Routing`, each its `method` label (a test checks
/// the list against the API's descriptor).
pub const ROUTING_METHODS: [&str; 16] = [
    "UpsertShop",
    "GetShop",
    "UpsertAccount",
    "RemoveAccount",
    "UpsertGroup",
    "RemoveGroup",
    "SetAccountStatus",
    "Heartbeat",
    "Route",
    "EndSession",
    "Transfer",
    "PullQueued",
    "GetSession",
    "GetShopState",
    "WatchShop",
    "RecordReply",
];
/// The `method` label of a path the API does not have.
pub const UNKNOWN_METHOD: &str = "unknown";
/// Where `WatchShop`, the one streaming method, is in [`ROUTING_METHODS`].
const WATCH_SHOP: usize = 14;
const METHODS: usize = ROUTING_METHODS.len() + 1;

/// gRPC's codes by number, each its `code` label.
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
const CANCELLED: usize = 1;
const UNKNOWN: usize = 2;

/// One role's call handles.
#[derive(Debug)]
struct RpcMeters {
    /// The `role` label.
    role: &'static str,
    /// Counters by method and code, registered when first used (most pairs
    /// never happen, and a series at zero for each would crowd every scrape).
    requests: [[OnceLock<Counter>; CODE_NAMES.len()]; METHODS],
    /// Durations by method, registered when first used.
    durations: [OnceLock<Histogram>; METHODS],
}

fn method_label(method: usize) -> &'static str {
    ROUTING_METHODS
        .get(method)
        .copied()
        .unwrap_or(UNKNOWN_METHOD)
}

impl RpcMeters {
    /// The handles of `role`, with `OK` and the duration of every method of
    /// the API registered at once (so that each is scraped from the start).
    fn register(role: Role) -> RpcMeters {
        let meters = RpcMeters {
            role: role.label(),
            requests: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            durations: std::array::from_fn(|_| OnceLock::new()),
        };
        for method in 0..ROUTING_METHODS.len() {
            meters.requests(method, 0);
            meters.durations(method);
        }
        meters
    }

    fn durations(&self, method: usize) -> &Histogram {
        self.durations[method].get_or_init(|| {
            metrics::histogram!(RPC_DURATION, "role" => self.role, "method" => method_label(method))
        })
    }

    fn requests(&self, method: usize, code: usize) -> &Counter {
        self.requests[method][code].get_or_init(|| {
            metrics::counter!(
                RPC_REQUESTS,
                "role" => self.role,
                "method" => method_label(method),
                "code" => CODE_NAMES[code]
            )
        })
    }

    fn record(&self, method: usize, code: usize, elapsed: Duration) {
        let code = if code < CODE_NAMES.len() {
            code
        } else {
            UNKNOWN
        };
        self.requests(method, code).increment(1);
        self.durations(method).record(elapsed.as_secs_f64());
    }
}

static WORKER: Handles<RpcMeters> = Handles::new(|| RpcMeters::register(Role::Worker));
static DISPATCHER: Handles<RpcMeters> = Handles::new(|| RpcMeters::register(Role::Dispatcher));

fn meters(role: Role) -> Option<&'static RpcMeters> {
    match role {
        Role::Worker => WORKER.get(),
        Role::Dispatcher => DISPATCHER.get(),
    }
}

/// Registers `role`'s call families (see [`super::meters::register_families`]).
pub fn register(role: Role) {
    let _ = meters(role);
}

/// Where `name` (a method of `fenliu.v1.Routing`) is in [`ROUTING_METHODS`].
fn method_index(name: &str) -> usize {
    ROUTING_METHODS
        .iter()
        .position(|method| *method == name)
        .unwrap_or(ROUTING_METHODS.len())
}

/// Counts a call of `method` (its name in `fenliu.v1.Routing`) answered with
/// `code` after `elapsed`: for calls that do not pass through [`MeasuredRpcs`]
/// (those on the dispatcher link).
pub fn record_call(role: Role, method: &str, code: tonic::Code, elapsed: Duration) {
    if let Some(meters) = meters(role) {
        meters.record(method_index(method), code as usize, elapsed);
    }
}

/// The code of a `grpc-status` header or trailer, if there is one.
fn grpc_status(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get("grpc-status")?;
    let code = std::str::from_utf8(value.as_bytes()).ok()?.parse().ok()?;
    Some(if code < CODE_NAMES.len() {
        code
    } else {
        UNKNOWN
    })
}

/// A call not counted yet: counted once with its code, or as `CANCELLED` if
/// it is dropped first (the caller went away).
#[derive(Debug)]
struct Pending {
    meters: &'static RpcMeters,
    /// Where the method is in [`ROUTING_METHODS`].
    method: usize,
    /// When the call came.
    started: Instant,
    /// Counted already.
    counted: bool,
}

impl Pending {
    fn finish(&mut self, code: usize) {
        if !self.counted {
            self.counted = true;
            self.meters
                .record(self.method, code, self.started.elapsed());
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish(CANCELLED);
    }
}

/// A service whose calls are counted and timed, as `role`'s.
#[derive(Debug, Clone)]
pub struct MeasuredRpcs<S> {
    /// The service that answers the calls.
    inner: S,
    /// The `role` label.
    role: Role,
}

impl<S> MeasuredRpcs<S> {
    pub fn new(role: Role, inner: S) -> Self {
        MeasuredRpcs { inner, role }
    }
}

impl<S: NamedService> NamedService for MeasuredRpcs<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<Request<B>> for MeasuredRpcs<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Response<Body>, Infallible>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let Some(meters) = meters(self.role) else {
            return Box::pin(self.inner.call(request));
        };
        let path = request.uri().path();
        let name = path.rsplit_once('/').map_or("", |(_, name)| name);
        let mut pending = Pending {
            meters,
            method: method_index(name),
            started: Instant::now(),
            counted: false,
        };
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            let (parts, body) = response.into_parts();
            let opened = pending.method == WATCH_SHOP;
            match grpc_status(&parts.headers) {
                Some(code) => pending.finish(code),
                None if opened || http_body::Body::is_end_stream(&body) => pending.finish(0),
                None => {
                    let body = Body::new(MeasuredBody {
                        inner: body,
                        pending,
                    });
                    return Ok(Response::from_parts(parts, body));
                }
            }
            Ok(Response::from_parts(parts, body))
        })
    }
}

/// A unary answer's body, counted when its trailers pass.
struct MeasuredBody {
    /// The answer.
    inner: Body,
    /// The call, counted once its code is read.
    pending: Pending,
}

impl http_body::Body for MeasuredBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = grpc_status(trailers).unwrap_or(UNKNOWN);
                    self.pending.finish(code);
                }
            }
            Poll::Ready(Some(Err(status))) => self.pending.finish(status.code() as usize),
            // An answer that ended without trailers carries no code.
            Poll::Ready(None) => self.pending.finish(UNKNOWN),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_labels_are_the_apis_methods() {
        let mut api = crate::auth::scopes::tests::routing_methods();
        api.sort();
        let mut ours: Vec<String> = ROUTING_METHODS.iter().map(|m| (*m).to_owned()).collect();
        ours.sort();
        assert_eq!(ours, api, "ROUTING_METHODS must list the API's methods");
        assert_eq!(ROUTING_METHODS[WATCH_SHOP], "WatchShop");
        assert_eq!(method_index("Route"), 8);
        assert_eq!(method_label(method_index("Nope")), UNKNOWN_METHOD);
    }

    #[test]
    fn code_labels_are_grpcs_names_by_number() {
        for code in [
            tonic::Code::Ok,
            tonic::Code::InvalidArgument,
            tonic::Code::ResourceExhausted,
            tonic::Code::Unavailable,
            tonic::Code::Unauthenticated,
        ] {
            let status = Status::new(code, "x");
            let mut headers = HeaderMap::new();
            status.add_header(&mut headers).unwrap();
            let index = grpc_status(&headers).unwrap();
            assert_eq!(index, code as usize);
            let shown = format!("{code:?}").to_uppercase();
            assert_eq!(CODE_NAMES[index].replace('_', ""), shown);
        }
        let mut odd = HeaderMap::new();
        odd.insert("grpc-status", "99".parse().unwrap());
        assert_eq!(grpc_status(&odd), Some(UNKNOWN));
    }
}
