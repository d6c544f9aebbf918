//! The numbers the store writes for the engine's enums, both directions. They are
//! the store's own contract, so that the storage layer depends on nothing above
//! it: a stored number must keep its meaning for as long as data written with it
//! may be read. (They happen to equal the public API's numbering, which
//! `grpc::enum_codes` checks in a test; both are stable.)

use crate::engine::{
    AccountStatus, CauseKind, Distribution, OfflinePolicy, OrderStatus, OverflowRule, Profile,
    QueueTimeoutAction, Role, RouteReason, RoutingMode, SessionState,
};

/// A stored number that no value of the enum has: data this version cannot read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what}: unknown stored value {value}")]
pub struct UnknownCode {
    pub what: &'static str,
    pub value: i32,
}

/// An enum the store writes as a number.
pub trait StoredCode: Sized + Copy + 'static {
    /// What the number is, for errors.
    const WHAT: &'static str;
    /// Every value of the enum, for tests that walk them all.
    const ALL: &'static [Self];
    fn code(self) -> i32;
    fn from_code(value: i32) -> Option<Self>;
}

/// Reads a stored number as `T`.
pub fn decode<T: StoredCode>(value: i32) -> Result<T, UnknownCode> {
    T::from_code(value).ok_or(UnknownCode {
        what: T::WHAT,
        value,
    })
}

/// Implements [`StoredCode`] from one table per enum. `reading N as Variant` reads
/// an extra number as a variant without ever writing it.
macro_rules! stored_codes {
    ($(
        $ty:ident as $what:literal $(, reading $alias:literal as $alias_variant:ident)? {
            $($variant:ident = $code:literal,)*
        }
    )*) => {
        $(
            impl StoredCode for $ty {
                const WHAT: &'static str = $what;
                const ALL: &'static [Self] = &[$($ty::$variant),*];
                fn code(self) -> i32 {
                    match self {
                        $($ty::$variant => $code,)*
                    }
                }
                fn from_code(value: i32) -> Option<Self> {
                    match value {
                        $($code => Some($ty::$variant),)*
                        $($alias => Some($ty::$alias_variant),)?
                        _ => None,
                    }
                }
            }
        )*
    };
}

stored_codes! {
    // Shops created before a profile was required were stored with 0: Taobao.
    Profile as "profile", reading 0 as Taobao {
        Taobao = 1,
        Kuaishou = 2,
    }
    RoutingMode as "routing_mode" {
        Basic = 1,
        Group = 2,
    }
    OfflinePolicy as "offline_policy" {
        Queue = 1,
        OfflineList = 2,
        MessagePool = 3,
        ProxyAccount = 4,
        MainAccount = 5,
    }
    Distribution as "distribution" {
        LeastLoaded = 1,
        RoundRobin = 2,
        Random = 3,
    }
    Role as "role" {
        Main = 1,
        Admin = 2,
        CsAdmin = 3,
        Operations = 4,
        CustomerService = 5,
    }
    AccountStatus as "account status" {
        Online = 1,
        Suspended = 2,
        Offline = 3,
    }
    // 0 has always been read as "no active order", the common case.
    OrderStatus as "order status", reading 0 as NoActiveOrder {
        NoActiveOrder = 1,
        OrderedNotPaid = 2,
        PaidNotShipped = 3,
        ShippedNotReceived = 4,
        TradeSucceeded = 5,
        AfterSales = 6,
    }
    SessionState as "session state" {
        Queued = 1,
        Assigned = 2,
        Pooled = 3,
        Ended = 4,
        Closed = 5,
    }
    RouteReason as "route reason" {
        OpenSession = 1,
        Addressed = 2,
        AddressedOffline = 3,
        NoParticipants = 4,
        Affinity = 5,
        Group = 6,
        AnyOnline = 7,
        Even = 8,
        Queued = 9,
        OfflineList = 10,
        MessagePool = 11,
        Proxy = 12,
        MainAccount = 13,
        QueueTimeout = 14,
    }
    QueueTimeoutAction as "queue timeout action" {
        MessagePool = 1,
        OfflineList = 2,
        ProxyAccount = 3,
        MainAccount = 4,
        LeastLoaded = 5,
    }
    CauseKind as "assign cause" {
        Rule = 1,
        Queue = 2,
        Manual = 3,
        Transfer = 4,
        Pull = 5,
        QueueTimeout = 6,
        ReplyTimeout = 7,
    }
    // The rules of R25's overflow accounting, in the rules page's order.
    OverflowRule as "overflow rule" {
        R2 = 1,
        R3 = 2,
        R4 = 3,
        R5 = 4,
        R13b = 5,
        R13d = 6,
        R13e = 7,
        R16 = 8,
        R17 = 9,
        R21 = 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: StoredCode + PartialEq + std::fmt::Debug>() {
        for value in T::ALL {
            assert_eq!(decode::<T>(value.code()), Ok(*value), "{}", T::WHAT);
        }
        let mut codes: Vec<i32> = T::ALL.iter().map(|value| value.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(
            codes.len(),
            T::ALL.len(),
            "{}: two values share a number",
            T::WHAT
        );
    }

    #[test]
    fn every_value_is_read_back_as_written() {
        round_trips::<Profile>();
        round_trips::<RoutingMode>();
        round_trips::<OfflinePolicy>();
        round_trips::<Distribution>();
        round_trips::<Role>();
        round_trips::<AccountStatus>();
        round_trips::<OrderStatus>();
        round_trips::<SessionState>();
        round_trips::<RouteReason>();
        round_trips::<QueueTimeoutAction>();
        round_trips::<CauseKind>();
        round_trips::<OverflowRule>();
    }

    #[test]
    fn an_unknown_number_is_an_error_naming_what_was_read() {
        let error = decode::<SessionState>(42).unwrap_err();
        assert_eq!(
            error,
            UnknownCode {
                what: "session state",
                value: 42
            }
        );
        assert_eq!(error.to_string(), "session state: unknown stored value 42");
        assert!(decode::<RoutingMode>(0).is_err(), "0 is no routing mode");
        assert!(decode::<RouteReason>(-1).is_err());
    }

    #[test]
    fn the_numbers_older_data_holds_still_read() {
        assert_eq!(decode::<Profile>(0), Ok(Profile::Taobao));
        assert_eq!(decode::<OrderStatus>(0), Ok(OrderStatus::NoActiveOrder));
        // Pinned: a stored number never changes its meaning.
        assert_eq!(SessionState::Closed.code(), 5);
        assert_eq!(RouteReason::MainAccount.code(), 13);
        assert_eq!(OfflinePolicy::MainAccount.code(), 5);
    }
}
