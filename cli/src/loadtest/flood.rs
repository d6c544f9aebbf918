//! The noisy tenant of `fenliu loadtest --flood-shop-rps`: one more shop, set
//! up like the others but with a Route rate limit of its own
//! (`--flood-shop-limit`), sends Route calls at a fixed rate far past it (a new
//! buyer each, on a connection of its own, as another tenant's client would)
//! while the `--shops` run as usual. Its calls are counted here, apart, so that
//! the report's figures are the other shops' alone: whether they still get
//! their answers, and as fast, is what the flood is run to see.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use fenliu_node::link::RETRY_AFTER_METADATA;
use fenliu_proto::v1 as pb;

use super::api::Api;
use super::report::FloodReport;
use super::shared::{Shared, lock};
use super::shops::set_up_shop;

/// The flood shop: where its calls go and what came of them.
#[derive(Debug)]
pub struct Flood {
    /// Its own connection, apart from the other shops' load.
    api: Api,
    /// The flood shop's id (`<run id>-flood`).
    shop_id: String,
    /// The next buyer's number: every call is a new buyer.
    next_buyer: AtomicU64,
    /// The flood's settings, and what came of its calls due within the
    /// measured window.
    counts: std::sync::Mutex<FloodReport>,
}

impl Flood {
    /// Sets the flood shop up like the others, then gives it its rate limit.
    pub async fn set_up(
        api: Api,
        run_id: &str,
        account_ids: &[String],
        max_concurrent: u32,
        close_delay_seconds: u32,
        rps: f64,
        limit: u32,
    ) -> anyhow::Result<Flood> {
        let shop_id = format!("{run_id}-flood");
        set_up_shop(
            &api,
            &shop_id,
            account_ids,
            max_concurrent,
            close_delay_seconds,
        )
        .await?;
        api.bounded(api.client().upsert_shop(api.request(pb::UpsertShopRequest {
            shop_id: shop_id.clone(),
            route_rate_limit_per_second: Some(limit),
            ..Default::default()
        })))
        .await
        .map_err(|status| {
            anyhow::anyhow!("setting the flood shop's rate limit: {}", status.message())
        })?;
        Ok(Flood {
            api,
            counts: std::sync::Mutex::new(FloodReport {
                shop_id: shop_id.clone(),
                rps,
                limit,
                ..FloodReport::default()
            }),
            shop_id,
            next_buyer: AtomicU64::new(1),
        })
    }

    pub fn rps(&self) -> f64 {
        lock(&self.counts).rps
    }

    /// One of the flood shop's calls, due at `due`: a new buyer's Route,
    /// counted when due within `shared`'s measured window.
    pub async fn route(&self, shared: &Shared, due: Instant) {
        let buyer = self.next_buyer.fetch_add(1, Ordering::Relaxed);
        let request = pb::RouteRequest {
            shop_id: self.shop_id.clone(),
            buyer_id: format!("flood-{buyer}"),
            request_id: format!("{}-{buyer}", self.shop_id),
            order_status: pb::OrderStatus::NoActiveOrder as i32,
            ..Default::default()
        };
        let api = &self.api;
        let result = api.bounded(api.client().route(api.request(request))).await;
        if lock(&shared.stats).in_window(shared.at(due)) {
            self.record(&result);
        }
    }

    pub fn report(&self) -> FloodReport {
        lock(&self.counts).clone()
    }

    fn record(&self, result: &Result<pb::RouteResponse, tonic::Status>) {
        let mut counts = lock(&self.counts);
        counts.sent += 1;
        match result {
            Ok(_) => counts.ok += 1,
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                counts.rate_limited += 1;
                if status.metadata().contains_key(RETRY_AFTER_METADATA) {
                    counts.with_retry_after += 1;
                }
            }
            Err(_) => counts.other_errors += 1,
        }
    }
}
