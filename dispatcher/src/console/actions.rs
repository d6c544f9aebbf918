//! `POST /shops/<id>/actions/...`: what an admin does from the page, each turned
//! into the ordinary gRPC call with the caller's token, so that it is admitted,
//! authorized and checked exactly as any caller's. A body the console cannot read
//! is refused here (400 naming the field) and nothing is sent; anything the API
//! refuses comes back as its status (`{"code", "message"}`), and a refused call
//! changes nothing, as the API promises.
//!
//! - `account-status` `{"account_id", "status": "ONLINE"|"SUSPENDED"|"OFFLINE"}`
//! - `transfer` `{"session_id", "to_account_id", "actor_account_id"}`
//! - `pull` `{"account_id", "queue"}`
//! - `setting` `{"name": <a ShopSettings field>, "value"}`

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_server::Routing;
use serde_json::{Map, Value};
use tonic::Request;

use super::json;
use super::routes::{ConsoleError, authorized, checked_shop_id, json_response};
use crate::forward::Forwarder;

/// The request body: a JSON object.
pub fn body_object(body: &[u8]) -> Result<Map<String, Value>, ConsoleError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ConsoleError::bad_input("body", "must be a JSON object")),
        Err(error) => Err(ConsoleError::bad_input(
            "body",
            format!("not JSON: {error}"),
        )),
    }
}

/// A text field; absent reads as empty (the API then names it if it must be set).
pub fn text(body: &Map<String, Value>, field: &'static str) -> Result<String, ConsoleError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(ConsoleError::bad_input(field, "must be a string")),
    }
}

/// A session id: a decimal string (as the console sends it, beyond JavaScript's
/// exact integers) or a number.
pub fn session_id(body: &Map<String, Value>) -> Result<u64, ConsoleError> {
    let field = "session_id";
    match body.get(field) {
        Some(Value::String(text)) => text
            .parse()
            .map_err(|_| ConsoleError::bad_input(field, format!("not a session id: {text:?}"))),
        Some(Value::Number(number)) => number
            .as_u64()
            .ok_or_else(|| ConsoleError::bad_input(field, "must be a whole number")),
        _ => Err(ConsoleError::bad_input(field, "required")),
    }
}

/// An enum value by its short name (`ONLINE`) or full name
/// (`ACCOUNT_STATUS_ONLINE`).
fn enum_value(
    field: &'static str,
    value: &Value,
    prefix: &str,
    parse: impl Fn(&str) -> Option<i32>,
) -> Result<i32, ConsoleError> {
    let Value::String(name) = value else {
        return Err(ConsoleError::bad_input(field, "must be a string"));
    };
    let full = if name.starts_with(prefix) {
        name.clone()
    } else {
        format!("{prefix}{name}")
    };
    parse(&full)
        .filter(|value| *value != 0)
        .ok_or_else(|| ConsoleError::bad_input(field, format!("unknown value {name:?}")))
}

fn answered(message: Value) -> Response {
    json_response(StatusCode::OK, &message)
}

pub fn account_status_request(
    shop_id: String,
    body: &Map<String, Value>,
) -> Result<pb::SetAccountStatusRequest, ConsoleError> {
    let status = enum_value(
        "status",
        body.get("status").unwrap_or(&Value::Null),
        "ACCOUNT_STATUS_",
        |name| pb::AccountStatus::from_str_name(name).map(|status| status as i32),
    )?;
    Ok(pb::SetAccountStatusRequest {
        shop_id,
        account_id: text(body, "account_id")?,
        status,
    })
}

/// Whether the body is declared JSON. Required: another site's page can post a
/// form or a `text/plain` body to the console without asking, but not JSON,
/// which the browser sends only after a CORS preflight the console never
/// grants; so, with authentication off, no other site can act through an
/// admin's browser.
pub fn declared_json(headers: &HeaderMap) -> Result<(), ConsoleError> {
    let declared = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("application/json"));
    if declared {
        Ok(())
    } else {
        Err(ConsoleError::bad_input(
            "content-type",
            "must be application/json",
        ))
    }
}

/// The gRPC request an action's body asks for (`build` reads it), carrying the
/// caller's token.
fn action_request<T>(
    shop_id: String,
    headers: &HeaderMap,
    body: &[u8],
    build: impl FnOnce(String, &Map<String, Value>) -> Result<T, ConsoleError>,
) -> Result<Request<T>, ConsoleError> {
    declared_json(headers)?;
    let request = build(checked_shop_id(shop_id)?, &body_object(body)?)?;
    authorized(headers, request)
}

