//! The console's translations, without servers: proto messages to the page's
//! JSON, events to server-sent events, and bad input refused naming its field.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::Sse;
use fenliu_proto::v1 as pb;
use fenliu_proto::v1::shop_event::Event;
use serde_json::{Value, json};

use super::actions::{
    account_status_request, body_object, declared_json, session_id, setting_request,
};
use super::json::{code_name, shop_event, shop_state};
use super::routes::{ConsoleError, checked_shop_id, http_status};
use super::sse::{resume_after, sse_event};

fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(object) => object,
        _ => unreachable!("the tests pass objects"),
    }
}

async fn body_json(error: ConsoleError) -> (StatusCode, Value) {
    let response = error.into_response();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("the body reads");
    (
        status,
        serde_json::from_slice(&bytes).expect("the body is JSON"),
    )
}

fn field_of(error: ConsoleError) -> &'static str {
    match error {
        ConsoleError::BadInput { field, .. } => field,
        ConsoleError::Refused(status) => panic!("expected bad input, got {status:?}"),
    }
}

#[test]
fn r24_an_unanswered_session_shows_every_account_and_why_it_did_or_did_not_take_it() {
    let candidate = |account: &str, chosen: bool, why: pb::candidate::Why| pb::Candidate {
        account_id: account.into(),
        chosen,
        why: why as i32,
    };
    let event = pb::ShopEvent {
        sequence: 9,
        at_ms: 2_000,
        event: Some(Event::SessionUnanswered(pb::SessionUnanswered {
            session_id: 5,
            buyer_id: "b5".into(),
            account_id: "a1".into(),
            waited_seconds: 30,
            reassigned_to_account_id: "a2".into(),
            candidates: vec![
                candidate("a1", false, pb::candidate::Why::AlreadyTimedOut),
                candidate("a2", true, pb::candidate::Why::Chosen),
                candidate("a3", false, pb::candidate::Why::Full),
            ],
        })),
    };
    let described = shop_event(&event);
    assert_eq!(described["rule"], "R22");
    let candidates = described["candidates"].as_array().expect("candidates");
    let seen: Vec<(String, bool, String)> = candidates
        .iter()
        .map(|c| {
            (
                c["account_id"].as_str().unwrap().to_owned(),
                c["chosen"].as_bool().unwrap(),
                c["why"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("a1".to_owned(), false, "ALREADY_TIMED_OUT".to_owned()),
            ("a2".to_owned(), true, "CHOSEN".to_owned()),
            ("a3".to_owned(), false, "FULL".to_owned()),
        ]
    );
    assert_eq!(
        described["text"],
        "buyer b5 waited 30 s for a1's reply; moved to a2"
    );
}

#[test]
fn r16_a_transfer_event_names_its_rule_the_account_it_came_from_and_the_cause() {
    let event = pb::ShopEvent {
        sequence: 7,
        at_ms: 1_000,
        event: Some(Event::SessionAssigned(pb::SessionAssigned {
            session_id: 42,
            buyer_id: "b1".into(),
            account_id: "a2".into(),
            cause: pb::AssignCause::Transfer as i32,
            reason: 0,
            from_account_id: "a1".into(),
            from_queue: String::new(),
        })),
    };
    let described = shop_event(&event);
    assert_eq!(described["kind"], "session_assigned");
    assert_eq!(described["rule"], "R16");
    assert_eq!(described["cause"], "TRANSFER");
    assert_eq!(described["session_id"], "42");
    assert_eq!(described["sequence"], 7);
    assert_eq!(described["text"], "buyer b1 → a2 from a1 (TRANSFER)");
}

#[test]
fn r20_a_queued_event_carries_position_and_estimate_and_r5_a_rule_assignment_its_reason() {
    let queued = shop_event(&pb::ShopEvent {
        sequence: 1,
        at_ms: 5,
        event: Some(Event::SessionQueued(pb::SessionQueued {
            session_id: 3,
            buyer_id: "b".into(),
            queue: "shop".into(),
            position: 2,
            wait_estimate: Some(pb::WaitEstimate {
                known: true,
                low_seconds: 10,
                high_seconds: 30,
            }),
        })),
    });
    assert_eq!(queued["position"], 2);
    assert_eq!(
        queued["wait_estimate"],
        json!({"known": true, "low_seconds": 10, "high_seconds": 30})
    );
    let by_rule = shop_event(&pb::ShopEvent {
        sequence: 2,
        at_ms: 6,
        event: Some(Event::SessionAssigned(pb::SessionAssigned {
            session_id: 4,
            buyer_id: "b".into(),
            account_id: "a1".into(),
            cause: pb::AssignCause::Rule as i32,
            reason: pb::RouteReason::Affinity as i32,
            ..Default::default()
        })),
    });
    assert_eq!(by_rule["rule"], "R5");
    assert_eq!(by_rule["reason"], "AFFINITY");
    let expired = shop_event(&pb::ShopEvent {
        sequence: 3,
        at_ms: 7,
        event: Some(Event::AccountStatusChanged(pb::AccountStatusChanged {
            account_id: "a1".into(),
            from: pb::AccountStatus::Online as i32,
            to: pb::AccountStatus::Offline as i32,
            presence_expired: true,
        })),
    });
    assert_eq!(expired["rule"], "TTL");
    assert_eq!(expired["from"], "ONLINE");
    assert_eq!(expired["to"], "OFFLINE");
}

#[test]
fn r25_an_account_over_its_capacity_is_marked_with_the_rules_that_allowed_it() {
    let state = pb::ShopState {
        shop: Some(pb::Shop {
            shop_id: "s1".into(),
            profile: pb::Profile::Taobao as i32,
            main_account_id: "main".into(),
            settings: Some(pb::ShopSettings {
                distribution: pb::Distribution::RoundRobin as i32,
                ..Default::default()
            }),
        }),
        accounts: vec![pb::AccountState {
            account: Some(pb::Account {
                account_id: "a1".into(),
                effective_max_concurrent: 2,
                roles: vec![pb::Role::CustomerService as i32],
                ..Default::default()
            }),
            status: pb::AccountStatus::Online as i32,
            occupancy: 3,
            session_ids: vec![u64::MAX],
            overflow_by_rule: vec![pb::RuleCount {
                rule: "R2".into(),
                count: 1,
            }],
            ..Default::default()
        }],
        event_sequence: 9,
        ..Default::default()
    };
    let shown = shop_state(&state);
    let account = &shown["accounts"][0];
    assert_eq!(account["over_capacity"], true);
    assert_eq!(account["status"], "ONLINE");
    assert_eq!(account["roles"], json!(["CUSTOMER_SERVICE"]));
    assert_eq!(
        account["overflow_by_rule"],
        json!([{"rule": "R2", "count": 1}])
    );
    // Beyond JavaScript's exact integers: sent as text.
    assert_eq!(account["session_ids"], json!([u64::MAX.to_string()]));
    assert_eq!(shown["profile"], "TAOBAO");
    assert_eq!(shown["settings"]["distribution"], "ROUND_ROBIN");
    assert_eq!(shown["event_sequence"], 9);
}

#[tokio::test]
async fn an_event_becomes_one_server_sent_event_with_its_name_id_and_json() {
    let event = sse_event("shop-event", &json!({"sequence": 5})).id("5");
    let response = Sse::new(tokio_stream::iter([Ok::<_, std::convert::Infallible>(
        event,
    )]))
    .into_response();
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "an SSE answer"
    );
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        "event: shop-event\ndata: {\"sequence\":5}\nid: 5\n\n"
    );
    assert_eq!(resume_after(Some("after=12")).unwrap(), Some(12));
    assert_eq!(resume_after(None).unwrap(), None);
    assert_eq!(
        field_of(resume_after(Some("after=x")).unwrap_err()),
        "after"
    );
}

