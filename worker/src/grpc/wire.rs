//! Domain → wire: the messages a worker answers with, built from the shop's state
//! (sessions with their live queue positions and wait estimates, accounts with
//! their occupancy and R25 counts, settings, the whole shop, explanations, and
//! events).

use std::time::Duration;

use fenliu_proto::v1 as pb;

use super::enum_codes::{
    wire_account_status, wire_cause_kind, wire_distribution, wire_offline_policy,
    wire_order_status, wire_profile, wire_queue_timeout_action, wire_reason, wire_role,
    wire_routing_mode, wire_session_state, wire_why,
};
use crate::engine::{
    self, AssignCause, Candidate, QueueName, RouteReason, Session, ShopEvent, ShopState, WaitRange,
    wait_range,
};

/// A session as the client sees it, without what only the live shop knows.
/// `queue_position` comes from the shop when the session is still queued there.
pub fn wire_session(session: &Session, queue_position: Option<u32>) -> pb::Session {
    pb::Session {
        session_id: session.id.0,
        buyer_id: session.buyer.0.clone(),
        state: wire_session_state(session.state) as i32,
        account_id: session
            .account
            .as_ref()
            .map(|a| a.0.clone())
            .unwrap_or_default(),
        order_status: wire_order_status(session.order_status) as i32,
        queue: session
            .queue
            .map(|q| q.name().to_owned())
            .unwrap_or_default(),
        queue_position: queue_position.unwrap_or(0),
        created_at_ms: session.created_at.as_millis(),
        closes_at_ms: session.closes_at.map(|t| t.as_millis()).unwrap_or(0),
        reason: wire_reason(session.reason) as i32,
        wait_estimate: None,
        priority: u32::from(session.priority),
        reply_due_at_ms: 0,
        reassignments: session.reassignments,
        timed_out_account_ids: session.timed_out_on.iter().map(|a| a.0.clone()).collect(),
    }
}

/// R20's estimate on the wire; unknown when `None`.
pub fn wire_estimate(estimate: Option<WaitRange>) -> pb::WaitEstimate {
    match estimate {
        Some(range) => pb::WaitEstimate {
            known: true,
            low_seconds: range.low_seconds,
            high_seconds: range.high_seconds,
        },
        None => pb::WaitEstimate::default(),
    }
}

/// A session of the shop as it is now: with its live queue position and a fresh
/// wait estimate (R20) when it waits, its reply deadline (R22) when one runs.
pub fn wire_shop_session(state: &ShopState, session: &Session) -> pb::Session {
    let position = state.queue_position(session);
    let estimate = position.map(|_| state.wait_estimate(session));
    wire_live_session(state, session, position, estimate)
}

/// A session with what the live shop adds to it: `estimate` is `Some` for a
/// session that waits in a queue (its inner `None`: unknown).
fn wire_live_session(
    state: &ShopState,
    session: &Session,
    position: Option<u32>,
    estimate: Option<Option<WaitRange>>,
) -> pb::Session {
    pb::Session {
        wait_estimate: estimate.map(wire_estimate),
        reply_due_at_ms: state
            .reply_due_at(session)
            .map(|at| at.as_millis())
            .unwrap_or(0),
        ..wire_session(session, position)
    }
}

/// The session a `Route` decided, with its live position and a fresh estimate
/// when it still waits in the queue it was decided into, and its reply deadline
/// while the account it was decided to still holds it.
pub fn wire_routed_session(state: &ShopState, decided: &Session) -> pb::Session {
    let live = state.session(decided.id);
    let waiting = live.filter(|live| live.queue.is_some() && live.queue == decided.queue);
    let position = waiting.and_then(|live| state.queue_position(live));
    let reply_due = live
        .filter(|live| live.account.is_some() && live.account == decided.account)
        .and_then(|live| state.reply_due_at(live));
    pb::Session {
        wait_estimate: waiting.map(|live| wire_estimate(state.wait_estimate(live))),
        reply_due_at_ms: reply_due.map(|at| at.as_millis()).unwrap_or(0),
        ..wire_session(decided, position)
    }
}

/// R24's explanation on the wire.
pub fn wire_candidates(candidates: &[Candidate]) -> Vec<pb::Candidate> {
    candidates
        .iter()
        .map(|candidate| pb::Candidate {
            account_id: candidate.account.0.clone(),
            chosen: candidate.chosen(),
            why: wire_why(candidate.why) as i32,
        })
        .collect()
}

