//! Wire types ⇄ domain types. Everything a client sends is checked here (ids, enum
//! values, ranges) so the engine only ever sees well-formed input; every refusal
//! names the request field.

use std::time::Duration;

use fenliu_proto::v1 as pb;
use tonic::Status;

use crate::engine::{
    self, AccountConfig, AccountId, AccountStatus, AssignCause, Distribution, EngineError,
    OfflinePolicy, OrderStatus, Profile, QueueName, Role, RouteReason, RoutingMode, Session,
    SessionState, ShopEvent, ShopState,
};
use crate::router::RouterError;

/// Ids are 1 to 128 bytes.
pub const MAX_ID_BYTES: usize = 128;

/// Metadata key of a NOT_OWNER refusal: the address of the shard's owner, when
/// known. The dispatcher reads it to retry on the right worker at once.
pub const OWNER_METADATA: &str = "fenliu-owner";
/// Metadata key marking a refusal because this worker does not own the shop's
/// shard (the status is UNAVAILABLE, so any client may simply retry).
pub const NOT_OWNER_METADATA: &str = "fenliu-not-owner";

pub fn to_status(error: RouterError) -> Status {
    match error {
        RouterError::UnknownShop(_) => Status::not_found(error.to_string()),
        RouterError::Engine(engine_error) => engine_status(&engine_error),
        RouterError::Store(store_error) => store_error.to_status(),
        RouterError::NotOwner(ref not_owner) => {
            let mut status = Status::unavailable(error.to_string());
            if let Ok(shard) = not_owner.shard.to_string().parse() {
                status.metadata_mut().insert(NOT_OWNER_METADATA, shard);
            }
            if let Some(owner) = &not_owner.owner
                && let Ok(value) = owner.parse()
            {
                status.metadata_mut().insert(OWNER_METADATA, value);
            }
            status
        }
    }
}

pub fn engine_status(error: &EngineError) -> Status {
    let message = error.to_string();
    match error {
        EngineError::InvalidArgument { .. } => Status::invalid_argument(message),
        EngineError::NotFound { .. } => Status::not_found(message),
        EngineError::FailedPrecondition { .. } => Status::failed_precondition(message),
        EngineError::PermissionDenied { .. } => Status::permission_denied(message),
    }
}

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

fn unknown(field: &'static str, value: i32) -> Status {
    Status::invalid_argument(format!("{field}: unknown value {value}"))
}

fn unspecified(field: &'static str) -> Status {
    Status::invalid_argument(format!("{field}: must be specified"))
}

pub fn profile(value: i32) -> Result<Profile, Status> {
    match pb::Profile::try_from(value).map_err(|_| unknown("profile", value))? {
        // A shop nobody configured behaves as Taobao does for new shops.
        pb::Profile::Unspecified | pb::Profile::Taobao => Ok(Profile::Taobao),
        pb::Profile::Kuaishou => Ok(Profile::Kuaishou),
    }
}

pub fn routing_mode(value: i32) -> Result<RoutingMode, Status> {
    const FIELD: &str = "routing_mode";
    match pb::RoutingMode::try_from(value).map_err(|_| unknown(FIELD, value))? {
        pb::RoutingMode::Unspecified => Err(unspecified(FIELD)),
        pb::RoutingMode::Basic => Ok(RoutingMode::Basic),
        pb::RoutingMode::Group => Ok(RoutingMode::Group),
    }
}

pub fn offline_policy(value: i32) -> Result<OfflinePolicy, Status> {
    const FIELD: &str = "offline_policy";
    match pb::OfflinePolicy::try_from(value).map_err(|_| unknown(FIELD, value))? {
        pb::OfflinePolicy::Unspecified => Err(unspecified(FIELD)),
        pb::OfflinePolicy::Queue => Ok(OfflinePolicy::Queue),
        pb::OfflinePolicy::OfflineList => Ok(OfflinePolicy::OfflineList),
        pb::OfflinePolicy::MessagePool => Ok(OfflinePolicy::MessagePool),
        pb::OfflinePolicy::ProxyAccount => Ok(OfflinePolicy::ProxyAccount),
        pb::OfflinePolicy::MainAccount => Ok(OfflinePolicy::MainAccount),
    }
}

