//! The worker's end of the dispatcher link (`fenliu.internal.v1.WorkerLink`): many
//! `Routing` calls on one long-lived stream, each answered by the same
//! [`RoutingService`] code a direct call reaches, so a call means the same thing
//! whichever way it came.
//!
//! Each call runs as a task of its own (calls about different shops never wait for
//! each other, and calls about one shop share its commits); answers go back as they
//! finish. When the worker stops it reads no more calls, answers those it took,
//! then ends the stream: the dispatcher sends what it has not been answered to the
//! shop's next owner, as it would a call whose connection closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fenliu_node::link::{
    LINK_VERSION_METADATA, LinkedCall, agree_link_version, attempt_timed_out, entries_of,
    metadata_from, routing_method_name, rpc_name,
};
use fenliu_node::metrics::Role;
use fenliu_node::metrics::meters::link_call_in_flight;
use fenliu_node::metrics::rpc::record_call;
use fenliu_node::overload::{Bound, InFlightLimit, overloaded};
use fenliu_node::server_limits::WORKER_MAX_IN_FLIGHT;
use fenliu_node::tracing_context;
use fenliu_node::versions::Window;
use fenliu_node::{ServerLimits, ShutdownSignal};
use fenliu_proto::internal::v1 as link;
use fenliu_proto::internal::v1::worker_link_server::WorkerLink;
use fenliu_proto::v1::routing_server::Routing;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::Instrument;

use super::service::RoutingService;

/// Answers that may wait for the dispatcher to read them before calls block.
const ANSWER_BUFFER: usize = 1024;

/// Serves the link with `routing`.
#[derive(Debug, Clone)]
pub struct LinkService {
    /// The same service a direct call reaches, so a call means the same either way.
    routing: RoutingService,
    /// Stops reading calls when the worker stops (those taken are answered).
    stopping: ShutdownSignal,
    /// The request size limit a direct call is held to, which each linked
    /// call's own request is held to as well.
    limits: Arc<ServerLimits>,
    /// The linked calls being served, from all dispatchers together, bounded
    /// by `--max-in-flight`.
    in_flight: Arc<InFlightLimit>,
    /// The link versions this worker speaks: a dispatcher of a release whose
    /// versions are all outside them is refused when its stream opens.
    versions: Window,
}

impl LinkService {
    pub fn new(
        routing: RoutingService,
        stopping: ShutdownSignal,
        limits: ServerLimits,
        versions: Window,
    ) -> Self {
        let in_flight = InFlightLimit::new(limits.max_in_flight(WORKER_MAX_IN_FLIGHT));
        LinkService {
            routing,
            stopping,
            limits: Arc::new(limits),
            in_flight: Arc::new(in_flight),
            versions,
        }
    }
}

#[tonic::async_trait]
impl WorkerLink for LinkService {
    type ExchangeStream = ReceiverStream<Result<link::LinkAnswer, Status>>;

    async fn exchange(
        &self,
        request: Request<Streaming<link::LinkCall>>,
    ) -> Result<Response<Self::ExchangeStream>, Status> {
        // Refused before a call is read: calls of a version this worker does
        // not speak could mean something else than they say.
        let version =
            agree_link_version(self.versions, request.metadata()).inspect_err(|refusal| {
                tracing::warn!(message = refusal.message(), "link stream refused");
            })?;
        let calls = request.into_inner();
        let (answers, stream) = mpsc::channel(ANSWER_BUFFER);
        tokio::spawn(take_calls(calls, answers, self.clone()));
        let mut response = Response::new(ReceiverStream::new(stream));
        response
            .metadata_mut()
            .insert(LINK_VERSION_METADATA, version.into());
        Ok(response)
    }
}

/// Reads calls until the dispatcher ends the stream or the worker stops, running
/// each in a task of its own. The answer stream ends once every task that holds a
/// sender of it has answered.
async fn take_calls(
    mut calls: Streaming<link::LinkCall>,
    answers: mpsc::Sender<Result<link::LinkAnswer, Status>>,
    service: LinkService,
) {
    let stopping = service.stopping.clone().raised();
    tokio::pin!(stopping);
    loop {
        let call = tokio::select! {
            () = &mut stopping => return,
            call = calls.message() => call,
        };
        let Ok(Some(call)) = call else { return };
        let received = Instant::now();
        // Counted from here: a call waiting for its task's turn is in flight.
        let permit = service.in_flight.try_enter();
        let service = service.clone();
        let answers = answers.clone();
        tokio::spawn(async move {
            let answer = match permit {
                Some(_permit) => answer(&service.routing, &service.limits, call, received).await,
                None => refused(call.id, node_full(&service.in_flight)),
            };
            // The dispatcher went away meanwhile: nobody waits for this answer.
            let _ = answers.send(Ok(answer)).await;
        });
    }
}

