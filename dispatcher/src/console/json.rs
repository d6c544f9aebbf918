//! The console's JSON: `fenliu.v1` messages as the page reads them. Enum values
//! become their short names (`ONLINE`, not `ACCOUNT_STATUS_ONLINE`), every event
//! names the rule or cause behind it (`rule`) and says what happened in a
//! sentence (`text`), so that the page only lays them out.

use fenliu_proto::v1 as pb;
use fenliu_proto::v1::shop_event::Event;
use serde_json::{Value, json};

/// The short name of a proto enum value: its name without the enum's prefix;
/// `UNSPECIFIED` for a value this build does not know.
macro_rules! short_name {
    ($enum:ty, $value:expr, $prefix:literal) => {
        <$enum>::try_from($value)
            .map(|known| known.as_str_name().trim_start_matches($prefix))
            .unwrap_or("UNSPECIFIED")
    };
}

pub(crate) fn status_name(value: i32) -> &'static str {
    short_name!(pb::AccountStatus, value, "ACCOUNT_STATUS_")
}

pub(crate) fn reason_name(value: i32) -> &'static str {
    short_name!(pb::RouteReason, value, "ROUTE_REASON_")
}

pub(crate) fn cause_name(value: i32) -> &'static str {
    short_name!(pb::AssignCause, value, "ASSIGN_CAUSE_")
}

/// The rule a route reason stands for, as the rules write it.
pub(crate) fn reason_rule(value: i32) -> &'static str {
    match pb::RouteReason::try_from(value) {
        Ok(pb::RouteReason::OpenSession) => "R1",
        Ok(pb::RouteReason::Addressed) => "R2",
        Ok(pb::RouteReason::AddressedOffline) => "R3",
        Ok(pb::RouteReason::NoParticipants) => "R4",
        Ok(pb::RouteReason::Affinity) => "R5",
        Ok(pb::RouteReason::Group) => "R7a",
        Ok(pb::RouteReason::AnyOnline) => "R7c",
        Ok(pb::RouteReason::Even) => "R8",
        // R7b, R7c, R8 or R13a: every one of them queues for want of a free slot.
        Ok(pb::RouteReason::Queued) => "R13a",
        Ok(pb::RouteReason::OfflineList) => "R13b",
        Ok(pb::RouteReason::MessagePool) => "R13c",
        Ok(pb::RouteReason::Proxy) => "R13d",
        Ok(pb::RouteReason::MainAccount) => "R13e",
        Ok(pb::RouteReason::QueueTimeout) => "R21",
        _ => "",
    }
}

/// The rule behind an assignment: its route reason's when a rule placed it.
pub(crate) fn assignment_rule(cause: i32, reason: i32) -> &'static str {
    match pb::AssignCause::try_from(cause) {
        Ok(pb::AssignCause::Rule) => reason_rule(reason),
        Ok(pb::AssignCause::Queue) => "R14",
        Ok(pb::AssignCause::Manual) => "R16",
        Ok(pb::AssignCause::Transfer) => "R16",
        Ok(pb::AssignCause::Pull) => "R17",
        Ok(pb::AssignCause::QueueTimeout) => "R21",
        Ok(pb::AssignCause::ReplyTimeout) => "R22",
        _ => "",
    }
}

fn wait_estimate(estimate: Option<&pb::WaitEstimate>) -> Value {
    match estimate {
        Some(estimate) if estimate.known => {
            json!({"known": true, "low_seconds": estimate.low_seconds, "high_seconds": estimate.high_seconds})
        }
        _ => json!({"known": false}),
    }
}

fn candidates(candidates: &[pb::Candidate]) -> Value {
    candidates
        .iter()
        .map(|candidate| {
            json!({
                "account_id": candidate.account_id,
                "chosen": candidate.chosen,
                "why": short_name!(pb::candidate::Why, candidate.why, "WHY_"),
            })
        })
        .collect()
}

pub(crate) fn session(session: &pb::Session) -> Value {
    json!({
        "session_id": session.session_id.to_string(),
        "buyer_id": session.buyer_id,
        "state": short_name!(pb::SessionState, session.state, "SESSION_STATE_"),
        "account_id": session.account_id,
        "order_status": short_name!(pb::OrderStatus, session.order_status, "ORDER_STATUS_"),
        "queue": session.queue,
        "queue_position": session.queue_position,
        "created_at_ms": session.created_at_ms,
        "closes_at_ms": session.closes_at_ms,
        "reason": reason_name(session.reason),
        "rule": reason_rule(session.reason),
        "wait_estimate": wait_estimate(session.wait_estimate.as_ref()),
        "priority": session.priority,
        "reply_due_at_ms": session.reply_due_at_ms,
        "reassignments": session.reassignments,
        "timed_out_account_ids": session.timed_out_account_ids,
    })
}

