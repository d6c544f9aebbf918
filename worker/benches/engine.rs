//! Criterion benchmarks of the routing engine's decision time (issue 4), for shops of
//! 10, 100, 500 and 5,000 customer-service accounts.
//!
//! Targets, printed at the end and never asserted: the engine decides in ≤ 10 µs for
//! a shop of 500 accounts and in ≤ 50 µs for one of 5,000.
//!
//! Groups:
//! - `route_new_buyer/N`: `ShopState::route` for a buyer the shop has never seen
//!   (R1 misses, R4 passes, R5 misses, R8 + R9: the full least-loaded pick).
//! - `route_returning_buyer/N`: a buyer with an affinity to an online account (R5).
//! - `route_replay/N`: a retry of an answered request id (R1's idempotent replay).
//! - `route_group_mode/N`: GROUP mode, six groups (one per order status), accounts
//!   spread over them; new buyers with every order status in turn (R7a + R9).
//! - `drain_on_slot_free/N`: every account full, buyers waiting in the shop queue;
//!   `end_session` with a close delay of 0 closes the session and hands the freed
//!   slot to the oldest waiting buyer (R15 then R14).
//!
//! The shops (see [`build_routing_shop`]) are KUAISHOU shops in BASIC mode (except the
//! group one): every account CUSTOMER_SERVICE and ONLINE with a capacity of 500 (so
//! none fills), a history of `PAST_PER_ACCOUNT` closed sessions per account (so the
//! affinity, session and request-id maps are populated as in a shop that has been
//! working for a while), one ENDED session per account still in its 20-minute close
//! delay, and `OPEN_PER_ACCOUNT` open sessions per account.
//!
//! How the state changes are kept out of the figures, without letting the shop grow
//! or drift: the shop is kept *running* in virtual time ([`Running`]). Before each
//! measured call, outside the timer, the clock moves on by one step (the close delay
//! divided by the number of accounts, i.e. one new buyer per account per close
//! delay), the accounts send their heartbeats and whatever fell due happens (close
//! delays run out, old request ids and closed sessions are forgotten), as the
//! server's timer would do. Then only the engine call is timed ([`timed`] reads the
//! clock right before and right after it: ~25 ns of overhead on a TSC clock).
//! After it, outside the timer, the events and write set are taken (as the server
//! does after every call), and the routed session is ended at once, so it holds its
//! slot for the close delay and then frees it. The shop thus stays in a steady
//! state: about `OPEN_PER_ACCOUNT` + 1 occupied slots per account, bounded maps,
//! and no clone of the shop between the measured calls (one per benchmark, before
//! it starts). Cloning a prepared shop per batch was tried first and rejected: each
//! clone's hash maps start at the same load, so every clone paid the same rehash
//! again, which a running shop pays once.
//!
//! `drain_on_slot_free` runs the same way: it ends the longest-held session (timed:
//! the end, the close with delay 0, and the drain), then a new buyer joins the back
//! of the queue (untimed), so the shop stays full with a constant queue.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use fenliu_worker::engine::{
    AccountConfig, AccountId, AccountStatus, AccountUpsert, AssignCause, BuyerId, GroupName,
    GroupUpsert, OrderStatus, Profile, QueueName, RequestId, Role, RouteOutcome, RouteReason,
    RouteRequest, RoutingMode, SessionId, SettingsPatch, ShopEvent, ShopId, ShopSettings,
    ShopState, Timestamp,
};

/// Shop sizes, in customer-service accounts.
const SIZES: [usize; 4] = [10, 100, 500, 5000];
/// Closed sessions per account in the shop's history: the buyers a returning-buyer
/// benchmark routes, and the bulk of the affinity map.
const PAST_PER_ACCOUNT: usize = 10;
/// Open (ASSIGNED) sessions per account while routing.
const OPEN_PER_ACCOUNT: usize = 3;
/// Capacity of each account in the routing shops: the highest the rules allow, so
/// no account fills during a run.
const LARGE_CAPACITY: u32 = 500;
/// Capacity of each account in the draining shop, which starts full.
const DRAIN_CAPACITY: u32 = 3;
/// How often the accounts' apps send a heartbeat (the presence TTL is 60 s).
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(20);

const SAMPLE_SIZE: usize = 30;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(2);

/// When the shops are built.
const SETUP_TIME: Timestamp = Timestamp(1_760_000_000_000);
/// When the replays happen: one second later, well within the accounts' 60-second
/// presence and the request's retention.
const CALL_TIME: Timestamp = Timestamp(SETUP_TIME.0 + 1_000);

// ------------------------------------------------------------------ shops

fn settle(state: &mut ShopState) {
    state.take_events();
    state.take_write_set();
}

fn account_id(index: usize) -> AccountId {
    AccountId(format!("cs-{index:05}"))
}

