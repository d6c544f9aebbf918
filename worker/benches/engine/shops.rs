//! The shops the benchmarks measure: built call by call through the engine's
//! public API ([`ShopBuilder`]) into a busy routing shop or a full draining
//! one, then kept running in virtual time ([`Running`]) so that the state
//! neither grows nor drifts while it is measured.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fenliu_worker::engine::{
    AccountConfig, AccountId, AccountStatus, AccountUpsert, BuyerId, GroupName, GroupUpsert,
    OrderStatus, Profile, QueueName, RequestId, Role, RouteOutcome, RouteReason, RouteRequest,
    RoutingMode, SessionId, SettingsPatch, ShopId, ShopLimits, ShopSettings, ShopState, Timestamp,
};

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

/// When the shops are built.
pub(crate) const SETUP_TIME: Timestamp = Timestamp(1_760_000_000_000);

/// Takes the events and the write set, as the server does after every call.
pub(crate) fn settle(state: &mut ShopState) {
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
    /// The shop being built.
    state: ShopState,
    /// Requests made so far, for unique setup request ids.
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
        // The largest shops are the deployment's default cap of accounts (5000,
        // the main account included) and more: the engine is timed, not the cap.
        state.set_limits(ShopLimits {
            max_accounts: u32::try_from(accounts).unwrap() + 1,
            ..ShopLimits::default()
        });
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
pub(crate) struct RoutingShop {
    /// The prepared shop, cloned by each benchmark that routes in it.
    pub(crate) state: ShopState,
    /// Buyers with an affinity and no open session, oldest first.
    pub(crate) past_buyers: Vec<BuyerId>,
    /// A request the shop has already answered.
    pub(crate) answered: RouteRequest,
}

pub(crate) fn build_routing_shop(accounts: usize, mode: RoutingMode) -> RoutingShop {
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
pub(crate) struct DrainingShop {
    /// The prepared shop: every account full, the shop queue one buyer per account.
    pub(crate) state: ShopState,
    /// ASSIGNED sessions, spread over the accounts in turn.
    pub(crate) assigned: Vec<SessionId>,
}

pub(crate) fn build_draining_shop(accounts: usize) -> DrainingShop {
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

/// A prepared shop kept running in virtual time while it is measured.
pub(crate) struct Running {
    /// The shop being measured.
    pub(crate) state: ShopState,
    /// Its customer-service accounts, all ONLINE, kept so by heartbeats.
    accounts: Vec<AccountId>,
    /// Virtual time between two measured calls: the close delay spread over the
    /// accounts, so that each account has about one ENDED session at any time.
    step: Duration,
    /// The virtual time the shop has been brought to.
    now: Timestamp,
    /// When the accounts' apps send their next heartbeat.
    next_heartbeat: Timestamp,
    /// Requests made, for unique buyer and request ids.
    pub(crate) requests: u64,
}

impl Running {
    pub(crate) fn new(state: ShopState) -> Self {
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
    pub(crate) fn tick(&mut self) -> Timestamp {
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

    pub(crate) fn new_buyer(&mut self, order_status: OrderStatus) -> RouteRequest {
        self.requests += 1;
        request(
            format!("new-{}", self.requests),
            format!("req-{}", self.requests),
            order_status,
        )
    }

    /// The agent finishes the session at once (outside the timer): it stays ENDED,
    /// holding its slot, for the 20-minute close delay.
    pub(crate) fn end(&mut self, session: SessionId) {
        self.state.end_session(session, None, self.now).unwrap();
        settle(&mut self.state);
    }
}
