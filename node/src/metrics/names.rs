//! The metric contract: every family's name, the label values it may carry, its
//! help text and its histogram buckets. Dashboards and alert rules are written
//! against these names (the README's Observability table lists them, and a test
//! fails when a documented family is not emitted or an emitted one is not
//! documented), so a name here changes only with both.
//!
//! Every label value is one of a short list fixed here: no shop, account or
//! buyer id is ever a label (per-shop views stay in `GetShopState`).

/// Calls served, by role, method and gRPC code.
pub const RPC_REQUESTS: &str = "fenliu_rpc_requests_total";
/// How long each call took to answer, by role and method.
pub const RPC_DURATION: &str = "fenliu_rpc_duration_seconds";
/// `Route` decisions stored, by the reason reported.
pub const ROUTE_DECISIONS: &str = "fenliu_route_decisions_total";
/// Sessions waiting in the queues of the worker's shops.
pub const QUEUED_SESSIONS: &str = "fenliu_queued_sessions";
/// How long the longest-waiting session of the worker's shops has waited.
pub const QUEUE_OLDEST_WAIT: &str = "fenliu_queue_oldest_wait_seconds";
/// How long each session assigned out of a queue had waited.
pub const QUEUE_WAIT: &str = "fenliu_queue_wait_seconds";
/// R20: how far each served session's wait was from the middle of the range it
/// was told when queued.
pub const WAIT_ESTIMATE_ERROR: &str = "fenliu_wait_estimate_error_seconds";
/// Sessions in the message pools of the worker's shops.
pub const MESSAGE_POOL_SESSIONS: &str = "fenliu_message_pool_sessions";
/// Assignments past the account's capacity, by the rule that allowed them.
pub const ASSIGNMENTS_OVER_CAPACITY: &str = "fenliu_assignments_over_capacity_total";
/// Per decision, max minus min occupancy ratio of the shop's available accounts.
pub const LOAD_SPREAD: &str = "fenliu_load_spread";
/// How long each group commit took in Redis.
pub const COMMIT_DURATION: &str = "fenliu_commit_duration_seconds";
/// How many calls each group commit carried.
pub const COMMIT_BATCH_CALLS: &str = "fenliu_commit_batch_calls";
/// Failed Redis calls, by kind.
pub const REDIS_ERRORS: &str = "fenliu_redis_errors_total";
/// Loads and commits refused because a newer owner fenced the shop.
pub const FENCING_REJECTIONS: &str = "fenliu_fencing_rejections_total";
/// Shards whose leases this worker holds.
pub const SHARDS_OWNED: &str = "fenliu_shards_owned";
/// Shard lease operations, by operation and result.
pub const LEASE_OPERATIONS: &str = "fenliu_lease_operations_total";
/// Shards gained and given up.
pub const SHARD_MOVES: &str = "fenliu_shard_moves_total";
/// How late a shop's deadline (a close delay, a presence TTL, R21/R22 timeouts) was acted on.
pub const TIMER_LAG: &str = "fenliu_timer_lag_seconds";
/// Calls on dispatcher–worker links not answered yet.
pub const LINK_CALLS_IN_FLIGHT: &str = "fenliu_link_calls_in_flight";
/// `WatchShop` streams open.
pub const WATCH_STREAMS: &str = "fenliu_watch_streams";
/// Events a `WatchShop` subscriber missed by falling behind.
pub const WATCH_EVENTS_DROPPED: &str = "fenliu_watch_events_dropped_total";
/// Calls refused by authentication or authorization, by gRPC code.
pub const AUTH_REFUSALS: &str = "fenliu_auth_refusals_total";
/// `Route` calls refused by their shop's rate limit.
pub const RATE_LIMITED: &str = "fenliu_rate_limited_total";

/// Calls refused by admission control, by role and the bound that refused.
pub const OVERLOAD_REFUSALS: &str = "fenliu_overload_refusals_total";
/// The dispatcher's bound on calls forwarded at once, as it adapts.
pub const ADMISSION_LIMIT: &str = "fenliu_admission_limit";