pub fn wire_settings(settings: &engine::ShopSettings) -> pb::ShopSettings {
    pb::ShopSettings {
        routing_mode: wire_routing_mode(settings.routing_mode) as i32,
        affinity_window_seconds: duration_seconds(settings.affinity_window),
        bot_enabled: settings.bot_enabled,
        offline_policy: wire_offline_policy(settings.offline_policy) as i32,
        effective_offline_policy: wire_offline_policy(settings.effective_offline_policy()) as i32,
        offline_list: settings.offline_list.iter().map(|a| a.0.clone()).collect(),
        proxy_account_id: settings
            .proxy_account
            .as_ref()
            .map(|a| a.0.clone())
            .unwrap_or_default(),
        offline_forwarding: settings.offline_forwarding,
        close_delay_seconds: duration_seconds(settings.close_delay),
        default_max_concurrent: settings.default_max_concurrent,
        distribution: wire_distribution(settings.distribution) as i32,
        presence_ttl_seconds: duration_seconds(settings.presence_ttl),
        route_rate_limit_per_second: settings.route_rate_limit_per_second,
        max_queue_wait_seconds: duration_seconds(settings.max_queue_wait),
        queue_timeout_action: wire_queue_timeout_action(settings.queue_timeout_action) as i32,
        reply_timeout_seconds: duration_seconds(settings.reply_timeout),
        reassign_unanswered: settings.reassign_unanswered,
        max_reassignments: settings.max_reassignments,
        priority_aging_seconds: duration_seconds(settings.priority_aging),
    }
}

pub fn wire_shop(state: &ShopState) -> pb::Shop {
    pb::Shop {
        shop_id: state.shop_id().0.clone(),
        profile: wire_profile(state.profile()) as i32,
        main_account_id: state.main_account().0.clone(),
        settings: Some(wire_settings(state.settings())),
    }
}