fn settings(settings: &pb::ShopSettings) -> Value {
    json!({
        "routing_mode": short_name!(pb::RoutingMode, settings.routing_mode, "ROUTING_MODE_"),
        "affinity_window_seconds": settings.affinity_window_seconds,
        "bot_enabled": settings.bot_enabled,
        "offline_policy": short_name!(pb::OfflinePolicy, settings.offline_policy, "OFFLINE_POLICY_"),
        "effective_offline_policy": short_name!(pb::OfflinePolicy, settings.effective_offline_policy, "OFFLINE_POLICY_"),
        "offline_list": settings.offline_list,
        "proxy_account_id": settings.proxy_account_id,
        "offline_forwarding": settings.offline_forwarding,
        "close_delay_seconds": settings.close_delay_seconds,
        "default_max_concurrent": settings.default_max_concurrent,
        "distribution": short_name!(pb::Distribution, settings.distribution, "DISTRIBUTION_"),
        "presence_ttl_seconds": settings.presence_ttl_seconds,
        "route_rate_limit_per_second": settings.route_rate_limit_per_second,
        "max_queue_wait_seconds": settings.max_queue_wait_seconds,
        "queue_timeout_action": short_name!(pb::QueueTimeoutAction, settings.queue_timeout_action, "QUEUE_TIMEOUT_ACTION_"),
        "reply_timeout_seconds": settings.reply_timeout_seconds,
        "reassign_unanswered": settings.reassign_unanswered,
        "max_reassignments": settings.max_reassignments,
        "priority_aging_seconds": settings.priority_aging_seconds,
    })
}

fn account(state: &pb::AccountState) -> Value {
    let account = state.account.clone().unwrap_or_default();
    let roles: Vec<&str> = account
        .roles
        .iter()
        .map(|role| short_name!(pb::Role, *role, "ROLE_"))
        .collect();
    let capacity = account.effective_max_concurrent;
    json!({
        "account_id": account.account_id,
        "display_name": account.display_name,
        "roles": roles,
        "participating": account.participating,
        "non_routing": account.non_routing,
        "status": status_name(state.status),
        "available": state.available,
        "occupancy": state.occupancy,
        "capacity": capacity,
        // R25: more occupied slots than its capacity.
        "over_capacity": state.occupancy > capacity,
        "assigned": state.assigned,
        "ending": state.ending,
        "session_ids": state.session_ids.iter().map(u64::to_string).collect::<Vec<_>>(),
        "assigned_by_cause": state.assigned_by_cause.iter().map(|count| {
            json!({"cause": cause_name(count.cause), "count": count.count})
        }).collect::<Vec<_>>(),
        "overflow_by_rule": state.overflow_by_rule.iter().map(|count| {
            json!({"rule": count.rule, "count": count.count})
        }).collect::<Vec<_>>(),
    })
}

