//! The parts of a router that a deployment (and a test) chooses: who owns which
//! shop ([`Ownership`]), where shops live between calls ([`Persistence`]),
//! where "now" comes from ([`Clock`]), and how far one shop may go
//! ([`Quotas`]). The embedded default is [`SoleOwner`],
//! [`Persistence::Memory`], [`SystemClock`] and [`Quotas::default`]; tests
//! swap in their own.

use std::future::Future;
use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::engine::{ShopId, ShopLimits, Timestamp};
use crate::store::RedisStore;

/// This node may not serve the shop: its shard belongs to another worker (or to
/// nobody yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotOwner {
    /// The shop's shard, which the refusal names so the dispatcher can re-route.
    pub shard: u32,
    /// The owner's advertised address, when known.
    pub owner: Option<String>,
    /// Why this worker's own leases are not being renewed (a Redis that
    /// refuses its password or a command, or is down), when they are not: the
    /// refusal then tells the caller, and the operator, what to fix.
    pub renewal_failure: Option<String>,
}

/// Which shops this node may serve, and under which fencing token.
pub trait Ownership: Send + Sync + std::fmt::Debug {
    fn token_for(&self, shop: &ShopId) -> Result<u64, NotOwner>;

    /// Called before a new shop is first stored, so that whoever owns its shard
    /// later can find it (and wake its timers) without waiting for a call.
    fn register_new_shop<'a>(
        &'a self,
        _shop: &'a ShopId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
}

/// A node that serves every shop: the embedded default, where nobody else can.
#[derive(Debug, Default)]
pub struct SoleOwner;

impl Ownership for SoleOwner {
    fn token_for(&self, _shop: &ShopId) -> Result<u64, NotOwner> {
        Ok(1)
    }
}

/// Where shops live between calls.
#[derive(Debug, Clone)]
pub enum Persistence {
    /// In this process only: the embedded default.
    Memory,
    /// In Redis; memory holds what this node owns and serves.
    Redis(RedisStore),
}

/// The source of "now". The engine never reads a clock; the router does, here.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// Wall-clock time, in milliseconds since the Unix epoch.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Default of `--route-rate-limit`: `Route` calls per second per shop. A shop
/// at 1,000 a second receives 86 million messages a day, far beyond the
/// busiest real shop, so ordinary traffic never meets it; a runaway client
/// does.
pub const DEFAULT_ROUTE_RATE_LIMIT: u32 = 1000;

/// How far one shop may go on this deployment, so that no tenant starves or
/// exhausts the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// `Route` calls per second for a shop that sets no limit of its own
    /// (`route_rate_limit_per_second` = 0); 0: unlimited.
    pub route_rate_limit: u32,
    /// The caps on each shop's accounts, groups and sessions, which the
    /// router hands to every shop it creates or loads.
    pub shop_limits: ShopLimits,
    /// The most calls one shop may have in flight at this worker (waiting for
    /// its lock, deciding, or waiting for their commit); past it a call is
    /// refused at once, retryable. 0: no bound.
    pub max_in_flight_per_shop: usize,
}

/// Calls one shop may have in flight at its worker by default: several times
/// what the load generator's hot-shop run keeps in flight (64 Routes and their
/// ends), and about 25 ms of a hot shop's work on this 2-core machine.
pub const DEFAULT_MAX_IN_FLIGHT_PER_SHOP: usize = 512;

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            route_rate_limit: DEFAULT_ROUTE_RATE_LIMIT,
            shop_limits: ShopLimits::default(),
            max_in_flight_per_shop: DEFAULT_MAX_IN_FLIGHT_PER_SHOP,
        }
    }
}
