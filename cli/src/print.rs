//! How the CLI writes decisions, events and shop state for a person to read.

use fenliu_proto::v1 as pb;

/// An enum value's name without its prefix, e.g. `EVEN` for `ROUTE_REASON_EVEN`.
fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

pub fn reason(value: i32) -> String {
    pb::RouteReason::try_from(value)
        .map(|r| short(r.as_str_name(), "ROUTE_REASON_"))
        .unwrap_or_else(|_| value.to_string())
}

pub fn session_state(value: i32) -> String {
    pb::SessionState::try_from(value)
        .map(|s| short(s.as_str_name(), "SESSION_STATE_"))
        .unwrap_or_else(|_| value.to_string())
}

pub fn account_status(value: i32) -> String {
    pb::AccountStatus::try_from(value)
        .map(|s| short(s.as_str_name(), "ACCOUNT_STATUS_"))
        .unwrap_or_else(|_| value.to_string())
}

fn cause(value: i32) -> String {
    pb::AssignCause::try_from(value)
        .map(|c| short(c.as_str_name(), "ASSIGN_CAUSE_"))
        .unwrap_or_else(|_| value.to_string())
}

/// R20's estimate: `wait 30–90 s`, or `wait unknown` with too little data.
pub fn wait_estimate(estimate: Option<&pb::WaitEstimate>) -> String {
    match estimate {
        Some(estimate) if estimate.known => {
            format!("wait {}–{} s", estimate.low_seconds, estimate.high_seconds)
        }
        _ => "wait unknown".to_owned(),
    }
}

/// Where a session is: `→ account` or `queued in X at #n (wait …)` or `in the
/// message pool`.
pub fn placement(session: &pb::Session) -> String {
    match pb::SessionState::try_from(session.state) {
        Ok(pb::SessionState::Queued) => {
            format!(
                "queued in {} at #{} ({})",
                session.queue,
                session.queue_position,
                wait_estimate(session.wait_estimate.as_ref())
            )
        }
        Ok(pb::SessionState::Pooled) => "in the message pool".to_owned(),
        _ => format!("→ {}", session.account_id),
    }
}

/// One line for a Route answer.
pub fn decision(buyer: &str, response: &pb::RouteResponse) -> String {
    let session = response.session.clone().unwrap_or_default();
    format!(
        "{buyer:<10} session {:<3} {:<28} [{}] {}",
        session.session_id,
        placement(&session),
        reason(response.reason),
        response.explanation
    )
}

/// One line for a shop event.
pub fn event(event: &pb::ShopEvent) -> String {
    use pb::shop_event::Event;
    let Some(inner) = &event.event else {
        return format!("#{} (empty event)", event.sequence);
    };
    let text = match inner {
        Event::SessionAssigned(e) => {
            let origin = match (e.from_account_id.as_str(), e.from_queue.as_str()) {
                ("", "") if e.reason != 0 => format!("by rule {}", reason(e.reason)),
                ("", "") => String::new(),
                (from, "") => format!("from {from}"),
                (_, queue) => format!("from queue {queue}"),
            };
            format!(
                "session {} of {} assigned to {} ({} {origin})",
                e.session_id,
                e.buyer_id,
                e.account_id,
                cause(e.cause)
            )
        }
        Event::SessionQueued(e) => format!(
            "session {} of {} queued in {} at #{} ({})",
            e.session_id,
            e.buyer_id,
            e.queue,
            e.position,
            wait_estimate(e.wait_estimate.as_ref())
        ),
        Event::SessionPooled(e) => format!(
            "session {} of {} pooled ({})",
            e.session_id,
            e.buyer_id,
            reason(e.reason)
        ),
        Event::SessionUnanswered(e) => {
            let then = if e.reassigned_to_account_id.is_empty() {
                "it stays".to_owned()
            } else {
                format!("moved to {}", e.reassigned_to_account_id)
            };
            format!(
                "session {} of {} unanswered by {} for {} s: {then}",
                e.session_id, e.buyer_id, e.account_id, e.waited_seconds
            )
        }
        Event::SessionEnded(e) => format!(
            "session {} ended by {} (slot held until the close delay passes)",
            e.session_id, e.account_id
        ),
        Event::SessionClosed(e) => format!(
            "session {} closed, slot of {} freed",
            e.session_id, e.account_id
        ),
        Event::AccountStatusChanged(e) => format!(
            "{} {} → {}{}",
            e.account_id,
            account_status(e.from),
            account_status(e.to),
            if e.presence_expired {
                " (no heartbeat)"
            } else {
                ""
            }
        ),
    };
    format!("#{:<4} {text}", event.sequence)
}

/// A shop's state as a small report.
pub fn shop_state(state: &pb::ShopState) -> String {
    let mut out = String::new();
    if let Some(shop) = &state.shop {
        out.push_str(&format!(
            "shop {} (main account {})\n",
            shop.shop_id, shop.main_account_id
        ));
    }
    out.push_str("accounts:\n");
    for account_state in &state.accounts {
        let account = account_state.account.clone().unwrap_or_default();
        out.push_str(&format!(
            "  {:<12} {:<9} {:>3}/{:<3} {}{}\n",
            account.account_id,
            account_status(account_state.status),
            account_state.occupancy,
            account.effective_max_concurrent,
            if account.participating {
                "participating"
            } else {
                "not routed"
            },
            if account_state.ending > 0 {
                format!(", {} in close delay", account_state.ending)
            } else {
                String::new()
            }
        ));
    }
    for queue in &state.queues {
        let buyers: Vec<&str> = queue.sessions.iter().map(|s| s.buyer_id.as_str()).collect();
        out.push_str(&format!("queue {}: {}\n", queue.name, buyers.join(", ")));
    }
    if !state.pool.is_empty() {
        let buyers: Vec<&str> = state.pool.iter().map(|s| s.buyer_id.as_str()).collect();
        out.push_str(&format!("message pool: {}\n", buyers.join(", ")));
    }
    out
}
