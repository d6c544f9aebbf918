//! The gauges over a worker's shops — sessions queued, the longest wait, the
//! message pool — without work per call proportional to the number of shops.
//!
//! Each shop's cell keeps its own three figures in atomics, set after every
//! call while the shop is held (a few reads of its queues' fronts); a scrape
//! sums them over the shops in memory ([`publish`]) just before rendering. A
//! shop that leaves memory leaves the sums with its cell; one whose state is
//! dropped (a failed commit) is [`ShopGauges::clear`]ed.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use fenliu_node::metrics::{Handles, enabled, names};
use metrics::Gauge;

use crate::engine::{ShopState, Timestamp};

/// "Nobody queued" in [`ShopGauges::oldest_queued_at`].
const NONE_QUEUED: u64 = u64::MAX;

/// One shop's figures, as of its last call.
#[derive(Debug)]
pub struct ShopGauges {
    /// Sessions waiting in its queues.
    queued: AtomicU32,
    /// Sessions in its message pool.
    pooled: AtomicU32,
    /// When its longest-waiting queued session was queued (ms), or
    /// [`NONE_QUEUED`].
    oldest_queued_at: AtomicU64,
}

impl Default for ShopGauges {
    fn default() -> Self {
        ShopGauges {
            queued: AtomicU32::new(0),
            pooled: AtomicU32::new(0),
            oldest_queued_at: AtomicU64::new(NONE_QUEUED),
        }
    }
}

impl ShopGauges {
    /// Takes the shop's figures from `state`.
    pub fn update(&self, state: &ShopState) {
        if !enabled() {
            return;
        }
        let queued = state.queued_session_count();
        // Sessions are queued when they are created (by `Route`), and each
        // queue is oldest first: the oldest is at the front of one of them.
        let oldest = state
            .queues()
            .filter_map(|(_, sessions)| sessions.front())
            .filter_map(|id| state.session(*id))
            .map(|session| session.created_at.as_millis())
            .min()
            .unwrap_or(NONE_QUEUED);
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.queued.store(count(queued), Ordering::Relaxed);
        self.pooled
            .store(count(state.pool().len()), Ordering::Relaxed);
        self.oldest_queued_at.store(oldest, Ordering::Relaxed);
    }

    /// The shop's state is gone from memory: it counts for nothing.
    pub fn clear(&self) {
        self.queued.store(0, Ordering::Relaxed);
        self.pooled.store(0, Ordering::Relaxed);
        self.oldest_queued_at.store(NONE_QUEUED, Ordering::Relaxed);
    }
}

/// The gauges' handles.
#[derive(Debug)]
struct GaugeMeters {
    queued: Gauge,
    oldest_wait: Gauge,
    pooled: Gauge,
}

static METERS: Handles<GaugeMeters> = Handles::new(|| GaugeMeters {
    queued: metrics::gauge!(names::QUEUED_SESSIONS),
    oldest_wait: metrics::gauge!(names::QUEUE_OLDEST_WAIT),
    pooled: metrics::gauge!(names::MESSAGE_POOL_SESSIONS),
});

/// Sets the gauges to the sums over `shops` at `now`.
pub fn publish<'a>(shops: impl Iterator<Item = &'a ShopGauges>, now: Timestamp) {
    let Some(meters) = METERS.get() else { return };
    let (mut queued, mut pooled, mut oldest) = (0u64, 0u64, NONE_QUEUED);
    for shop in shops {
        queued += u64::from(shop.queued.load(Ordering::Relaxed));
        pooled += u64::from(shop.pooled.load(Ordering::Relaxed));
        oldest = oldest.min(shop.oldest_queued_at.load(Ordering::Relaxed));
    }
    let waited_ms = if oldest == NONE_QUEUED {
        0
    } else {
        now.as_millis().saturating_sub(oldest)
    };
    meters.queued.set(queued as f64);
    meters.pooled.set(pooled as f64);
    meters.oldest_wait.set(waited_ms as f64 / 1000.0);
}