#[tokio::test]
async fn a_malformed_shop_id_is_a_400_naming_shop_id() {
    let (status, body) = body_json(checked_shop_id("s".repeat(129)).unwrap_err()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "shop_id");
    assert_eq!(body["code"], "INVALID_ARGUMENT");
    assert!(body["message"].as_str().unwrap().starts_with("shop_id: "));
    assert_eq!(
        field_of(checked_shop_id("a\u{7}b".into()).unwrap_err()),
        "shop_id"
    );
    assert_eq!(checked_shop_id("店铺-1".into()).unwrap(), "店铺-1");
}

#[test]
fn action_bodies_with_a_bad_field_are_refused_naming_it() {
    assert_eq!(field_of(body_object(b"not json").unwrap_err()), "body");
    assert_eq!(field_of(body_object(b"[1]").unwrap_err()), "body");
    let asleep = object(json!({"account_id": "a1", "status": "SLEEPING"}));
    assert_eq!(
        field_of(account_status_request("s".into(), &asleep).unwrap_err()),
        "status"
    );
    let numeric_account = object(json!({"account_id": 5, "status": "ONLINE"}));
    assert_eq!(
        field_of(account_status_request("s".into(), &numeric_account).unwrap_err()),
        "account_id"
    );
    let online = object(json!({"account_id": "a1", "status": "ONLINE"}));
    let request = account_status_request("s".into(), &online).unwrap();
    assert_eq!(request.status, pb::AccountStatus::Online as i32);
    assert_eq!(
        field_of(session_id(&object(json!({"session_id": "x1"}))).unwrap_err()),
        "session_id"
    );
    assert_eq!(
        field_of(session_id(&object(json!({}))).unwrap_err()),
        "session_id"
    );
    assert_eq!(
        session_id(&object(json!({"session_id": "18446744073709551615"}))).unwrap(),
        u64::MAX
    );
    let unknown = object(json!({"name": "colour", "value": 1}));
    assert_eq!(
        field_of(setting_request("s".into(), &unknown).unwrap_err()),
        "name"
    );
    let wrong_type = object(json!({"name": "close_delay_seconds", "value": true}));
    assert_eq!(
        field_of(setting_request("s".into(), &wrong_type).unwrap_err()),
        "value"
    );
}

