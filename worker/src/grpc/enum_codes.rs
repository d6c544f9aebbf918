//! The public API's enums (`fenliu.v1`) ⇄ the engine's, both directions. Decoding
//! a client's value refuses unknown numbers and, where the API has no default,
//! `UNSPECIFIED`, with `INVALID_ARGUMENT` naming the field.

use fenliu_proto::v1 as pb;
use tonic::Status;

use crate::engine::{
    AccountStatus, CauseKind, Distribution, OfflinePolicy, OrderStatus, Profile,
    QueueTimeoutAction, Role, RouteReason, RoutingMode, SessionState, Why,
};

// ------------------------------------------------------------ wire → domain

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

pub fn queue_timeout_action(value: i32) -> Result<QueueTimeoutAction, Status> {
    const FIELD: &str = "queue_timeout_action";
    match pb::QueueTimeoutAction::try_from(value).map_err(|_| unknown(FIELD, value))? {
        pb::QueueTimeoutAction::Unspecified => Err(unspecified(FIELD)),
        pb::QueueTimeoutAction::MessagePool => Ok(QueueTimeoutAction::MessagePool),
        pb::QueueTimeoutAction::OfflineList => Ok(QueueTimeoutAction::OfflineList),
        pb::QueueTimeoutAction::ProxyAccount => Ok(QueueTimeoutAction::ProxyAccount),
        pb::QueueTimeoutAction::MainAccount => Ok(QueueTimeoutAction::MainAccount),
        pb::QueueTimeoutAction::LeastLoaded => Ok(QueueTimeoutAction::LeastLoaded),
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

// ------------------------------------------------------------ domain → wire

pub fn wire_order_status(status: OrderStatus) -> pb::OrderStatus {
    match status {
        OrderStatus::NoActiveOrder => pb::OrderStatus::NoActiveOrder,
        OrderStatus::OrderedNotPaid => pb::OrderStatus::OrderedNotPaid,
        OrderStatus::PaidNotShipped => pb::OrderStatus::PaidNotShipped,
        OrderStatus::ShippedNotReceived => pb::OrderStatus::ShippedNotReceived,
        OrderStatus::TradeSucceeded => pb::OrderStatus::TradeSucceeded,
        OrderStatus::AfterSales => pb::OrderStatus::AfterSales,
    }
}

pub fn wire_offline_policy(policy: OfflinePolicy) -> pb::OfflinePolicy {
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
        RouteReason::QueueTimeout => pb::RouteReason::QueueTimeout,
    }
}

pub fn wire_queue_timeout_action(action: QueueTimeoutAction) -> pb::QueueTimeoutAction {
    match action {
        QueueTimeoutAction::MessagePool => pb::QueueTimeoutAction::MessagePool,
        QueueTimeoutAction::OfflineList => pb::QueueTimeoutAction::OfflineList,
        QueueTimeoutAction::ProxyAccount => pb::QueueTimeoutAction::ProxyAccount,
        QueueTimeoutAction::MainAccount => pb::QueueTimeoutAction::MainAccount,
        QueueTimeoutAction::LeastLoaded => pb::QueueTimeoutAction::LeastLoaded,
    }
}

pub fn wire_cause_kind(kind: CauseKind) -> pb::AssignCause {
    match kind {
        CauseKind::Rule => pb::AssignCause::Rule,
        CauseKind::Queue => pb::AssignCause::Queue,
        CauseKind::Manual => pb::AssignCause::Manual,
        CauseKind::Transfer => pb::AssignCause::Transfer,
        CauseKind::Pull => pb::AssignCause::Pull,
        CauseKind::QueueTimeout => pb::AssignCause::QueueTimeout,
        CauseKind::ReplyTimeout => pb::AssignCause::ReplyTimeout,
    }
}

pub fn wire_why(why: Why) -> pb::candidate::Why {
    match why {
        Why::Chosen => pb::candidate::Why::Chosen,
        Why::EarlierRule => pb::candidate::Why::EarlierRule,
        Why::ExcludedAddressed => pb::candidate::Why::ExcludedAddressed,
        Why::NonRouting => pb::candidate::Why::NonRouting,
        Why::NotParticipating => pb::candidate::Why::NotParticipating,
        Why::Offline => pb::candidate::Why::Offline,
        Why::Suspended => pb::candidate::Why::Suspended,
        Why::NotInGroup => pb::candidate::Why::NotInGroup,
        Why::Full => pb::candidate::Why::Full,
        Why::MoreLoaded => pb::candidate::Why::MoreLoaded,
        Why::LostTieBreak => pb::candidate::Why::LostTieBreak,
        Why::AlreadyTimedOut => pb::candidate::Why::AlreadyTimedOut,
    }
}

pub fn wire_session_state(state: SessionState) -> pb::SessionState {
    match state {
        SessionState::Queued => pb::SessionState::Queued,
        SessionState::Assigned => pb::SessionState::Assigned,
        SessionState::Pooled => pb::SessionState::Pooled,
        SessionState::Ended => pb::SessionState::Ended,
        SessionState::Closed => pb::SessionState::Closed,
    }
}

pub fn wire_profile(profile: Profile) -> pb::Profile {
    match profile {
        Profile::Taobao => pb::Profile::Taobao,
        Profile::Kuaishou => pb::Profile::Kuaishou,
    }
}

pub fn wire_routing_mode(mode: RoutingMode) -> pb::RoutingMode {
    match mode {
        RoutingMode::Basic => pb::RoutingMode::Basic,
        RoutingMode::Group => pb::RoutingMode::Group,
    }
}

pub fn wire_distribution(distribution: Distribution) -> pb::Distribution {
    match distribution {
        Distribution::LeastLoaded => pb::Distribution::LeastLoaded,
        Distribution::RoundRobin => pb::Distribution::RoundRobin,
        Distribution::Random => pb::Distribution::Random,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codes::StoredCode;

    /// Every value goes to the wire and back as itself, and its wire number is
    /// the number the store writes: both numberings are stable contracts, and
    /// keeping them equal keeps a stored record readable by eye with the API.
    fn agrees<T, W>(to_wire: impl Fn(T) -> W, from_wire: impl Fn(i32) -> Result<T, Status>)
    where
        T: StoredCode + PartialEq + std::fmt::Debug,
        W: Into<i32>,
    {
        for value in T::ALL {
            let wire: i32 = to_wire(*value).into();
            assert_eq!(wire, value.code(), "{}: {value:?}", T::WHAT);
            assert_eq!(from_wire(wire).unwrap(), *value, "{}", T::WHAT);
        }
    }

    #[test]
    fn wire_numbers_round_trip_and_equal_the_stored_ones() {
        agrees(wire_profile, profile);
        agrees(wire_routing_mode, routing_mode);
        agrees(wire_offline_policy, offline_policy);
        agrees(wire_distribution, distribution);
        agrees(wire_queue_timeout_action, queue_timeout_action);
        for value in CauseKind::ALL {
            assert_eq!(wire_cause_kind(value) as i32, value.code());
        }
        agrees(wire_role, role);
        agrees(wire_account_status, account_status);
        agrees(wire_order_status, |value| {
            order_status("order_status", value)
        });
        for value in SessionState::ALL {
            assert_eq!(wire_session_state(*value) as i32, value.code());
        }
        for value in RouteReason::ALL {
            assert_eq!(wire_reason(*value) as i32, value.code());
        }
    }

    #[test]
    fn an_unknown_or_unspecified_value_is_refused_naming_the_field() {
        let unknown = routing_mode(99).unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
        assert_eq!(unknown.message(), "routing_mode: unknown value 99");
        let unspecified = account_status(0).unwrap_err();
        assert_eq!(unspecified.message(), "status: must be specified");
        // A buyer without an order is the common case: UNSPECIFIED is accepted.
        assert_eq!(
            order_status("order_status", 0).unwrap(),
            OrderStatus::NoActiveOrder
        );
    }
}
