//! Bounded polling for async tests: wait until a condition holds, but never
//! longer than a timeout.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep};

/// Polls `condition` every `poll_interval` until it returns `true` or
/// `timeout` has passed. Returns whether it held; the condition is checked
/// once more at the deadline, so a slow last poll is not lost.
///
/// ```no_run
/// # async fn f(redis: &fenliu_testkit::RedisServer) {
/// use std::time::Duration;
/// use fenliu_testkit::wait_until;
/// let gone = wait_until(Duration::from_secs(2), Duration::from_millis(20), || {
///     matches!(redis.command(&["EXISTS", "fenliu:lease:1"]).as_deref(), Ok("0"))
/// })
/// .await;
/// assert!(gone, "lease key not expired");
/// # }
/// ```
pub async fn wait_until(
    timeout: Duration,
    poll_interval: Duration,
    mut condition: impl FnMut() -> bool,
) -> bool {
    wait_until_async(timeout, poll_interval, || std::future::ready(condition())).await
}

/// As [`wait_until`], with a condition that is itself async (e.g. a gRPC call).
/// A single poll is not cut short by the timeout; bound it yourself if it
/// can hang.
pub async fn wait_until_async<F, Fut>(
    timeout: Duration,
    poll_interval: Duration,
    mut condition: F,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        sleep(poll_interval.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_true_once_condition_holds() {
        let mut n = 0;
        let ok = wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            n >= 3
        })
        .await;
        assert!(ok);
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn gives_up_after_timeout() {
        let start = std::time::Instant::now();
        let ok = wait_until(
            Duration::from_millis(100),
            Duration::from_millis(10),
            || false,
        )
        .await;
        assert!(!ok);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn async_condition() {
        let ok = wait_until_async(Duration::from_secs(1), Duration::from_millis(5), || async {
            tokio::task::yield_now().await;
            true
        })
        .await;
        assert!(ok);
    }
}
