//! The shops `fenliu loadtest` generates: set up before the load (a few at a
//! time, each with its accounts ONLINE), and their accounts' presence kept
//! alive by heartbeats while it runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fenliu_proto::v1 as pb;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::api::Api;
use super::measures::Call;
use super::shared::Shared;
use super::stats;
use super::workload;

/// Presence TTL of the generated shops; heartbeats go every third of it.
const PRESENCE_TTL_SECONDS: u32 = 60;
/// Shops set up at the same time.
const SETUP_PARALLELISM: usize = 32;

/// Creates the shops, a few at a time, each with its calls in order; the first
/// failure stops everything.
pub async fn set_up_shops(
    api: &Api,
    shop_ids: &[String],
    account_ids: &Arc<[String]>,
    max_concurrent: u32,
    close_delay_seconds: u32,
) -> anyhow::Result<()> {
    let semaphore = Arc::new(Semaphore::new(SETUP_PARALLELISM));
    let mut tasks = JoinSet::new();
    for shop_id in shop_ids {
        let permit = semaphore.clone().acquire_owned().await?;
        let api = api.clone();
        let shop_id = shop_id.clone();
        let account_ids = account_ids.clone();
        tasks.spawn(async move {
            let _permit = permit;
            set_up_shop(
                &api,
                &shop_id,
                &account_ids,
                max_concurrent,
                close_delay_seconds,
            )
            .await
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// A Kuaishou shop (BASIC routing, offline policy QUEUE) with a short close
/// delay and `account_ids` customer-service accounts, all ONLINE.
pub async fn set_up_shop(
    api: &Api,
    shop_id: &str,
    account_ids: &[String],
    max_concurrent: u32,
    close_delay_seconds: u32,
) -> anyhow::Result<()> {
    let failed = |call: &str, status: tonic::Status| {
        anyhow::anyhow!(
            "setting up shop {shop_id}: {call}: {}: {}",
            stats::code_name(status.code()),
            status.message()
        )
    };
    api.bounded(api.client().upsert_shop(api.request(pb::UpsertShopRequest {
        shop_id: shop_id.to_owned(),
        profile: pb::Profile::Kuaishou as i32,
        main_account_id: workload::MAIN_ACCOUNT.to_owned(),
        close_delay_seconds: Some(close_delay_seconds),
        presence_ttl_seconds: Some(PRESENCE_TTL_SECONDS),
        ..Default::default()
    })))
    .await
    .map_err(|status| failed("UpsertShop", status))?;
    for account_id in account_ids {
        api.bounded(
            api.client()
                .upsert_account(api.request(pb::UpsertAccountRequest {
                    shop_id: shop_id.to_owned(),
                    account_id: account_id.clone(),
                    display_name: account_id.clone(),
                    roles: vec![pb::Role::CustomerService as i32],
                    max_concurrent,
                    ..Default::default()
                })),
        )
        .await
        .map_err(|status| failed("UpsertAccount", status))?;
        api.bounded(
            api.client()
                .set_account_status(api.request(pb::SetAccountStatusRequest {
                    shop_id: shop_id.to_owned(),
                    account_id: account_id.clone(),
                    status: pb::AccountStatus::Online as i32,
                })),
        )
        .await
        .map_err(|status| failed("SetAccountStatus", status))?;
    }
    Ok(())
}

impl Shared {
    /// Keeps every account's presence alive: one Heartbeat per shop every
    /// third of the presence TTL (SetAccountStatus at set-up counted as the
    /// first). Aborted when the load ends.
    pub async fn heartbeats(self: Arc<Self>) {
        let every = Duration::from_secs(u64::from(PRESENCE_TTL_SECONDS) / 3);
        let mut next = self.origin + every;
        while next < self.end {
            tokio::time::sleep_until(next.into()).await;
            for shop_id in &self.shop_ids {
                let guard = self.begin();
                let shared = self.clone();
                let shop_id = shop_id.clone();
                tokio::spawn(async move {
                    let _guard = guard;
                    let sent = Instant::now();
                    let api = &shared.api;
                    let result = api
                        .bounded(api.client().heartbeat(api.request(pb::HeartbeatRequest {
                            shop_id,
                            account_ids: shared.account_ids.to_vec(),
                        })))
                        .await;
                    shared.record_call(Call::Heartbeat, sent, result);
                });
            }
            next += every;
        }
    }
}