pub fn distribution(value: i32) -> Result<Distribution, Status> {
    const FIELD: &str = "distribution";
    match pb::Distribution::try_from(value).map_err(|_| unknown(FIELD, value))? {
        pb::Distribution::Unspecified => Err(unspecified(FIELD)),
        pb::Distribution::LeastLoaded => Ok(Distribution::LeastLoaded),
        pb::Distribution::RoundRobin => Ok(Distribution::RoundRobin),
        pb::Distribution::Random => Ok(Distribution::Random),
    }
}

pub fn role(value: i32) -> Result<Role, Status> {
    const FIELD: &str = "roles";
    match pb::Role::try_from(value).map_err(|_| unknown(FIELD, value))? {
        pb::Role::Unspecified => Err(unspecified(FIELD)),
        pb::Role::Main => Ok(Role::Main),
        pb::Role::Admin => Ok(Role::Admin),
        pb::Role::CsAdmin => Ok(Role::CsAdmin),
        pb::Role::Operations => Ok(Role::Operations),
        pb::Role::CustomerService => Ok(Role::CustomerService),
    }
}

pub fn account_status(value: i32) -> Result<AccountStatus, Status> {
    const FIELD: &str = "status";
    match pb::AccountStatus::try_from(value).map_err(|_| unknown(FIELD, value))? {
        pb::AccountStatus::Unspecified => Err(unspecified(FIELD)),
        pb::AccountStatus::Online => Ok(AccountStatus::Online),
        pb::AccountStatus::Suspended => Ok(AccountStatus::Suspended),
        pb::AccountStatus::Offline => Ok(AccountStatus::Offline),
    }
}

/// UNSPECIFIED reads as NO_ACTIVE_ORDER: a buyer without an order is the common case.
pub fn order_status(field: &'static str, value: i32) -> Result<OrderStatus, Status> {
    match pb::OrderStatus::try_from(value).map_err(|_| unknown(field, value))? {
        pb::OrderStatus::Unspecified | pb::OrderStatus::NoActiveOrder => {
            Ok(OrderStatus::NoActiveOrder)
        }
        pb::OrderStatus::OrderedNotPaid => Ok(OrderStatus::OrderedNotPaid),
        pb::OrderStatus::PaidNotShipped => Ok(OrderStatus::PaidNotShipped),
        pb::OrderStatus::ShippedNotReceived => Ok(OrderStatus::ShippedNotReceived),
        pb::OrderStatus::TradeSucceeded => Ok(OrderStatus::TradeSucceeded),
        pb::OrderStatus::AfterSales => Ok(OrderStatus::AfterSales),
    }
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

// ------------------------------------------------------------ domain → wire

fn wire_order_status(status: OrderStatus) -> pb::OrderStatus {
    match status {
        OrderStatus::NoActiveOrder => pb::OrderStatus::NoActiveOrder,
        OrderStatus::OrderedNotPaid => pb::OrderStatus::OrderedNotPaid,
        OrderStatus::PaidNotShipped => pb::OrderStatus::PaidNotShipped,
        OrderStatus::ShippedNotReceived => pb::OrderStatus::ShippedNotReceived,
        OrderStatus::TradeSucceeded => pb::OrderStatus::TradeSucceeded,
        OrderStatus::AfterSales => pb::OrderStatus::AfterSales,
    }
}

fn wire_offline_policy(policy: OfflinePolicy) -> pb::OfflinePolicy {
    match policy {
        OfflinePolicy::Queue => pb::OfflinePolicy::Queue,
        OfflinePolicy::OfflineList => pb::OfflinePolicy::OfflineList,
        OfflinePolicy::MessagePool => pb::OfflinePolicy::MessagePool,
        OfflinePolicy::ProxyAccount => pb::OfflinePolicy::ProxyAccount,
        OfflinePolicy::MainAccount => pb::OfflinePolicy::MainAccount,
    }
}

pub fn wire_role(role: Role) -> pb::Role {
    match role {
        Role::Main => pb::Role::Main,
        Role::Admin => pb::Role::Admin,
        Role::CsAdmin => pb::Role::CsAdmin,
        Role::Operations => pb::Role::Operations,
        Role::CustomerService => pb::Role::CustomerService,
    }
}

pub fn wire_account_status(status: AccountStatus) -> pb::AccountStatus {
    match status {
        AccountStatus::Online => pb::AccountStatus::Online,
        AccountStatus::Suspended => pb::AccountStatus::Suspended,
        AccountStatus::Offline => pb::AccountStatus::Offline,
    }
}

pub fn wire_reason(reason: RouteReason) -> pb::RouteReason {
    match reason {
        RouteReason::OpenSession => pb::RouteReason::OpenSession,
        RouteReason::Addressed => pb::RouteReason::Addressed,
        RouteReason::AddressedOffline => pb::RouteReason::AddressedOffline,
        RouteReason::NoParticipants => pb::RouteReason::NoParticipants,
        RouteReason::Affinity => pb::RouteReason::Affinity,
        RouteReason::Group => pb::RouteReason::Group,
        RouteReason::AnyOnline => pb::RouteReason::AnyOnline,
        RouteReason::Even => pb::RouteReason::Even,
        RouteReason::Queued => pb::RouteReason::Queued,
        RouteReason::OfflineList => pb::RouteReason::OfflineList,
        RouteReason::MessagePool => pb::RouteReason::MessagePool,
        RouteReason::Proxy => pb::RouteReason::Proxy,
        RouteReason::MainAccount => pb::RouteReason::MainAccount,
    }
}

fn wire_session_state(state: SessionState) -> pb::SessionState {
    match state {
        SessionState::Queued => pb::SessionState::Queued,
        SessionState::Assigned => pb::SessionState::Assigned,
        SessionState::Pooled => pb::SessionState::Pooled,
        SessionState::Ended => pb::SessionState::Ended,
        SessionState::Closed => pb::SessionState::Closed,
    }
}

/// A session as the client sees it. `queue_position` comes from the shop when the
/// session is still queued there.
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
    }
}