pub async fn account_status(
    State(forwarder): State<Forwarder>,
    Path(shop_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let request = action_request(shop_id, &headers, &body, account_status_request)?;
    let state = forwarder.set_account_status(request).await?.into_inner();
    Ok(answered(serde_json::json!({
        "account_id": state.account.map(|account| account.account_id).unwrap_or_default(),
        "status": json::status_name(state.status),
    })))
}

pub fn transfer_request(
    shop_id: String,
    body: &Map<String, Value>,
) -> Result<pb::TransferRequest, ConsoleError> {
    Ok(pb::TransferRequest {
        shop_id,
        session_id: session_id(body)?,
        actor_account_id: text(body, "actor_account_id")?,
        to_account_id: text(body, "to_account_id")?,
    })
}

pub async fn transfer(
    State(forwarder): State<Forwarder>,
    Path(shop_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let request = action_request(shop_id, &headers, &body, transfer_request)?;
    let session = forwarder.transfer(request).await?.into_inner();
    Ok(answered(json::session(&session)))
}

pub fn pull_request(
    shop_id: String,
    body: &Map<String, Value>,
) -> Result<pb::PullQueuedRequest, ConsoleError> {
    Ok(pb::PullQueuedRequest {
        shop_id,
        account_id: text(body, "account_id")?,
        queue: text(body, "queue")?,
    })
}

pub async fn pull(
    State(forwarder): State<Forwarder>,
    Path(shop_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let request = action_request(shop_id, &headers, &body, pull_request)?;
    let session = forwarder.pull_queued(request).await?.into_inner();
    Ok(answered(json::session(&session)))
}

fn whole_seconds(value: &Value) -> Result<u32, ConsoleError> {
    let number = match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    number
        .and_then(|number| u32::try_from(number).ok())
        .ok_or_else(|| ConsoleError::bad_input("value", "must be a whole number"))
}

fn flag(value: &Value) -> Result<bool, ConsoleError> {
    value
        .as_bool()
        .ok_or_else(|| ConsoleError::bad_input("value", "must be true or false"))
}

/// `UpsertShop` changing the one setting `name` (the `ShopSettings` field) to
/// `value`; every other setting is left unset, so it keeps its value.
pub fn setting_request(
    shop_id: String,
    body: &Map<String, Value>,
) -> Result<pb::UpsertShopRequest, ConsoleError> {
    let name = text(body, "name")?;
    let value = body.get("value").unwrap_or(&Value::Null);
    let mut request = pb::UpsertShopRequest {
        shop_id,
        ..Default::default()
    };
    match name.as_str() {
        "routing_mode" => {
            request.routing_mode = Some(enum_value("value", value, "ROUTING_MODE_", |name| {
                pb::RoutingMode::from_str_name(name).map(|mode| mode as i32)
            })?)
        }
        "offline_policy" => {
            request.offline_policy = Some(enum_value("value", value, "OFFLINE_POLICY_", |name| {
                pb::OfflinePolicy::from_str_name(name).map(|policy| policy as i32)
            })?)
        }
        "distribution" => {
            request.distribution = Some(enum_value("value", value, "DISTRIBUTION_", |name| {
                pb::Distribution::from_str_name(name).map(|distribution| distribution as i32)
            })?)
        }
        "queue_timeout_action" => {
            request.queue_timeout_action = Some(enum_value(
                "value",
                value,
                "QUEUE_TIMEOUT_ACTION_",
                |name| pb::QueueTimeoutAction::from_str_name(name).map(|action| action as i32),
            )?)
        }
        "bot_enabled" => request.bot_enabled = Some(flag(value)?),
        "offline_forwarding" => request.offline_forwarding = Some(flag(value)?),
        "reassign_unanswered" => request.reassign_unanswered = Some(flag(value)?),
        "proxy_account_id" => {
            request.proxy_account_id = Some(match value {
                Value::String(text) => text.clone(),
                _ => return Err(ConsoleError::bad_input("value", "must be a string")),
            })
        }
        "affinity_window_seconds" => request.affinity_window_seconds = Some(whole_seconds(value)?),
        "close_delay_seconds" => request.close_delay_seconds = Some(whole_seconds(value)?),
        "default_max_concurrent" => request.default_max_concurrent = Some(whole_seconds(value)?),
        "presence_ttl_seconds" => request.presence_ttl_seconds = Some(whole_seconds(value)?),
        "route_rate_limit_per_second" => {
            request.route_rate_limit_per_second = Some(whole_seconds(value)?)
        }
        "max_queue_wait_seconds" => request.max_queue_wait_seconds = Some(whole_seconds(value)?),
        "reply_timeout_seconds" => request.reply_timeout_seconds = Some(whole_seconds(value)?),
        "max_reassignments" => request.max_reassignments = Some(whole_seconds(value)?),
        "priority_aging_seconds" => request.priority_aging_seconds = Some(whole_seconds(value)?),
        _ => {
            return Err(ConsoleError::bad_input(
                "name",
                format!("not a setting the console changes: {name:?}"),
            ));
        }
    }
    Ok(request)
}

pub async fn setting(
    State(forwarder): State<Forwarder>,
    Path(shop_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let request = action_request(shop_id, &headers, &body, setting_request)?;
    let shop = forwarder.upsert_shop(request).await?.into_inner();
    Ok(answered(serde_json::json!({"shop_id": shop.shop_id})))
}