/// The refusal of a call past the worker's bound on calls in flight.
fn node_full(in_flight: &InFlightLimit) -> Status {
    overloaded(
        Role::Worker,
        Bound::Node,
        format!(
            "the worker is overloaded: {} calls in flight; retry shortly",
            in_flight.limit()
        ),
    )
}

/// Runs one call within what is left of its caller's deadline, counted from
/// when it was `received`: a call whose deadline passed while it waited for
/// its turn is refused without being run, since nobody waits for its answer
/// any more. A request over the size limit is refused undecoded, as a direct
/// call would be. Counted in the worker's call metrics as a direct call is.
async fn answer(
    routing: &RoutingService,
    limits: &ServerLimits,
    call: link::LinkCall,
    received: Instant,
) -> link::LinkAnswer {
    let started = Instant::now();
    let _in_flight = link_call_in_flight();
    let id = call.id;
    let timeout = (call.timeout_us > 0)
        .then(|| Duration::from_micros(call.timeout_us).saturating_sub(received.elapsed()));
    let metadata = metadata_from(&call.metadata);
    let method = link::LinkMethod::try_from(call.method).unwrap_or_default();
    // A child of the dispatcher's span, when the dispatcher traced the call.
    let span = tracing_context::linked_span(rpc_name(method), &metadata);
    let result = match limits.refuse_request(call.request.len()) {
        Some(refusal) => Err(refusal),
        None if timeout == Some(Duration::ZERO) => Err(overloaded(
            Role::Worker,
            Bound::Deadline,
            "the worker is overloaded: the call's deadline passed before its turn came",
        )),
        None => {
            let run = dispatch(routing, method, &call.request, metadata).instrument(span.clone());
            match timeout {
                Some(timeout) => tokio::time::timeout(timeout, run)
                    .await
                    .unwrap_or_else(|_| Err(attempt_timed_out())),
                None => run.await,
            }
        }
    };
    let code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
    tracing_context::record_code(&span, code);
    record_call(
        Role::Worker,
        routing_method_name(method),
        code,
        started.elapsed(),
    );
    match result {
        Ok(response) => link::LinkAnswer {
            id,
            code: 0,
            response,
            ..Default::default()
        },
        Err(status) => refused(id, status),
    }
}

/// The answer to call `id` that carries `status`.
fn refused(id: u64, status: Status) -> link::LinkAnswer {
    link::LinkAnswer {
        id,
        code: status.code() as i32,
        message: status.message().to_owned(),
        response: Vec::new(),
        metadata: entries_of(status.metadata()),
    }
}

/// Decodes the request, runs the `Routing` method on it and encodes its response.
async fn run_linked<R: LinkedCall, F>(
    bytes: &[u8],
    metadata: MetadataMap,
    method: impl FnOnce(Request<R>) -> F,
) -> Result<Vec<u8>, Status>
where
    F: Future<Output = Result<Response<R::Response>, Status>>,
{
    let message = R::decode(bytes)
        .map_err(|error| Status::invalid_argument(format!("undecodable request: {error}")))?;
    let mut request = Request::new(message);
    *request.metadata_mut() = metadata;
    Ok(method(request).await?.into_inner().encode_to_vec())
}

/// Writes the dispatch from a linked method to the `Routing` code that serves it,
/// from the list both ends of the link share.
macro_rules! dispatch_linked_methods {
    ($($variant:ident: $method:ident($request:ty) -> $response:ty;)*) => {
        async fn dispatch(
            routing: &RoutingService,
            method: link::LinkMethod,
            bytes: &[u8],
            metadata: MetadataMap,
        ) -> Result<Vec<u8>, Status> {
            match method {
                $(
                    link::LinkMethod::$variant => {
                        run_linked::<$request, _>(bytes, metadata, |request| {
                            Routing::$method(routing, request)
                        })
                        .await
                    }
                )*
                link::LinkMethod::Unspecified => {
                    Err(Status::unimplemented("method: not a linked Routing method"))
                }
            }
        }
    };
}

fenliu_node::with_linked_methods!(dispatch_linked_methods);