/// The whole shop as `GetShopState` tells it.
pub(crate) fn shop_state(state: &pb::ShopState) -> Value {
    let shop = state.shop.clone().unwrap_or_default();
    let accuracy = state.wait_estimate_accuracy.unwrap_or_default();
    json!({
        "shop_id": shop.shop_id,
        "profile": short_name!(pb::Profile, shop.profile, "PROFILE_"),
        "main_account_id": shop.main_account_id,
        "settings": settings(&shop.settings.unwrap_or_default()),
        "accounts": state.accounts.iter().map(account).collect::<Vec<_>>(),
        "groups": state.groups.iter().map(|group| json!({
            "name": group.name,
            "member_account_ids": group.member_account_ids,
            "order_statuses": group.order_statuses.iter()
                .map(|status| short_name!(pb::OrderStatus, *status, "ORDER_STATUS_"))
                .collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "queues": state.queues.iter().map(|queue| json!({
            "name": queue.name,
            "sessions": queue.sessions.iter().map(session).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "pool": state.pool.iter().map(session).collect::<Vec<_>>(),
        "now_ms": state.now_ms,
        "load_spread": state.load_spread,
        "wait_estimate_accuracy": {
            "samples": accuracy.samples,
            "within_range": accuracy.within_range,
            "unknown": accuracy.unknown,
            "mean_absolute_error_seconds": accuracy.mean_absolute_error_seconds,
        },
        "event_sequence": state.event_sequence,
    })
}

/// One event of the shop: what happened, to which session or account, and the
/// rule or cause behind it.
pub(crate) fn shop_event(event: &pb::ShopEvent) -> Value {
    let mut described = match &event.event {
        Some(Event::SessionAssigned(assigned)) => {
            let from = if !assigned.from_account_id.is_empty() {
                format!(" from {}", assigned.from_account_id)
            } else if !assigned.from_queue.is_empty() {
                format!(" from queue {}", assigned.from_queue)
            } else {
                String::new()
            };
            let cause = cause_name(assigned.cause);
            let why = if cause == "RULE" {
                reason_name(assigned.reason)
            } else {
                cause
            };
            json!({
                "kind": "session_assigned",
                "session_id": assigned.session_id.to_string(),
                "account_id": assigned.account_id,
                "cause": cause,
                "reason": reason_name(assigned.reason),
                "rule": assignment_rule(assigned.cause, assigned.reason),
                "text": format!("buyer {} → {}{from} ({why})", assigned.buyer_id, assigned.account_id),
            })
        }
        Some(Event::SessionQueued(queued)) => json!({
            "kind": "session_queued",
            "session_id": queued.session_id.to_string(),
            "queue": queued.queue,
            "position": queued.position,
            "wait_estimate": wait_estimate(queued.wait_estimate.as_ref()),
            "rule": "R13a",
            "text": format!("buyer {} waits in queue {} at position {}", queued.buyer_id, queued.queue, queued.position),
        }),
        Some(Event::SessionPooled(pooled)) => json!({
            "kind": "session_pooled",
            "session_id": pooled.session_id.to_string(),
            "reason": reason_name(pooled.reason),
            "rule": reason_rule(pooled.reason),
            "text": format!("buyer {} left a message in the pool ({})", pooled.buyer_id, reason_name(pooled.reason)),
        }),
        Some(Event::SessionEnded(ended)) => json!({
            "kind": "session_ended",
            "session_id": ended.session_id.to_string(),
            "account_id": ended.account_id,
            "rule": "R15",
            "text": format!("session {} ended by {}; its slot frees after the close delay", ended.session_id, ended.account_id),
        }),
        Some(Event::SessionClosed(closed)) => json!({
            "kind": "session_closed",
            "session_id": closed.session_id.to_string(),
            "account_id": closed.account_id,
            "rule": "R15",
            "text": if closed.account_id.is_empty() {
                format!("session {} closed", closed.session_id)
            } else {
                format!("session {} closed; {} has a slot free", closed.session_id, closed.account_id)
            },
        }),
        Some(Event::AccountStatusChanged(changed)) => json!({
            "kind": "account_status_changed",
            "account_id": changed.account_id,
            "from": status_name(changed.from),
            "to": status_name(changed.to),
            "rule": if changed.presence_expired { "TTL" } else { "status" },
            "text": format!(
                "{} {} → {}{}",
                changed.account_id,
                status_name(changed.from),
                status_name(changed.to),
                if changed.presence_expired { " (no heartbeat within the presence TTL)" } else { "" },
            ),
        }),
        Some(Event::SessionUnanswered(unanswered)) => json!({
            "kind": "session_unanswered",
            "session_id": unanswered.session_id.to_string(),
            "account_id": unanswered.account_id,
            "reassigned_to_account_id": unanswered.reassigned_to_account_id,
            "candidates": candidates(&unanswered.candidates),
            "rule": "R22",
            "text": format!(
                "buyer {} waited {} s for {}'s reply{}",
                unanswered.buyer_id,
                unanswered.waited_seconds,
                unanswered.account_id,
                if unanswered.reassigned_to_account_id.is_empty() { String::new() } else { format!("; moved to {}", unanswered.reassigned_to_account_id) },
            ),
        }),
        None => {
            json!({"kind": "unknown", "rule": "", "text": "an event this console does not know"})
        }
    };
    described["sequence"] = json!(event.sequence);
    described["at_ms"] = json!(event.at_ms);
    described
}

/// A refusal as the page shows it: the gRPC code's name and its message.
pub(crate) fn status(status: &tonic::Status) -> Value {
    json!({
        "code": code_name(status.code()),
        "message": status.message(),
    })
}

/// The gRPC code as the API documents it (`PERMISSION_DENIED`).
pub(crate) fn code_name(code: tonic::Code) -> String {
    // `Code`'s Debug is the CamelCase variant; the spec writes UPPER_SNAKE.
    let mut name = String::new();
    for (index, letter) in format!("{code:?}").chars().enumerate() {
        if letter.is_ascii_uppercase() && index > 0 {
            name.push('_');
        }
        name.push(letter.to_ascii_uppercase());
    }
    name
}
