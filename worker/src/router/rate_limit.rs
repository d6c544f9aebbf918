//! The per-shop limit on `Route` calls: a token bucket per shop, kept by the
//! worker that owns the shop, in the shop's cell, on the router's [`Clock`]
//! (so tests run it in paused or manual time).
//!
//! Exact on the owner: every `Route` of a shop passes through its one owner,
//! under the shop's lock, so the bucket sees every call once and in order; no
//! counter in Redis, no sharing between workers. When the shop's shard moves,
//! the new owner starts with a full bucket: a move may let one more burst
//! through, never refuse a call the limit allows.
//!
//! - Rate: the shop's `route_rate_limit_per_second`, or the deployment's
//!   default when that is 0; a default of 0 leaves shops without one of their
//!   own unlimited.
//! - Burst: one second of the rate, at least [`MIN_BURST`], so that a quiet
//!   shop may send a second's worth of calls at once, and a shop limited to a
//!   few calls a second can still take a buyer's quick messages together.
//! - A refused call is refused before the engine sees it: it opens no session
//!   and leaves no request id behind (R1), and its retry after
//!   `retry_after` passes.
//! - A change of the shop's limit applies from its next call: the bucket
//!   keeps the tokens it holds (up to the new burst) and refills at the new
//!   rate.
//! - A retry of a request id whose answer the worker still holds in memory (a
//!   replay, R1) costs no token: it decides nothing, and refusing it would
//!   turn a client's prompt retry after a lost answer into an error. A replay
//!   older than that memory is read from Redis and counts as a call.
//!
//! [`Clock`]: super::seams::Clock

use std::time::Duration;

use super::error::RouterError;
use crate::engine::{RequestId, ShopState, Timestamp};

/// The smallest burst, whatever the rate.
pub const MIN_BURST: u64 = 10;

/// One token in the bucket's units. A bucket refills by `rate` units each
/// millisecond (the clock's resolution): whole numbers, so the accounting is
/// exact at any rate.
const TOKEN: u64 = 1000;

/// A shop's `Route` token bucket.
#[derive(Debug, Default)]
pub struct TokenBucket {
    /// Tokens left, in units of 1/1000 token; `None` before the first call
    /// (a bucket starts full).
    units: Option<u64>,
    /// When `units` was last brought up to date.
    at: Timestamp,
}

impl TokenBucket {
    /// Takes a token at `now` for a shop limited to `rate` calls per second,
    /// or returns how long until one is there.
    pub fn take(&mut self, rate: u32, now: Timestamp) -> Result<(), Duration> {
        let rate = u64::from(rate.max(1));
        let capacity = rate.max(MIN_BURST) * TOKEN;
        let elapsed = now.as_millis().saturating_sub(self.at.as_millis());
        let units = match self.units {
            None => capacity,
            Some(units) => units.saturating_add(elapsed.saturating_mul(rate)),
        }
        .min(capacity);
        // The clock never goes back for the bucket; a clock that did counts
        // no refill meanwhile.
        self.at = Timestamp(self.at.as_millis().max(now.as_millis()));
        if units >= TOKEN {
            self.units = Some(units - TOKEN);
            return Ok(());
        }
        self.units = Some(units);
        let missing = TOKEN - units;
        Err(Duration::from_millis(missing.div_ceil(rate)))
    }
}

/// Lets a `Route` for `request_id` through the shop's bucket, or refuses it
/// naming the limit and when to retry. `default_rate` is the deployment's
/// (0: unlimited).
pub fn admit_route(
    bucket: &mut TokenBucket,
    state: &ShopState,
    request_id: &RequestId,
    default_rate: u32,
    now: Timestamp,
) -> Result<(), RouterError> {
    let rate = match state.settings().route_rate_limit_per_second {
        0 => default_rate,
        own => own,
    };
    if rate == 0 || state.remembers_answer(request_id) {
        return Ok(());
    }
    bucket.take(rate, now).map_err(|retry_after| {
        super::measures::rate_limited();
        RouterError::RateLimited {
            limit: rate,
            retry_after,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_a_seconds_worth_through_then_refills_at_the_rate() {
        let mut bucket = TokenBucket::default();
        let start = Timestamp(1_000_000);
        for _ in 0..100 {
            bucket.take(100, start).unwrap();
        }
        assert_eq!(bucket.take(100, start), Err(Duration::from_millis(10)));
        // 9 ms refill 0.9 of a token: not yet.
        assert_eq!(
            bucket.take(100, Timestamp(1_000_009)),
            Err(Duration::from_millis(1))
        );
        bucket.take(100, Timestamp(1_000_010)).unwrap();
        assert!(bucket.take(100, Timestamp(1_000_010)).is_err());
    }

    #[test]
    fn a_slow_rate_still_has_the_minimum_burst() {
        let mut bucket = TokenBucket::default();
        let start = Timestamp(5_000);
        for _ in 0..MIN_BURST {
            bucket.take(1, start).unwrap();
        }
        assert_eq!(bucket.take(1, start), Err(Duration::from_secs(1)));
    }

    #[test]
    fn a_clock_that_goes_back_refills_nothing() {
        let mut bucket = TokenBucket::default();
        for _ in 0..MIN_BURST {
            bucket.take(10, Timestamp(10_000)).unwrap();
        }
        assert!(bucket.take(10, Timestamp(9_000)).is_err());
        assert!(bucket.take(10, Timestamp(10_050)).is_err());
        bucket.take(10, Timestamp(10_100)).unwrap();
    }
}
