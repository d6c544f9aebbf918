//! The benchmark groups with every setting of R20–R25 on: `route_new_buyer_rules_on`,
//! `drain_on_slot_free_rules_on`, and `route_explained` (R24's explanation asked
//! for on every route). The shops are the ones of [`crate::groups`], with
//! [`rules_on`] applied before they start running; only the engine call is timed.

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use fenliu_worker::engine::{
    OrderStatus, QueueTimeoutAction, RouteOptions, RouteReason, RoutingMode, SettingsPatch,
    ShopState,
};

use crate::groups::{SIZES, drain_shops};
use crate::samples::{record, timed};
use crate::shops::{RoutingShop, Running, build_routing_shop, settle};

/// Every setting of R21–R23 on, at values a shop would choose: waits that run out
/// (an hour in the queue, ten minutes without a reply) with reassignment, and aging.
fn rules_on(mut state: ShopState) -> ShopState {
    let now = state.clock();
    let patch = SettingsPatch {
        max_queue_wait: Some(Duration::from_secs(3600)),
        queue_timeout_action: Some(QueueTimeoutAction::LeastLoaded),
        reply_timeout: Some(Duration::from_secs(600)),
        reassign_unanswered: Some(true),
        max_reassignments: Some(2),
        priority_aging: Some(Duration::from_secs(60)),
        ..SettingsPatch::default()
    };
    state.update_settings(&patch, now).unwrap();
    settle(&mut state);
    state
}

/// R23: a priority for the n-th buyer, raised for one buyer in three.
fn priority(n: u64) -> u8 {
    if n.is_multiple_of(3) {
        (n % 10) as u8
    } else {
        0
    }
}

fn routing_shop(shops: &mut BTreeMap<usize, RoutingShop>, accounts: usize) -> ShopState {
    let prepared = shops
        .entry(accounts)
        .or_insert_with(|| build_routing_shop(accounts, RoutingMode::Basic));
    rules_on(prepared.state.clone())
}

/// `route_new_buyer` with the rules on and a priority on every route (`explain`:
/// with R24's explanation too).
fn route_new_buyers(
    c: &mut Criterion,
    shops: &mut BTreeMap<usize, RoutingShop>,
    name: &str,
    explain: bool,
) {
    let mut group = c.benchmark_group(name);
    for accounts in SIZES {
        let id = format!("{name}/{accounts}");
        let mut running = None;
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, &n| {
            let shop = running.get_or_insert_with(|| Running::new(routing_shop(shops, n)));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let now = shop.tick();
                    let request = shop.new_buyer(OrderStatus::NoActiveOrder);
                    let options = RouteOptions {
                        priority: priority(shop.requests),
                        explain,
                    };
                    let state = &mut shop.state;
                    let outcome =
                        timed(&mut total, || state.route_with(&request, options, now)).unwrap();
                    assert_eq!(outcome.reason, RouteReason::Even);
                    assert_eq!(outcome.candidates.len(), if explain { n + 1 } else { 0 });
                    settle(&mut shop.state);
                    shop.end(outcome.session.id);
                }
                record(&id, iters, total)
            });
        });
    }
    group.finish();
}

pub(crate) fn route_new_buyer_rules_on(
    c: &mut Criterion,
    shops: &mut BTreeMap<usize, RoutingShop>,
) {
    route_new_buyers(c, shops, "route_new_buyer_rules_on", false);
}

pub(crate) fn route_explained(c: &mut Criterion, shops: &mut BTreeMap<usize, RoutingShop>) {
    route_new_buyers(c, shops, "route_explained", true);
}

/// `drain_on_slot_free` with the rules on: the waiting buyers come with
/// priorities (so the queue is served by R23's order), their waits are watched
/// (R21), the freed slot is counted (R20), the new holder's reply awaited (R22).
pub(crate) fn drain_on_slot_free_rules_on(c: &mut Criterion) {
    drain_shops(c, "drain_on_slot_free_rules_on", rules_on, |n| {
        RouteOptions {
            priority: priority(n),
            explain: false,
        }
    });
}