fn duration_seconds(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

pub fn wire_account(state: &ShopState, account: &engine::Account) -> pb::Account {
    let config = &account.config;
    pb::Account {
        account_id: account.id.0.clone(),
        display_name: config.display_name.clone(),
        roles: config.roles.iter().map(|r| wire_role(*r) as i32).collect(),
        non_routing: config.non_routing,
        max_concurrent: config.max_concurrent.unwrap_or(0),
        effective_max_concurrent: state.capacity(account),
        pool_permission: config.pool_permission,
        main_account_participates: config.main_account_participates,
        participating: config.participates(),
    }
}

/// An account with its live state; `held` are the sessions occupying its slots
/// (see [`ShopState::sessions_by_holder`]).
pub fn wire_account_state(
    state: &ShopState,
    account: &engine::Account,
    held: &[engine::SessionId],
) -> pb::AccountState {
    pb::AccountState {
        account: Some(wire_account(state, account)),
        status: wire_account_status(account.status) as i32,
        presence_expires_at_ms: account
            .presence_expires_at
            .map(|t| t.as_millis())
            .unwrap_or(0),
        occupancy: account.occupancy(),
        assigned: account.assigned,
        ending: account.ending,
        available: account.is_available(),
        session_ids: held.iter().map(|id| id.0).collect(),
        assigned_by_cause: account
            .tally
            .taken_by_cause()
            .map(|(kind, count)| pb::CauseCount {
                cause: wire_cause_kind(kind) as i32,
                count,
            })
            .collect(),
        overflow_by_rule: account
            .tally
            .overflow_by_rule()
            .map(|(rule, count)| pb::RuleCount {
                rule: rule.id().to_owned(),
                count,
            })
            .collect(),
    }
}

pub fn wire_group(group: &engine::Group) -> pb::Group {
    pb::Group {
        name: group.name.0.clone(),
        member_account_ids: group.members.iter().map(|a| a.0.clone()).collect(),
        order_statuses: group
            .order_statuses
            .iter()
            .map(|s| wire_order_status(*s) as i32)
            .collect(),
    }
}

/// A queue in the order it serves its sessions, each with its position and wait
/// estimate (the recent rate of the queue's accounts read once for all of them).
fn wire_queue(state: &ShopState, name: QueueName) -> pb::Queue {
    let observed = state.observed_frees(name, state.clock());
    pb::Queue {
        name: name.name().to_owned(),
        sessions: state
            .queue_in_service_order(name)
            .into_iter()
            .zip(1u32..)
            .filter_map(|(id, position)| {
                let session = state.session(id)?;
                let estimate = wait_range(position, observed);
                Some(wire_live_session(
                    state,
                    session,
                    Some(position),
                    Some(estimate),
                ))
            })
            .collect(),
    }
}

pub fn wire_shop_state(state: &ShopState) -> pb::ShopState {
    let held = state.sessions_by_holder();
    let queues = state
        .queues()
        .map(|(name, _)| wire_queue(state, name))
        .collect();
    let accuracy = state.estimate_accuracy();
    pb::ShopState {
        shop: Some(wire_shop(state)),
        accounts: state
            .accounts()
            .map(|a| {
                let ids = held.get(&a.id).map(Vec::as_slice).unwrap_or_default();
                wire_account_state(state, a, ids)
            })
            .collect(),
        groups: state.groups().map(wire_group).collect(),
        queues,
        pool: state
            .pool()
            .iter()
            .filter_map(|id| state.session(*id).map(|s| wire_session(s, None)))
            .collect(),
        now_ms: state.clock().as_millis(),
        load_spread: state.load_spread(),
        // Known to the router, not the state: set by GetShopState.
        event_sequence: 0,
        wait_estimate_accuracy: Some(pb::WaitEstimateAccuracy {
            samples: accuracy.samples,
            within_range: accuracy.within_range,
            unknown: accuracy.unknown,
            mean_absolute_error_seconds: accuracy
                .mean_absolute_error()
                .map(duration_seconds)
                .unwrap_or(0),
        }),
    }
}

pub fn wire_event(sequence: u64, timed: &engine::TimedEvent) -> pb::ShopEvent {
    use pb::shop_event::Event;
    let event = match &timed.event {
        ShopEvent::SessionAssigned {
            session,
            buyer,
            account,
            cause,
        } => {
            let (cause_code, reason, from_account, from_queue) = match cause {
                AssignCause::Rule(reason) => (pb::AssignCause::Rule, Some(*reason), None, None),
                AssignCause::Queue { from } => (pb::AssignCause::Queue, None, None, Some(*from)),
                AssignCause::Manual { from_queue } => {
                    (pb::AssignCause::Manual, None, None, *from_queue)
                }
                AssignCause::Transfer { from } => {
                    (pb::AssignCause::Transfer, None, Some(from.0.clone()), None)
                }
                AssignCause::Pull { from } => (pb::AssignCause::Pull, None, None, Some(*from)),
                AssignCause::QueueTimeout { from } => (
                    pb::AssignCause::QueueTimeout,
                    Some(RouteReason::QueueTimeout),
                    None,
                    Some(*from),
                ),
                AssignCause::ReplyTimeout { from } => (
                    pb::AssignCause::ReplyTimeout,
                    None,
                    Some(from.0.clone()),
                    None,
                ),
            };
            Event::SessionAssigned(pb::SessionAssigned {
                session_id: session.0,
                buyer_id: buyer.0.clone(),
                account_id: account.0.clone(),
                cause: cause_code as i32,
                reason: reason.map(|r| wire_reason(r) as i32).unwrap_or(0),
                from_account_id: from_account.unwrap_or_default(),
                from_queue: from_queue.map(|q| q.name().to_owned()).unwrap_or_default(),
            })
        }
        ShopEvent::SessionQueued {
            session,
            buyer,
            queue,
            position,
            estimate,
        } => Event::SessionQueued(pb::SessionQueued {
            session_id: session.0,
            buyer_id: buyer.0.clone(),
            queue: queue.name().to_owned(),
            position: *position,
            wait_estimate: Some(wire_estimate(*estimate)),
        }),
        ShopEvent::SessionPooled {
            session,
            buyer,
            reason,
        } => Event::SessionPooled(pb::SessionPooled {
            session_id: session.0,
            buyer_id: buyer.0.clone(),
            reason: wire_reason(*reason) as i32,
        }),
        ShopEvent::SessionUnanswered {
            session,
            buyer,
            account,
            waited,
            reassigned_to,
            candidates,
        } => Event::SessionUnanswered(pb::SessionUnanswered {
            session_id: session.0,
            buyer_id: buyer.0.clone(),
            account_id: account.0.clone(),
            waited_seconds: duration_seconds(*waited),
            reassigned_to_account_id: reassigned_to
                .as_ref()
                .map(|a| a.0.clone())
                .unwrap_or_default(),
            candidates: wire_candidates(candidates),
        }),
        ShopEvent::SessionEnded {
            session,
            account,
            closes_at,
        } => Event::SessionEnded(pb::SessionEnded {
            session_id: session.0,
            account_id: account.0.clone(),
            closes_at_ms: closes_at.as_millis(),
        }),
        ShopEvent::SessionClosed { session, account } => Event::SessionClosed(pb::SessionClosed {
            session_id: session.0,
            account_id: account.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
        }),
        ShopEvent::AccountStatusChanged {
            account,
            from,
            to,
            presence_expired,
        } => Event::AccountStatusChanged(pb::AccountStatusChanged {
            account_id: account.0.clone(),
            from: wire_account_status(*from) as i32,
            to: wire_account_status(*to) as i32,
            presence_expired: *presence_expired,
        }),
    };
    pb::ShopEvent {
        sequence,
        at_ms: timed.at.as_millis(),
        event: Some(event),
    }
}

/// An account's presence, as `Heartbeat` answers it.
pub fn wire_presence(account: &crate::engine::Account) -> pb::AccountPresence {
    pb::AccountPresence {
        account_id: account.id.0.clone(),
        status: wire_account_status(account.status) as i32,
        presence_expires_at_ms: account
            .presence_expires_at
            .map(|t| t.as_millis())
            .unwrap_or(0),
    }
}
