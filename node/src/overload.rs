//! Admission control: a bound on the calls a node (or a shop) works on at once,
//! so that a node that falls behind refuses the excess at once instead of
//! queueing it until every caller times out.
//!
//! Past the bound a call is refused before any work is done for it, with
//! `RESOURCE_EXHAUSTED`, the `fenliu-overloaded` marker naming the bound, and
//! `fenliu-retry-after-ms`: the caller may send it again after that pause (a
//! dispatcher never retries it itself: retrying on an overloaded node adds
//! load where there is too much). The calls admitted keep a latency bounded by
//! the bound divided by the node's throughput, whatever the offered load.
//!
//! A call whose caller's deadline has already passed when its turn comes is
//! refused the same way (`bound` = `deadline`): its answer would reach nobody.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tonic::Status;

use crate::adaptive_limit::Adaptation;
use crate::link::RETRY_AFTER_METADATA;
use crate::metrics::Role;
use crate::metrics::names::OVERLOAD_BOUNDS;

/// Marks an overload refusal; its value names the bound that refused
/// ([`Bound::as_str`]).
pub const OVERLOADED_METADATA: &str = "fenliu-overloaded";

/// How long a refused caller is asked to wait before sending the call again:
/// long enough for a node at its bound to work off a good part of it (a few
/// hundred calls take a few tens of milliseconds), short enough that a
/// caller is not kept waiting once the burst is over.
pub const RETRY_AFTER: Duration = Duration::from_millis(50);

/// Which bound refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// The node's calls in flight.
    Node,
    /// One shop's calls in flight at its worker.
    Shop,
    /// The caller's deadline had passed before the call's turn came.
    Deadline,
}

impl Bound {
    /// Its name: the `bound` label of `fenliu_overload_refusals_total` and
    /// the value of [`OVERLOADED_METADATA`].
    pub fn as_str(self) -> &'static str {
        let [node, shop, deadline] = OVERLOAD_BOUNDS;
        match self {
            Bound::Node => node,
            Bound::Shop => shop,
            Bound::Deadline => deadline,
        }
    }
}

/// The refusal of a call by `role`'s `bound`: `RESOURCE_EXHAUSTED`, retryable
/// after [`RETRY_AFTER`]. Counted in `fenliu_overload_refusals_total`.
pub fn overloaded(role: Role, bound: Bound, message: impl Into<String>) -> Status {
    crate::metrics::meters::overload_refused(role, bound.as_str());
    let mut status = Status::resource_exhausted(message);
    let metadata = status.metadata_mut();
    metadata.insert(
        OVERLOADED_METADATA,
        bound.as_str().parse().expect("ASCII bound name"),
    );
    metadata.insert(
        RETRY_AFTER_METADATA,
        RETRY_AFTER.as_millis().to_string().parse().expect("digits"),
    );
    status
}

/// Whether `status` is an overload refusal (by any node on the way).
pub fn is_overloaded(status: &Status) -> bool {
    status.metadata().get(OVERLOADED_METADATA).is_some()
}

/// At most `limit` calls at once; `0` is no bound. The bound is fixed, or
/// adapts to latency ([`InFlightLimit::adaptive`], the dispatcher's).
#[derive(Debug)]
pub struct InFlightLimit {
    /// The most calls admitted at once now.
    limit: AtomicUsize,
    /// Calls admitted and not finished.
    current: AtomicUsize,
    /// How the bound follows latency; `None`: it is fixed.
    adaptation: Option<Adaptation>,
}

impl InFlightLimit {
    pub fn new(limit: usize) -> InFlightLimit {
        InFlightLimit {
            limit: AtomicUsize::new(limit),
            current: AtomicUsize::new(0),
            adaptation: None,
        }
    }

    /// At most `ceiling` calls, lowered under overload to hold admitted calls
    /// to `target` ([`crate::adaptive_limit`]); with no target, fixed.
    pub fn adaptive(ceiling: usize, target: Option<Duration>) -> InFlightLimit {
        InFlightLimit {
            adaptation: target.and_then(|target| Adaptation::new(ceiling, target)),
            ..InFlightLimit::new(ceiling)
        }
    }

    /// The most calls admitted at once now (`0`: no bound).
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Calls admitted and not finished now.
    pub fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    /// Admits one more call, held until the returned permit is dropped, or
    /// `None` when `limit` calls are already in.
    pub fn try_enter(self: &Arc<Self>) -> Option<InFlightPermit> {
        let limit = self.limit();
        let before = self.current.fetch_add(1, Ordering::AcqRel);
        if limit > 0 && before >= limit {
            self.current.fetch_sub(1, Ordering::AcqRel);
            if let Some(adaptation) = &self.adaptation {
                adaptation.refused();
            }
            return None;
        }
        Some(InFlightPermit {
            limit: self.clone(),
            admitted_at: self.adaptation.as_ref().map(|_| Instant::now()),
        })
    }
}

