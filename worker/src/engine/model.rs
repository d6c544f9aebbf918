//! The vocabulary of routing: ids, roles, statuses, order statuses, queues, accounts,
//! sessions and groups, as the rules page (`routing-rules.md`) names them.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use super::free_rate::{FreeRate, WaitRange};
use super::tally::{AssignTally, CauseKind, OverflowRule};

/// Milliseconds since the Unix epoch. The engine never reads a clock: every call is
/// given the time, so 72-hour windows are tested in virtual time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn as_millis(self) -> u64 {
        self.0
    }

    pub fn plus(self, duration: Duration) -> Timestamp {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(millis))
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id!(
    /// The tenant. Every other id lives inside one shop.
    ShopId
);
string_id!(
    /// A person of the shop who can receive sessions.
    AccountId
);
string_id!(
    /// A buyer writing to the shop.
    BuyerId
);
string_id!(
    /// The idempotency key of a `Route` call.
    RequestId
);
string_id!(
    /// A group's name, which identifies it within its shop.
    GroupName
);

/// A session's id, unique within its shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Main,
    Admin,
    CsAdmin,
    Operations,
    CustomerService,
}

impl Role {
    /// May assign or transfer any open session of the shop (R16).
    pub fn manages_sessions(self) -> bool {
        matches!(self, Role::Main | Role::Admin | Role::CsAdmin)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountStatus {
    Online,
    /// Logged in, not accepting new sessions (Taobao's 挂起).
    Suspended,
    Offline,
}

impl AccountStatus {
    pub fn is_logged_in(self) -> bool {
        matches!(self, AccountStatus::Online | AccountStatus::Suspended)
    }
}

/// The buyer's order status with the shop; group routing (R7) binds each to a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrderStatus {
    NoActiveOrder,
    OrderedNotPaid,
    PaidNotShipped,
    ShippedNotReceived,
    TradeSucceeded,
    AfterSales,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::NoActiveOrder,
        OrderStatus::OrderedNotPaid,
        OrderStatus::PaidNotShipped,
        OrderStatus::ShippedNotReceived,
        OrderStatus::TradeSucceeded,
        OrderStatus::AfterSales,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::NoActiveOrder => "NO_ACTIVE_ORDER",
            OrderStatus::OrderedNotPaid => "ORDERED_NOT_PAID",
            OrderStatus::PaidNotShipped => "PAID_NOT_SHIPPED",
            OrderStatus::ShippedNotReceived => "SHIPPED_NOT_RECEIVED",
            OrderStatus::TradeSucceeded => "TRADE_SUCCEEDED",
            OrderStatus::AfterSales => "AFTER_SALES",
        }
    }
}

/// A waiting line. Basic routing uses the shop's one queue; group routing queues a
/// buyer in the queue of their order status (R7b, R7c, R13a).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QueueName {
    Shop,
    Status(OrderStatus),
}

impl QueueName {
    pub const SHOP: &'static str = "shop";

    pub fn name(self) -> &'static str {
        match self {
            QueueName::Shop => Self::SHOP,
            QueueName::Status(status) => status.name(),
        }
    }

    /// Reads a queue name as the API writes it: `shop` or an order status name.
    pub fn parse(name: &str) -> Option<QueueName> {
        if name == Self::SHOP {
            return Some(QueueName::Shop);
        }
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.name() == name)
            .map(QueueName::Status)
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    Queued,
    Assigned,
    /// Held by the bot in the message pool (R13c, R18).
    Pooled,
    /// The agent finished; the session still holds its slot until `closes_at` (R15).
    Ended,
    Closed,
}

impl SessionState {
    /// Open sessions are the ones a new message of the buyer joins (R1).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            SessionState::Queued | SessionState::Assigned | SessionState::Pooled
        )
    }
}

/// Which rule decided a `Route`: reported so that a merchant can see why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteReason {
    /// R1.
    OpenSession,
    /// R2.
    Addressed,
    /// R3.
    AddressedOffline,
    /// R4.
    NoParticipants,
    /// R5.
    Affinity,
    /// R7a.
    Group,
    /// R7c.
    AnyOnline,
    /// R8.
    Even,
    /// R7b, R7c, R8, R13a.
    Queued,
    /// R13b.
    OfflineList,
    /// R13c.
    MessagePool,
    /// R13d.
    Proxy,
    /// R13e.
    MainAccount,
    /// R21: the session waited in its queue for the shop's maximum queue wait,
    /// and the queue-timeout action placed it. Reported as the session's reason
    /// from then on (its placement is R21's, no longer the queue's).
    QueueTimeout,
}

