//! How a shop's entities are encoded in Redis: protobuf records (prost), so that
//! fields can be added without breaking what older nodes stored. Enum values are
//! the store's own numbers ([`super::codes`]).

use std::time::Duration;

use prost::Message;

use super::codes::{StoredCode, UnknownCode};
use crate::engine::{
    Account, AccountConfig, AccountId, Affinity, BuyerId, Group, GroupName, Profile, QueueName,
    RouteOutcome, Session, SessionId, ShopCounters, ShopId, ShopSettings, Timestamp,
};
use crate::store::error::StoreError;

/// What a shop is: written when it is created and when its settings change.
///
/// Its counters, which move with nearly every new session, are kept apart in a
/// [`CountersRecord`] so that they do not rewrite this record each time. Tags 5-7
/// held the counters before they moved out; nothing stored that way needs reading
/// (pre-1.0: no stored data was migrated), but the tags stay unused.
#[derive(Clone, PartialEq, Message)]
pub struct ShopRecord {
    #[prost(string, tag = "1")]
    pub shop_id: String,
    #[prost(int32, tag = "2")]
    pub profile: i32,
    #[prost(string, tag = "3")]
    pub main_account: String,
    #[prost(message, optional, tag = "4")]
    pub settings: Option<SettingsRecord>,
}

/// A shop's counters (`ShopCounters`), written whenever one of them moves.
#[derive(Clone, PartialEq, Message)]
pub struct CountersRecord {
    #[prost(uint64, tag = "1")]
    pub next_session_id: u64,
    #[prost(uint64, tag = "2")]
    pub assignment_seq: u64,
    #[prost(uint64, tag = "3")]
    pub enqueue_seq: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct SettingsRecord {
    #[prost(int32, tag = "1")]
    pub routing_mode: i32,
    #[prost(uint64, tag = "2")]
    pub affinity_window_ms: u64,
    #[prost(bool, tag = "3")]
    pub bot_enabled: bool,
    #[prost(int32, tag = "4")]
    pub offline_policy: i32,
    #[prost(string, repeated, tag = "5")]
    pub offline_list: Vec<String>,
    #[prost(string, optional, tag = "6")]
    pub proxy_account: Option<String>,
    #[prost(bool, tag = "7")]
    pub offline_forwarding: bool,
    #[prost(uint64, tag = "8")]
    pub close_delay_ms: u64,
    #[prost(uint32, tag = "9")]
    pub default_max_concurrent: u32,
    #[prost(int32, tag = "10")]
    pub distribution: i32,
    #[prost(uint64, tag = "11")]
    pub presence_ttl_ms: u64,
    /// 0 (also what a shop stored before the field existed reads as): the
    /// deployment's default.
    #[prost(uint32, tag = "12")]
    pub route_rate_limit_per_second: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct AccountRecord {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub display_name: String,
    #[prost(int32, repeated, tag = "3")]
    pub roles: Vec<i32>,
    #[prost(bool, tag = "4")]
    pub non_routing: bool,
    #[prost(uint32, optional, tag = "5")]
    pub max_concurrent: Option<u32>,
    #[prost(bool, tag = "6")]
    pub pool_permission: bool,
    #[prost(bool, tag = "7")]
    pub main_account_participates: bool,
    /// The status as last set; whether it still holds is the presence key's TTL.
    #[prost(int32, tag = "8")]
    pub status: i32,
    #[prost(uint64, tag = "9")]
    pub last_assigned_seq: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct GroupRecord {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, repeated, tag = "2")]
    pub members: Vec<String>,
    #[prost(int32, repeated, tag = "3")]
    pub order_statuses: Vec<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SessionRecord {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "2")]
    pub buyer: String,
    #[prost(int32, tag = "3")]
    pub state: i32,
    #[prost(string, optional, tag = "4")]
    pub account: Option<String>,
    #[prost(int32, tag = "5")]
    pub order_status: i32,
    #[prost(string, optional, tag = "6")]
    pub queue: Option<String>,
    #[prost(uint64, tag = "7")]
    pub enqueued_seq: u64,
    #[prost(uint64, tag = "8")]
    pub created_at_ms: u64,
    #[prost(uint64, optional, tag = "9")]
    pub closes_at_ms: Option<u64>,
    #[prost(int32, tag = "10")]
    pub reason: i32,
}

/// The answer to a `Route`, kept for an hour under its request id (R1 retries).
#[derive(Clone, PartialEq, Message)]
pub struct RouteRecordProto {
    #[prost(string, tag = "1")]
    pub buyer: String,
    #[prost(message, optional, tag = "2")]
    pub session: Option<SessionRecord>,
    #[prost(int32, tag = "3")]
    pub reason: i32,
    #[prost(string, tag = "4")]
    pub explanation: String,
}

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

pub fn shop_record(
    shop_id: &ShopId,
    profile: Profile,
    main_account: &AccountId,
    settings: &ShopSettings,
) -> ShopRecord {
    ShopRecord {
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
        }),
    }
}

pub fn profile_from(value: i32) -> Result<Profile, StoreError> {
    code(value)
}

pub fn counters_record(counters: ShopCounters) -> CountersRecord {
    CountersRecord {
        next_session_id: counters.next_session_id,
        assignment_seq: counters.assignment_seq,
        enqueue_seq: counters.enqueue_seq,
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
    }
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
