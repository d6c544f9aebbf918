//! Shop settings: the two profiles' defaults, field-by-field changes, and the
//! checks that keep a shop's settings coherent (R12: the bot forces the message pool;
//! R21: a queue-timeout action needs its target). The settings of R20–R25 are off
//! in both profiles; their checks are in `settings_beyond`.

use std::time::Duration;

use super::error::EngineError;
use super::model::AccountId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Taobao,
    Kuaishou,
}

/// Basic and group routing never apply together (R10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoutingMode {
    Basic,
    Group,
}

/// What happens when nobody is available (R13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfflinePolicy {
    Queue,
    OfflineList,
    MessagePool,
    ProxyAccount,
    MainAccount,
}

/// How "evenly" is done (R9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    LeastLoaded,
    RoundRobin,
    Random,
}

/// What R21 does with a session that has waited the shop's maximum queue wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueTimeoutAction {
    /// Leave a message: the message pool (as R13c).
    MessagePool,
    /// Evenly among the participating accounts of the offline list, whatever
    /// their status and occupancy (as R13b).
    OfflineList,
    /// The proxy account, whatever its status and occupancy (as R13d).
    ProxyAccount,
    /// The main account, whatever its status and occupancy (as R13e).
    MainAccount,
    /// The available account that may serve the queue with the lowest occupancy
    /// ratio, even when full.
    LeastLoaded,
}

impl QueueTimeoutAction {
    /// The action's name as the API writes it.
    pub fn name(self) -> &'static str {
        match self {
            QueueTimeoutAction::MessagePool => "MESSAGE_POOL",
            QueueTimeoutAction::OfflineList => "OFFLINE_LIST",
            QueueTimeoutAction::ProxyAccount => "PROXY_ACCOUNT",
            QueueTimeoutAction::MainAccount => "MAIN_ACCOUNT",
            QueueTimeoutAction::LeastLoaded => "LEAST_LOADED",
        }
    }
}

/// Upper bounds that keep a typo from becoming a year-long window.
pub const MAX_AFFINITY_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
pub const MAX_CLOSE_DELAY: Duration = Duration::from_secs(24 * 3600);
pub const MAX_PRESENCE_TTL: Duration = Duration::from_secs(24 * 3600);
pub const MAX_QUEUE_WAIT: Duration = Duration::from_secs(24 * 3600);
pub const MAX_REPLY_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
pub const MAX_PRIORITY_AGING: Duration = Duration::from_secs(24 * 3600);
/// R22's default limit: an unanswered session moves once, then stays.
pub const DEFAULT_MAX_REASSIGNMENTS: u32 = 1;
/// A session moved more often than this has been passed around enough: a manager
/// should look at it.
pub const MAX_REASSIGNMENTS_RANGE: std::ops::RangeInclusive<u32> = 1..=10;
/// `max_concurrent` is 1 to 500, as on the platforms (up to 500 挂起).
pub const MAX_CONCURRENT_RANGE: std::ops::RangeInclusive<u32> = 1..=500;

/// The settings of a shop's rules page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopSettings {
    pub routing_mode: RoutingMode,
    pub affinity_window: Duration,
    pub bot_enabled: bool,
    /// As set; see [`ShopSettings::effective_offline_policy`].
    pub offline_policy: OfflinePolicy,
    pub offline_list: Vec<AccountId>,
    pub proxy_account: Option<AccountId>,
    /// R3: a message to an offline participating account goes to an available one.
    pub offline_forwarding: bool,
    pub close_delay: Duration,
    pub default_max_concurrent: u32,
    pub distribution: Distribution,
    /// How long an account stays logged in without a heartbeat.
    pub presence_ttl: Duration,
    /// `Route` calls per second the shop may make; 0: the deployment's
    /// default. The engine only carries it: the router enforces it, before the
    /// engine sees the call.
    pub route_rate_limit_per_second: u32,
    /// R21: how long a session may wait in a queue; zero: for ever (off).
    pub max_queue_wait: Duration,
    /// R21: where a session goes when its wait runs out.
    pub queue_timeout_action: QueueTimeoutAction,
    /// R22: how long a buyer waits for the holder's reply before the session is
    /// unanswered; zero: off.
    pub reply_timeout: Duration,
    /// R22: an unanswered session moves to another account by itself.
    pub reassign_unanswered: bool,
    /// R22: how often one session may be moved for want of a reply.
    pub max_reassignments: u32,
    /// R23: a waiting session's priority rises one level per this much waiting;
    /// zero: no aging.
    pub priority_aging: Duration,
}

impl ShopSettings {
    pub fn for_profile(profile: Profile) -> ShopSettings {
        let hours = |h: u64| Duration::from_secs(h * 3600);
        let common = ShopSettings {
            routing_mode: RoutingMode::Basic,
            affinity_window: hours(24),
            bot_enabled: false,
            offline_policy: OfflinePolicy::MainAccount,
            offline_list: Vec::new(),
            proxy_account: None,
            offline_forwarding: false,
            close_delay: Duration::from_secs(20 * 60),
            default_max_concurrent: 10,
            distribution: Distribution::LeastLoaded,
            presence_ttl: Duration::from_secs(60),
            route_rate_limit_per_second: 0,
            max_queue_wait: Duration::ZERO,
            queue_timeout_action: QueueTimeoutAction::MessagePool,
            reply_timeout: Duration::ZERO,
            reassign_unanswered: false,
            max_reassignments: DEFAULT_MAX_REASSIGNMENTS,
            priority_aging: Duration::ZERO,
        };
        match profile {
            Profile::Taobao => common,
            Profile::Kuaishou => ShopSettings {
                affinity_window: hours(72),
                offline_policy: OfflinePolicy::Queue,
                ..common
            },
        }
    }

