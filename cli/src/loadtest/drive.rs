//! When `fenliu loadtest` sends its Routes: in closed loop, a fixed number of
//! tasks each waiting for its answer; in open loop, at a fixed rate whether or
//! not earlier calls were answered (as the flood shop's calls are too). All run
//! until the end or Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::task::JoinSet;

use super::shared::Shared;

/// Closed loop: `concurrency` tasks, each sending its next Route when the
/// previous one (and its transfer, if any) is answered, until the end or
/// Ctrl-C.
pub async fn closed_loop_run(shared: &Arc<Shared>, concurrency: usize) {
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let guard = shared.begin();
        let shared = shared.clone();
        tasks.spawn(async move {
            let _guard = guard;
            while shared.running() {
                shared.route(Instant::now()).await;
            }
        });
    }
    // The tasks stop by themselves at the end; the drain waits for them.
    tasks.detach_all();
    tokio::select! {
        () = tokio::time::sleep_until(shared.end.into()) => {}
        _ = tokio::signal::ctrl_c() => shared.stop(),
    }
}

/// Open loop: request i is due at origin + i/rps, and sent then whether or not
/// earlier requests were answered.
pub async fn open_loop_run(shared: &Arc<Shared>, rps: f64) -> anyhow::Result<()> {
    paced(
        shared,
        rps,
        |shared, due| async move { shared.route(due).await },
    )
    .await
}

/// Calls `send` for request i at origin + i/rps, whether or not earlier
/// requests were answered, until the end or Ctrl-C. A dedicated thread paces
/// them (a sleeping OS thread wakes within tens of microseconds, tokio's timer
/// only by the millisecond) and spawns each request on the runtime; a late
/// thread sends the overdue requests at once, each still given its due time.
pub async fn paced<MakeRequest, Request>(
    shared: &Arc<Shared>,
    rps: f64,
    send: MakeRequest,
) -> anyhow::Result<()>
where
    MakeRequest: Fn(Arc<Shared>, Instant) -> Request + Send + 'static,
    Request: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    let pacer_shared = shared.clone();
    let mut pacer = tokio::task::spawn_blocking(move || {
        let shared = pacer_shared;
        let mut i: u64 = 0;
        loop {
            let due = shared.origin + Duration::from_secs_f64(i as f64 / rps);
            if due >= shared.end || shared.stopped.load(Ordering::Acquire) {
                return;
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let guard = shared.begin();
            let request = send(shared.clone(), due);
            runtime.spawn(async move {
                let _guard = guard;
                request.await;
            });
            i += 1;
        }
    });
    tokio::select! {
        joined = &mut pacer => joined.context("the open-loop pacer")?,
        _ = tokio::signal::ctrl_c() => {
            shared.stop();
            pacer.await.context("the open-loop pacer")?;
        }
    }
    Ok(())
}