/// How a session came to the account that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssignCause {
    /// Placed by `Route` under this rule.
    Rule(RouteReason),
    /// Taken from a queue when a slot freed (R14).
    Queue { from: QueueName },
    /// Assigned by hand out of a queue or the message pool (R16, R18).
    Manual { from_queue: Option<QueueName> },
    /// Moved by hand from one account to another (R16).
    Transfer { from: AccountId },
    /// Pulled by the account from a queue (R17).
    Pull { from: QueueName },
    /// Left its queue by R21's timeout action.
    QueueTimeout { from: QueueName },
    /// Moved by R22 from an account that did not reply in time.
    ReplyTimeout { from: AccountId },
}

impl AssignCause {
    /// What R25 counts it as.
    pub fn kind(&self) -> CauseKind {
        match self {
            AssignCause::Rule(_) => CauseKind::Rule,
            AssignCause::Queue { .. } => CauseKind::Queue,
            AssignCause::Manual { .. } => CauseKind::Manual,
            AssignCause::Transfer { .. } => CauseKind::Transfer,
            AssignCause::Pull { .. } => CauseKind::Pull,
            AssignCause::QueueTimeout { .. } => CauseKind::QueueTimeout,
            AssignCause::ReplyTimeout { .. } => CauseKind::ReplyTimeout,
        }
    }

    /// Whether the session came out of a queue (R14, R16, R17, R21): what queue
    /// waits are measured on.
    pub fn takes_from_a_queue(&self) -> bool {
        matches!(
            self,
            AssignCause::Queue { .. }
                | AssignCause::Pull { .. }
                | AssignCause::QueueTimeout { .. }
                | AssignCause::Manual {
                    from_queue: Some(_)
                }
        )
    }

    /// The rule that lets this assignment go beyond the account's capacity, if
    /// any does (R25). The even picks (R7, R8, R9), R14 and R22 need a free slot.
    pub fn overflow_rule(&self) -> Option<OverflowRule> {
        match self {
            AssignCause::Rule(reason) => match reason {
                RouteReason::Addressed => Some(OverflowRule::R2),
                RouteReason::AddressedOffline => Some(OverflowRule::R3),
                RouteReason::NoParticipants => Some(OverflowRule::R4),
                RouteReason::Affinity => Some(OverflowRule::R5),
                RouteReason::OfflineList => Some(OverflowRule::R13b),
                RouteReason::Proxy => Some(OverflowRule::R13d),
                RouteReason::MainAccount => Some(OverflowRule::R13e),
                RouteReason::QueueTimeout => Some(OverflowRule::R21),
                RouteReason::OpenSession
                | RouteReason::Group
                | RouteReason::AnyOnline
                | RouteReason::Even
                | RouteReason::Queued
                | RouteReason::MessagePool => None,
            },
            AssignCause::Manual { .. } | AssignCause::Transfer { .. } => Some(OverflowRule::R16),
            AssignCause::Pull { .. } => Some(OverflowRule::R17),
            AssignCause::QueueTimeout { .. } => Some(OverflowRule::R21),
            AssignCause::Queue { .. } | AssignCause::ReplyTimeout { .. } => None,
        }
    }
}

/// What an account is, as the merchant configured it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountConfig {
    pub display_name: String,
    pub roles: BTreeSet<Role>,
    /// Never receives a session automatically (R11).
    pub non_routing: bool,
    /// `None`: the shop's default max concurrent applies.
    pub max_concurrent: Option<u32>,
    /// May assign sessions out of the message pool (R18).
    pub pool_permission: bool,
    /// Only meaningful for the main account: it takes part in automatic routing.
    pub main_account_participates: bool,
}

impl AccountConfig {
    /// Participating accounts take part in automatic routing: customer service, or
    /// the main account where the shop lets it, and never a non-routing one (R11).
    pub fn participates(&self) -> bool {
        if self.non_routing {
            return false;
        }
        self.roles.contains(&Role::CustomerService)
            || (self.roles.contains(&Role::Main) && self.main_account_participates)
    }

