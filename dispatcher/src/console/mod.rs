//! The live shop console: a page per shop on the dispatcher's console port
//! (`--console-listen`), at `/shops/<shop_id>`, and the JSON it reads and acts
//! through. Everything goes through the dispatcher's own [`Forwarder`], the path
//! of any gRPC caller: the caller's bearer token is admitted there, the worker
//! decides what its shops and scopes allow, and a stream follows the shop across
//! shard moves and worker failures as any `WatchShop` does.
//!
//! - [`routes`]: the page and its assets (built into the binary), the snapshot
//!   (`GET /shops/<id>/state`), and what every handler shares: the shop id
//!   check, the caller's token, refusals as JSON.
//! - [`sse`]: `GET /shops/<id>/events`, server-sent events fed by `WatchShop`.
//! - [`actions`]: `POST /shops/<id>/actions/...`: status, transfer, pull, setting.
//! - [`json`]: the messages as the page reads them.
//! - [`host_check`]: with authentication off, only requests addressed to an IP
//!   address or `localhost` (no DNS rebinding).

pub mod actions;
pub mod host_check;
pub mod json;
pub mod routes;
pub mod sse;

use std::future::Future;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::forward::Forwarder;

/// Every console route, served with `forwarder`.
pub fn router(forwarder: Forwarder) -> Router {
    let authenticates = forwarder.authenticates();
    Router::new()
        .route("/", get(routes::index))
        .route("/console.css", get(routes::stylesheet))
        .route("/console.js", get(routes::script))
        .route("/shops/{shop_id}", get(routes::page))
        .route("/shops/{shop_id}/state", get(routes::state))
        .route("/shops/{shop_id}/events", get(sse::events))
        .route(
            "/shops/{shop_id}/sessions/{session_id}",
            get(routes::session),
        )
        .route(
            "/shops/{shop_id}/actions/account-status",
            post(actions::account_status),
        )
        .route("/shops/{shop_id}/actions/transfer", post(actions::transfer))
        .route("/shops/{shop_id}/actions/pull", post(actions::pull))
        .route("/shops/{shop_id}/actions/setting", post(actions::setting))
        .with_state(forwarder)
        .layer(axum::middleware::from_fn(move |request, next| {
            host_check::addressed_safely(authenticates, request, next)
        }))
}

/// Serves the console on `listener` until `shutdown`. Open event streams end
/// with the dispatcher's own `WatchShop` streams when it stops.
pub async fn serve(
    listener: TcpListener,
    forwarder: Forwarder,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let address = listener.local_addr().ok();
    tracing::info!(?address, "dispatcher serving the shop console");
    let served = axum::serve(listener, router(forwarder))
        .with_graceful_shutdown(shutdown)
        .await;
    if let Err(error) = served {
        tracing::warn!(%error, "the console port stopped serving");
    }
}

#[cfg(test)]
mod tests;
