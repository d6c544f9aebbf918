//! Forwarding every `Routing` call to the worker that serves its shop, keeping what
//! the caller set: its deadline (`grpc-timeout`) and its metadata, `traceparent`
//! included.
//!
//! Retries stay within the caller's deadline (10 s when it set none). A worker that
//! does not own the shop refuses with UNAVAILABLE and `fenliu-not-owner` before
//! doing anything, so every call is retried on that, after re-reading the
//! membership: this is how calls follow a shard to its new owner. Calls that are
//! safe to repeat (reads, upserts, heartbeats, `RecordReply`, and `Route`, which its request id
//! makes idempotent) are also retried on any other UNAVAILABLE, such as a worker
//! that died mid-call. `EndSession`, `Transfer`, `PullQueued` and removals are not:
//! the caller sees the UNAVAILABLE and decides.
//!
//! A sampled call is traced ([`tracing_context`]): the dispatcher's span is a
//! child of the caller's `traceparent`, and the link carries the dispatcher's own
//! span context to the worker, whose span is its child. `WatchShop` streams are
//! not traced.
//!
//! `WatchShop` streams resume on the shop's new owner when the shard moves or its
//! worker fails: the dispatcher asks the new owner for the events after the last
//! one it passed on (`from_sequence`), which the shop's numbering (kept with its
//! state) makes exact: the caller sees every event once, in order.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fenliu_node::ShutdownSignal;
use fenliu_node::link::{
    EVENT_SEQUENCE_METADATA, LinkedCall, is_attempt_timed_out, is_not_owner, rpc_name,
};
use fenliu_node::metrics::meters::watch_stream_open;
use fenliu_node::tracing_context::{self, Role};
use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_client::RoutingClient;
use fenliu_proto::v1::routing_server::Routing;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};
use tracing::Instrument;

use crate::admission::Admission;
use crate::workers::{Worker, Workers};

/// The deadline of a call whose caller set none.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
/// The longest one attempt of a repeatable call may take before it is abandoned
/// and sent again: a decision takes milliseconds, so an attempt that takes this
/// long is stuck at a worker that froze or vanished without closing its
/// connection. Calls that are not repeatable get the whole deadline.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
/// Kept back from the caller's deadline (a tenth of it, within these bounds), so
/// that the caller hears the last failure (UNAVAILABLE, which it may retry) rather
/// than its own timeout, even on a loaded machine.
const MIN_DEADLINE_MARGIN: Duration = Duration::from_millis(20);
const MAX_DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// How long the dispatcher may spend on a call the caller gave `deadline`.
fn own_budget(deadline: Duration) -> Duration {
    let margin = (deadline / 10).clamp(MIN_DEADLINE_MARGIN, MAX_DEADLINE_MARGIN);
    deadline.saturating_sub(margin)
}
/// The longest pause between two attempts: short, so that a call waiting out a
/// failover reaches the new owner within a fifth of a second of its taking
/// the shard (each retry re-reads the membership, coalesced across calls).
const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// Serves `Routing` by calling the worker of each shop.
#[derive(Debug, Clone)]
pub struct Forwarder {
    /// Where each shop's calls go; shared with the membership task.
    workers: Arc<Workers>,
    /// Ends forwarded WatchShop streams when the dispatcher stops, so that they do
    /// not hold a graceful shutdown open.
    stopping: ShutdownSignal,
    /// Verifies callers (when authentication is on) and cleans their metadata.
    admission: Admission,
}

impl Forwarder {
    pub fn new(workers: Arc<Workers>, stopping: ShutdownSignal, admission: Admission) -> Self {
        Forwarder {
            workers,
            stopping,
            admission,
        }
    }

    /// Whether callers must bring a bearer token.
    pub fn authenticates(&self) -> bool {
        self.admission.authenticates()
    }
}

/// Whether a call may be sent again after an UNAVAILABLE that was not a
/// not-owner refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Repeatable {
    Yes,
    OnlyIfRefused,
}

