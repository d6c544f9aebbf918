//! The families each role registers at start (so that each is scraped from
//! the start, at zero), and the records both roles make: Redis errors, auth
//! refusals, open `WatchShop` streams and calls in flight on the link.

use metrics::{Counter, Gauge};

use super::names::{self, AUTH_REFUSAL_CODES, OVERLOAD_BOUNDS, REDIS_ERROR_KINDS};
use super::recorder::{Handles, Role};

/// One counter per value of `label`, in the order of `values`.
pub fn counters<const N: usize>(
    name: &'static str,
    label: &'static str,
    values: [&'static str; N],
) -> [Counter; N] {
    std::array::from_fn(|i| metrics::counter!(name, label => values[i]))
}

/// The node-level handles.
#[derive(Debug)]
struct NodeMeters {
    /// By [`REDIS_ERROR_KINDS`].
    redis_errors: [Counter; REDIS_ERROR_KINDS.len()],
    /// By [`AUTH_REFUSAL_CODES`].
    auth_refusals: [Counter; AUTH_REFUSAL_CODES.len()],
    watch_streams: Gauge,
    link_calls_in_flight: Gauge,
}

static NODE: Handles<NodeMeters> = Handles::new(|| NodeMeters {
    redis_errors: counters(names::REDIS_ERRORS, "kind", REDIS_ERROR_KINDS),
    auth_refusals: counters(names::AUTH_REFUSALS, "code", AUTH_REFUSAL_CODES),
    watch_streams: metrics::gauge!(names::WATCH_STREAMS),
    link_calls_in_flight: metrics::gauge!(names::LINK_CALLS_IN_FLIGHT),
});

/// Registers every family `role` emits, so that each is scraped from the start
/// (counters at zero for every label value fixed in [`names`]), not only once
/// something happened. The call families are registered by [`super::rpc`].
pub fn register_families(role: Role) {
    let _ = NODE.get();
    let _ = overload_refusals(role);
    super::rpc::register(role);
    if role != Role::Worker {
        return;
    }
    let _ = counters(names::ROUTE_DECISIONS, "reason", names::ROUTE_REASONS);
    let _ = counters(
        names::ASSIGNMENTS_OVER_CAPACITY,
        "rule",
        names::OVER_CAPACITY_RULES,
    );
    let _ = counters(names::SHARD_MOVES, "direction", names::MOVE_DIRECTIONS);
    for op in names::LEASE_OPS {
        for result in names::LEASE_RESULTS {
            let _ = metrics::counter!(names::LEASE_OPERATIONS, "op" => op, "result" => result);
        }
    }
    for counter in [
        names::FENCING_REJECTIONS,
        names::WATCH_EVENTS_DROPPED,
        names::RATE_LIMITED,
    ] {
        let _ = metrics::counter!(counter);
    }
    for gauge in [
        names::QUEUED_SESSIONS,
        names::QUEUE_OLDEST_WAIT,
        names::MESSAGE_POOL_SESSIONS,
        names::SHARDS_OWNED,
    ] {
        let _ = metrics::gauge!(gauge);
    }
    for histogram in [
        names::QUEUE_WAIT,
        names::WAIT_ESTIMATE_ERROR,
        names::LOAD_SPREAD,
        names::COMMIT_DURATION,
        names::COMMIT_BATCH_CALLS,
        names::TIMER_LAG,
    ] {
        let _ = metrics::histogram!(histogram);
    }
}

/// Counts a failed Redis call of `kind` (one of [`REDIS_ERROR_KINDS`]).
pub fn redis_error(kind: &str) {
    if let Some(meters) = NODE.get()
        && let Some(index) = REDIS_ERROR_KINDS.iter().position(|k| *k == kind)
    {
        meters.redis_errors[index].increment(1);
    }
}

/// Counts a call refused by authentication or authorization with `code`.
pub fn auth_refused(code: tonic::Code) {
    let index = match code {
        tonic::Code::Unauthenticated => 0,
        tonic::Code::PermissionDenied => 1,
        _ => return,
    };
    if let Some(meters) = NODE.get() {
        meters.auth_refusals[index].increment(1);
    }
}

/// Overload refusals of each role, by [`OVERLOAD_BOUNDS`].
type OverloadRefusals = [Counter; OVERLOAD_BOUNDS.len()];

fn overload_counters(role: Role) -> OverloadRefusals {
    std::array::from_fn(
        |i| metrics::counter!(names::OVERLOAD_REFUSALS, "role" => role.label(), "bound" => OVERLOAD_BOUNDS[i]),
    )
}

static WORKER_OVERLOAD: Handles<OverloadRefusals> =
    Handles::new(|| overload_counters(Role::Worker));
static DISPATCHER_OVERLOAD: Handles<OverloadRefusals> =
    Handles::new(|| overload_counters(Role::Dispatcher));

fn overload_refusals(role: Role) -> Option<&'static OverloadRefusals> {
    match role {
        Role::Worker => WORKER_OVERLOAD.get(),
        Role::Dispatcher => DISPATCHER_OVERLOAD.get(),
    }
}

/// Counts a call `role` refused by admission control at `bound` (one of
/// [`OVERLOAD_BOUNDS`]).
pub fn overload_refused(role: Role, bound: &str) {
    if let Some(counters) = overload_refusals(role)
        && let Some(index) = OVERLOAD_BOUNDS.iter().position(|b| *b == bound)
    {
        counters[index].increment(1);
    }
}

/// Only a worker drops events: a dispatcher forwards a stream at its
/// watcher's pace.
static DROPPED: Handles<Counter> = Handles::new(|| metrics::counter!(names::WATCH_EVENTS_DROPPED));

/// Counts `missed` events a `WatchShop` subscriber missed by falling behind.
pub fn watch_events_dropped(missed: u64) {
    if let Some(dropped) = DROPPED.get() {
        dropped.increment(missed);
    }
}

/// One unit of a gauge of things in progress, given back when dropped.
#[derive(Debug)]
pub struct InProgress(Option<&'static Gauge>);

impl InProgress {
    fn start(gauge: Option<&'static Gauge>) -> InProgress {
        if let Some(gauge) = gauge {
            gauge.increment(1.0);
        }
        InProgress(gauge)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        if let Some(gauge) = self.0 {
            gauge.decrement(1.0);
        }
    }
}

/// A `WatchShop` stream open until the returned value is dropped.
pub fn watch_stream_open() -> InProgress {
    InProgress::start(NODE.get().map(|meters| &meters.watch_streams))
}

/// A call on a dispatcher–worker link in flight until the returned value is
/// dropped.
pub fn link_call_in_flight() -> InProgress {
    InProgress::start(NODE.get().map(|meters| &meters.link_calls_in_flight))
}
