//! The router's timer: shops are woken at their deadlines (close delays,
//! presence expiries, R21's and R22's timeouts), each wake an ordinary call that
//! lets the engine act on what is due and commits it.

use std::sync::Arc;
use std::time::Duration;

use super::{Router, RouterError, measures};
use crate::engine::{ShopId, Timestamp};

/// How soon a shop whose wake failed (its store was unavailable) is tried again.
const WAKE_RETRY: Duration = Duration::from_millis(200);

impl Router {
    /// Wakes shops at their deadlines until `shutdown` resolves. Run it once per
    /// router, on the runtime that serves it.
    pub async fn run_timers(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                (now, due) = self.deadlines.next_due(self.clock.as_ref()) => {
                    self.wake_shops(now, due).await;
                }
            }
        }
    }

    /// Wakes the shops whose deadline has come, all at once: each wake commits to
    /// the store, and shops due together must not queue behind each other.
    async fn wake_shops(self: &Arc<Self>, now: Timestamp, due: Vec<ShopId>) {
        let wakes: Vec<_> = due
            .into_iter()
            .map(|shop_id| {
                let router = self.clone();
                tokio::spawn(async move { router.wake_shop(shop_id, now).await })
            })
            .collect();
        for wake in wakes {
            let _ = wake.await;
        }
    }

    async fn wake_shop(&self, shop_id: ShopId, due_at: Timestamp) {
        let woken = self
            .with_shop(&shop_id, |state, now| {
                let lag = measures::lag_behind_deadline(state, now);
                state.advance_to(now);
                Ok(lag)
            })
            .await;
        match woken {
            Ok(lag) => measures::timer_lag(lag),
            Err(RouterError::NotOwner(_)) => {
                tracing::debug!(shop = %shop_id, "deadline of a shop this worker no longer owns");
            }
            Err(error) => {
                tracing::warn!(shop = %shop_id, %error, "could not wake shop at its deadline; retrying shortly");
                self.deadlines.arm(&shop_id, Some(due_at.plus(WAKE_RETRY)));
            }
        }
    }
}
