//! `GET /shops/<id>/events`: the shop live, as server-sent events. The stream is
//! the dispatcher's own `WatchShop` for the shop, asked with the caller's token
//! (so a shard move or a worker failover resumes it as for any caller), and
//! `GetShopState` snapshots:
//!
//! - `snapshot`: the whole shop (the JSON of `/state`), first, and again after
//!   each burst of events (at most one per [`REFRESH_AFTER`]): the page never
//!   recomputes positions, occupancy or estimates itself, and never polls.
//! - `shop-event`: one event, its `id` the event's sequence.
//! - `refused`: the stream's end with the gRPC status that ended it.
//!
//! `?after=<sequence>` resumes after the last event the page saw
//! (`from_sequence`). The token travels in the `authorization` header, as on
//! every console request: the page reads the stream with `fetch` rather than
//! `EventSource`, which cannot set headers, so a token never lands in a URL (nor
//! in a proxy's access log or the browser's history).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_server::Routing;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::json;
use super::routes::{ConsoleError, authorized, checked_shop_id};
use crate::forward::Forwarder;

/// How long after an event the snapshot is read again: the events of one burst
/// (a Route that queues, then assigns) cost one `GetShopState`, and the page
/// still shows a change well within a second.
pub const REFRESH_AFTER: Duration = Duration::from_millis(100);

/// The `after` query parameter: the last sequence the page saw, if any.
pub fn resume_after(query: Option<&str>) -> Result<Option<u64>, ConsoleError> {
    let Some(query) = query else {
        return Ok(None);
    };
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name == "after" {
            return value.parse().map(Some).map_err(|_| {
                ConsoleError::bad_input("after", format!("not a sequence number: {value:?}"))
            });
        }
    }
    Ok(None)
}

/// One server-sent event carrying `data` as JSON.
pub fn sse_event(name: &str, data: &serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

pub async fn events(
    State(forwarder): State<Forwarder>,
    Path(shop_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let shop_id = checked_shop_id(shop_id)?;
    let from_sequence = resume_after(query.as_deref())?;
    let watch = authorized(
        &headers,
        pb::WatchShopRequest {
            shop_id: shop_id.clone(),
            from_sequence,
        },
    )?;
    // Refusals of the stream (another shop's token, an unknown shop, a
    // sequence no longer kept) are the answer's status, before any event.
    let mut upstream = forwarder.watch_shop(watch).await?.into_inner();
    let snapshot_request = pb::GetShopStateRequest { shop_id };
    let snapshot = forwarder
        .get_shop_state(authorized(&headers, snapshot_request.clone())?)
        .await?
        .into_inner();
    let (sender, receiver) = mpsc::channel::<Event>(64);
    let _ = sender
        .send(sse_event("snapshot", &json::shop_state(&snapshot)))
        .await;
    tokio::spawn(async move {
        let mut refresh_at: Option<tokio::time::Instant> = None;
        loop {
            let refresh = async {
                match refresh_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let item = tokio::select! {
                () = sender.closed() => return,
                () = refresh => {
                    refresh_at = None;
                    let request = match authorized(&headers, snapshot_request.clone()) {
                        Ok(request) => request,
                        Err(_) => return,
                    };
                    let sent = match forwarder.get_shop_state(request).await {
                        Ok(state) => sender.send(sse_event("snapshot", &json::shop_state(state.get_ref()))).await,
                        Err(status) => sender.send(refusal(&status)).await,
                    };
                    if sent.is_err() {
                        return;
                    }
                    continue;
                }
                item = upstream.next() => item,
            };
            match item {
                Some(Ok(event)) => {
                    let described = sse_event("shop-event", &json::shop_event(&event))
                        .id(event.sequence.to_string());
                    if sender.send(described).await.is_err() {
                        return;
                    }
                    refresh_at.get_or_insert_with(|| tokio::time::Instant::now() + REFRESH_AFTER);
                }
                Some(Err(status)) => {
                    let _ = sender.send(refusal(&status)).await;
                    return;
                }
                None => return,
            }
        }
    });
    let stream = ReceiverStream::new(receiver).map(Ok::<Event, Infallible>);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn refusal(status: &Status) -> Event {
    sse_event("refused", &json::status(status))
}
