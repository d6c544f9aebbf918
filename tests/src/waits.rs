//! Waiting for something to happen, within [`WAIT_TIMEOUT`]: by polling calls
//! ([`wait_for`] and friends), or, for what happens with nobody calling, on the
//! shop's `WatchShop` stream ([`watch`], [`next_event`], [`drain_to_end`]).

use std::future::Future;

use tokio_stream::StreamExt;
use tonic::{Status, Streaming};

use fenliu_proto::v1 as pb;

use crate::calls::{Client, get_session, shop_state};
use crate::limits::{POLL_INTERVAL, WAIT_TIMEOUT};

// ------------------------------------------------------------------ polling

/// Polls `probe` until it returns `Some`, for at most [`WAIT_TIMEOUT`].
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {WAIT_TIMEOUT:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls `GetSession` until `condition` holds; returns the session then.
pub async fn wait_for_session(
    client: &Client,
    shop_id: &str,
    session_id: u64,
    what: &str,
    condition: impl Fn(&pb::Session) -> bool,
) -> pb::Session {
    let condition = &condition;
    let mut last = None;
    let last_seen = &mut last;
    let found = tokio::time::timeout(WAIT_TIMEOUT, async move {
        loop {
            let mut client = client.clone();
            let session = get_session(&mut client, shop_id, session_id).await;
            if condition(&session) {
                return session;
            }
            *last_seen = Some(session);
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!("timed out after {WAIT_TIMEOUT:?} waiting for session {session_id} of {shop_id}: {what}; last seen {last:?}")
    })
}

/// Polls `GetShopState` until `condition` holds; returns the state then.
pub async fn wait_for_state(
    client: &Client,
    shop_id: &str,
    what: &str,
    condition: impl Fn(&pb::ShopState) -> bool,
) -> pb::ShopState {
    let condition = &condition;
    let mut last = None;
    let last_seen = &mut last;
    let found = tokio::time::timeout(WAIT_TIMEOUT, async move {
        loop {
            let mut client = client.clone();
            let state = shop_state(&mut client, shop_id).await;
            if condition(&state) {
                return state;
            }
            *last_seen = Some(state);
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!("timed out after {WAIT_TIMEOUT:?} waiting for {shop_id}: {what}; last seen {last:?}")
    })
}

/// Waits until the server's clock (`ShopState.now_ms`) has passed `at_ms`: for
/// what the API cannot show, such as an affinity window running out.
pub async fn wait_until_server_time(client: &Client, shop_id: &str, at_ms: u64) {
    wait_for_state(
        client,
        shop_id,
        &format!("server time past {at_ms}"),
        |state| state.now_ms > at_ms,
    )
    .await;
}

// ------------------------------------------------------------------ events

/// Subscribes to a shop's events.
pub async fn watch(client: &mut Client, shop_id: &str) -> Streaming<pb::ShopEvent> {
    client
        .watch_shop(pb::WatchShopRequest {
            shop_id: shop_id.to_owned(),
            from_sequence: None,
        })
        .await
        .unwrap_or_else(|status| panic!("watch {shop_id}: {status:?}"))
        .into_inner()
}

/// The next event of a stream, within [`WAIT_TIMEOUT`]; panics if the stream ends
/// or fails first.
pub async fn next_event(stream: &mut Streaming<pb::ShopEvent>) -> pb::ShopEvent {
    match tokio::time::timeout(WAIT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(status))) => panic!("the event stream failed: {status:?}"),
        Ok(None) => panic!("the event stream ended"),
        Err(_) => panic!("no event within {WAIT_TIMEOUT:?}"),
    }
}

/// Waits for the stream to end, within [`WAIT_TIMEOUT`]; returns what came before
/// the end (events, or an error status ending it).
pub async fn drain_to_end(
    stream: &mut Streaming<pb::ShopEvent>,
) -> Vec<Result<pb::ShopEvent, Status>> {
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(WAIT_TIMEOUT, async {
        while let Some(item) = stream.next().await {
            seen.push(item);
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the event stream did not end within {WAIT_TIMEOUT:?}; received {seen:?}"
    );
    seen
}
