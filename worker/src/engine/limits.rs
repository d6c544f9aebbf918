//! The caps that keep one shop from exhausting the worker that serves it (and
//! the Redis behind it): how many accounts, groups, open sessions and queued
//! sessions a shop may have. They are the deployment's (worker flags), not the
//! shop's: nothing here is stored with the shop, and the router sets them on
//! every shop it creates or loads.
//!
//! A cap refuses only what would grow the shop past it: changing an existing
//! account or group, and a message that joins its buyer's open session (R1),
//! are never refused, so a shop at a cap keeps working. A shop found above a
//! cap (the deployment lowered it) keeps what it has and grows no further.

use super::error::EngineError;

/// Default of `--max-accounts-per-shop`. The largest shops have a few hundred
/// customer-service accounts; at 5,000 a decision still takes about 20 µs (see
/// the engine benchmark), and a heartbeat naming every account fits in the
/// default request size.
pub const DEFAULT_MAX_ACCOUNTS: u32 = 5_000;
/// Default of `--max-groups-per-shop`: a group per order status and team is a
/// few dozen; group routing walks the groups on every `Route`.
pub const DEFAULT_MAX_GROUPS: u32 = 200;
/// Default of `--max-open-sessions-per-shop`: 5,000 accounts × 20 slots. Every
/// open session is held in the worker's memory and in Redis.
pub const DEFAULT_MAX_OPEN_SESSIONS: u32 = 100_000;
/// Default of `--max-queued-sessions-per-shop`: a queue this long is hours of
/// waiting for any real shop; past it, buyers are better told at once.
pub const DEFAULT_MAX_QUEUED_SESSIONS: u32 = 20_000;

/// A shop's caps. Not stored: the worker's configuration sets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShopLimits {
    /// Accounts, the main account included: an `UpsertAccount` that would add
    /// one more is refused.
    pub max_accounts: u32,
    /// Groups: an `UpsertGroup` that would add one more is refused.
    pub max_groups: u32,
    /// Open sessions (assigned, queued or in the message pool): a `Route` that
    /// would open one more is refused.
    pub max_open_sessions: u32,
    /// Sessions waiting in the shop's queues, all queues together: a `Route`
    /// that would queue one more is refused.
    pub max_queued_sessions: u32,
}

impl Default for ShopLimits {
    fn default() -> Self {
        ShopLimits {
            max_accounts: DEFAULT_MAX_ACCOUNTS,
            max_groups: DEFAULT_MAX_GROUPS,
            max_open_sessions: DEFAULT_MAX_OPEN_SESSIONS,
            max_queued_sessions: DEFAULT_MAX_QUEUED_SESSIONS,
        }
    }
}

impl ShopLimits {
    /// Whether a shop with `accounts` accounts may add one.
    pub fn admit_account(&self, accounts: usize) -> Result<(), EngineError> {
        admit("max_accounts", "accounts", accounts, self.max_accounts)
    }

    /// Whether a shop with `groups` groups may add one.
    pub fn admit_group(&self, groups: usize) -> Result<(), EngineError> {
        admit("max_groups", "groups", groups, self.max_groups)
    }

    /// Whether a shop with `open` open sessions may open one more.
    pub fn admit_open_session(&self, open: usize) -> Result<(), EngineError> {
        admit(
            "max_open_sessions",
            "open sessions",
            open,
            self.max_open_sessions,
        )
    }

    /// Whether a shop with `queued` queued sessions may queue one more.
    pub fn admit_queued_session(&self, queued: usize) -> Result<(), EngineError> {
        admit(
            "max_queued_sessions",
            "queued sessions",
            queued,
            self.max_queued_sessions,
        )
    }
}

/// Refuses one more when `count` has reached `cap`, naming the cap.
fn admit(cap_name: &'static str, what: &str, count: usize, cap: u32) -> Result<(), EngineError> {
    if count < usize::try_from(cap).unwrap_or(usize::MAX) {
        return Ok(());
    }
    Err(EngineError::resource_exhausted(
        cap_name,
        format!("the shop has {count} {what}, the cap of this deployment; nothing was changed"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_admits_up_to_its_value_and_refuses_naming_itself() {
        let limits = ShopLimits {
            max_queued_sessions: 2,
            ..ShopLimits::default()
        };
        assert!(limits.admit_queued_session(1).is_ok());
        let refused = limits.admit_queued_session(2).unwrap_err();
        assert_eq!(refused.field(), "max_queued_sessions");
        assert_eq!(
            refused.to_string(),
            "max_queued_sessions: the shop has 2 queued sessions, the cap of this deployment; nothing was changed"
        );
        assert!(matches!(refused, EngineError::ResourceExhausted { .. }));
    }
}