/// Every request names its shop.
trait ShopScoped {
    fn shop_id(&self) -> &str;
}

/// The call never got an answer from the worker: the connection failed or broke
/// (tonic reports a connection lost mid-call as UNKNOWN "transport error"), or the
/// attempt timed out. Repeatable calls try again; others report it.
fn lost_in_transport(status: &Status) -> bool {
    if status.code() == Code::Unavailable {
        return true;
    }
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.downcast_ref::<tonic::transport::Error>().is_some() {
            return true;
        }
        source = error.source();
    }
    status.code() == Code::Unknown && status.message() == "transport error"
}

/// Reads a `grpc-timeout` header value: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    let duration = match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    Some(duration)
}

fn caller_deadline(metadata: &MetadataMap) -> Duration {
    metadata
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout)
        .unwrap_or(DEFAULT_DEADLINE)
}

/// The request to send on: same message, same metadata, what is left of the
/// caller's deadline.
fn onward<T>(metadata: &MetadataMap, message: T, remaining: Duration) -> Request<T> {
    let mut request = Request::new(message);
    *request.metadata_mut() = metadata.clone();
    request.set_timeout(remaining);
    request
}

impl Forwarder {
    async fn forward<Req, Resp, Call, Fut>(
        &self,
        request: Request<Req>,
        repeatable: Repeatable,
        call: Call,
    ) -> Result<Response<Resp>, Status>
    where
        Req: ShopScoped + Clone,
        Call: Fn(Worker, Request<Req>, Duration) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let deadline = Instant::now() + own_budget(caller_deadline(request.metadata()));
        let (metadata, _, message) = request.into_parts();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt_timeout = match repeatable {
                Repeatable::Yes => remaining.min(ATTEMPT_TIMEOUT),
                Repeatable::OnlyIfRefused => remaining,
            };
            let attempt = match self.workers.worker_for(message.shop_id()) {
                Some(worker) => {
                    let request = onward(&metadata, message.clone(), attempt_timeout);
                    tokio::time::timeout(attempt_timeout, call(worker, request, attempt_timeout))
                        .await
                        .unwrap_or_else(|_| {
                            Err(Status::unavailable("the worker did not answer in time"))
                        })
                }
                None => Err(Status::unavailable("no live worker serves this shop yet")),
            };
            let status = match attempt {
                Ok(response) => return Ok(response),
                // An attempt that ran out of time is a transient failure: say so
                // in the code clients retry on.
                Err(status) if is_attempt_timed_out(&status) => {
                    Status::unavailable("the worker did not answer in time")
                }
                Err(status) => status,
            };
            let retry = is_not_owner(&status)
                || (repeatable == Repeatable::Yes && lost_in_transport(&status));
            if !retry || Instant::now() + backoff >= deadline {
                return Err(status);
            }
            tracing::debug!(shop = message.shop_id(), code = ?status.code(), message = status.message(), "retrying on the shop's current owner");
            self.workers.refresh_soon();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Streams the shop's events from its owner, following the shop when its shard
    /// moves, until the client goes away or the dispatcher stops.
    async fn watch(
        &self,
        request: Request<pb::WatchShopRequest>,
    ) -> Result<Response<ReceiverStream<Result<pb::ShopEvent, Status>>>, Status> {
        let (metadata, _, mut message) = request.into_parts();
        // The first subscription's refusals (an unknown shop) go to the caller.
        let upstream = self.subscribe(&metadata, &message).await?;
        let start = upstream.metadata().get(EVENT_SEQUENCE_METADATA).cloned();
        // Where a resumed subscription follows on from: the last event passed on,
        // or, before the first, the point the first subscription started after.
        let mut resume_after = start
            .as_ref()
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
            .or(message.from_sequence);
        let mut upstream = upstream.into_inner();
        let (sender, receiver) = mpsc::channel(64);
        let forwarder = self.clone();
        let stopping = self.stopping.clone().raised();
        tokio::spawn(async move {
            // Counted as open until the forwarding ends.
            let _open = watch_stream_open();
            tokio::pin!(stopping);
            loop {
                let item = tokio::select! {
                    () = &mut stopping => {
                        let _ = sender
                            .send(Err(Status::unavailable("the dispatcher is shutting down; reconnect")))
                            .await;
                        return;
                    }
                    () = sender.closed() => return,
                    item = upstream.message() => item,
                };
                let ended = match item {
                    Ok(Some(event)) => {
                        resume_after = Some(event.sequence);
                        if sender.send(Ok(event)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    // The worker let go of the shop (its shard moved) or died.
                    Ok(None) => Status::unavailable("the shop's worker ended the stream"),
                    Err(status) => status,
                };
                if ended.code() != Code::Unavailable {
                    let _ = sender.send(Err(ended)).await;
                    return;
                }
                tracing::info!(shop = %message.shop_id, after = ?resume_after, "watch stream lost its worker; resuming on the current owner");
                message.from_sequence = resume_after;
                match forwarder.subscribe(&metadata, &message).await {
                    Ok(resumed) => upstream = resumed.into_inner(),
                    Err(status) => {
                        let _ = sender.send(Err(status)).await;
                        return;
                    }
                }
            }
        });
        let mut response = Response::new(ReceiverStream::new(receiver));
        if let Some(start) = start {
            response
                .metadata_mut()
                .insert(EVENT_SEQUENCE_METADATA, start);
        }
        Ok(response)
    }

    async fn subscribe(
        &self,
        metadata: &MetadataMap,
        message: &pb::WatchShopRequest,
    ) -> Result<Response<tonic::Streaming<pb::ShopEvent>>, Status> {
        let mut request = Request::new(message.clone());
        *request.metadata_mut() = metadata.clone();
        self.forward(
            request,
            Repeatable::Yes,
            |worker, mut request, _| async move {
                // A stream lives as long as the caller wants: it carries no deadline
                // of ours, only the caller's own if it set one.
                if metadata.get("grpc-timeout").is_none() {
                    request.metadata_mut().remove("grpc-timeout");
                }
                RoutingClient::new(worker.channel).watch_shop(request).await
            },
        )
        .await
    }
}

/// Writes the `Routing` impl: each unary call is forwarded the same way. (The
/// whole impl is generated so that `async_trait` sees the expanded methods.)
macro_rules! forwarding_impl {
    ($($method:ident($request:ty) -> $response:ty, $repeatable:expr;)*) => {
        $(
            impl ShopScoped for $request {
                fn shop_id(&self) -> &str {
                    &self.shop_id
                }
            }
        )*

        impl ShopScoped for pb::WatchShopRequest {
            fn shop_id(&self) -> &str {
                &self.shop_id
            }
        }

        #[tonic::async_trait]
        impl Routing for Forwarder {
            $(
                async fn $method(
                    &self,
                    request: Request<$request>,
                ) -> Result<Response<$response>, Status> {
                    let span = tracing_context::caller_span(
                        Role::Dispatcher,
                        rpc_name(<$request as LinkedCall>::METHOD),
                        &request.get_ref().shop_id,
                        request.metadata(),
                    );
                    let answer = async {
                        // Refused before anything else when the dispatcher is full.
                        let _in_flight = self.admission.enter()?;
                        let request = self.admission.admit(request, |r| r.shop_id.as_str())?;
                        self.forward(request, $repeatable, |worker, request, timeout| async move {
                            worker.link.call(request.get_ref(), request.metadata(), timeout).await
                        })
                        .await
                    }
                    .instrument(span.clone())
                    .await;
                    let code = answer.as_ref().map_or_else(Status::code, |_| Code::Ok);
                    tracing_context::record_code(&span, code);
                    answer
                }
            )*

            type WatchShopStream = ReceiverStream<Result<pb::ShopEvent, Status>>;

            async fn watch_shop(
                &self,
                request: Request<pb::WatchShopRequest>,
            ) -> Result<Response<Self::WatchShopStream>, Status> {
                let request = self.admission.admit(request, |r| r.shop_id.as_str())?;
                self.watch(request).await
            }
        }
    };
}

forwarding_impl! {
    upsert_shop(pb::UpsertShopRequest) -> pb::Shop, Repeatable::Yes;
    get_shop(pb::GetShopRequest) -> pb::Shop, Repeatable::Yes;
    upsert_account(pb::UpsertAccountRequest) -> pb::Account, Repeatable::Yes;
    remove_account(pb::RemoveAccountRequest) -> pb::RemoveAccountResponse, Repeatable::OnlyIfRefused;
    upsert_group(pb::UpsertGroupRequest) -> pb::Group, Repeatable::Yes;
    remove_group(pb::RemoveGroupRequest) -> pb::RemoveGroupResponse, Repeatable::OnlyIfRefused;
    set_account_status(pb::SetAccountStatusRequest) -> pb::AccountState, Repeatable::Yes;
    heartbeat(pb::HeartbeatRequest) -> pb::HeartbeatResponse, Repeatable::Yes;
    route(pb::RouteRequest) -> pb::RouteResponse, Repeatable::Yes;
    end_session(pb::EndSessionRequest) -> pb::Session, Repeatable::OnlyIfRefused;
    transfer(pb::TransferRequest) -> pb::Session, Repeatable::OnlyIfRefused;
    pull_queued(pb::PullQueuedRequest) -> pb::Session, Repeatable::OnlyIfRefused;
    get_session(pb::GetSessionRequest) -> pb::Session, Repeatable::Yes;
    get_shop_state(pb::GetShopStateRequest) -> pb::ShopState, Repeatable::Yes;
    // Recording the same reply twice changes nothing (R22).
    record_reply(pb::RecordReplyRequest) -> pb::Session, Repeatable::Yes;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units_are_read_as_the_spec_writes_them() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("10u"), Some(Duration::from_micros(10)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }

    #[test]
    fn onward_keeps_metadata_and_sets_the_remaining_deadline() {
        let mut metadata = MetadataMap::new();
        metadata.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .unwrap(),
        );
        metadata.insert("grpc-timeout", "150m".parse().unwrap());
        assert_eq!(caller_deadline(&metadata), Duration::from_millis(150));
        let request = onward(&metadata, (), Duration::from_millis(120));
        assert_eq!(
            request.metadata().get("traceparent").unwrap(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert_eq!(request.metadata().get("grpc-timeout").unwrap(), "120000u");
    }

    #[test]
    fn the_dispatcher_answers_before_the_callers_deadline() {
        assert_eq!(
            own_budget(Duration::from_secs(1)),
            Duration::from_millis(900)
        );
        assert_eq!(
            own_budget(Duration::from_millis(100)),
            Duration::from_millis(80)
        );
        assert_eq!(
            own_budget(Duration::from_secs(10)),
            Duration::from_millis(9750)
        );
        assert_eq!(own_budget(Duration::from_millis(10)), Duration::ZERO);
    }

    #[test]
    fn transport_failures_are_told_apart_from_answers() {
        assert!(lost_in_transport(&Status::unavailable(
            "connection refused"
        )));
        assert!(lost_in_transport(&Status::unknown("transport error")));
        assert!(is_attempt_timed_out(&fenliu_node::link::attempt_timed_out()));
        assert!(!is_attempt_timed_out(&Status::cancelled(
            "the client went away"
        )));
        assert!(!lost_in_transport(&Status::unknown(
            "something the worker said"
        )));
        assert!(!lost_in_transport(&Status::not_found("shop_id: nope")));
        // A shop over its quota: the caller's to wait for, never retried here.
        assert!(!lost_in_transport(&Status::resource_exhausted(
            "route_rate_limit_per_second: over the limit"
        )));
        assert!(!lost_in_transport(&Status::invalid_argument(
            "buyer_id: empty"
        )));
    }
}
