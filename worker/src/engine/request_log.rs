//! The answers a shop remembers by request id, for R1's replay of a retry.
//!
//! A busy shop remembers hundreds of thousands of answers, and a hash table that
//! grows re-hashes every key: with the request ids themselves as keys that meant
//! reading every id's string from memory, stalling the (single-threaded) worker
//! for up to 28 ms at each doubling. Keyed instead by the id's 64-bit hash
//! (computed once, with keys random per shop so ids cannot be chosen to
//! collide), growing only moves numbers. The entry keeps its id, so a lookup
//! whose hash matches another id's finds nothing; an insert whose hash matches
//! replaces the older answer, which is then forgotten early — harmless, since a
//! forgotten answer is replayed by the store (or, on the embedded default, the
//! chance is 2⁻⁶⁴ per pair of ids).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::time::Duration;

use super::model::{RequestId, Timestamp};
use super::route_call::RouteRecord;

/// The answers, oldest first for forgetting.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestLog {
    /// Per shop, so that ids cannot be crafted to collide.
    keys: RandomState,
    by_hash: HashMap<u64, Box<Entry>, BuildHasherDefault<AlreadyHashed>>,
    /// When each answer was recorded, in that order.
    recorded: VecDeque<(Timestamp, u64)>,
}

#[derive(Clone, Debug)]
struct Entry {
    request_id: RequestId,
    record: RouteRecord,
}

impl RequestLog {
    pub fn get(&self, request_id: &RequestId) -> Option<&RouteRecord> {
        let entry = self.by_hash.get(&self.keys.hash_one(request_id))?;
        (entry.request_id == *request_id).then_some(&entry.record)
    }

    pub fn insert(&mut self, request_id: RequestId, record: RouteRecord, now: Timestamp) {
        let hash = self.keys.hash_one(&request_id);
        self.by_hash
            .insert(hash, Box::new(Entry { request_id, record }));
        self.recorded.push_back((now, hash));
    }

    /// Forgets the answers recorded `retention` or longer before `now`.
    pub fn forget_older_than(&mut self, retention: Duration, now: Timestamp) {
        while let Some((recorded_at, hash)) = self.recorded.front().copied() {
            if recorded_at.plus(retention) > now {
                break;
            }
            self.recorded.pop_front();
            self.by_hash.remove(&hash);
        }
    }
}

/// The hasher of keys that are hashes already: it passes them through.
#[derive(Default)]
struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are used (`write_u64`); fold anything else in anyway.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::OrderStatus;
    use crate::engine::model::{BuyerId, RouteReason, Session, SessionId, SessionState};
    use crate::engine::route_call::RouteOutcome;

    fn record(buyer: &str) -> RouteRecord {
        RouteRecord {
            buyer: BuyerId::from(buyer),
            outcome: RouteOutcome {
                session: Session {
                    id: SessionId(1),
                    buyer: BuyerId::from(buyer),
                    state: SessionState::Assigned,
                    account: None,
                    order_status: OrderStatus::NoActiveOrder,
                    queue: None,
                    enqueued_seq: 0,
                    created_at: Timestamp(0),
                    closes_at: None,
                    reason: RouteReason::Even,
                    priority: 0,
                    queued_estimate: None,
                    reply_wait_since: None,
                    timed_out_on: Vec::new(),
                    reassignments: 0,
                    affinity_pending: false,
                },
                reason: RouteReason::Even,
                explanation: String::new(),
                replayed: false,
                candidates: Vec::new(),
            },
        }
    }

    #[test]
    fn r01_answers_are_found_by_their_id_until_forgotten_in_order() {
        let mut log = RequestLog::default();
        log.insert(RequestId::from("a"), record("buyer-a"), Timestamp(1_000));
        log.insert(RequestId::from("b"), record("buyer-b"), Timestamp(2_000));
        assert_eq!(
            log.get(&RequestId::from("a")).unwrap().buyer,
            BuyerId::from("buyer-a")
        );
        assert!(log.get(&RequestId::from("c")).is_none());
        log.forget_older_than(Duration::from_secs(1), Timestamp(2_500));
        assert!(
            log.get(&RequestId::from("a")).is_none(),
            "recorded 1.5 s before"
        );
        assert!(
            log.get(&RequestId::from("b")).is_some(),
            "recorded 0.5 s before"
        );
        assert_eq!(log.by_hash.len(), 1);
    }

    #[test]
    fn a_lookup_whose_hash_matches_another_id_finds_nothing() {
        let mut log = RequestLog::default();
        log.insert(RequestId::from("a"), record("buyer-a"), Timestamp(0));
        // Forge a collision: the entry filed under "b"'s hash holds "a".
        let entry = log.by_hash.values().next().unwrap().clone();
        let b_hash = log.keys.hash_one(RequestId::from("b"));
        log.by_hash.insert(b_hash, entry);
        assert!(log.get(&RequestId::from("b")).is_none());
        assert!(log.get(&RequestId::from("a")).is_some());
    }
}
