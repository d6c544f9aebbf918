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
    LinkedCall, attempt_timed_out, entries_of, metadata_from, routing_method_name, rpc_name,
};
use fenliu_node::metrics::Role;
use fenliu_node::metrics::meters::link_call_in_flight;
use fenliu_node::metrics::rpc::record_call;
use fenliu_node::tracing_context;
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
}

impl LinkService {
    pub fn new(routing: RoutingService, stopping: ShutdownSignal, limits: ServerLimits) -> Self {
        LinkService {
            routing,
            stopping,
            limits: Arc::new(limits),
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
        let calls = request.into_inner();
        let (answers, stream) = mpsc::channel(ANSWER_BUFFER);
        tokio::spawn(take_calls(
            calls,
            answers,
            self.routing.clone(),
            self.stopping.clone(),
            self.limits.clone(),
        ));
        Ok(Response::new(ReceiverStream::new(stream)))
    }
}

/// Reads calls until the dispatcher ends the stream or the worker stops, running
/// each in a task of its own. The answer stream ends once every task that holds a
/// sender of it has answered.
async fn take_calls(
    mut calls: Streaming<link::LinkCall>,
    answers: mpsc::Sender<Result<link::LinkAnswer, Status>>,
    routing: RoutingService,
    stopping: ShutdownSignal,
    limits: Arc<ServerLimits>,
) {
    let stopping = stopping.raised();
    tokio::pin!(stopping);
    loop {
        let call = tokio::select! {
            () = &mut stopping => return,
            call = calls.message() => call,
        };
        let Ok(Some(call)) = call else { return };
        let routing = routing.clone();
        let answers = answers.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let answer = answer(&routing, &limits, call).await;
            // The dispatcher went away meanwhile: nobody waits for this answer.
            let _ = answers.send(Ok(answer)).await;
        });
    }
}

/// Runs one call within what is left of its caller's deadline; a request over
/// the size limit is refused undecoded, as a direct call would be. Counted in
/// the worker's call metrics as a direct call is.
async fn answer(
    routing: &RoutingService,
    limits: &ServerLimits,
    call: link::LinkCall,
) -> link::LinkAnswer {
    let started = Instant::now();
    let _in_flight = link_call_in_flight();
    let id = call.id;
    let timeout = (call.timeout_us > 0).then(|| Duration::from_micros(call.timeout_us));
    let metadata = metadata_from(&call.metadata);
    let method = link::LinkMethod::try_from(call.method).unwrap_or_default();
    // A child of the dispatcher's span, when the dispatcher traced the call.
    let span = tracing_context::linked_span(rpc_name(method), &metadata);
    let result = match limits.refuse_request(call.request.len()) {
        Some(refusal) => Err(refusal),
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
        Err(status) => link::LinkAnswer {
            id,
            code: status.code() as i32,
            message: status.message().to_owned(),
            response: Vec::new(),
            metadata: entries_of(status.metadata()),
        },
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