/// A session of the shop, with its live queue position.
pub fn wire_shop_session(state: &ShopState, session: &Session) -> pb::Session {
    wire_session(session, state.queue_position(session))
}

pub fn wire_profile(profile: Profile) -> pb::Profile {
    match profile {
        Profile::Taobao => pb::Profile::Taobao,
        Profile::Kuaishou => pb::Profile::Kuaishou,
    }
}

pub fn wire_settings(settings: &engine::ShopSettings) -> pb::ShopSettings {
    pb::ShopSettings {
        routing_mode: match settings.routing_mode {
            RoutingMode::Basic => pb::RoutingMode::Basic,
            RoutingMode::Group => pb::RoutingMode::Group,
        } as i32,
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
        distribution: match settings.distribution {
            Distribution::LeastLoaded => pb::Distribution::LeastLoaded,
            Distribution::RoundRobin => pb::Distribution::RoundRobin,
            Distribution::Random => pb::Distribution::Random,
        } as i32,
        presence_ttl_seconds: duration_seconds(settings.presence_ttl),
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

pub fn wire_shop_state(state: &ShopState) -> pb::ShopState {
    let held = state.sessions_by_holder();
    let queues = state
        .queues()
        .map(|(name, ids)| pb::Queue {
            name: name.name().to_owned(),
            sessions: ids
                .iter()
                .zip(1u32..)
                .filter_map(|(id, position)| {
                    state.session(*id).map(|s| wire_session(s, Some(position)))
                })
                .collect(),
        })
        .collect();
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
        } => Event::SessionQueued(pb::SessionQueued {
            session_id: session.0,
            buyer_id: buyer.0.clone(),
            queue: queue.name().to_owned(),
            position: *position,
        }),
        ShopEvent::SessionPooled { session, buyer } => Event::SessionPooled(pb::SessionPooled {
            session_id: session.0,
            buyer_id: buyer.0.clone(),
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