fn request(buyer: String, request_id: String, order_status: OrderStatus) -> RouteRequest {
    RouteRequest {
        buyer: BuyerId(buyer),
        request_id: RequestId(request_id),
        order_status,
        addressed: None,
        from_bot: false,
    }
}

/// Builds a shop call by call through the engine's public API, at `SETUP_TIME`.
struct ShopBuilder {
    state: ShopState,
    next_request: u64,
}

impl ShopBuilder {
    fn new(accounts: usize, capacity: u32, mode: RoutingMode) -> Self {
        let mut state = ShopState::new(
            ShopId::from("bench-shop"),
            Profile::Kuaishou,
            AccountId::from("main"),
            SETUP_TIME,
        );
        for index in 0..accounts {
            let upsert = AccountUpsert {
                id: account_id(index),
                config: AccountConfig {
                    display_name: format!("Agent {index}"),
                    roles: [Role::CustomerService].into_iter().collect(),
                    non_routing: false,
                    max_concurrent: Some(capacity),
                    pool_permission: false,
                    main_account_participates: false,
                },
            };
            state.upsert_account(upsert, SETUP_TIME).unwrap();
        }
        if mode == RoutingMode::Group {
            let patch = SettingsPatch {
                routing_mode: Some(RoutingMode::Group),
                ..SettingsPatch::default()
            };
            state.update_settings(&patch, SETUP_TIME).unwrap();
            // One group per order status; account i is in group i mod 6.
            for (group, status) in OrderStatus::ALL.into_iter().enumerate() {
                let members: BTreeSet<AccountId> = (group..accounts)
                    .step_by(OrderStatus::ALL.len())
                    .map(account_id)
                    .collect();
                let upsert = GroupUpsert {
                    name: GroupName(format!("group-{}", status.name().to_lowercase())),
                    members,
                    order_statuses: [status].into_iter().collect(),
                };
                state.upsert_group(upsert, SETUP_TIME).unwrap();
            }
        }
        for index in 0..accounts {
            state
                .set_account_status(&account_id(index), AccountStatus::Online, SETUP_TIME)
                .unwrap();
        }
        settle(&mut state);
        ShopBuilder {
            state,
            next_request: 0,
        }
    }

    fn set_close_delay(&mut self, close_delay: Duration) {
        let patch = SettingsPatch {
            close_delay: Some(close_delay),
            ..SettingsPatch::default()
        };
        self.state.update_settings(&patch, SETUP_TIME).unwrap();
        settle(&mut self.state);
    }

    fn route(&mut self, buyer: &str, order_status: OrderStatus) -> (RouteRequest, RouteOutcome) {
        self.next_request += 1;
        let request = request(
            buyer.to_owned(),
            format!("setup-{}", self.next_request),
            order_status,
        );
        let outcome = self.state.route(&request, SETUP_TIME).unwrap();
        settle(&mut self.state);
        (request, outcome)
    }

    fn end(&mut self, session: SessionId) {
        self.state.end_session(session, None, SETUP_TIME).unwrap();
        settle(&mut self.state);
    }

    /// `per_account` buyers per account are served and their sessions closed: they
    /// leave an affinity (72 h on KUAISHOU), a closed session and a request record.
    fn add_history(&mut self, accounts: usize, per_account: usize) -> Vec<BuyerId> {
        let close_delay = self.state.settings().close_delay;
        self.set_close_delay(Duration::ZERO);
        let mut past = Vec::with_capacity(accounts * per_account);
        for index in 0..accounts * per_account {
            let status = OrderStatus::ALL[index % OrderStatus::ALL.len()];
            let (request, outcome) = self.route(&format!("past-{index}"), status);
            assert!(outcome.session.account.is_some(), "{outcome:?}");
            self.end(outcome.session.id);
            past.push(request.buyer);
        }
        self.set_close_delay(close_delay);
        past
    }

    fn finish(self) -> ShopState {
        self.state.check_invariants().unwrap();
        self.state
    }
}

/// A busy shop to route in.
struct RoutingShop {
    state: ShopState,
    /// Buyers with an affinity and no open session, oldest first.
    past_buyers: Vec<BuyerId>,
    /// A request the shop has already answered.
    answered: RouteRequest,
}