#[test]
fn a_setting_changes_only_the_field_it_names() {
    let delay = object(json!({"name": "close_delay_seconds", "value": 30}));
    let request = setting_request("s".into(), &delay).unwrap();
    assert_eq!(request.close_delay_seconds, Some(30));
    assert_eq!(
        request,
        pb::UpsertShopRequest {
            shop_id: "s".into(),
            close_delay_seconds: Some(30),
            ..Default::default()
        }
    );
    let policy = object(json!({"name": "offline_policy", "value": "MESSAGE_POOL"}));
    assert_eq!(
        setting_request("s".into(), &policy).unwrap().offline_policy,
        Some(pb::OfflinePolicy::MessagePool as i32)
    );
}

#[test]
fn refusals_keep_their_grpc_code_and_read_as_the_http_status_that_fits() {
    assert_eq!(
        code_name(tonic::Code::PermissionDenied),
        "PERMISSION_DENIED"
    );
    assert_eq!(code_name(tonic::Code::Ok), "OK");
    assert_eq!(
        http_status(tonic::Code::PermissionDenied),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        http_status(tonic::Code::Unauthenticated),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(http_status(tonic::Code::NotFound), StatusCode::NOT_FOUND);
    assert_eq!(
        http_status(tonic::Code::FailedPrecondition),
        StatusCode::CONFLICT
    );
}

#[test]
fn an_action_whose_body_is_not_declared_json_is_refused_naming_content_type() {
    let mut headers = axum::http::HeaderMap::new();
    assert_eq!(
        field_of(declared_json(&headers).unwrap_err()),
        "content-type"
    );
    headers.insert("content-type", "text/plain".parse().unwrap());
    assert_eq!(
        field_of(declared_json(&headers).unwrap_err()),
        "content-type"
    );
    headers.insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );
    assert!(declared_json(&headers).is_ok());
}