/// `role`: which kind of node served the call.
pub const ROLES: [&str; 2] = ["worker", "dispatcher"];

/// `reason` of [`ROUTE_DECISIONS`]: the API's `RouteReason` names, without
/// their `ROUTE_REASON_` prefix.
pub const ROUTE_REASONS: [&str; 14] = [
    "OPEN_SESSION",
    "ADDRESSED",
    "ADDRESSED_OFFLINE",
    "NO_PARTICIPANTS",
    "AFFINITY",
    "GROUP",
    "ANY_ONLINE",
    "EVEN",
    "QUEUED",
    "OFFLINE_LIST",
    "MESSAGE_POOL",
    "PROXY",
    "MAIN_ACCOUNT",
    "QUEUE_TIMEOUT",
];

/// `rule` of [`ASSIGNMENTS_OVER_CAPACITY`]: the rules that may place a session
/// on a full account (addressed, addressed while offline, no participants,
/// affinity, offline list, proxy, main account, manual assignment or
/// transfer, pull, a queue timeout's action).
pub const OVER_CAPACITY_RULES: [&str; 10] = [
    "R2", "R3", "R4", "R5", "R13b", "R13d", "R13e", "R16", "R17", "R21",
];

/// `op` of [`LEASE_OPERATIONS`].
pub const LEASE_OPS: [&str; 3] = ["acquire", "renew", "release"];
/// `result` of [`LEASE_OPERATIONS`]: done, refused (another worker holds the
/// lease: for `renew`, the lease was lost), Redis failed, or (for `acquire`)
/// the new fencing token did not reach `--redis-min-replicas` replicas in time.
pub const LEASE_RESULTS: [&str; 4] = ["ok", "refused", "error", "unreplicated"];
/// `direction` of [`SHARD_MOVES`]: gained, or given up (handed over, lost, or
/// released at shutdown).
pub const MOVE_DIRECTIONS: [&str; 2] = ["in", "out"];
/// `kind` of [`REDIS_ERRORS`].
pub const REDIS_ERROR_KINDS: [&str; 6] = [
    "timeout",
    "connection",
    "refused",
    "loading",
    "cluster",
    "other",
];
/// `bound` of [`OVERLOAD_REFUSALS`]: the node's calls in flight, one shop's
/// (at its worker), or a caller's deadline passed before the call's turn.
pub const OVERLOAD_BOUNDS: [&str; 3] = ["node", "shop", "deadline"];
/// `code` of [`AUTH_REFUSALS`].
pub const AUTH_REFUSAL_CODES: [&str; 2] = ["UNAUTHENTICATED", "PERMISSION_DENIED"];

/// Call and commit durations: sub-millisecond (a decision takes tens of µs, an
/// unloaded call well under a millisecond) up to the deadlines' seconds.
pub const DURATION_BUCKETS: [f64; 17] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Timer lag: the clock ticks in milliseconds, so `0` is "on time".
pub const LAG_BUCKETS: [f64; 14] = [
    0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];