fn build_routing_shop(accounts: usize, mode: RoutingMode) -> RoutingShop {
    let started = Instant::now();
    let mut shop = ShopBuilder::new(accounts, LARGE_CAPACITY, mode);
    let past_buyers = shop.add_history(accounts, PAST_PER_ACCOUNT);
    // One ENDED session per account, still holding its slot for the KUAISHOU
    // profile's 20-minute close delay (R15).
    assert_eq!(
        shop.state.settings().close_delay,
        ShopSettings::for_profile(Profile::Kuaishou).close_delay
    );
    for index in 0..accounts {
        let status = OrderStatus::ALL[index % OrderStatus::ALL.len()];
        let (_, outcome) = shop.route(&format!("ended-{index}"), status);
        shop.end(outcome.session.id);
    }
    let mut answered = None;
    for index in 0..accounts * OPEN_PER_ACCOUNT {
        let status = OrderStatus::ALL[index % OrderStatus::ALL.len()];
        let (request, outcome) = shop.route(&format!("open-{index}"), status);
        assert!(outcome.session.account.is_some(), "{outcome:?}");
        answered.get_or_insert(request);
    }
    let state = shop.finish();
    let occupancy: Vec<u32> = state
        .accounts()
        .filter(|a| a.status == AccountStatus::Online)
        .map(|a| a.occupancy())
        .collect();
    eprintln!(
        "built a {mode:?} shop of {accounts} accounts in {:.1?}: {} sessions stored, \
         occupancy {}..={} per account, {} buyers with an affinity",
        started.elapsed(),
        state.sessions().count(),
        occupancy.iter().min().unwrap(),
        occupancy.iter().max().unwrap(),
        past_buyers.len() + accounts * (1 + OPEN_PER_ACCOUNT),
    );
    RoutingShop {
        state,
        past_buyers,
        answered: answered.unwrap(),
    }
}

/// A shop whose accounts are all full, with one buyer per account waiting in the shop
/// queue, and a close delay of 0.
struct DrainingShop {
    state: ShopState,
    /// ASSIGNED sessions, spread over the accounts in turn.
    assigned: Vec<SessionId>,
}

fn build_draining_shop(accounts: usize) -> DrainingShop {
    let started = Instant::now();
    let mut shop = ShopBuilder::new(accounts, DRAIN_CAPACITY, RoutingMode::Basic);
    shop.add_history(accounts, PAST_PER_ACCOUNT);
    shop.set_close_delay(Duration::ZERO);
    let mut assigned = Vec::new();
    for index in 0..accounts * DRAIN_CAPACITY as usize {
        let (_, outcome) = shop.route(&format!("open-{index}"), OrderStatus::NoActiveOrder);
        assert_eq!(outcome.reason, RouteReason::Even, "{outcome:?}");
        assigned.push(outcome.session.id);
    }
    let waiting = accounts;
    for index in 0..waiting {
        let (_, outcome) = shop.route(&format!("waiting-{index}"), OrderStatus::NoActiveOrder);
        assert_eq!(outcome.reason, RouteReason::Queued, "{outcome:?}");
    }
    let state = shop.finish();
    assert_eq!(queue_len(&state), waiting);
    eprintln!(
        "built a draining shop of {accounts} accounts in {:.1?}: {} assigned, {waiting} waiting",
        started.elapsed(),
        assigned.len(),
    );
    DrainingShop { state, assigned }
}

fn queue_len(state: &ShopState) -> usize {
    state
        .queues()
        .filter(|(name, _)| *name == QueueName::Shop)
        .map(|(_, ids)| ids.len())
        .sum()
}

// ------------------------------------------------------------------ measuring

/// A prepared shop kept running in virtual time while it is measured.
struct Running {
    state: ShopState,
    /// Its customer-service accounts, all ONLINE, kept so by heartbeats.
    accounts: Vec<AccountId>,
    /// Virtual time between two measured calls: the close delay spread over the
    /// accounts, so that each account has about one ENDED session at any time.
    step: Duration,
    now: Timestamp,
    next_heartbeat: Timestamp,
    /// Requests made, for unique buyer and request ids.
    requests: u64,
}

impl Running {
    fn new(state: ShopState) -> Self {
        let accounts: Vec<AccountId> = state
            .accounts()
            .filter(|a| a.status == AccountStatus::Online)
            .map(|a| a.id.clone())
            .collect();
        let close_delay = ShopSettings::for_profile(Profile::Kuaishou).close_delay;
        let step_ms = close_delay.as_millis() / accounts.len() as u128;
        let now = state.clock();
        Running {
            state,
            accounts,
            step: Duration::from_millis(u64::try_from(step_ms).unwrap().max(1)),
            now,
            next_heartbeat: now.plus(HEARTBEAT_INTERVAL),
            requests: 0,
        }
    }

    /// Moves virtual time one step on, outside the timer, as the server's clock and
    /// deadline timer do between two calls: the accounts' apps send heartbeats, due
    /// close delays run out (R15, R14), old affinities and records are forgotten.
    fn tick(&mut self) -> Timestamp {
        let next = self.now.plus(self.step);
        while self.next_heartbeat <= next {
            self.state
                .heartbeat(&self.accounts, self.next_heartbeat)
                .unwrap();
            self.next_heartbeat = self.next_heartbeat.plus(HEARTBEAT_INTERVAL);
        }
        self.state.advance_to(next);
        settle(&mut self.state);
        self.now = next;
        next
    }

