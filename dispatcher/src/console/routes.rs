//! The console's page, its assets (built into the binary: the console works
//! without any network but the dispatcher's), the JSON snapshot, and what every
//! handler shares: the shop id's check, the caller's bearer token carried onto the
//! gRPC request, and refusals as JSON.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_server::Routing;
use serde_json::json;
use tonic::{Code, Request, Status};

use super::json;
use crate::forward::Forwarder;

const PAGE: &str = include_str!("assets/console.html");
const STYLESHEET: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");

/// The longest id the API takes (shop, account, buyer ids are 1 to 128 bytes).
const MAX_ID_BYTES: usize = 128;

/// Why the console refused or could not answer a request.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The request itself is malformed: nothing was sent on.
    #[error("{field}: {reason}")]
    BadInput {
        /// The field at fault, as the page and the API name it.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The gRPC call refused (or failed): its status, as the API gave it.
    #[error("{}: {}", .0.code(), .0.message())]
    Refused(Status),
}

impl ConsoleError {
    pub fn bad_input(field: &'static str, reason: impl Into<String>) -> ConsoleError {
        ConsoleError::BadInput {
            field,
            reason: reason.into(),
        }
    }
}

impl From<Status> for ConsoleError {
    fn from(status: Status) -> ConsoleError {
        ConsoleError::Refused(status)
    }
}

/// The HTTP status a gRPC code reads as, so that the page (and curl) can tell a
/// refusal from a failure without reading the body.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ConsoleError::BadInput { field, .. } => (
                StatusCode::BAD_REQUEST,
                json!({"code": "INVALID_ARGUMENT", "field": field, "message": self.to_string()}),
            ),
            ConsoleError::Refused(refusal) => (http_status(refusal.code()), json::status(refusal)),
        };
        json_response(status, &body)
    }
}

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// A shop id as the API takes it: 1 to 128 bytes of text without control
/// characters (the path is already percent-decoded).
pub fn checked_shop_id(shop_id: String) -> Result<String, ConsoleError> {
    if shop_id.is_empty() || shop_id.len() > MAX_ID_BYTES {
        return Err(ConsoleError::bad_input(
            "shop_id",
            format!("must be 1 to {MAX_ID_BYTES} bytes, got {}", shop_id.len()),
        ));
    }
    if shop_id.chars().any(char::is_control) {
        return Err(ConsoleError::bad_input(
            "shop_id",
            "must not hold control characters",
        ));
    }
    Ok(shop_id)
}

/// `message` as a gRPC request carrying the caller's `authorization` header, as
/// any caller's would: the dispatcher's admission verifies it.
pub fn authorized<T>(headers: &HeaderMap, message: T) -> Result<Request<T>, ConsoleError> {
    let mut request = Request::new(message);
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| ConsoleError::bad_input("authorization", "not a valid header value"))?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

pub async fn index() -> Html<&'static str> {
    Html(
        "<!doctype html><title>fenliu console</title><p>Open <code>/shops/&lt;shop_id&gt;</code> \
         for a shop's live console.</p>",
    )
}

pub async fn page(Path(shop_id): Path<String>) -> Result<Response, ConsoleError> {
    checked_shop_id(shop_id)?;
    // The page reads its shop id from its own address; nothing is templated in.
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(PAGE)).into_response())
}

pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// `GET /shops/<id>/state`: `GetShopState` as JSON.
pub async fn state(
    State(forwarder): State<Forwarder>,
    Path(shop_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let shop_id = checked_shop_id(shop_id)?;
    let request = authorized(&headers, pb::GetShopStateRequest { shop_id })?;
    let state = forwarder.get_shop_state(request).await?.into_inner();
    Ok(json_response(StatusCode::OK, &json::shop_state(&state)))
}

/// `GET /shops/<id>/sessions/<session_id>`: `GetSession` as JSON (the page's
/// session explanation).
pub async fn session(
    State(forwarder): State<Forwarder>,
    Path((shop_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let shop_id = checked_shop_id(shop_id)?;
    let session_id = session_id.parse().map_err(|_| {
        ConsoleError::bad_input("session_id", format!("not a session id: {session_id:?}"))
    })?;
    let request = authorized(
        &headers,
        pb::GetSessionRequest {
            shop_id,
            session_id,
        },
    )?;
    let session = forwarder.get_session(request).await?.into_inner();
    Ok(json_response(StatusCode::OK, &json::session(&session)))
}
