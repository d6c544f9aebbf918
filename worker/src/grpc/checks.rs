//! Checks of what a client sends that are not enum values: ids (present, not too
//! long), queue names, durations, priorities, an account's configuration. Each refusal is
//! `INVALID_ARGUMENT` naming the request field, so the engine only ever sees
//! well-formed input.

use std::time::Duration;

use fenliu_proto::v1 as pb;
use tonic::Status;

use super::enum_codes::{self, role};
use crate::engine::{
    self, AccountConfig, AccountId, AccountUpsert, BuyerId, GroupName, GroupUpsert, QueueName,
    RequestId, RouteOptions, RouteRequest, SettingsPatch,
};

/// Ids are 1 to 128 bytes.
pub const MAX_ID_BYTES: usize = 128;

/// Checks an id: non-empty and at most 128 bytes.
pub fn id_field(field: &'static str, value: &str) -> Result<String, Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!(
            "{field}: must not be empty"
        )));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(Status::invalid_argument(format!(
            "{field}: must be at most {MAX_ID_BYTES} bytes, got {}",
            value.len()
        )));
    }
    Ok(value.to_owned())
}

pub fn shop_id(value: &str) -> Result<engine::ShopId, Status> {
    id_field("shop_id", value).map(engine::ShopId)
}

pub fn account_id(field: &'static str, value: &str) -> Result<AccountId, Status> {
    id_field(field, value).map(AccountId)
}

/// An optional id: empty means "none".
pub fn optional_account_id(field: &'static str, value: &str) -> Result<Option<AccountId>, Status> {
    if value.is_empty() {
        return Ok(None);
    }
    account_id(field, value).map(Some)
}

pub fn queue_name(value: &str) -> Result<QueueName, Status> {
    QueueName::parse(value).ok_or_else(|| {
        Status::invalid_argument(format!(
            "queue: unknown queue {value:?}; use \"shop\" or an order status such as \"AFTER_SALES\""
        ))
    })
}

pub fn seconds(value: u32) -> Duration {
    Duration::from_secs(u64::from(value))
}

/// An account's configuration from an upsert request.
pub fn account_config(request: &pb::UpsertAccountRequest) -> Result<AccountConfig, Status> {
    let roles = request
        .roles
        .iter()
        .map(|value| role(*value))
        .collect::<Result<_, _>>()?;
    let max_concurrent = match request.max_concurrent {
        0 => None,
        max => Some(max),
    };
    Ok(AccountConfig {
        display_name: request.display_name.clone(),
        roles,
        non_routing: request.non_routing,
        max_concurrent,
        pool_permission: request.pool_permission,
        main_account_participates: request.main_account_participates,
    })
}

/// The settings an upsert changes; unset fields keep their value.
pub fn settings_patch(request: &pb::UpsertShopRequest) -> Result<SettingsPatch, Status> {
    let offline_list = match &request.offline_list {
        Some(list) => Some(
            list.account_ids
                .iter()
                .map(|id| account_id("offline_list", id))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let proxy_account = match &request.proxy_account_id {
        Some(id) => Some(optional_account_id("proxy_account_id", id)?),
        None => None,
    };
    Ok(SettingsPatch {
        routing_mode: request
            .routing_mode
            .map(enum_codes::routing_mode)
            .transpose()?,
        affinity_window: request.affinity_window_seconds.map(seconds),
        bot_enabled: request.bot_enabled,
        offline_policy: request
            .offline_policy
            .map(enum_codes::offline_policy)
            .transpose()?,
        offline_list,
        proxy_account,
        offline_forwarding: request.offline_forwarding,
        close_delay: request.close_delay_seconds.map(seconds),
        default_max_concurrent: request.default_max_concurrent,
        distribution: request
            .distribution
            .map(enum_codes::distribution)
            .transpose()?,
        presence_ttl: request.presence_ttl_seconds.map(seconds),
        route_rate_limit_per_second: request.route_rate_limit_per_second,
        max_queue_wait: request.max_queue_wait_seconds.map(seconds),
        queue_timeout_action: request
            .queue_timeout_action
            .map(enum_codes::queue_timeout_action)
            .transpose()?,
        reply_timeout: request.reply_timeout_seconds.map(seconds),
        reassign_unanswered: request.reassign_unanswered,
        max_reassignments: request.max_reassignments,
        priority_aging: request.priority_aging_seconds.map(seconds),
    })
}

/// A `Route`'s priority (R23): 0 to [`engine::MAX_PRIORITY`].
pub fn priority(value: u32) -> Result<u8, Status> {
    u8::try_from(value)
        .ok()
        .filter(|priority| *priority <= engine::MAX_PRIORITY)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "priority: must be between 0 and {}, got {value}",
                engine::MAX_PRIORITY
            ))
        })
}

/// An `UpsertGroup` request as the engine takes it.
pub fn group_upsert(request: &pb::UpsertGroupRequest) -> Result<GroupUpsert, Status> {
    Ok(GroupUpsert {
        name: GroupName(id_field("name", &request.name)?),
        members: request
            .member_account_ids
            .iter()
            .map(|id| account_id("member_account_ids", id))
            .collect::<Result<_, _>>()?,
        order_statuses: request
            .order_statuses
            .iter()
            .map(|value| enum_codes::order_status("order_statuses", *value))
            .collect::<Result<_, _>>()?,
    })
}

/// An `UpsertAccount` request as the engine takes it.
pub fn account_upsert(request: &pb::UpsertAccountRequest) -> Result<AccountUpsert, Status> {
    Ok(AccountUpsert {
        id: account_id("account_id", &request.account_id)?,
        config: account_config(request)?,
    })
}

/// A `Route` request as the engine takes it: the buyer's message, and what
/// the call asks beyond it (R23's priority, R24's explanation).
pub fn route_call(request: &pb::RouteRequest) -> Result<(RouteRequest, RouteOptions), Status> {
    let route = RouteRequest {
        buyer: BuyerId(id_field("buyer_id", &request.buyer_id)?),
        request_id: RequestId(id_field("request_id", &request.request_id)?),
        order_status: enum_codes::order_status("order_status", request.order_status)?,
        addressed: optional_account_id("addressed_account_id", &request.addressed_account_id)?,
        from_bot: request.from_bot,
    };
    let options = RouteOptions {
        priority: priority(request.priority)?,
        explain: request.explain,
    };
    Ok((route, options))
}