    /// R12: while the bot is enabled the offline policy in force is the message pool.
    pub fn effective_offline_policy(&self) -> OfflinePolicy {
        if self.bot_enabled {
            OfflinePolicy::MessagePool
        } else {
            self.offline_policy
        }
    }
}

/// A change to some settings; `None` keeps the current value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    pub routing_mode: Option<RoutingMode>,
    pub affinity_window: Option<Duration>,
    pub bot_enabled: Option<bool>,
    pub offline_policy: Option<OfflinePolicy>,
    pub offline_list: Option<Vec<AccountId>>,
    /// `Some(None)` clears the proxy account.
    pub proxy_account: Option<Option<AccountId>>,
    pub offline_forwarding: Option<bool>,
    pub close_delay: Option<Duration>,
    pub default_max_concurrent: Option<u32>,
    pub distribution: Option<Distribution>,
    pub presence_ttl: Option<Duration>,
    /// 0 goes back to the deployment's default.
    pub route_rate_limit_per_second: Option<u32>,
    /// Zero turns R21 off.
    pub max_queue_wait: Option<Duration>,
    pub queue_timeout_action: Option<QueueTimeoutAction>,
    /// Zero turns R22 off.
    pub reply_timeout: Option<Duration>,
    pub reassign_unanswered: Option<bool>,
    pub max_reassignments: Option<u32>,
    /// Zero turns R23's aging off.
    pub priority_aging: Option<Duration>,
}

impl SettingsPatch {
    /// The settings after this change, or why it is refused. `account_exists` checks
    /// the accounts the patch names. The current settings are not touched.
    pub fn apply_to(
        &self,
        current: &ShopSettings,
        account_exists: impl Fn(&AccountId) -> bool,
    ) -> Result<ShopSettings, EngineError> {
        let mut next = current.clone();
        if let Some(window) = self.affinity_window {
            check_at_most("affinity_window_seconds", window, MAX_AFFINITY_WINDOW)?;
            next.affinity_window = window;
        }
        if let Some(delay) = self.close_delay {
            check_at_most("close_delay_seconds", delay, MAX_CLOSE_DELAY)?;
            next.close_delay = delay;
        }
        if let Some(ttl) = self.presence_ttl {
            if ttl.is_zero() {
                return Err(EngineError::invalid(
                    "presence_ttl_seconds",
                    "must be at least 1 second",
                ));
            }
            check_at_most("presence_ttl_seconds", ttl, MAX_PRESENCE_TTL)?;
            next.presence_ttl = ttl;
        }
        if let Some(max) = self.default_max_concurrent {
            if !MAX_CONCURRENT_RANGE.contains(&max) {
                return Err(EngineError::invalid(
                    "default_max_concurrent",
                    format!("must be between 1 and 500, got {max}"),
                ));
            }
            next.default_max_concurrent = max;
        }
        if let Some(list) = &self.offline_list {
            let mut deduplicated: Vec<AccountId> = Vec::with_capacity(list.len());
            for account in list {
                if !account_exists(account) {
                    return Err(EngineError::not_found(
                        "offline_list",
                        format!("account {account} does not exist in this shop"),
                    ));
                }
                if !deduplicated.contains(account) {
                    deduplicated.push(account.clone());
                }
            }
            next.offline_list = deduplicated;
        }
        if let Some(proxy) = &self.proxy_account {
            if let Some(account) = proxy
                && !account_exists(account)
            {
                return Err(EngineError::not_found(
                    "proxy_account_id",
                    format!("account {account} does not exist in this shop"),
                ));
            }
            next.proxy_account = proxy.clone();
        }
        if let Some(mode) = self.routing_mode {
            next.routing_mode = mode;
        }
        if let Some(forwarding) = self.offline_forwarding {
            next.offline_forwarding = forwarding;
        }
        if let Some(distribution) = self.distribution {
            next.distribution = distribution;
        }
        if let Some(limit) = self.route_rate_limit_per_second {
            next.route_rate_limit_per_second = limit;
        }
        if let Some(bot) = self.bot_enabled {
            next.bot_enabled = bot;
        }
        if let Some(policy) = self.offline_policy {
            next.offline_policy = policy;
        }
        self.check_bot_policy(&mut next)?;
        if next.offline_policy == OfflinePolicy::ProxyAccount && next.proxy_account.is_none() {
            return Err(EngineError::failed_precondition(
                "proxy_account_id",
                "the PROXY_ACCOUNT offline policy needs a proxy account",
            ));
        }
        self.apply_beyond_to(&mut next)?;
        Ok(next)
    }

    /// R12: with the bot on, PROXY_ACCOUNT and MAIN_ACCOUNT are greyed out. Asking for
    /// them is refused; a policy left from before the bot was turned on becomes
    /// MESSAGE_POOL, as the Taobao page describes.
    fn check_bot_policy(&self, next: &mut ShopSettings) -> Result<(), EngineError> {
        let forbidden_with_bot = matches!(
            next.offline_policy,
            OfflinePolicy::ProxyAccount | OfflinePolicy::MainAccount
        );
        if !next.bot_enabled || !forbidden_with_bot {
            return Ok(());
        }
        if self.offline_policy.is_some() {
            return Err(EngineError::failed_precondition(
                "offline_policy",
                "PROXY_ACCOUNT and MAIN_ACCOUNT cannot be chosen while the bot is enabled (R12); turn the bot off first",
            ));
        }
        next.offline_policy = OfflinePolicy::MessagePool;
        Ok(())
    }
}

pub(super) fn check_at_most(
    field: &'static str,
    value: Duration,
    max: Duration,
) -> Result<(), EngineError> {
    if value > max {
        return Err(EngineError::invalid(
            field,
            format!("must be at most {} seconds", max.as_secs()),
        ));
    }
    Ok(())
}