/// One admitted call; leaving gives its place back (and, when the bound
/// adapts, tells how long the call took).
#[derive(Debug)]
pub struct InFlightPermit {
    /// The bound it was admitted under.
    limit: Arc<InFlightLimit>,
    /// When it was admitted (only when the bound adapts).
    admitted_at: Option<Instant>,
}

impl Drop for InFlightPermit {
    fn drop(&mut self) {
        let limit = &self.limit;
        limit.current.fetch_sub(1, Ordering::AcqRel);
        if let (Some(admitted_at), Some(adaptation)) = (self.admitted_at, &limit.adaptation) {
            adaptation.finished(admitted_at.elapsed(), &limit.limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_admits_up_to_its_bound_and_frees_a_place_when_a_call_ends() {
        let limit = Arc::new(InFlightLimit::new(2));
        let first = limit.try_enter().expect("first");
        let second = limit.try_enter().expect("second");
        assert!(limit.try_enter().is_none(), "a third is over the bound");
        assert_eq!(limit.current(), 2, "a refusal takes no place");
        drop(first);
        let third = limit.try_enter().expect("a place was freed");
        assert_eq!(limit.current(), 2);
        drop((second, third));
        assert_eq!(limit.current(), 0);
    }

    #[test]
    fn zero_is_no_bound() {
        let limit = Arc::new(InFlightLimit::new(0));
        let permits: Vec<_> = (0..10_000).map(|_| limit.try_enter()).collect();
        assert!(permits.iter().all(Option::is_some));
    }

    #[test]
    fn a_refusal_is_retryable_names_its_bound_and_says_when_to_retry() {
        let status = overloaded(Role::Worker, Bound::Shop, "shop s1: 256 calls in flight");
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(is_overloaded(&status));
        assert_eq!(status.metadata().get(OVERLOADED_METADATA).unwrap(), "shop");
        assert_eq!(status.metadata().get(RETRY_AFTER_METADATA).unwrap(), "50");
        assert!(!is_overloaded(&Status::resource_exhausted(
            "route_rate_limit_per_second: over the limit"
        )));
    }

    #[test]
    fn a_bound_admits_up_to_its_limit_and_a_place_comes_back_when_a_call_ends() {
        let limit = Arc::new(InFlightLimit::adaptive(2, Some(Duration::from_millis(10))));
        let first = limit.try_enter().expect("first");
        let second = limit.try_enter().expect("second");
        assert!(limit.try_enter().is_none(), "a third is over the bound");
        assert_eq!(limit.current(), 2, "a refusal takes no place");
        drop(first);
        let third = limit.try_enter().expect("a place was freed");
        drop((second, third));
        assert_eq!(limit.current(), 0);
    }

    #[test]
    fn overload_with_slow_calls_shrinks_the_bound_and_fast_calls_restore_it() {
        let limit = Arc::new(InFlightLimit::adaptive(64, Some(Duration::from_millis(1))));
        // Full, refusing, and every call slower than the target.
        for _ in 0..6 {
            let permits: Vec<_> = (0..limit.limit())
                .map(|_| limit.try_enter().expect("a place"))
                .collect();
            assert!(limit.try_enter().is_none());
            std::thread::sleep(crate::adaptive_limit::WINDOW.max(Duration::from_millis(2)));
            drop(permits);
        }
        let shrunk = limit.limit();
        assert!(shrunk < 64, "the bound stayed at {shrunk}");
        assert!(shrunk >= 8, "below the floor: {shrunk}");
        // Fast calls, no refusal: it grows back.
        let until = Instant::now() + Duration::from_secs(5);
        while limit.limit() < 64 && Instant::now() < until {
            for _ in 0..16 {
                drop(limit.try_enter().expect("a place"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(limit.limit(), 64);
    }

    #[test]
    fn without_a_target_the_bound_is_fixed() {
        let limit = Arc::new(InFlightLimit::adaptive(4, None));
        for _ in 0..3 {
            let permits: Vec<_> = (0..4).map(|_| limit.try_enter().unwrap()).collect();
            assert!(limit.try_enter().is_none());
            std::thread::sleep(crate::adaptive_limit::WINDOW);
            drop(permits);
        }
        assert_eq!(limit.limit(), 4);
        let unbounded = Arc::new(InFlightLimit::adaptive(0, Some(Duration::from_millis(1))));
        let permits: Vec<_> = (0..1000).map(|_| unbounded.try_enter()).collect();
        assert!(permits.iter().all(Option::is_some));
    }
}