    fn new_buyer(&mut self, order_status: OrderStatus) -> RouteRequest {
        self.requests += 1;
        request(
            format!("new-{}", self.requests),
            format!("req-{}", self.requests),
            order_status,
        )
    }

    /// The agent finishes the session at once (outside the timer): it stays ENDED,
    /// holding its slot, for the 20-minute close delay.
    fn end(&mut self, session: SessionId) {
        self.state.end_session(session, None, self.now).unwrap();
        settle(&mut self.state);
    }
}

/// Adds the time `call` takes to `total`. Only the engine call is inside the timer;
/// its answer is dropped after it. Never inlined, so that a profiler can collect
/// inside it alone (`valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect='engine::timed*'`).
#[inline(never)]
fn timed<O>(total: &mut Duration, call: impl FnOnce() -> O) -> O {
    let started = Instant::now();
    let output = black_box(call());
    *total += started.elapsed();
    output
}

/// Nanoseconds per call of each criterion sample, by benchmark id. The last
/// `SAMPLE_SIZE` entries are the measured samples (warm-up comes first).
static SAMPLES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

fn record(id: &str, iters: u64, total: Duration) -> Duration {
    let per_call = total.as_nanos() as f64 / iters.max(1) as f64;
    SAMPLES
        .lock()
        .unwrap()
        .entry(id.to_owned())
        .or_default()
        .push(per_call);
    total
}

fn basic_shop(shops: &mut BTreeMap<usize, RoutingShop>, accounts: usize) -> &RoutingShop {
    shops
        .entry(accounts)
        .or_insert_with(|| build_routing_shop(accounts, RoutingMode::Basic))
}

fn route_new_buyer(c: &mut Criterion, shops: &mut BTreeMap<usize, RoutingShop>) {
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

fn route_returning_buyer(c: &mut Criterion, shops: &mut BTreeMap<usize, RoutingShop>) {
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

fn route_replay(c: &mut Criterion, shops: &mut BTreeMap<usize, RoutingShop>) {
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

fn route_group_mode(c: &mut Criterion) {
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

fn drain_on_slot_free(c: &mut Criterion) {
    let mut group = c.benchmark_group("drain_on_slot_free");
    for accounts in SIZES {
        let id = format!("drain_on_slot_free/{accounts}");
        let mut running = None;
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, &n| {
            let (shop, assigned) = running.get_or_insert_with(|| {
                let prepared = build_draining_shop(n);
                (
                    Running::new(prepared.state),
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
                    let outcome = shop.state.route(&request, now).unwrap();
                    assert_eq!(outcome.reason, RouteReason::Queued);
                    settle(&mut shop.state);
                }
                record(&id, iters, total)
            });
        });
    }
    group.finish();
}

// ------------------------------------------------------------------ report

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn format_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Prints each benchmark's median time per call next to the targets.
fn print_summary() {
    let samples = SAMPLES.lock().unwrap();
    if samples.is_empty() {
        return;
    }
    println!();
    println!("Engine decision time: median over the measured samples, per call.");
    println!("Targets (printed, never asserted): <= 10 µs at 500 accounts, <= 50 µs at 5,000.");
    println!();
    println!(
        "{:<30} {:>12}  {:>8}  verdict",
        "benchmark", "median", "target"
    );
    for (id, per_call) in samples.iter() {
        let measured = per_call.len().min(SAMPLE_SIZE);
        let mut last = per_call[per_call.len() - measured..].to_vec();
        let median = median(&mut last);
        let accounts = id.rsplit('/').next().and_then(|n| n.parse::<usize>().ok());
        let target_ns = match accounts {
            Some(500) => Some(10_000.0),
            Some(5000) => Some(50_000.0),
            _ => None,
        };
        let (target, verdict) = match target_ns {
            Some(target) if median <= target => (format_ns(target), "met"),
            Some(target) => (format_ns(target), "MISSED"),
            None => ("-".to_owned(), ""),
        };
        println!("{id:<30} {:>12}  {target:>8}  {verdict}", format_ns(median));
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .configure_from_args();
    let mut basic_shops = BTreeMap::new();
    route_new_buyer(&mut criterion, &mut basic_shops);
    route_returning_buyer(&mut criterion, &mut basic_shops);
    route_replay(&mut criterion, &mut basic_shops);
    drop(basic_shops);
    route_group_mode(&mut criterion);
    drain_on_slot_free(&mut criterion);
    criterion.final_summary();
    // `--test` (and `cargo test --benches`) runs each routine once: no figures.
    let measured = !std::env::args().any(|arg| arg == "--test" || arg == "--list");
    if measured {
        print_summary();
    }
}
