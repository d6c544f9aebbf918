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

use std::time::Duration;

use fenliu_proto::internal::v1 as link;
use fenliu_proto::internal::v1::worker_link_server::WorkerLink;
use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_server::Routing;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{KeyAndValueRef, MetadataKey, MetadataMap, MetadataValue};
use tonic::{Request, Response, Status, Streaming};

use super::RoutingService;
use crate::server::ShutdownSignal;

/// Answers that may wait for the dispatcher to read them before calls block.
const ANSWER_BUFFER: usize = 1024;

/// A request message of a linked `Routing` method.
pub trait LinkedCall: Message + Default + Send + 'static {
    const METHOD: link::LinkMethod;
    type Response: Message + Default + Send + 'static;
}

/// Serves the link with `routing`.
#[derive(Debug, Clone)]
pub struct LinkService {
    routing: RoutingService,
    stopping: ShutdownSignal,
}

impl LinkService {
    pub fn new(routing: RoutingService, stopping: ShutdownSignal) -> Self {
        LinkService { routing, stopping }
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
        tokio::spawn(async move {
            let answer = answer(&routing, call).await;
            // The dispatcher went away meanwhile: nobody waits for this answer.
            let _ = answers.send(Ok(answer)).await;
        });
    }
}

/// Runs one call within what is left of its caller's deadline.
async fn answer(routing: &RoutingService, call: link::LinkCall) -> link::LinkAnswer {
    let id = call.id;
    let timeout = (call.timeout_us > 0).then(|| Duration::from_micros(call.timeout_us));
    let metadata = metadata_from(&call.metadata);
    let method = link::LinkMethod::try_from(call.method).unwrap_or_default();
    let run = dispatch(routing, method, &call.request, metadata);
    let result = match timeout {
        // tonic's words for a deadline a server enforced, as on a direct call.
        Some(timeout) => tokio::time::timeout(timeout, run)
            .await
            .unwrap_or_else(|_| Err(Status::cancelled("Timeout expired"))),
        None => run.await,
    };
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

/// The metadata a call carries, as the `Routing` service reads it from a direct
/// call. Entries that are not valid metadata are left out.
pub fn metadata_from(entries: &[link::MetadataEntry]) -> MetadataMap {
    let mut metadata = MetadataMap::with_capacity(entries.len());
    for entry in entries {
        let key = MetadataKey::from_bytes(entry.key.as_bytes());
        let value = MetadataValue::try_from(entry.value.as_str());
        if let (Ok(key), Ok(value)) = (key, value) {
            metadata.append(key, value);
        }
    }
    metadata
}

/// A map's ASCII entries, except the ones gRPC itself sets on every hop (the
/// deadline travels as `timeout_us`).
pub fn entries_of(metadata: &MetadataMap) -> Vec<link::MetadataEntry> {
    metadata
        .iter()
        .filter_map(|entry| match entry {
            KeyAndValueRef::Ascii(key, value) => Some((key.as_str(), value.to_str().ok()?)),
            KeyAndValueRef::Binary(..) => None,
        })
        .filter(|(key, _)| !is_transport_header(key))
        .map(|(key, value)| link::MetadataEntry {
            key: key.to_owned(),
            value: value.to_owned(),
        })
        .collect()
}

fn is_transport_header(key: &str) -> bool {
    key.starts_with("grpc-") || matches!(key, "te" | "content-type" | "user-agent")
}

/// Writes [`LinkedCall`] for each linked method and the dispatch from a method to
/// the `Routing` code that serves it.
macro_rules! linked_methods {
    ($($variant:ident: $method:ident($request:ty) -> $response:ty;)*) => {
        $(
            impl LinkedCall for $request {
                const METHOD: link::LinkMethod = link::LinkMethod::$variant;
                type Response = $response;
            }
        )*

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

linked_methods! {
    UpsertShop: upsert_shop(pb::UpsertShopRequest) -> pb::Shop;
    GetShop: get_shop(pb::GetShopRequest) -> pb::Shop;
    UpsertAccount: upsert_account(pb::UpsertAccountRequest) -> pb::Account;
    RemoveAccount: remove_account(pb::RemoveAccountRequest) -> pb::RemoveAccountResponse;
    UpsertGroup: upsert_group(pb::UpsertGroupRequest) -> pb::Group;
    RemoveGroup: remove_group(pb::RemoveGroupRequest) -> pb::RemoveGroupResponse;
    SetAccountStatus: set_account_status(pb::SetAccountStatusRequest) -> pb::AccountState;
    Heartbeat: heartbeat(pb::HeartbeatRequest) -> pb::HeartbeatResponse;
    Route: route(pb::RouteRequest) -> pb::RouteResponse;
    EndSession: end_session(pb::EndSessionRequest) -> pb::Session;
    Transfer: transfer(pb::TransferRequest) -> pb::Session;
    PullQueued: pull_queued(pb::PullQueuedRequest) -> pb::Session;
    GetSession: get_session(pb::GetSessionRequest) -> pb::Session;
    GetShopState: get_shop_state(pb::GetShopStateRequest) -> pb::ShopState;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_crosses_the_link_without_the_transport_headers() {
        let mut metadata = MetadataMap::new();
        metadata.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .unwrap(),
        );
        metadata.insert("fenliu-not-owner", "7".parse().unwrap());
        metadata.insert("grpc-timeout", "150m".parse().unwrap());
        metadata.insert("te", "trailers".parse().unwrap());
        let entries = entries_of(&metadata);
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["traceparent", "fenliu-not-owner"]);
        let back = metadata_from(&entries);
        assert_eq!(back.get("fenliu-not-owner").unwrap(), "7");
        assert_eq!(
            back.get("traceparent").unwrap(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert!(back.get("grpc-timeout").is_none());
    }
}