/// Queue waits: from a freed slot taking a waiting buyer at once to hours.
pub const QUEUE_WAIT_BUCKETS: [f64; 17] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0,
    3600.0, 7200.0,
];
/// Load spread: a ratio, past 1 only when someone is over capacity.
pub const SPREAD_BUCKETS: [f64; 12] = [
    0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0,
];
/// Calls per group commit.
pub const BATCH_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Each histogram family and its buckets (set explicitly, so that each renders
/// as a Prometheus histogram, not a summary).
pub const HISTOGRAM_BUCKETS: &[(&str, &[f64])] = &[
    (RPC_DURATION, &DURATION_BUCKETS),
    (COMMIT_DURATION, &DURATION_BUCKETS),
    (TIMER_LAG, &LAG_BUCKETS),
    (QUEUE_WAIT, &QUEUE_WAIT_BUCKETS),
    (WAIT_ESTIMATE_ERROR, &QUEUE_WAIT_BUCKETS),
    (LOAD_SPREAD, &SPREAD_BUCKETS),
    (COMMIT_BATCH_CALLS, &BATCH_BUCKETS),
];

/// What kind of metric a family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

use Kind::{Counter, Gauge, Histogram};

/// Every family: its name, kind and `# HELP` line.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        RPC_REQUESTS,
        Counter,
        "Calls answered, by role, method and gRPC code (WatchShop: streams opened)",
    ),
    (
        RPC_DURATION,
        Histogram,
        "Time to answer a call, by role and method (WatchShop: time to open the stream)",
    ),
    (
        ROUTE_DECISIONS,
        Counter,
        "Route decisions stored, by the reason reported (replays not counted; QUEUE_TIMEOUT: R21 timing a queued session out)",
    ),
    (
        QUEUED_SESSIONS,
        Gauge,
        "Sessions waiting in the queues of this worker's shops",
    ),
    (
        QUEUE_OLDEST_WAIT,
        Gauge,
        "How long the longest-waiting queued session of this worker's shops has waited",
    ),
    (
        QUEUE_WAIT,
        Histogram,
        "Wait of each session assigned out of a queue, from queued to assigned",
    ),
    (
        WAIT_ESTIMATE_ERROR,
        Histogram,
        "Per session served out of a queue with a known wait estimate (R20), |wait - the estimate's middle|",
    ),
    (
        MESSAGE_POOL_SESSIONS,
        Gauge,
        "Sessions in the message pools of this worker's shops",
    ),
    (
        ASSIGNMENTS_OVER_CAPACITY,
        Counter,
        "Assignments that left the account above its capacity, by the rule that allowed it",
    ),
    (
        LOAD_SPREAD,
        Histogram,
        "Per Route decision, max minus min occupancy ratio among the shop's available accounts",
    ),
    (
        COMMIT_DURATION,
        Histogram,
        "Time of one group commit to Redis",
    ),
    (
        COMMIT_BATCH_CALLS,
        Histogram,
        "Calls carried by one group commit",
    ),
    (REDIS_ERRORS, Counter, "Redis calls that failed, by kind"),
    (
        FENCING_REJECTIONS,
        Counter,
        "Shop loads and commits refused because a newer owner fenced the shop",
    ),
    (SHARDS_OWNED, Gauge, "Shards whose leases this worker holds"),
    (
        LEASE_OPERATIONS,
        Counter,
        "Shard lease operations, by operation and result",
    ),
    (
        SHARD_MOVES,
        Counter,
        "Shards this worker gained (in) or gave up (out)",
    ),
    (
        TIMER_LAG,
        Histogram,
        "How late a due close delay, presence expiry, queue timeout or reply timeout was acted on",
    ),
    (
        LINK_CALLS_IN_FLIGHT,
        Gauge,
        "Calls on dispatcher-worker links not answered yet",
    ),
    (WATCH_STREAMS, Gauge, "WatchShop streams open"),
    (
        WATCH_EVENTS_DROPPED,
        Counter,
        "Events WatchShop subscribers missed by falling behind (their stream then ends)",
    ),
    (
        AUTH_REFUSALS,
        Counter,
        "Calls refused by authentication or authorization, by gRPC code",
    ),
    (
        RATE_LIMITED,
        Counter,
        "Route calls refused by their shop's rate limit",
    ),
    (
        OVERLOAD_REFUSALS,
        Counter,
        "Calls refused by admission control (RESOURCE_EXHAUSTED, retryable), by the bound that refused",
    ),
    (
        ADMISSION_LIMIT,
        Gauge,
        "The dispatcher's bound on calls forwarded at once: --max-in-flight, lowered under overload to hold admitted calls to --overload-latency-target-ms",
    ),
];
