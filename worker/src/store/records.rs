//! How a shop's entities are encoded in Redis: the engine's values to and from the
//! protobuf records of [`super::record_messages`] (prost), so that fields can be
//! added without breaking what older nodes stored. Enum values are the store's own
//! numbers ([`super::codes`]).

use std::time::Duration;

use fenliu_node::versions::Window;
use prost::Message;

pub use super::record_messages::*;

use super::codes::{StoredCode, UnknownCode};
use crate::engine::{
    Account, AccountConfig, AccountId, Affinity, AssignTally, BuyerId, CauseKind, EstimateAccuracy,
    FreeRate, Group, GroupName, OverflowRule, Profile, QueueName, RouteOutcome, Session, SessionId,
    ShopCounters, ShopId, ShopSettings, Timestamp, WaitRange,
};
use crate::store::error::StoreError;

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

impl From<UnknownCode> for StoreError {
    fn from(unknown: UnknownCode) -> Self {
        StoreError::Corrupt(unknown.to_string())
    }
}

/// Reads a stored enum number.
fn code<T: StoredCode>(value: i32) -> Result<T, StoreError> {
    Ok(super::codes::decode(value)?)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The shop record, stamped with `format`, the record format this worker writes.
pub fn shop_record(
    shop_id: &ShopId,
    profile: Profile,
    main_account: &AccountId,
    settings: &ShopSettings,
    format: u32,
) -> ShopRecord {
    ShopRecord {
        format,
        shop_id: shop_id.0.clone(),
        profile: profile.code(),
        main_account: main_account.0.clone(),
        settings: Some(SettingsRecord {
            routing_mode: settings.routing_mode.code(),
            affinity_window_ms: millis(settings.affinity_window),
            bot_enabled: settings.bot_enabled,
            offline_policy: settings.offline_policy.code(),
            offline_list: settings.offline_list.iter().map(|a| a.0.clone()).collect(),
            proxy_account: settings.proxy_account.as_ref().map(|a| a.0.clone()),
            offline_forwarding: settings.offline_forwarding,
            close_delay_ms: millis(settings.close_delay),
            default_max_concurrent: settings.default_max_concurrent,
            distribution: settings.distribution.code(),
            presence_ttl_ms: millis(settings.presence_ttl),
            route_rate_limit_per_second: settings.route_rate_limit_per_second,
            max_queue_wait_ms: millis(settings.max_queue_wait),
            queue_timeout_action: Some(settings.queue_timeout_action.code()),
            reply_timeout_ms: millis(settings.reply_timeout),
            reassign_unanswered: settings.reassign_unanswered,
            max_reassignments: Some(settings.max_reassignments),
            priority_aging_ms: millis(settings.priority_aging),
        }),
    }
}

/// The record format the shop's records were written in, if this worker reads
/// it (`understood`). A newer format is refused as [`StoreError::NewerFormat`]
/// (retryable: a worker of the newer release may own the shop soon), before
/// anything else of the shop is decoded, since its other records may not mean
/// what this release would read them as.
pub fn stored_format(record: &ShopRecord, understood: Window) -> Result<u32, StoreError> {
    let found = record.format.max(FIRST_FORMAT);
    if found > understood.newest {
        return Err(StoreError::NewerFormat {
            shop: record.shop_id.clone(),
            found,
            understood: understood.newest,
        });
    }
    if !understood.understands(found) {
        return Err(corrupt(
            "shop record format",
            format!("{found}, older than the oldest this worker reads ({understood})"),
        ));
    }
    Ok(found)
}

/// What a shop record that names no format was written in.
const FIRST_FORMAT: u32 = 1;

pub fn profile_from(value: i32) -> Result<Profile, StoreError> {
    code(value)
}

pub fn counters_record(counters: ShopCounters, accuracy: EstimateAccuracy) -> CountersRecord {
    CountersRecord {
        next_session_id: counters.next_session_id,
        assignment_seq: counters.assignment_seq,
        enqueue_seq: counters.enqueue_seq,
        estimate_samples: accuracy.samples,
        estimate_within_range: accuracy.within_range,
        estimate_unknown: accuracy.unknown,
        estimate_absolute_error_ms: accuracy.absolute_error_ms,
    }
}

pub fn accuracy_from(record: &CountersRecord) -> EstimateAccuracy {
    EstimateAccuracy {
        samples: record.estimate_samples,
        within_range: record.estimate_within_range,
        unknown: record.estimate_unknown,
        absolute_error_ms: record.estimate_absolute_error_ms,
    }
}

pub fn counters_from(record: &CountersRecord) -> ShopCounters {
    ShopCounters {
        next_session_id: record.next_session_id,
        assignment_seq: record.assignment_seq,
        enqueue_seq: record.enqueue_seq,
    }
}

pub fn settings_from(record: &SettingsRecord) -> Result<ShopSettings, StoreError> {
    Ok(ShopSettings {
        routing_mode: code(record.routing_mode)?,
        affinity_window: Duration::from_millis(record.affinity_window_ms),
        bot_enabled: record.bot_enabled,
        offline_policy: code(record.offline_policy)?,
        offline_list: record
            .offline_list
            .iter()
            .map(|a| AccountId(a.clone()))
            .collect(),
        proxy_account: record.proxy_account.clone().map(AccountId),
        offline_forwarding: record.offline_forwarding,
        close_delay: Duration::from_millis(record.close_delay_ms),
        default_max_concurrent: record.default_max_concurrent,
        distribution: code(record.distribution)?,
        presence_ttl: Duration::from_millis(record.presence_ttl_ms),
        route_rate_limit_per_second: record.route_rate_limit_per_second,
        max_queue_wait: Duration::from_millis(record.max_queue_wait_ms),
        queue_timeout_action: match record.queue_timeout_action {
            Some(action) => code(action)?,
            None => crate::engine::QueueTimeoutAction::MessagePool,
        },
        reply_timeout: Duration::from_millis(record.reply_timeout_ms),
        reassign_unanswered: record.reassign_unanswered,
        max_reassignments: record
            .max_reassignments
            .unwrap_or(crate::engine::settings::DEFAULT_MAX_REASSIGNMENTS),
        priority_aging: Duration::from_millis(record.priority_aging_ms),
    })
}

pub fn account_record(account: &Account) -> AccountRecord {
    let config = &account.config;
    AccountRecord {
        id: account.id.0.clone(),
        display_name: config.display_name.clone(),
        roles: config.roles.iter().map(|role| role.code()).collect(),
        non_routing: config.non_routing,
        max_concurrent: config.max_concurrent,
        pool_permission: config.pool_permission,
        main_account_participates: config.main_account_participates,
        status: account.status.code(),
        last_assigned_seq: account.last_assigned_seq,
        recent_frees_micro: account.frees.micro,
        recent_frees_at_ms: account.frees.at_ms,
        taken_by_cause: account
            .tally
            .taken_by_cause()
            .map(|(kind, count)| CountRecord {
                code: kind.code(),
                count,
            })
            .collect(),
        overflow_by_rule: account
            .tally
            .overflow_by_rule()
            .map(|(rule, count)| CountRecord {
                code: rule.code(),
                count,
            })
            .collect(),
    }
}

/// R25's counts as stored.
fn tally_from(record: &AccountRecord) -> Result<AssignTally, StoreError> {
    let mut tally = AssignTally::default();
    for entry in &record.taken_by_cause {
        tally.set_taken(code::<CauseKind>(entry.code)?, entry.count);
    }
    for entry in &record.overflow_by_rule {
        tally.set_overflow(code::<OverflowRule>(entry.code)?, entry.count);
    }
    Ok(tally)
}

/// An account as stored; its presence deadline comes from the presence key.
pub fn account_from(
    record: &AccountRecord,
    presence_expires_at: Option<Timestamp>,
) -> Result<Account, StoreError> {
    Ok(Account {
        id: AccountId(record.id.clone()),
        config: AccountConfig {
            display_name: record.display_name.clone(),
            roles: record
                .roles
                .iter()
                .map(|role| code(*role))
                .collect::<Result<_, _>>()?,
            non_routing: record.non_routing,
            max_concurrent: record.max_concurrent,
            pool_permission: record.pool_permission,
            main_account_participates: record.main_account_participates,
        },
        status: code(record.status)?,
        presence_expires_at,
        assigned: 0,
        ending: 0,
        last_assigned_seq: record.last_assigned_seq,
        frees: FreeRate {
            micro: record.recent_frees_micro,
            at_ms: record.recent_frees_at_ms,
        },
        tally: tally_from(record)?,
    })
}

pub fn group_record(group: &Group) -> GroupRecord {
    GroupRecord {
        name: group.name.0.clone(),
        members: group.members.iter().map(|a| a.0.clone()).collect(),
        order_statuses: group.order_statuses.iter().map(|s| s.code()).collect(),
    }
}

pub fn group_from(record: &GroupRecord) -> Result<Group, StoreError> {
    Ok(Group {
        name: GroupName(record.name.clone()),
        members: record
            .members
            .iter()
            .map(|m| AccountId(m.clone()))
            .collect(),
        order_statuses: record
            .order_statuses
            .iter()
            .map(|status| code(*status))
            .collect::<Result<_, _>>()?,
    })
}

pub fn session_record(session: &Session) -> SessionRecord {
    SessionRecord {
        id: session.id.0,
        buyer: session.buyer.0.clone(),
        state: session.state.code(),
        account: session.account.as_ref().map(|a| a.0.clone()),
        order_status: session.order_status.code(),
        queue: session.queue.map(|q| q.name().to_owned()),
        enqueued_seq: session.enqueued_seq,
        created_at_ms: session.created_at.as_millis(),
        closes_at_ms: session.closes_at.map(Timestamp::as_millis),
        reason: session.reason.code(),
        priority: u32::from(session.priority),
        queued_estimate_low_seconds: session.queued_estimate.map(|range| range.low_seconds),
        queued_estimate_high_seconds: session.queued_estimate.map(|range| range.high_seconds),
        reply_wait_since_ms: session.reply_wait_since.map(Timestamp::as_millis),
        timed_out_on: session.timed_out_on.iter().map(|a| a.0.clone()).collect(),
        reassignments: session.reassignments,
        affinity_pending: session.affinity_pending,
    }
}

pub fn session_from(record: &SessionRecord) -> Result<Session, StoreError> {
    let queue = match &record.queue {
        Some(name) => Some(QueueName::parse(name).ok_or_else(|| corrupt("session queue", name))?),
        None => None,
    };
    Ok(Session {
        id: SessionId(record.id),
        buyer: BuyerId(record.buyer.clone()),
        state: code(record.state)?,
        account: record.account.clone().map(AccountId),
        order_status: code(record.order_status)?,
        queue,
        enqueued_seq: record.enqueued_seq,
        created_at: Timestamp(record.created_at_ms),
        closes_at: record.closes_at_ms.map(Timestamp),
        reason: code(record.reason)?,
        priority: u8::try_from(record.priority)
            .ok()
            .filter(|priority| *priority <= crate::engine::MAX_PRIORITY)
            .ok_or_else(|| corrupt("session priority", record.priority))?,
        queued_estimate: match (
            record.queued_estimate_low_seconds,
            record.queued_estimate_high_seconds,
        ) {
            (Some(low_seconds), Some(high_seconds)) => Some(WaitRange {
                low_seconds,
                high_seconds,
            }),
            _ => None,
        },
        reply_wait_since: record.reply_wait_since_ms.map(Timestamp),
        timed_out_on: record
            .timed_out_on
            .iter()
            .map(|a| AccountId(a.clone()))
            .collect(),
        reassignments: record.reassignments,
        affinity_pending: record.affinity_pending,
    })
}

pub fn route_record(buyer: &BuyerId, outcome: &RouteOutcome) -> RouteRecordProto {
    RouteRecordProto {
        buyer: buyer.0.clone(),
        session: Some(session_record(&outcome.session)),
        reason: outcome.reason.code(),
        explanation: outcome.explanation.clone(),
    }
}

pub fn route_outcome_from(
    record: &RouteRecordProto,
) -> Result<(BuyerId, RouteOutcome), StoreError> {
    let session = record
        .session
        .as_ref()
        .ok_or_else(|| corrupt("route record", "no session"))?;
    Ok((
        BuyerId(record.buyer.clone()),
        RouteOutcome {
            session: session_from(session)?,
            reason: code(record.reason)?,
            explanation: record.explanation.clone(),
            replayed: true,
            candidates: Vec::new(),
        },
    ))
}

pub fn affinity_from(account: String, remaining_ms: u64, now: Timestamp) -> Affinity {
    Affinity {
        account: AccountId(account),
        expires_at: Timestamp(now.as_millis() + remaining_ms),
    }
}

pub fn encode(message: &impl Message) -> Vec<u8> {
    message.encode_to_vec()
}

pub fn decode<M: Message + Default>(what: &str, bytes: &[u8]) -> Result<M, StoreError> {
    M::decode(bytes).map_err(|e| corrupt(what, e))
}