    pub fn manages_sessions(&self) -> bool {
        self.roles.iter().any(|role| role.manages_sessions())
    }
}

/// An account with its live state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub config: AccountConfig,
    pub status: AccountStatus,
    /// When the account turns OFFLINE unless a heartbeat comes; `None` when OFFLINE.
    pub presence_expires_at: Option<Timestamp>,
    /// Sessions it holds in state ASSIGNED.
    pub assigned: u32,
    /// Its ENDED sessions still in their close delay (R15).
    pub ending: u32,
    /// Order of its latest assignment (0: never), the round-robin tie-break of R9.
    pub last_assigned_seq: u64,
    /// How fast its slots freed recently: R20's estimates are made of these.
    pub frees: FreeRate,
    /// The sessions it took, by cause and beyond capacity by rule (R25).
    pub tally: AssignTally,
}

/// For unit tests: a customer-service account of the shop's default capacity,
/// holding `assigned` sessions, never assigned by R9 yet.
#[cfg(test)]
pub(crate) fn test_account(id: &str, status: AccountStatus, assigned: u32) -> Account {
    Account {
        id: AccountId::from(id),
        config: AccountConfig {
            display_name: id.to_owned(),
            roles: [Role::CustomerService].into_iter().collect(),
            non_routing: false,
            max_concurrent: None,
            pool_permission: false,
            main_account_participates: false,
        },
        status,
        presence_expires_at: None,
        assigned,
        ending: 0,
        last_assigned_seq: 0,
        frees: FreeRate::default(),
        tally: AssignTally::default(),
    }
}

impl Account {
    /// Occupied slots: assigned sessions plus ended ones still in their close delay.
    pub fn occupancy(&self) -> u32 {
        self.assigned + self.ending
    }

    /// Participating and ONLINE: what the rules call available.
    pub fn is_available(&self) -> bool {
        self.config.participates() && self.status == AccountStatus::Online
    }
}

/// One buyer's conversation with the shop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub buyer: BuyerId,
    pub state: SessionState,
    /// The holder; `None` while QUEUED or POOLED, and for a session closed from there.
    pub account: Option<AccountId>,
    pub order_status: OrderStatus,
    /// Set while QUEUED.
    pub queue: Option<QueueName>,
    /// Order of arrival in a queue, comparable across the shop's queues (R14).
    pub enqueued_seq: u64,
    pub created_at: Timestamp,
    /// Set once ENDED: when it closes by itself and frees the slot.
    pub closes_at: Option<Timestamp>,
    /// The rule that decided its placement: the first, or R21's when it timed out
    /// of its queue.
    pub reason: RouteReason,
    /// R23: 0 (normal) to [`MAX_PRIORITY`], given by the `Route` that created it.
    pub priority: u8,
    /// R20: the wait estimated when it was queued, kept to measure how good
    /// estimates are once it is served. `None` when unknown or never queued.
    pub queued_estimate: Option<WaitRange>,
    /// R22: since when the buyer has waited for a reply from the holder; `None`
    /// when the holder replied, when the reminder went out, or while the shop has
    /// no reply timeout. The reply deadline is this plus the timeout.
    pub reply_wait_since: Option<Timestamp>,
    /// R22: the accounts the session already timed out on, oldest first; a
    /// reassignment never goes back to one of them.
    pub timed_out_on: Vec<AccountId>,
    /// R22: how often it was moved for want of a reply.
    pub reassignments: u32,
    /// R22: it was moved for want of a reply and the new holder has not replied
    /// yet; the buyer's affinity moves only once it does.
    pub affinity_pending: bool,
}

/// The highest priority a `Route` may give (R23): a small fixed range, 0 to 9.
pub const MAX_PRIORITY: u8 = 9;

/// A named set of accounts bound to order statuses (R7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: GroupName,
    pub members: BTreeSet<AccountId>,
    pub order_statuses: BTreeSet<OrderStatus>,
}

/// The account a buyer was last served by, until the affinity window passes (R5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affinity {
    pub account: AccountId,
    pub expires_at: Timestamp,
}
