//! The worker's quota flags: how far one shop may go on this deployment (its
//! `Route` rate, and the caps on its accounts, groups and sessions), so that no
//! tenant starves or exhausts the others. They become the router's [`Quotas`].

use anyhow::bail;

use crate::engine::ShopLimits;
use crate::engine::limits::{
    DEFAULT_MAX_ACCOUNTS, DEFAULT_MAX_GROUPS, DEFAULT_MAX_OPEN_SESSIONS,
    DEFAULT_MAX_QUEUED_SESSIONS,
};
use crate::router::{DEFAULT_MAX_IN_FLIGHT_PER_SHOP, DEFAULT_ROUTE_RATE_LIMIT, Quotas};

/// Per-shop quotas, each a flag with an environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct QuotaOptions {
    /// Route calls per second per shop, for shops that set no
    /// route_rate_limit_per_second of their own; past it a Route is refused
    /// with RESOURCE_EXHAUSTED and fenliu-retry-after-ms. 0: unlimited.
    #[arg(long, env = "FENLIU_ROUTE_RATE_LIMIT", default_value_t = DEFAULT_ROUTE_RATE_LIMIT)]
    pub route_rate_limit: u32,
    /// Accounts a shop may have, its main account included.
    #[arg(long, env = "FENLIU_MAX_ACCOUNTS_PER_SHOP", default_value_t = DEFAULT_MAX_ACCOUNTS)]
    pub max_accounts_per_shop: u32,
    /// Groups a shop may have.
    #[arg(long, env = "FENLIU_MAX_GROUPS_PER_SHOP", default_value_t = DEFAULT_MAX_GROUPS)]
    pub max_groups_per_shop: u32,
    /// Open sessions (assigned, queued, pooled) a shop may have.
    #[arg(long, env = "FENLIU_MAX_OPEN_SESSIONS_PER_SHOP", default_value_t = DEFAULT_MAX_OPEN_SESSIONS)]
    pub max_open_sessions_per_shop: u32,
    /// Sessions a shop may have waiting in its queues, all queues together.
    #[arg(long, env = "FENLIU_MAX_QUEUED_SESSIONS_PER_SHOP", default_value_t = DEFAULT_MAX_QUEUED_SESSIONS)]
    pub max_queued_sessions_per_shop: u32,
    /// Calls one shop may have in flight at this worker; past it a call is
    /// refused at once (RESOURCE_EXHAUSTED, with a time to retry). 0: no bound.
    #[arg(long, env = "FENLIU_MAX_IN_FLIGHT_PER_SHOP", default_value_t = DEFAULT_MAX_IN_FLIGHT_PER_SHOP)]
    pub max_in_flight_per_shop: usize,
}

impl QuotaOptions {
    /// Refuses caps that would leave a shop unusable, naming the flag.
    pub fn check(&self) -> anyhow::Result<()> {
        let caps = [
            (
                "--max-accounts-per-shop (FENLIU_MAX_ACCOUNTS_PER_SHOP)",
                self.max_accounts_per_shop,
            ),
            (
                "--max-groups-per-shop (FENLIU_MAX_GROUPS_PER_SHOP)",
                self.max_groups_per_shop,
            ),
            (
                "--max-open-sessions-per-shop (FENLIU_MAX_OPEN_SESSIONS_PER_SHOP)",
                self.max_open_sessions_per_shop,
            ),
            (
                "--max-queued-sessions-per-shop (FENLIU_MAX_QUEUED_SESSIONS_PER_SHOP)",
                self.max_queued_sessions_per_shop,
            ),
        ];
        for (flag, value) in caps {
            if value == 0 {
                bail!("{flag} must be at least 1");
            }
        }
        Ok(())
    }

    pub fn quotas(&self) -> Quotas {
        Quotas {
            route_rate_limit: self.route_rate_limit,
            shop_limits: ShopLimits {
                max_accounts: self.max_accounts_per_shop,
                max_groups: self.max_groups_per_shop,
                max_open_sessions: self.max_open_sessions_per_shop,
                max_queued_sessions: self.max_queued_sessions_per_shop,
            },
            max_in_flight_per_shop: self.max_in_flight_per_shop,
        }
    }
}
