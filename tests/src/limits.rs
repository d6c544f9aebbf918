//! How long a test, a wait and a stop may take, and [`bounded`], which every test
//! body runs inside so that no test can hang.

use std::future::Future;
use std::time::Duration;

/// The longest any one test may run.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest [`wait_for`] waits for something to happen by itself.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a server may take to stop once asked.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`wait_for`] looks again.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Runs a test body, failing the test if it takes longer than [`TEST_TIMEOUT`].
pub async fn bounded<F: Future>(test: F) -> F::Output {
    bounded_by(TEST_TIMEOUT, test).await
}

/// Runs a test body, failing the test if it takes longer than `limit` (for tests
/// that need longer than [`TEST_TIMEOUT`], such as those on real processes).
pub async fn bounded_by<F: Future>(limit: Duration, test: F) -> F::Output {
    match tokio::time::timeout(limit, test).await {
        Ok(output) => output,
        Err(_) => panic!("the test did not finish within {limit:?}"),
    }
}
