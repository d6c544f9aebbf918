//! The benchmark groups, one function each: `route_new_buyer`,
//! `route_returning_buyer`, `route_replay`, `route_group_mode` and
//! `drain_on_slot_free`, each over every shop size in [`SIZES`]. Only the
//! engine call is timed; the rest of each iteration keeps the shop steady.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use fenliu_worker::engine::{
    AssignCause, OrderStatus, RouteOptions, RouteReason, RoutingMode, ShopEvent, ShopState,
    Timestamp,
};

use crate::samples::{record, timed};
use crate::shops::{
    RoutingShop, Running, SETUP_TIME, build_draining_shop, build_routing_shop, settle,
};

/// Shop sizes, in customer-service accounts.
pub(crate) const SIZES: [usize; 4] = [10, 100, 500, 5000];
/// When the replays happen: one second later, well within the accounts' 60-second
/// presence and the request's retention.
const CALL_TIME: Timestamp = Timestamp(SETUP_TIME.0 + 1_000);

fn basic_shop(shops: &mut BTreeMap<usize, RoutingShop>, accounts: usize) -> &RoutingShop {
    shops
        .entry(accounts)
        .or_insert_with(|| build_routing_shop(accounts, RoutingMode::Basic))
}

pub(crate) fn route_new_buyer(c: &mut Criterion, shops: &mut BTreeMap<usize, RoutingShop>) {
    let mut group = c.benchmark_group("route_new_buyer");
    for accounts in SIZES {
        let id = format!("route_new_buyer/{accounts}");
        let mut running = None;
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, &n| {
            let shop =
                running.get_or_insert_with(|| Running::new(basic_shop(shops, n).state.clone()));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let now = shop.tick();
                    let request = shop.new_buyer(OrderStatus::NoActiveOrder);
                    let state = &mut shop.state;
                    let outcome = timed(&mut total, || state.route(&request, now)).unwrap();
                    assert_eq!(outcome.reason, RouteReason::Even);
                    settle(&mut shop.state);
                    shop.end(outcome.session.id);
                }
                record(&id, iters, total)
            });
        });
    }
    group.finish();
}

pub(crate) fn route_returning_buyer(c: &mut Criterion, shops: &mut BTreeMap<usize, RoutingShop>) {
    let mut group = c.benchmark_group("route_returning_buyer");
    for accounts in SIZES {
        let id = format!("route_returning_buyer/{accounts}");
        let mut running = None;
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, &n| {
            let (shop, past_buyers, next) = running.get_or_insert_with(|| {
                let prepared = basic_shop(shops, n);
                let past_buyers = prepared.past_buyers.clone();
                (Running::new(prepared.state.clone()), past_buyers, 0)
            });
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let now = shop.tick();
                    // Past buyers come back in turn; by their next turn (10 per
                    // account later, 200 min of virtual time) the session they
                    // had has closed, and their affinity has been renewed.
                    let mut request = shop.new_buyer(OrderStatus::NoActiveOrder);
                    request.buyer = past_buyers[*next % past_buyers.len()].clone();
                    *next += 1;
                    let state = &mut shop.state;
                    let outcome = timed(&mut total, || state.route(&request, now)).unwrap();
                    assert_eq!(outcome.reason, RouteReason::Affinity);
                    settle(&mut shop.state);
                    shop.end(outcome.session.id);
                }
                record(&id, iters, total)
            });
        });
    }
    group.finish();
}

pub(crate) fn route_replay(c: &mut Criterion, shops: &mut BTreeMap<usize, RoutingShop>) {
    let mut group = c.benchmark_group("route_replay");
    for accounts in SIZES {
        let id = format!("route_replay/{accounts}");
        let mut prepared = None;
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, &n| {
            // A replay changes nothing and the clock stays put (the request must stay
            // within its retention), so the shop is used as it is.
            let (state, answered) = prepared.get_or_insert_with(|| {
                let shop = basic_shop(shops, n);
                (shop.state.clone(), shop.answered.clone())
            });
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let outcome = timed(&mut total, || state.route(answered, CALL_TIME)).unwrap();
                    assert!(outcome.replayed);
                }
                record(&id, iters, total)
            });
        });
    }
    group.finish();
}

pub(crate) fn route_group_mode(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_group_mode");
    for accounts in SIZES {
        let id = format!("route_group_mode/{accounts}");
        let mut running = None;
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, &n| {
            let shop = running.get_or_insert_with(|| {
                Running::new(build_routing_shop(n, RoutingMode::Group).state)
            });
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let now = shop.tick();
                    let status = OrderStatus::ALL[shop.requests as usize % OrderStatus::ALL.len()];
                    let request = shop.new_buyer(status);
                    let state = &mut shop.state;
                    let outcome = timed(&mut total, || state.route(&request, now)).unwrap();
                    assert_eq!(outcome.reason, RouteReason::Group);
                    settle(&mut shop.state);
                    shop.end(outcome.session.id);
                }
                record(&id, iters, total)
            });
        });
    }
    group.finish();
}

pub(crate) fn drain_on_slot_free(c: &mut Criterion) {
    drain_shops(
        c,
        "drain_on_slot_free",
        |state| state,
        |_| RouteOptions::default(),
    );
}

/// The draining benchmark named `name`: each shop is `prepare`d before it runs,
/// and the n-th new buyer routes with `options(n)`.
pub(crate) fn drain_shops(
    c: &mut Criterion,
    name: &str,
    prepare: fn(ShopState) -> ShopState,
    options: fn(u64) -> RouteOptions,
) {
    let mut group = c.benchmark_group(name);
    for accounts in SIZES {
        let id = format!("{name}/{accounts}");
        let mut running = None;
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, &n| {
            let (shop, assigned) = running.get_or_insert_with(|| {
                let prepared = build_draining_shop(n);
                (
                    Running::new(prepare(prepared.state)),
                    prepared.assigned.into_iter().collect::<VecDeque<_>>(),
                )
            });
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let now = shop.tick();
                    // The longest-held session ends; its slot goes to the oldest
                    // waiting buyer at once.
                    let ending = assigned.pop_front().unwrap();
                    let state = &mut shop.state;
                    timed(&mut total, || {
                        state.end_session(ending, None, now).map(|ended| ended.id)
                    })
                    .unwrap();
                    let drained = shop
                        .state
                        .take_events()
                        .into_iter()
                        .find_map(|timed| match timed.event {
                            ShopEvent::SessionAssigned {
                                session,
                                cause: AssignCause::Queue { .. },
                                ..
                            } => Some(session),
                            _ => None,
                        })
                        .expect("the freed slot drains the queue");
                    assigned.push_back(drained);
                    settle(&mut shop.state);
                    // A new buyer joins the back of the queue, so it keeps its length.
                    let request = shop.new_buyer(OrderStatus::NoActiveOrder);
                    let route_options = options(shop.requests);
                    let outcome = shop.state.route_with(&request, route_options, now).unwrap();
                    assert_eq!(outcome.reason, RouteReason::Queued);
                    settle(&mut shop.state);
                }
                record(&id, iters, total)
            });
        });
    }
    group.finish();
}
