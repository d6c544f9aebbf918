//! Property tests of the routing engine: random shops, random sequences of calls and
//! clock steps, and after every step the rules of `routing-rules.md` that must hold
//! whatever happened before.
//!
//! The engine is driven through its public API only. Time moves only in explicit
//! `Advance` steps, so every other call runs at the state's own clock and its events
//! are exactly the call's effects; the events of each step are replayed from the
//! state before the step to know each account's occupancy and status at the moment of
//! every assignment.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use fenliu_worker::engine::{
    Account, AccountConfig, AccountId, AccountStatus, AccountUpsert, AssignCause, BuyerId,
    Distribution, EngineError, Group, GroupName, GroupUpsert, OfflinePolicy, OrderStatus, Profile,
    QueueName, RequestId, Role, RouteOutcome, RouteReason, RouteRequest, RoutingMode, SessionId,
    SessionState, SettingsPatch, ShopEvent, ShopId, ShopState, TimedEvent, Timestamp, WriteSet,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Where every scenario's clock starts.
const T0: u64 = 1_700_000_000_000;
/// Buyers are drawn from a small pool so that they come back (R1, R5).
const BUYERS: u8 = 8;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Keep the tree clean: proptest prints the minimal failing case anyway.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ generation

#[derive(Clone, Copy, Debug)]
enum RoleSpec {
    CustomerService,
    CustomerServiceAndCsAdmin,
    CsAdmin,
    Admin,
    Operations,
}

impl RoleSpec {
    fn roles(self) -> BTreeSet<Role> {
        let roles: &[Role] = match self {
            RoleSpec::CustomerService => &[Role::CustomerService],
            RoleSpec::CustomerServiceAndCsAdmin => &[Role::CustomerService, Role::CsAdmin],
            RoleSpec::CsAdmin => &[Role::CsAdmin],
            RoleSpec::Admin => &[Role::Admin],
            RoleSpec::Operations => &[Role::Operations],
        };
        roles.iter().copied().collect()
    }
}

#[derive(Clone, Debug)]
struct AccountSpec {
    roles: RoleSpec,
    non_routing: bool,
    max_concurrent: u32,
    pool_permission: bool,
    initial: AccountStatus,
}

#[derive(Clone, Debug)]
struct GroupSpec {
    members: Vec<usize>,
    statuses: Vec<usize>,
}

#[derive(Clone, Debug)]
struct Setup {
    profile: Profile,
    mode: RoutingMode,
    distribution: Distribution,
    policy: OfflinePolicy,
    bot: bool,
    bot_first: bool,
    offline_forwarding: bool,
    affinity_window_ms: u64,
    close_delay_ms: u64,
    presence_ttl_ms: u64,
    main_participates: bool,
    main_max: u32,
    main_initial: AccountStatus,
    accounts: Vec<AccountSpec>,
    offline_list: Vec<usize>,
    proxy: usize,
    groups: Vec<GroupSpec>,
}

#[derive(Clone, Copy, Debug)]
enum ActorPick {
    Holder,
    Account(usize),
}

#[derive(Clone, Copy, Debug)]
enum QueuePick {
    /// One of the non-empty queues (or the shop queue when all are empty).
    Existing(usize),
    Shop,
    Status(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Route {
        buyer: u8,
        status: usize,
        addressed: Option<usize>,
        from_bot: bool,
        /// Reuse an earlier request id (by index) instead of a fresh one; `true`: with
        /// the buyer it was first used for (a client retry).
        reuse: Option<(usize, bool)>,
    },
    End {
        session: usize,
        actor: Option<usize>,
    },
    Transfer {
        session: usize,
        actor: ActorPick,
        to: usize,
    },
    Pull {
        account: usize,
        queue: QueuePick,
    },
    SetStatus {
        account: usize,
        status: AccountStatus,
    },
    Heartbeat {
        accounts: Vec<usize>,
    },
    Upsert {
        account: usize,
        max_concurrent: u32,
        toggle_non_routing: bool,
    },
    /// Removes an account (refused for the main and the proxy account, and while it
    /// holds assigned sessions); an `Upsert` of a removed account creates it again.
    Remove {
        account: usize,
    },
    /// Changes some settings mid-run (R10, R12); refusals are ignored.
    Settings {
        mode: Option<RoutingMode>,
        bot: Option<bool>,
        policy: Option<OfflinePolicy>,
        distribution: Option<Distribution>,
        offline_forwarding: Option<bool>,
    },
    /// Replaces one of the two groups (R14: an account may join a group).
    Group {
        index: usize,
        group: GroupSpec,
    },
    Advance {
        millis: u64,
    },
}

#[derive(Clone, Debug)]
struct Scenario {
    setup: Setup,
    ops: Vec<Op>,
}

fn status_strategy() -> impl Strategy<Value = AccountStatus> {
    prop_oneof![
        3 => Just(AccountStatus::Online),
        1 => Just(AccountStatus::Suspended),
        1 => Just(AccountStatus::Offline),
    ]
}

fn role_strategy() -> impl Strategy<Value = RoleSpec> {
    prop_oneof![
        8 => Just(RoleSpec::CustomerService),
        1 => Just(RoleSpec::CustomerServiceAndCsAdmin),
        1 => Just(RoleSpec::CsAdmin),
        1 => Just(RoleSpec::Admin),
        1 => Just(RoleSpec::Operations),
    ]
}

fn account_strategy() -> impl Strategy<Value = AccountSpec> {
    (
        role_strategy(),
        prop::bool::weighted(0.2),
        capacity_strategy(),
        any::<bool>(),
        status_strategy(),
    )
        .prop_map(
            |(roles, non_routing, max_concurrent, pool_permission, initial)| AccountSpec {
                roles,
                non_routing,
                max_concurrent,
                pool_permission,
                initial,
            },
        )
}

/// 1 to 4, small ones more often, so that accounts fill up and queues form.
fn capacity_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(1u32), 2 => Just(2u32), 1 => 3u32..=4]
}

fn group_strategy() -> impl Strategy<Value = GroupSpec> {
    (
        prop::collection::vec(0usize..7, 0..=4),
        prop::collection::vec(0usize..6, 1..=3),
    )
        .prop_map(|(members, statuses)| GroupSpec { members, statuses })
}

/// Multiples of 250 ms, so that deadlines often fall on the same moment.
fn millis(max_quarters: u64) -> impl Strategy<Value = u64> {
    (0..=max_quarters).prop_map(|quarters| quarters * 250)
}

fn setup_strategy() -> impl Strategy<Value = Setup> {
    let settings = (
        prop_oneof![Just(Profile::Taobao), Just(Profile::Kuaishou)],
        mode_strategy(),
        distribution_strategy(),
        policy_strategy(),
        prop::bool::weighted(0.3),
        any::<bool>(),
        any::<bool>(),
    );
    let times = (
        prop_oneof![1 => Just(0u64), 4 => millis(40)],
        prop_oneof![1 => Just(0u64), 3 => millis(20)],
        (4u64..=80).prop_map(|quarters| quarters * 250),
    );
    let shop = (
        any::<bool>(),
        capacity_strategy(),
        status_strategy(),
        prop::collection::vec(account_strategy(), 1..=6),
        prop::collection::vec(0usize..7, 0..=3),
        0usize..7,
        prop::collection::vec(group_strategy(), 0..=2),
    );
    (settings, times, shop).prop_map(
        |(
            (profile, mode, distribution, policy, bot, bot_first, offline_forwarding),
            (affinity_window_ms, close_delay_ms, presence_ttl_ms),
            (main_participates, main_max, main_initial, accounts, offline_list, proxy, groups),
        )| Setup {
            profile,
            mode,
            distribution,
            policy,
            bot,
            bot_first,
            offline_forwarding,
            affinity_window_ms,
            close_delay_ms,
            presence_ttl_ms,
            main_participates,
            main_max,
            main_initial,
            accounts,
            offline_list,
            proxy,
            groups,
        },
    )
}

fn mode_strategy() -> impl Strategy<Value = RoutingMode> {
    prop_oneof![Just(RoutingMode::Basic), Just(RoutingMode::Group)]
}

fn distribution_strategy() -> impl Strategy<Value = Distribution> {
    prop_oneof![
        6 => Just(Distribution::LeastLoaded),
        1 => Just(Distribution::RoundRobin),
        1 => Just(Distribution::Random),
    ]
}

fn policy_strategy() -> impl Strategy<Value = OfflinePolicy> {
    prop_oneof![
        Just(OfflinePolicy::Queue),
        Just(OfflinePolicy::OfflineList),
        Just(OfflinePolicy::MessagePool),
        Just(OfflinePolicy::ProxyAccount),
        Just(OfflinePolicy::MainAccount),
    ]
}

fn settings_op_strategy() -> impl Strategy<Value = Op> {
    (
        prop::option::weighted(0.3, mode_strategy()),
        prop::option::weighted(0.3, any::<bool>()),
        prop::option::weighted(0.3, policy_strategy()),
        prop::option::weighted(0.3, distribution_strategy()),
        prop::option::weighted(0.3, any::<bool>()),
    )
        .prop_map(
            |(mode, bot, policy, distribution, offline_forwarding)| Op::Settings {
                mode,
                bot,
                policy,
                distribution,
                offline_forwarding,
            },
        )
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let actor = prop_oneof![
        2 => Just(ActorPick::Holder),
        3 => (0usize..7).prop_map(ActorPick::Account),
    ];
    let queue = prop_oneof![
        3 => (0usize..8).prop_map(QueuePick::Existing),
        1 => Just(QueuePick::Shop),
        1 => (0usize..6).prop_map(QueuePick::Status),
    ];
    prop_oneof![
        10 => (
            0u8..BUYERS,
            0usize..6,
            prop::option::weighted(0.2, 0usize..7),
            prop::bool::weighted(0.15),
            prop::option::weighted(0.2, (0usize..64, prop::bool::weighted(0.8))),
        )
            .prop_map(|(buyer, status, addressed, from_bot, reuse)| Op::Route {
                buyer,
                status,
                addressed,
                from_bot,
                reuse,
            }),
        6 => (0usize..64, prop::option::weighted(0.5, 0usize..7))
            .prop_map(|(session, actor)| Op::End { session, actor }),
        2 => (0usize..64, actor, 0usize..7)
            .prop_map(|(session, actor, to)| Op::Transfer { session, actor, to }),
        2 => (0usize..7, queue).prop_map(|(account, queue)| Op::Pull { account, queue }),
        3 => (0usize..7, status_strategy())
            .prop_map(|(account, status)| Op::SetStatus { account, status }),
        3 => prop::collection::vec(0usize..7, 0..=4)
            .prop_map(|accounts| Op::Heartbeat { accounts }),
        1 => (0usize..7, capacity_strategy(), prop::bool::weighted(0.2)).prop_map(
            |(account, max_concurrent, toggle_non_routing)| Op::Upsert {
                account,
                max_concurrent,
                toggle_non_routing,
            }
        ),
        1 => (0usize..7).prop_map(|account| Op::Remove { account }),
        1 => settings_op_strategy(),
        1 => (0usize..2, group_strategy()).prop_map(|(index, group)| Op::Group { index, group }),
        4 => millis(20).prop_map(|millis| Op::Advance { millis }),
    ]
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (
        setup_strategy(),
        prop::collection::vec(op_strategy(), 1..=60),
    )
        .prop_map(|(setup, ops)| Scenario { setup, ops })
}

// ------------------------------------------------------------------ building a shop

fn account_id(index: usize) -> AccountId {
    if index == 0 {
        AccountId::from("main")
    } else {
        AccountId(format!("a{index}"))
    }
}

fn build_shop(setup: &Setup) -> (ShopState, Vec<AccountId>) {
    let now = Timestamp(T0);
    let main = account_id(0);
    let mut state = ShopState::new(ShopId::from("shop"), setup.profile, main.clone(), now);
    state
        .upsert_account(
            AccountUpsert {
                id: main.clone(),
                config: AccountConfig {
                    display_name: "main".to_owned(),
                    roles: [Role::Main].into_iter().collect(),
                    non_routing: false,
                    max_concurrent: Some(setup.main_max),
                    pool_permission: true,
                    main_account_participates: setup.main_participates,
                },
            },
            now,
        )
        .expect("the main account's config is valid");
    let mut ids = vec![main];
    for (offset, spec) in setup.accounts.iter().enumerate() {
        let id = account_id(offset + 1);
        state
            .upsert_account(
                AccountUpsert {
                    id: id.clone(),
                    config: AccountConfig {
                        display_name: id.to_string(),
                        roles: spec.roles.roles(),
                        non_routing: spec.non_routing,
                        max_concurrent: Some(spec.max_concurrent),
                        pool_permission: spec.pool_permission,
                        main_account_participates: false,
                    },
                },
                now,
            )
            .expect("a sub-account's config is valid");
        ids.push(id);
    }
    let pick = |index: usize| ids[index % ids.len()].clone();
    let base = SettingsPatch {
        routing_mode: Some(setup.mode),
        affinity_window: Some(Duration::from_millis(setup.affinity_window_ms)),
        offline_list: Some(setup.offline_list.iter().map(|i| pick(*i)).collect()),
        proxy_account: Some(Some(pick(setup.proxy))),
        offline_forwarding: Some(setup.offline_forwarding),
        close_delay: Some(Duration::from_millis(setup.close_delay_ms)),
        distribution: Some(setup.distribution),
        presence_ttl: Some(Duration::from_millis(setup.presence_ttl_ms)),
        ..SettingsPatch::default()
    };
    state
        .update_settings(&base, now)
        .expect("the base settings are valid");
    let policy = SettingsPatch {
        offline_policy: Some(setup.policy),
        ..SettingsPatch::default()
    };
    let bot = SettingsPatch {
        bot_enabled: Some(setup.bot),
        ..SettingsPatch::default()
    };
    // R12 refuses PROXY_ACCOUNT and MAIN_ACCOUNT while the bot is on: ignored.
    let patches = if setup.bot_first {
        [bot, policy]
    } else {
        [policy, bot]
    };
    for patch in &patches {
        let _ = state.update_settings(patch, now);
    }
    for (index, group) in setup.groups.iter().enumerate() {
        // A status already bound to the other group is refused: ignored.
        let _ = state.upsert_group(group_upsert(index, group, &ids), now);
    }
    let initial =
        std::iter::once(setup.main_initial).chain(setup.accounts.iter().map(|a| a.initial));
    for (id, status) in ids.iter().zip(initial) {
        state
            .set_account_status(id, status, now)
            .expect("the account exists");
    }
    state.take_events();
    state.take_write_set();
    (state, ids)
}

fn group_upsert(index: usize, group: &GroupSpec, ids: &[AccountId]) -> GroupUpsert {
    GroupUpsert {
        name: GroupName(format!("g{index}")),
        members: group
            .members
            .iter()
            .map(|i| ids[i % ids.len()].clone())
            .collect(),
        order_statuses: group
            .statuses
            .iter()
            .map(|s| OrderStatus::ALL[s % OrderStatus::ALL.len()])
            .collect(),
    }
}

// ------------------------------------------------------------------ running a sequence

/// A call as it was made, with concrete ids, and how it went.
#[derive(Debug)]
enum Call {
    Route {
        request: RouteRequest,
        /// The request id had been used before in this run.
        reused: bool,
        result: Result<RouteOutcome, EngineError>,
    },
    End {
        session: SessionId,
        actor: Option<AccountId>,
        result: Result<(), EngineError>,
    },
    Transfer {
        session: SessionId,
        actor: AccountId,
        to: AccountId,
        result: Result<(), EngineError>,
    },
    Pull {
        account: AccountId,
        queue: QueueName,
        result: Result<SessionId, EngineError>,
    },
    SetStatus {
        result: Result<(), EngineError>,
    },
    Heartbeat {
        result: Result<(), EngineError>,
    },
    Upsert {
        account: AccountId,
        /// `None`: the account was created.
        old_capacity: Option<u32>,
        new_capacity: u32,
        result: Result<(), EngineError>,
    },
    Remove {
        result: Result<(), EngineError>,
    },
    Settings {
        result: Result<(), EngineError>,
    },
    Group {
        result: Result<(), EngineError>,
    },
    Advance,
    /// Nothing to call (no session to pick).
    Skipped,
}

/// One `SessionAssigned` event, with the occupancy and status of every account and
/// the waiting sessions just before it happened (replayed from the events of the step).
#[derive(Debug)]
struct Assignment {
    session: SessionId,
    account: AccountId,
    cause: AssignCause,
    occupancy: BTreeMap<AccountId, u32>,
    status: BTreeMap<AccountId, AccountStatus>,
    /// Every queued session with its queue and arrival order.
    waiting: BTreeMap<SessionId, (QueueName, u64)>,
}

struct Step<'a> {
    index: usize,
    call: &'a Call,
    before: &'a ShopState,
    after: &'a ShopState,
    events: &'a [TimedEvent],
    assignments: &'a [Assignment],
    write_set: &'a WriteSet,
}

struct Harness {
    state: ShopState,
    ids: Vec<AccountId>,
    now: u64,
    used_requests: Vec<(RequestId, BuyerId)>,
    next_request: u64,
}

impl Harness {
    fn account(&self, index: usize) -> AccountId {
        self.ids[index % self.ids.len()].clone()
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.now)
    }

    /// Mostly an open session; sometimes any session, to exercise refusals.
    fn pick_session(&self, index: usize) -> Option<SessionId> {
        let mut all: Vec<_> = self
            .state
            .sessions()
            .map(|s| (s.id, s.state.is_open()))
            .collect();
        all.sort_by_key(|(id, _)| *id);
        let open: Vec<SessionId> = all
            .iter()
            .filter(|(_, open)| *open)
            .map(|(id, _)| *id)
            .collect();
        if !open.is_empty() && !index.is_multiple_of(5) {
            return Some(open[index % open.len()]);
        }
        (!all.is_empty()).then(|| all[index % all.len()].0)
    }

    fn apply(&mut self, op: &Op) -> Call {
        let now = self.now();
        match op {
            Op::Route {
                buyer,
                status,
                addressed,
                from_bot,
                reuse,
            } => {
                let mut buyer = BuyerId(format!("b{buyer}"));
                let (request_id, reused) = match reuse {
                    Some((index, same_buyer)) if !self.used_requests.is_empty() => {
                        let (id, first_buyer) =
                            self.used_requests[index % self.used_requests.len()].clone();
                        if *same_buyer {
                            buyer = first_buyer;
                        }
                        (id, true)
                    }
                    _ => {
                        self.next_request += 1;
                        let id = RequestId(format!("r{}", self.next_request));
                        self.used_requests.push((id.clone(), buyer.clone()));
                        (id, false)
                    }
                };
                let request = RouteRequest {
                    buyer,
                    request_id,
                    order_status: OrderStatus::ALL[status % OrderStatus::ALL.len()],
                    addressed: addressed.map(|i| self.account(i)),
                    from_bot: *from_bot,
                };
                let result = self.state.route(&request, now);
                Call::Route {
                    request,
                    reused,
                    result,
                }
            }
            Op::End { session, actor } => {
                let Some(session) = self.pick_session(*session) else {
                    return Call::Skipped;
                };
                let actor = actor.map(|i| self.account(i));
                let result = self
                    .state
                    .end_session(session, actor.as_ref(), now)
                    .map(|_| ());
                Call::End {
                    session,
                    actor,
                    result,
                }
            }
            Op::Transfer { session, actor, to } => {
                let Some(session) = self.pick_session(*session) else {
                    return Call::Skipped;
                };
                let holder = self.state.session(session).and_then(|s| s.account.clone());
                let actor = match (actor, holder) {
                    (ActorPick::Holder, Some(holder)) => holder,
                    (ActorPick::Holder, None) => self.account(0),
                    (ActorPick::Account(i), _) => self.account(*i),
                };
                let to = self.account(*to);
                let result = self.state.transfer(session, &actor, &to, now).map(|_| ());
                Call::Transfer {
                    session,
                    actor,
                    to,
                    result,
                }
            }
            Op::Pull { account, queue } => {
                let queue = match queue {
                    QueuePick::Existing(i) => {
                        let names: Vec<QueueName> =
                            self.state.queues().map(|(name, _)| name).collect();
                        if names.is_empty() {
                            QueueName::Shop
                        } else {
                            names[i % names.len()]
                        }
                    }
                    QueuePick::Shop => QueueName::Shop,
                    QueuePick::Status(s) => {
                        QueueName::Status(OrderStatus::ALL[s % OrderStatus::ALL.len()])
                    }
                };
                let account = self.account(*account);
                let result = self.state.pull_queued(&account, queue, now).map(|s| s.id);
                Call::Pull {
                    account,
                    queue,
                    result,
                }
            }
            Op::SetStatus { account, status } => {
                let account = self.account(*account);
                let result = self
                    .state
                    .set_account_status(&account, *status, now)
                    .map(|_| ());
                Call::SetStatus { result }
            }
            Op::Heartbeat { accounts } => {
                let ids: Vec<AccountId> = accounts.iter().map(|i| self.account(*i)).collect();
                let result = self.state.heartbeat(&ids, now).map(|_| ());
                Call::Heartbeat { result }
            }
            Op::Upsert {
                account,
                max_concurrent,
                toggle_non_routing,
            } => {
                let account = self.account(*account);
                let existing = self.state.account(&account);
                let old_capacity = existing.map(|a| self.state.capacity(a));
                let mut config = existing.map_or_else(
                    || AccountConfig {
                        display_name: account.to_string(),
                        roles: [Role::CustomerService].into_iter().collect(),
                        non_routing: false,
                        max_concurrent: None,
                        pool_permission: false,
                        main_account_participates: false,
                    },
                    |a| a.config.clone(),
                );
                config.max_concurrent = Some(*max_concurrent);
                if *toggle_non_routing {
                    config.non_routing = !config.non_routing;
                }
                let result = self
                    .state
                    .upsert_account(
                        AccountUpsert {
                            id: account.clone(),
                            config,
                        },
                        now,
                    )
                    .map(|_| ());
                let new_capacity = capacity_of(&self.state, &account);
                Call::Upsert {
                    account,
                    old_capacity,
                    new_capacity,
                    result,
                }
            }
            Op::Remove { account } => {
                let account = self.account(*account);
                let result = self.state.remove_account(&account, now);
                Call::Remove { result }
            }
            Op::Settings {
                mode,
                bot,
                policy,
                distribution,
                offline_forwarding,
            } => {
                let patch = SettingsPatch {
                    routing_mode: *mode,
                    bot_enabled: *bot,
                    offline_policy: *policy,
                    distribution: *distribution,
                    offline_forwarding: *offline_forwarding,
                    ..SettingsPatch::default()
                };
                let result = self.state.update_settings(&patch, now);
                Call::Settings { result }
            }
            Op::Group { index, group } => {
                let upsert = group_upsert(*index, group, &self.ids);
                let result = self.state.upsert_group(upsert, now).map(|_| ());
                Call::Group { result }
            }
            Op::Advance { millis } => {
                self.now += millis;
                self.state.advance_to(self.now());
                Call::Advance
            }
        }
    }
}

/// Replays a step's events from the state before it: occupancy moves with
/// assignments, transfers and closes of ended sessions; statuses with status events.
/// The replay must land exactly on the state after the step.
fn replay(
    before: &ShopState,
    after: &ShopState,
    events: &[TimedEvent],
) -> Result<Vec<Assignment>, TestCaseError> {
    let mut occupancy: BTreeMap<AccountId, u32> = before
        .accounts()
        .map(|a| (a.id.clone(), a.occupancy()))
        .collect();
    let mut status: BTreeMap<AccountId, AccountStatus> = before
        .accounts()
        .map(|a| (a.id.clone(), a.status))
        .collect();
    // An account created in the step starts OFFLINE and empty.
    for account in after.accounts() {
        occupancy.entry(account.id.clone()).or_insert(0);
        status
            .entry(account.id.clone())
            .or_insert(AccountStatus::Offline);
    }
    let mut waiting = waiting_sessions(before);
    let mut assignments = Vec::new();
    for timed in events {
        match &timed.event {
            ShopEvent::SessionQueued { session, queue, .. } => {
                let seq = after.session(*session).map_or(0, |s| s.enqueued_seq);
                waiting.insert(*session, (*queue, seq));
            }
            ShopEvent::SessionAssigned {
                session,
                account,
                cause,
                ..
            } => {
                assignments.push(Assignment {
                    session: *session,
                    account: account.clone(),
                    cause: cause.clone(),
                    occupancy: occupancy.clone(),
                    status: status.clone(),
                    waiting: waiting.clone(),
                });
                waiting.remove(session);
                if let AssignCause::Transfer { from } = cause {
                    let held = occupancy.get_mut(from);
                    prop_assert!(
                        held.as_ref().is_some_and(|n| **n > 0),
                        "transfer of session {session} from {from}, who held nothing"
                    );
                    if let Some(held) = held {
                        *held -= 1;
                    }
                }
                *occupancy.entry(account.clone()).or_default() += 1;
            }
            ShopEvent::SessionClosed {
                session,
                account: None,
            } => {
                waiting.remove(session);
            }
            ShopEvent::SessionClosed {
                session,
                account: Some(account),
            } => {
                let held = occupancy.get_mut(account);
                prop_assert!(
                    held.as_ref().is_some_and(|n| **n > 0),
                    "session {session} closed on {account}, who held nothing"
                );
                if let Some(held) = held {
                    *held -= 1;
                }
            }
            ShopEvent::AccountStatusChanged {
                account, from, to, ..
            } => {
                prop_assert_eq!(
                    status.get(account),
                    Some(from),
                    "status event of {} out of step",
                    account
                );
                status.insert(account.clone(), *to);
            }
            _ => {}
        }
    }
    prop_assert_eq!(
        &waiting,
        &waiting_sessions(after),
        "events do not account for the queues"
    );
    for account in after.accounts() {
        prop_assert_eq!(
            occupancy.get(&account.id).copied(),
            Some(account.occupancy()),
            "events do not account for the occupancy of {}",
            account.id
        );
        prop_assert_eq!(
            status.get(&account.id).copied(),
            Some(account.status),
            "events do not account for the status of {}",
            account.id
        );
    }
    Ok(assignments)
}

fn waiting_sessions(state: &ShopState) -> BTreeMap<SessionId, (QueueName, u64)> {
    state
        .queues()
        .flat_map(|(queue, ids)| ids.iter().map(move |id| (*id, queue)))
        .map(|(id, queue)| {
            let seq = state.session(id).map_or(0, |s| s.enqueued_seq);
            (id, (queue, seq))
        })
        .collect()
}

/// Builds the scenario's shop and runs its steps, calling `check` after each.
fn run(
    scenario: &Scenario,
    mut check: impl FnMut(&Step<'_>) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let (state, ids) = build_shop(&scenario.setup);
    let mut harness = Harness {
        state,
        ids,
        now: T0,
        used_requests: Vec::new(),
        next_request: 0,
    };
    for (index, op) in scenario.ops.iter().enumerate() {
        let before = harness.state.clone();
        let call = harness.apply(op);
        let events = harness.state.take_events();
        let write_set = harness.state.take_write_set();
        let assignments = replay(&before, &harness.state, &events)?;
        check(&Step {
            index,
            call: &call,
            before: &before,
            after: &harness.state,
            events: &events,
            assignments: &assignments,
            write_set: &write_set,
        })?;
    }
    Ok(())
}

impl Call {
    /// The call was made and refused.
    fn refused(&self) -> bool {
        match self {
            Call::Route { result, .. } => result.is_err(),
            Call::Pull { result, .. } => result.is_err(),
            Call::End { result, .. }
            | Call::Transfer { result, .. }
            | Call::SetStatus { result }
            | Call::Heartbeat { result }
            | Call::Upsert { result, .. }
            | Call::Remove { result }
            | Call::Settings { result }
            | Call::Group { result } => result.is_err(),
            Call::Advance | Call::Skipped => false,
        }
    }
}

// ------------------------------------------------------------------ helpers

fn capacity_of(state: &ShopState, id: &AccountId) -> u32 {
    state.account(id).map_or(0, |a| state.capacity(a))
}

fn participates(state: &ShopState, id: &AccountId) -> bool {
    state.account(id).is_some_and(|a| a.config.participates())
}

fn is_available(account: &Account) -> bool {
    account.config.participates() && account.status == AccountStatus::Online
}

fn group_routing(state: &ShopState) -> bool {
    state.settings().routing_mode == RoutingMode::Group && state.groups().next().is_some()
}

fn group_members_of(state: &ShopState, status: OrderStatus) -> Option<BTreeSet<AccountId>> {
    state
        .groups()
        .find(|g| g.order_statuses.contains(&status))
        .map(|g| g.members.clone())
}

fn effective_policy(state: &ShopState) -> OfflinePolicy {
    if state.settings().bot_enabled {
        OfflinePolicy::MessagePool
    } else {
        state.settings().offline_policy
    }
}

/// Placed by a route with an exception to capacity (R2, R3, R4, R5, R13b/d/e), or by
/// hand (R16, R17).
fn may_exceed_capacity(cause: &AssignCause) -> bool {
    match cause {
        AssignCause::Rule(reason) => matches!(
            reason,
            RouteReason::Addressed
                | RouteReason::AddressedOffline
                | RouteReason::NoParticipants
                | RouteReason::Affinity
                | RouteReason::OfflineList
                | RouteReason::Proxy
                | RouteReason::MainAccount
        ),
        AssignCause::Transfer { .. } | AssignCause::Manual { .. } | AssignCause::Pull { .. } => {
            true
        }
        AssignCause::Queue { .. } => false,
    }
}

/// Automatic placements that need an available account with a free slot (R7, R8, R14).
fn needs_free_slot(cause: &AssignCause) -> bool {
    matches!(
        cause,
        AssignCause::Rule(RouteReason::Even | RouteReason::Group | RouteReason::AnyOnline)
            | AssignCause::Queue { .. }
    )
}

/// The request addresses an account that does not exist (removed): refused.
fn addresses_missing_account(state: &ShopState, request: &RouteRequest) -> bool {
    request
        .addressed
        .as_ref()
        .is_some_and(|id| state.account(id).is_none())
}

fn route_outcome<'a>(
    step: &Step<'_>,
    result: &'a Result<RouteOutcome, EngineError>,
) -> Result<&'a RouteOutcome, TestCaseError> {
    match result {
        Ok(outcome) => Ok(outcome),
        Err(error) => Err(TestCaseError::fail(format!(
            "step {}: route refused: {error}",
            step.index
        ))),
    }
}

/// Where a new, unaddressed-or-addressed buyer must go, by R2–R13 in order, judged on
/// the state before the call.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Assign {
        reason: RouteReason,
        to: BTreeSet<AccountId>,
    },
    Queue(QueueName),
    Pool,
}

fn expected_placement(state: &ShopState, request: &RouteRequest) -> Expected {
    let Some(addressed) = &request.addressed else {
        return expected_unaddressed(state, request, None);
    };
    let account = state.account(addressed).expect("generated accounts exist");
    let only = |id: &AccountId| [id.clone()].into_iter().collect::<BTreeSet<_>>();
    // R2.
    if account.status.is_logged_in() {
        return Expected::Assign {
            reason: RouteReason::Addressed,
            to: only(addressed),
        };
    }
    // R3.
    if state.settings().offline_forwarding && account.config.participates() {
        return expected_unaddressed(state, request, Some(addressed));
    }
    Expected::Assign {
        reason: RouteReason::AddressedOffline,
        to: only(addressed),
    }
}

fn expected_unaddressed(
    state: &ShopState,
    request: &RouteRequest,
    excluded: Option<&AccountId>,
) -> Expected {
    let main = state.main_account().clone();
    let only = |id: &AccountId| [id.clone()].into_iter().collect::<BTreeSet<_>>();
    // R4.
    if !state.accounts().any(|a| a.config.participates()) {
        return Expected::Assign {
            reason: RouteReason::NoParticipants,
            to: only(&main),
        };
    }
    // R5, R6, R11, R12.
    if !state.settings().bot_enabled
        && !request.from_bot
        && let Some(affinity) = state.affinity(&request.buyer, state.clock())
        && let Some(account) = state.account(&affinity.account)
        && account.config.participates()
        && account.status.is_logged_in()
        && Some(&account.id) != excluded
    {
        return Expected::Assign {
            reason: RouteReason::Affinity,
            to: only(&account.id),
        };
    }
    let available: Vec<&Account> = state
        .accounts()
        .filter(|a| is_available(a) && Some(&a.id) != excluded)
        .collect();
    let free = |accounts: &[&Account]| -> BTreeSet<AccountId> {
        accounts
            .iter()
            .filter(|a| state.has_free_slot(a))
            .map(|a| a.id.clone())
            .collect()
    };
    let queue = if group_routing(state) {
        let status = request.order_status;
        let queue = QueueName::Status(status);
        if let Some(members) = group_members_of(state, status) {
            let in_group: Vec<&Account> = available
                .iter()
                .copied()
                .filter(|a| members.contains(&a.id))
                .collect();
            if !in_group.is_empty() {
                // R7a, R7b.
                let to = free(&in_group);
                return if to.is_empty() {
                    Expected::Queue(queue)
                } else {
                    Expected::Assign {
                        reason: RouteReason::Group,
                        to,
                    }
                };
            }
        }
        // R7c.
        let to = free(&available);
        if !to.is_empty() {
            return Expected::Assign {
                reason: RouteReason::AnyOnline,
                to,
            };
        }
        queue
    } else {
        // R8.
        let to = free(&available);
        if !to.is_empty() {
            return Expected::Assign {
                reason: RouteReason::Even,
                to,
            };
        }
        QueueName::Shop
    };
    if !available.is_empty() {
        return Expected::Queue(queue);
    }
    // R13.
    match effective_policy(state) {
        OfflinePolicy::Queue => Expected::Queue(queue),
        OfflinePolicy::OfflineList => {
            let to: BTreeSet<AccountId> = state
                .settings()
                .offline_list
                .iter()
                .filter(|id| Some(*id) != excluded && participates(state, id))
                .cloned()
                .collect();
            if to.is_empty() {
                Expected::Queue(queue)
            } else {
                Expected::Assign {
                    reason: RouteReason::OfflineList,
                    to,
                }
            }
        }
        OfflinePolicy::MessagePool => Expected::Pool,
        OfflinePolicy::ProxyAccount => match &state.settings().proxy_account {
            Some(proxy) if Some(proxy) != excluded => Expected::Assign {
                reason: RouteReason::Proxy,
                to: only(proxy),
            },
            _ => Expected::Queue(queue),
        },
        OfflinePolicy::MainAccount => {
            if Some(&main) == excluded {
                Expected::Queue(queue)
            } else {
                Expected::Assign {
                    reason: RouteReason::MainAccount,
                    to: only(&main),
                }
            }
        }
    }
}

// ------------------------------------------------------------------ the sequence properties

/// The engine's own recount agrees after every step, and every session is where
/// its state says it is, exactly once; no session is ever lost or reopened.
fn check_engine_invariants_hold_after_every_step(scenario: &Scenario) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let after = step.after;
        if let Err(message) = after.check_invariants() {
            return Err(TestCaseError::fail(format!(
                "step {}: {message}",
                step.index
            )));
        }
        let queued: Vec<(QueueName, SessionId)> = after
            .queues()
            .flat_map(|(name, ids)| ids.iter().map(move |id| (name, *id)))
            .collect();
        let pooled: Vec<SessionId> = after.pool().iter().copied().collect();
        for id in queued.iter().map(|(_, id)| id).chain(&pooled) {
            prop_assert!(
                after.session(*id).is_some(),
                "step {}: waiting session {id} does not exist",
                step.index
            );
        }
        for session in after.sessions() {
            let in_queues: Vec<QueueName> = queued
                .iter()
                .filter(|(_, id)| *id == session.id)
                .map(|(q, _)| *q)
                .collect();
            let in_pool = pooled.iter().filter(|id| **id == session.id).count();
            match session.state {
                SessionState::Queued => {
                    prop_assert!(
                        session.account.is_none(),
                        "step {}: queued session {} has an account",
                        step.index,
                        session.id
                    );
                    prop_assert_eq!(
                        session.queue.map(|q| vec![q]),
                        Some(in_queues),
                        "step {}: session {} queue",
                        step.index,
                        session.id
                    );
                    prop_assert_eq!(in_pool, 0);
                }
                SessionState::Pooled => {
                    prop_assert!(
                        session.account.is_none(),
                        "step {}: pooled session {} has an account",
                        step.index,
                        session.id
                    );
                    prop_assert!(in_queues.is_empty() && session.queue.is_none());
                    prop_assert_eq!(
                        in_pool,
                        1,
                        "step {}: pooled session {} is {} times in the pool",
                        step.index,
                        session.id,
                        in_pool
                    );
                }
                SessionState::Assigned | SessionState::Ended => {
                    // An ENDED session of a removed account has no slot left to hold.
                    prop_assert!(
                        session.account.is_some() || session.state == SessionState::Ended,
                        "step {}: session {} held by nobody",
                        step.index,
                        session.id
                    );
                    prop_assert!(
                        in_queues.is_empty() && session.queue.is_none() && in_pool == 0,
                        "step {}: held session {} still waits",
                        step.index,
                        session.id
                    );
                    if session.state == SessionState::Ended {
                        prop_assert!(session.closes_at.is_some());
                    }
                }
                SessionState::Closed => {
                    prop_assert!(
                        in_queues.is_empty() && in_pool == 0,
                        "step {}: closed session {} still waits",
                        step.index,
                        session.id
                    );
                }
            }
        }
        // Nothing is lost (runs are far shorter than the retention), and states only
        // move forward.
        for old in step.before.sessions() {
            let Some(new) = after.session(old.id) else {
                return Err(TestCaseError::fail(format!(
                    "step {}: session {} was lost",
                    step.index, old.id
                )));
            };
            prop_assert_eq!(&new.buyer, &old.buyer);
            let allowed: &[SessionState] = match old.state {
                SessionState::Queued => &[
                    SessionState::Queued,
                    SessionState::Assigned,
                    SessionState::Closed,
                ],
                SessionState::Pooled => &[
                    SessionState::Pooled,
                    SessionState::Assigned,
                    SessionState::Closed,
                ],
                SessionState::Assigned => &[
                    SessionState::Assigned,
                    SessionState::Ended,
                    SessionState::Closed,
                ],
                SessionState::Ended => &[SessionState::Ended, SessionState::Closed],
                SessionState::Closed => &[SessionState::Closed],
            };
            prop_assert!(
                allowed.contains(&new.state),
                "step {}: session {} went from {:?} to {:?}",
                step.index,
                old.id,
                old.state,
                new.state
            );
        }
        Ok(())
    })
}

/// R1: a buyer never has two open sessions, the buyer index agrees, and a new
/// message of a buyer with an open session joins it and changes nothing.
fn check_r01_each_buyer_has_at_most_one_open_session(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let mut open: BTreeMap<&BuyerId, Vec<SessionId>> = BTreeMap::new();
        for session in step.after.sessions().filter(|s| s.state.is_open()) {
            open.entry(&session.buyer).or_default().push(session.id);
        }
        for (buyer, ids) in &open {
            prop_assert_eq!(
                ids.len(),
                1,
                "step {}: buyer {} has open sessions {:?}",
                step.index,
                buyer,
                ids
            );
            prop_assert_eq!(
                step.after.open_session_of(buyer).map(|s| s.id),
                Some(ids[0])
            );
        }
        for n in 0..BUYERS {
            let buyer = BuyerId(format!("b{n}"));
            if !open.contains_key(&buyer) {
                prop_assert!(
                    step.after.open_session_of(&buyer).is_none(),
                    "step {}: buyer {} indexed without an open session",
                    step.index,
                    buyer
                );
            }
        }
        if let Call::Route {
            request,
            reused: false,
            result,
        } = step.call
            && let Some(existing) = step.before.open_session_of(&request.buyer)
            && !addresses_missing_account(step.before, request)
        {
            let outcome = route_outcome(step, result)?;
            prop_assert_eq!(
                outcome.reason,
                RouteReason::OpenSession,
                "step {}",
                step.index
            );
            prop_assert_eq!(outcome.session.id, existing.id, "step {}", step.index);
            prop_assert!(
                step.events.is_empty(),
                "step {}: joining an open session changed {:?}",
                step.index,
                step.events
            );
        }
        Ok(())
    })
}

/// R1: retrying a route with the same request id returns the first answer and
/// creates nothing; the id used for another buyer is refused.
fn check_r01_replayed_route_returns_the_first_answer(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    let mut first: HashMap<RequestId, (BuyerId, SessionId, RouteReason)> = HashMap::new();
    run(scenario, |step| {
        let Call::Route {
            request,
            reused,
            result,
        } = step.call
        else {
            return Ok(());
        };
        match first.get(&request.request_id) {
            Some((buyer, session, reason)) => {
                prop_assert!(*reused, "step {}: a fresh request id was known", step.index);
                if *buyer != request.buyer {
                    prop_assert!(
                        result.is_err(),
                        "step {}: request id of {} reused for {} was accepted",
                        step.index,
                        buyer,
                        request.buyer
                    );
                    return Ok(());
                }
                let outcome = route_outcome(step, result)?;
                prop_assert!(
                    outcome.replayed,
                    "step {}: retry not marked replayed",
                    step.index
                );
                prop_assert_eq!(
                    outcome.session.id,
                    *session,
                    "step {}: retry answered another session",
                    step.index
                );
                prop_assert_eq!(
                    outcome.reason,
                    *reason,
                    "step {}: retry answered another reason",
                    step.index
                );
                prop_assert!(
                    step.events.is_empty(),
                    "step {}: retry did something: {:?}",
                    step.index,
                    step.events
                );
                prop_assert_eq!(
                    step.after.sessions().count(),
                    step.before.sessions().count(),
                    "step {}: retry created a session",
                    step.index
                );
                for old in step.before.sessions() {
                    let new = step.after.session(old.id);
                    prop_assert_eq!(
                        new,
                        Some(old),
                        "step {}: retry changed session {}",
                        step.index,
                        old.id
                    );
                }
            }
            // A fresh id, or one whose first use was refused and so not recorded.
            None => {
                if addresses_missing_account(step.before, request) {
                    prop_assert!(
                        result.is_err(),
                        "step {}: addressed a removed account",
                        step.index
                    );
                    return Ok(());
                }
                let outcome = route_outcome(step, result)?;
                prop_assert!(
                    !outcome.replayed,
                    "step {}: a fresh request was answered as replayed",
                    step.index
                );
                first.insert(
                    request.request_id.clone(),
                    (request.buyer.clone(), outcome.session.id, outcome.reason),
                );
            }
        }
        Ok(())
    })
}

/// R2–R13: a fresh route of a buyer without an open session is placed by the
/// first rule that decides, judged on the state before the call.
fn check_r02_to_r13_new_buyer_placed_by_first_deciding_rule(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let Call::Route {
            request,
            reused: false,
            result,
        } = step.call
        else {
            return Ok(());
        };
        if addresses_missing_account(step.before, request) {
            prop_assert!(
                result.is_err(),
                "step {}: addressed a removed account",
                step.index
            );
            return Ok(());
        }
        if step.before.open_session_of(&request.buyer).is_some() {
            return Ok(());
        }
        let outcome = route_outcome(step, result)?;
        let session = step
            .after
            .session(outcome.session.id)
            .expect("routed session exists");
        let expected = expected_placement(step.before, request);
        match &expected {
            Expected::Assign { reason, to } => {
                prop_assert_eq!(
                    outcome.reason,
                    *reason,
                    "step {}: expected {:?}",
                    step.index,
                    expected
                );
                prop_assert_eq!(session.state, SessionState::Assigned, "step {}", step.index);
                let holder = session.account.clone().expect("assigned");
                prop_assert!(
                    to.contains(&holder),
                    "step {}: went to {}, expected one of {:?}",
                    step.index,
                    holder,
                    to
                );
            }
            Expected::Queue(queue) => {
                prop_assert_eq!(
                    outcome.reason,
                    RouteReason::Queued,
                    "step {}: expected {:?}",
                    step.index,
                    expected
                );
                prop_assert_eq!(session.state, SessionState::Queued, "step {}", step.index);
                prop_assert_eq!(session.queue, Some(*queue), "step {}", step.index);
            }
            Expected::Pool => {
                prop_assert_eq!(
                    outcome.reason,
                    RouteReason::MessagePool,
                    "step {}: expected {:?}",
                    step.index,
                    expected
                );
                prop_assert_eq!(session.state, SessionState::Pooled, "step {}", step.index);
            }
        }
        prop_assert_eq!(session.reason, outcome.reason);
        Ok(())
    })
}

/// Capacity: an account that never received a session by an exception to
/// capacity (R2, R3, R4, R5, R13b/d/e, R16, R17) and never had its capacity
/// lowered is never over capacity.
fn check_capacity_is_exceeded_only_by_exception_rules(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    let mut excused: BTreeSet<AccountId> = BTreeSet::new();
    run(scenario, |step| {
        for assignment in step.assignments {
            if may_exceed_capacity(&assignment.cause) {
                excused.insert(assignment.account.clone());
            }
        }
        if let Call::Upsert {
            account,
            old_capacity,
            new_capacity,
            result: Ok(()),
        } = step.call
            && old_capacity.is_some_and(|old| *new_capacity < old)
        {
            excused.insert(account.clone());
        }
        for account in step.after.accounts() {
            if !excused.contains(&account.id) {
                prop_assert!(
                    account.occupancy() <= step.after.capacity(account),
                    "step {}: {} holds {} of {} slots without an exception",
                    step.index,
                    account.id,
                    account.occupancy(),
                    step.after.capacity(account)
                );
            }
        }
        Ok(())
    })
}

/// R7, R8, R14: every automatic placement that is not an exception goes to an
/// available (participating, ONLINE) account that had a free slot at that moment;
/// R5's goes to a participating, logged-in account.
fn check_r07_r08_r14_automatic_picks_take_a_free_slot(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        for a in step.assignments {
            let participating = participates(step.after, &a.account);
            let status = a.status.get(&a.account).copied();
            if needs_free_slot(&a.cause) {
                let occupancy = a.occupancy.get(&a.account).copied().unwrap_or(0);
                let capacity = capacity_of(step.after, &a.account);
                prop_assert!(
                    occupancy < capacity,
                    "step {}: {:?} gave session {} to {} holding {} of {} slots",
                    step.index,
                    a.cause,
                    a.session,
                    a.account,
                    occupancy,
                    capacity
                );
                prop_assert!(
                    participating && status == Some(AccountStatus::Online),
                    "step {}: {:?} gave session {} to {} ({:?}, participating {})",
                    step.index,
                    a.cause,
                    a.session,
                    a.account,
                    status,
                    participating
                );
            }
            if a.cause == AssignCause::Rule(RouteReason::Affinity) {
                prop_assert!(
                    participating && status.is_some_and(AccountStatus::is_logged_in),
                    "step {}: affinity gave session {} to {} ({:?}, participating {})",
                    step.index,
                    a.session,
                    a.account,
                    status,
                    participating
                );
            }
        }
        Ok(())
    })
}

/// R11: automatic placements go only to participating accounts; the exceptions go
/// exactly where their rule says (R2/R3 the addressed account, R4/R13e the main
/// account, R13d the proxy).
fn check_r11_non_routing_never_assigned_automatically(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let addressed = match step.call {
            Call::Route { request, .. } => request.addressed.clone(),
            _ => None,
        };
        for a in step.assignments {
            let expected_holder = match &a.cause {
                AssignCause::Rule(RouteReason::Addressed | RouteReason::AddressedOffline) => {
                    Some(addressed.clone())
                }
                AssignCause::Rule(RouteReason::NoParticipants | RouteReason::MainAccount) => {
                    Some(Some(step.after.main_account().clone()))
                }
                AssignCause::Rule(RouteReason::Proxy) => {
                    Some(step.after.settings().proxy_account.clone())
                }
                AssignCause::Rule(_) | AssignCause::Queue { .. } => {
                    prop_assert!(
                        participates(step.after, &a.account),
                        "step {}: {:?} gave session {} to non-participating {}",
                        step.index,
                        a.cause,
                        a.session,
                        a.account
                    );
                    None
                }
                AssignCause::Transfer { .. }
                | AssignCause::Manual { .. }
                | AssignCause::Pull { .. } => None,
            };
            if let Some(holder) = expected_holder {
                prop_assert_eq!(
                    holder.as_ref(),
                    Some(&a.account),
                    "step {}: {:?} gave session {} to the wrong account",
                    step.index,
                    a.cause,
                    a.session
                );
            }
        }
        Ok(())
    })
}

/// R14, R17: a session taken from a queue (by R14 or by a pull) was its oldest:
/// nothing older is left waiting in that queue.
fn check_r14_queues_are_fifo(scenario: &Scenario) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        for a in step.assignments {
            let from = match &a.cause {
                AssignCause::Queue { from } | AssignCause::Pull { from } => *from,
                _ => continue,
            };
            let was = step.before.session(a.session).and_then(|s| s.queue);
            prop_assert_eq!(
                was,
                Some(from),
                "step {}: session {} did not wait in {}",
                step.index,
                a.session,
                from
            );
            let seq = step.after.session(a.session).expect("exists").enqueued_seq;
            for (name, ids) in step.after.queues() {
                if name != from {
                    continue;
                }
                for id in ids {
                    let waiting = step.after.session(*id).expect("exists").enqueued_seq;
                    prop_assert!(
                        waiting > seq,
                        "step {}: session {} (seq {}) left {} before older session {} (seq {})",
                        step.index,
                        a.session,
                        seq,
                        from,
                        id,
                        waiting
                    );
                }
            }
        }
        if let Call::Pull {
            queue,
            result: Ok(pulled),
            account,
        } = step.call
        {
            let oldest = step
                .before
                .queues()
                .find(|(name, _)| name == queue)
                .and_then(|(_, ids)| ids.front().copied());
            prop_assert_eq!(
                oldest,
                Some(*pulled),
                "step {}: {} pulled not the oldest of {}",
                step.index,
                account,
                queue
            );
        }
        Ok(())
    })
}

/// R14: when a slot frees, the account takes the oldest waiting session it may
/// serve: across all queues in basic mode; in group mode its own groups' queues
/// first, then the queues open to anyone (no group, or nobody of it available).
fn check_r14_drain_takes_the_oldest_session_the_account_may_serve(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let state = step.after;
        for a in step.assignments {
            if !matches!(a.cause, AssignCause::Queue { .. }) {
                continue;
            }
            let available = |id: &AccountId| {
                participates(state, id) && a.status.get(id) == Some(&AccountStatus::Online)
            };
            let members_of = |queue: QueueName| match queue {
                QueueName::Status(status) => group_members_of(state, status),
                QueueName::Shop => None,
            };
            let servable: Vec<(u64, SessionId)> = if group_routing(state) {
                let own: Vec<(u64, SessionId)> = a
                    .waiting
                    .iter()
                    .filter(|(_, (queue, _))| {
                        members_of(*queue).is_some_and(|m| m.contains(&a.account))
                    })
                    .map(|(id, (_, seq))| (*seq, *id))
                    .collect();
                if own.is_empty() {
                    a.waiting
                        .iter()
                        .filter(|(_, (queue, _))| {
                            members_of(*queue).is_none_or(|m| !m.iter().any(available))
                        })
                        .map(|(id, (_, seq))| (*seq, *id))
                        .collect()
                } else {
                    own
                }
            } else {
                a.waiting.iter().map(|(id, (_, seq))| (*seq, *id)).collect()
            };
            let oldest = servable.iter().min().map(|(_, id)| *id);
            prop_assert_eq!(
                oldest,
                Some(a.session),
                "step {}: {} took session {} from {:?}, the oldest it may serve is {:?}",
                step.index,
                a.account,
                a.session,
                a.cause,
                oldest
            );
        }
        Ok(())
    })
}

/// R14: queues drain by themselves. After every step, no waiting session could be
/// served by an available account with a free slot (in group mode, a group's
/// queue waits for its members while one is available, R7b).
fn check_r14_nobody_waits_while_a_servable_slot_is_free(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let state = step.after;
        let ready: Vec<&Account> = state
            .accounts()
            .filter(|a| is_available(a) && state.has_free_slot(a))
            .collect();
        for (queue, ids) in state.queues() {
            let members = match queue {
                QueueName::Status(status) if group_routing(state) => {
                    group_members_of(state, status).filter(|members| {
                        state
                            .accounts()
                            .any(|a| is_available(a) && members.contains(&a.id))
                    })
                }
                _ => None,
            };
            let servers: Vec<&AccountId> = ready
                .iter()
                .filter(|a| members.as_ref().is_none_or(|m| m.contains(&a.id)))
                .map(|a| &a.id)
                .collect();
            prop_assert!(
                servers.is_empty(),
                "step {}: {} sessions wait in {} while {:?} could serve them",
                step.index,
                ids.len(),
                queue,
                servers
            );
        }
        Ok(())
    })
}

/// R9 with LEAST_LOADED: every even pick has the fewest occupied slots among its
/// candidates, ties going to the least recently assigned.
fn check_r09_least_loaded_pick_has_fewest_occupied_slots(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        if step.after.settings().distribution != Distribution::LeastLoaded {
            return Ok(());
        }
        for a in step.assignments {
            let AssignCause::Rule(
                reason @ (RouteReason::Even | RouteReason::Group | RouteReason::AnyOnline),
            ) = a.cause
            else {
                continue;
            };
            let session = step.after.session(a.session).expect("exists");
            let members = (reason == RouteReason::Group)
                .then(|| group_members_of(step.after, session.order_status))
                .flatten();
            let occupancy = |id: &AccountId| a.occupancy.get(id).copied().unwrap_or(0);
            let candidates: Vec<&Account> = step
                .before
                .accounts()
                .filter(|c| c.config.participates())
                .filter(|c| a.status.get(&c.id) == Some(&AccountStatus::Online))
                .filter(|c| occupancy(&c.id) < step.before.capacity(c))
                .filter(|c| members.as_ref().is_none_or(|m| m.contains(&c.id)))
                .collect();
            let picked = occupancy(&a.account);
            let fewest = candidates.iter().map(|c| occupancy(&c.id)).min();
            prop_assert_eq!(
                Some(picked),
                fewest,
                "step {}: {:?} picked {} with {} slots taken",
                step.index,
                reason,
                a.account,
                picked
            );
            let picked_seq = step
                .before
                .account(&a.account)
                .expect("exists")
                .last_assigned_seq;
            for c in candidates.iter().filter(|c| occupancy(&c.id) == picked) {
                prop_assert!(
                    picked_seq <= c.last_assigned_seq,
                    "step {}: {} (last assigned #{}) picked over less recently assigned {} (#{})",
                    step.index,
                    a.account,
                    picked_seq,
                    c.id,
                    c.last_assigned_seq
                );
            }
        }
        Ok(())
    })
}

/// R18: nothing leaves the message pool automatically, only by a manual
/// assignment of the main account or an account with pool permission.
fn check_r18_message_pool_is_left_only_by_hand(scenario: &Scenario) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        for id in step.before.pool() {
            let now = step.after.session(*id).expect("exists").state;
            match now {
                SessionState::Pooled => {}
                SessionState::Assigned => {
                    let Call::Transfer {
                        session,
                        actor,
                        result: Ok(()),
                        ..
                    } = step.call
                    else {
                        return Err(TestCaseError::fail(format!(
                            "step {}: pooled session {id} left the pool by itself",
                            step.index
                        )));
                    };
                    prop_assert_eq!(session, id);
                    let allowed = actor == step.after.main_account()
                        || step
                            .after
                            .account(actor)
                            .is_some_and(|a| a.config.pool_permission);
                    prop_assert!(
                        allowed,
                        "step {}: {} took session {} out of the pool without permission",
                        step.index,
                        actor,
                        id
                    );
                }
                SessionState::Closed => {
                    prop_assert!(
                        matches!(step.call, Call::End { session, result: Ok(()), .. } if session == id),
                        "step {}: pooled session {} closed by itself",
                        step.index,
                        id
                    );
                }
                other => {
                    return Err(TestCaseError::fail(format!(
                        "step {}: pooled session {id} became {other:?}",
                        step.index
                    )));
                }
            }
        }
        for a in step.assignments {
            if step
                .before
                .session(a.session)
                .is_some_and(|s| s.state == SessionState::Pooled)
            {
                prop_assert_eq!(
                    &a.cause,
                    &AssignCause::Manual { from_queue: None },
                    "step {}",
                    step.index
                );
            }
        }
        Ok(())
    })
}

/// R12: while the bot is enabled, no affinity (R5) and no PROXY_ACCOUNT or
/// MAIN_ACCOUNT policy; a bot hand-over never goes by affinity.
fn check_r12_bot_disables_affinity_and_forbidden_policies(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let settings = step.after.settings();
        if settings.bot_enabled {
            prop_assert!(
                !matches!(
                    settings.offline_policy,
                    OfflinePolicy::ProxyAccount | OfflinePolicy::MainAccount
                ),
                "bot enabled with policy {:?}",
                settings.offline_policy
            );
            for a in step.assignments {
                prop_assert!(
                    !matches!(
                        a.cause,
                        AssignCause::Rule(
                            RouteReason::Affinity | RouteReason::Proxy | RouteReason::MainAccount
                        )
                    ),
                    "step {}: bot on, yet {:?}",
                    step.index,
                    a.cause
                );
            }
        }
        if let Call::Route {
            request,
            reused: false,
            result: Ok(outcome),
        } = step.call
            && request.from_bot
        {
            prop_assert_ne!(outcome.reason, RouteReason::Affinity, "step {}", step.index);
        }
        Ok(())
    })
}

/// R16, R18, R19: a transfer or manual assignment is accepted exactly when the
/// actor may make it (MAIN/ADMIN/CS_ADMIN or the holder; for the pool, the main
/// account or pool permission), even to a full or non-routing account; the session
/// then belongs to the receiver and the buyer's affinity follows it.
fn check_r16_transfer_goes_through_whenever_the_actor_may_make_it(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let Call::Transfer {
            session,
            actor,
            to,
            result,
        } = step.call
        else {
            return Ok(());
        };
        let before = step
            .before
            .session(*session)
            .expect("picked sessions exist");
        let (Some(actor_account), Some(_)) = (step.before.account(actor), step.before.account(to))
        else {
            prop_assert!(
                result.is_err(),
                "step {}: transfer with a removed account",
                step.index
            );
            return Ok(());
        };
        let permitted = if before.state == SessionState::Pooled {
            actor == step.before.main_account() || actor_account.config.pool_permission
        } else {
            actor_account.config.manages_sessions() || before.account.as_ref() == Some(actor)
        };
        let expected_ok =
            before.state.is_open() && before.account.as_ref() != Some(to) && permitted;
        prop_assert_eq!(
            result.is_ok(),
            expected_ok,
            "step {}: transfer of {:?} session {} by {} to {}: {:?}",
            step.index,
            before.state,
            session,
            actor,
            to,
            result
        );
        if result.is_ok() {
            let after = step.after.session(*session).expect("exists");
            prop_assert_eq!(after.state, SessionState::Assigned);
            prop_assert_eq!(after.account.as_ref(), Some(to), "step {}", step.index);
            if !step.after.settings().affinity_window.is_zero() {
                let affinity = step
                    .after
                    .affinity(&after.buyer, step.after.clock())
                    .map(|a| a.account.clone());
                prop_assert_eq!(
                    affinity.as_ref(),
                    Some(to),
                    "step {}: affinity did not follow",
                    step.index
                );
            }
        }
        Ok(())
    })
}

/// R15, R17, R19: ending is accepted exactly for an open session, by the system
/// (no actor), its holder or a MAIN/ADMIN/CS_ADMIN account; pulling exactly when the
/// account exists and the queue has a session, whatever the account's role, status,
/// participation or occupancy.
fn check_r19_end_and_pull_accepted_exactly_when_permitted(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        match step.call {
            Call::End {
                session,
                actor,
                result,
            } => {
                let session = step
                    .before
                    .session(*session)
                    .expect("picked sessions exist");
                let permitted = match actor {
                    None => true,
                    Some(actor) => step.before.account(actor).is_some_and(|a| {
                        session.account.as_ref() == Some(actor) || a.config.manages_sessions()
                    }),
                };
                let expected_ok = session.state.is_open() && permitted;
                prop_assert_eq!(
                    result.is_ok(),
                    expected_ok,
                    "step {}: end of {:?} session {} by {:?}: {:?}",
                    step.index,
                    session.state,
                    session.id,
                    actor,
                    result
                );
                if result.is_ok() {
                    let after = step.after.session(session.id).expect("exists");
                    let expected_state = if session.state == SessionState::Assigned
                        && !step.after.settings().close_delay.is_zero()
                    {
                        SessionState::Ended
                    } else {
                        SessionState::Closed
                    };
                    prop_assert_eq!(after.state, expected_state, "step {}", step.index);
                }
            }
            Call::Pull {
                account,
                queue,
                result,
            } => {
                let waiting = step
                    .before
                    .queues()
                    .any(|(name, ids)| name == *queue && !ids.is_empty());
                let expected_ok = step.before.account(account).is_some() && waiting;
                prop_assert_eq!(
                    result.is_ok(),
                    expected_ok,
                    "step {}: pull by {} from {}: {:?}",
                    step.index,
                    account,
                    queue,
                    result
                );
                if let Ok(pulled) = result {
                    let after = step.after.session(*pulled).expect("exists");
                    prop_assert_eq!(after.state, SessionState::Assigned);
                    prop_assert_eq!(after.account.as_ref(), Some(account), "step {}", step.index);
                }
            }
            _ => {}
        }
        Ok(())
    })
}

/// R19 and "bad input changes nothing": a refused call leaves every session and
/// account as it was and reports nothing.
fn check_r19_refused_calls_change_nothing(scenario: &Scenario) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        if !step.call.refused() {
            return Ok(());
        }
        prop_assert!(
            step.events.is_empty(),
            "step {}: refused {:?} reported {:?}",
            step.index,
            step.call,
            step.events
        );
        let sessions = |state: &ShopState| {
            let mut all: Vec<_> = state.sessions().cloned().map(|s| (s.id, s)).collect();
            all.sort_by_key(|(id, _)| *id);
            all
        };
        prop_assert_eq!(
            sessions(step.after),
            sessions(step.before),
            "step {}: refused {:?} changed sessions",
            step.index,
            step.call
        );
        let accounts: Vec<&Account> = step.after.accounts().collect();
        let before: Vec<&Account> = step.before.accounts().collect();
        prop_assert_eq!(
            accounts,
            before,
            "step {}: refused {:?} changed accounts",
            step.index,
            step.call
        );
        Ok(())
    })
}

/// R15 and presence: ended sessions close exactly when their close delay runs out,
/// and logged-in accounts go OFFLINE exactly when their presence runs out.
fn check_r15_close_delay_and_presence_ttl_run_out_on_time(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let after = step.after;
        let clock = after.clock();
        let delay = after.settings().close_delay;
        for timed in step.events {
            match &timed.event {
                ShopEvent::SessionEnded {
                    session, closes_at, ..
                } => {
                    prop_assert_eq!(
                        *closes_at,
                        timed.at.plus(delay),
                        "step {}: session {} close time",
                        step.index,
                        session
                    );
                }
                ShopEvent::SessionClosed {
                    session,
                    account: Some(_),
                } => {
                    let closes_at = after.session(*session).and_then(|s| s.closes_at);
                    prop_assert_eq!(
                        closes_at,
                        Some(timed.at),
                        "step {}: session {} closed at the wrong time",
                        step.index,
                        session
                    );
                }
                ShopEvent::AccountStatusChanged {
                    account,
                    presence_expired: true,
                    ..
                } => {
                    let deadline = step
                        .before
                        .account(account)
                        .and_then(|a| a.presence_expires_at);
                    prop_assert_eq!(
                        deadline,
                        Some(timed.at),
                        "step {}: {} expired at the wrong time",
                        step.index,
                        account
                    );
                }
                _ => {}
            }
            prop_assert!(
                timed.at <= clock,
                "step {}: event in the future",
                step.index
            );
        }
        for session in after.sessions().filter(|s| s.state == SessionState::Ended) {
            prop_assert!(
                session.closes_at.is_some_and(|at| at > clock),
                "step {}: session {} is still ENDED at {:?}, past {:?}",
                step.index,
                session.id,
                clock,
                session.closes_at
            );
        }
        for account in after.accounts() {
            match account.presence_expires_at {
                Some(at) => prop_assert!(
                    account.status.is_logged_in() && at > clock,
                    "step {}: {} is {:?} with presence until {:?} at {:?}",
                    step.index,
                    account.id,
                    account.status,
                    at,
                    clock
                ),
                None => prop_assert_eq!(
                    account.status,
                    AccountStatus::Offline,
                    "step {}: {} logged in without a presence deadline",
                    step.index,
                    account.id
                ),
            }
        }
        Ok(())
    })
}

/// Persistence: the write set of a step names every entity the step changed, so a
/// store that writes only those loses nothing across a crash or a shard move.
fn check_write_set_names_every_changed_entity(scenario: &Scenario) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let (before, after, written) = (step.before, step.after, step.write_set);
        let ids: BTreeSet<SessionId> = before
            .sessions()
            .chain(after.sessions())
            .map(|s| s.id)
            .collect();
        for id in ids {
            if before.session(id) != after.session(id) {
                prop_assert!(
                    written.sessions.contains(&id),
                    "step {}: session {} changed but is not in the write set {:?}",
                    step.index,
                    id,
                    step.call
                );
            }
        }
        let accounts: BTreeSet<AccountId> = before
            .accounts()
            .chain(after.accounts())
            .map(|a| a.id.clone())
            .collect();
        for id in accounts {
            // What an account's record holds; its slot counts are recounted from
            // the sessions, its presence deadline is stored apart.
            let stored = |state: &ShopState| {
                state
                    .account(&id)
                    .map(|a| (a.config.clone(), a.status, a.last_assigned_seq))
            };
            if stored(before) != stored(after) {
                prop_assert!(
                    written.accounts.contains(&id),
                    "step {}: account {} changed but is not in the write set {:?}",
                    step.index,
                    id,
                    step.call
                );
            }
            let presence =
                |state: &ShopState| state.account(&id).and_then(|a| a.presence_expires_at);
            if presence(before) != presence(after) {
                prop_assert!(
                    written.presence.contains(&id),
                    "step {}: presence of {} changed but is not in the write set {:?}",
                    step.index,
                    id,
                    step.call
                );
            }
        }
        let queues = |state: &ShopState| -> BTreeMap<QueueName, Vec<SessionId>> {
            state
                .queues()
                .map(|(name, ids)| (name, ids.iter().copied().collect()))
                .collect()
        };
        let (queues_before, queues_after) = (queues(before), queues(after));
        let names: BTreeSet<QueueName> = queues_before
            .keys()
            .chain(queues_after.keys())
            .copied()
            .collect();
        for name in names {
            if queues_before.get(&name) != queues_after.get(&name) {
                prop_assert!(
                    written.queues.contains(&name),
                    "step {}: queue {} changed but is not in the write set",
                    step.index,
                    name
                );
            }
        }
        if before.pool() != after.pool() {
            prop_assert!(
                written.pool,
                "step {}: the pool changed but is not in the write set",
                step.index
            );
        }
        if before.settings() != after.settings() {
            prop_assert!(
                written.settings,
                "step {}: settings changed but are not in the write set",
                step.index
            );
        }
        if before.counters() != after.counters() {
            prop_assert!(
                written.counters,
                "step {}: the shop's counters moved but are not in the write set",
                step.index
            );
        }
        let groups = |state: &ShopState| -> BTreeMap<GroupName, Group> {
            state
                .groups()
                .map(|g| (g.name.clone(), g.clone()))
                .collect()
        };
        let (groups_before, groups_after) = (groups(before), groups(after));
        let names: BTreeSet<GroupName> = groups_before
            .keys()
            .chain(groups_after.keys())
            .cloned()
            .collect();
        for name in names {
            if groups_before.get(&name) != groups_after.get(&name) {
                prop_assert!(
                    written.groups.contains(&name),
                    "step {}: group {} changed but is not in the write set",
                    step.index,
                    name
                );
            }
        }
        // The stored affinity, expired or not (Timestamp(0) is before every expiry).
        for n in 0..BUYERS {
            let buyer = BuyerId(format!("b{n}"));
            let (was, is) = (
                before.affinity(&buyer, Timestamp(0)),
                after.affinity(&buyer, Timestamp(0)),
            );
            if was != is {
                prop_assert!(
                    written.affinities.contains(&buyer),
                    "step {}: affinity of {} changed but is not in the write set",
                    step.index,
                    buyer
                );
            }
            // A store indexes the buyers with an affinity: a new one must say so.
            if was.is_none() && is.is_some() {
                prop_assert!(
                    written.new_affinities.contains(&buyer),
                    "step {}: affinity of {} is new but not marked so",
                    step.index,
                    buyer
                );
            }
        }
        if let Call::Route {
            request,
            result: Ok(outcome),
            ..
        } = step.call
            && !outcome.replayed
        {
            prop_assert!(
                written.route_records.contains(&request.request_id),
                "step {}: route {} not in the write set",
                step.index,
                request.request_id
            );
        }
        Ok(())
    })
}

/// Persistence: after every step, the shop restored from its snapshot passes its own
/// recount (which covers the group index the engine derives on restore) and
/// decides every new buyer, by each order status and addressed to each account, as
/// the running shop does.
fn check_restored_shop_decides_as_the_running_one(
    scenario: &Scenario,
) -> Result<(), TestCaseError> {
    run(scenario, |step| {
        let running = step.after;
        let now = running.clock();
        let restored = ShopState::restore(running.snapshot(), now);
        if let Err(message) = restored.check_invariants() {
            return Err(TestCaseError::fail(format!(
                "step {}: restored shop: {message}",
                step.index
            )));
        }
        let addressed = std::iter::once(None).chain(running.accounts().map(|a| Some(a.id.clone())));
        for addressed in addressed {
            for order_status in OrderStatus::ALL {
                let request = RouteRequest {
                    buyer: BuyerId::from("restore-probe"),
                    request_id: RequestId::from("restore-probe"),
                    order_status,
                    addressed: addressed.clone(),
                    from_bot: false,
                };
                prop_assert_eq!(
                    restored.decide(&request, now),
                    running.decide(&request, now),
                    "step {}: {:?} addressed to {:?}",
                    step.index,
                    order_status,
                    addressed
                );
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(config(256))]

    // Each property is the `check_` function of the same name, above.

    #[test]
    fn write_set_names_every_changed_entity(scenario in scenario_strategy()) {
        check_write_set_names_every_changed_entity(&scenario)?;
    }

    #[test]
    fn engine_invariants_hold_after_every_step(scenario in scenario_strategy()) {
        check_engine_invariants_hold_after_every_step(&scenario)?;
    }

    #[test]
    fn restored_shop_decides_as_the_running_one(scenario in scenario_strategy()) {
        check_restored_shop_decides_as_the_running_one(&scenario)?;
    }

    #[test]
    fn r01_each_buyer_has_at_most_one_open_session(scenario in scenario_strategy()) {
        check_r01_each_buyer_has_at_most_one_open_session(&scenario)?;
    }

    #[test]
    fn r01_replayed_route_returns_the_first_answer(scenario in scenario_strategy()) {
        check_r01_replayed_route_returns_the_first_answer(&scenario)?;
    }

    #[test]
    fn r02_to_r13_new_buyer_placed_by_first_deciding_rule(scenario in scenario_strategy()) {
        check_r02_to_r13_new_buyer_placed_by_first_deciding_rule(&scenario)?;
    }

    #[test]
    fn capacity_is_exceeded_only_by_exception_rules(scenario in scenario_strategy()) {
        check_capacity_is_exceeded_only_by_exception_rules(&scenario)?;
    }

    #[test]
    fn r07_r08_r14_automatic_picks_take_a_free_slot(scenario in scenario_strategy()) {
        check_r07_r08_r14_automatic_picks_take_a_free_slot(&scenario)?;
    }

    #[test]
    fn r11_non_routing_never_assigned_automatically(scenario in scenario_strategy()) {
        check_r11_non_routing_never_assigned_automatically(&scenario)?;
    }

    #[test]
    fn r14_queues_are_fifo(scenario in scenario_strategy()) {
        check_r14_queues_are_fifo(&scenario)?;
    }

    #[test]
    fn r14_drain_takes_the_oldest_session_the_account_may_serve(scenario in scenario_strategy()) {
        check_r14_drain_takes_the_oldest_session_the_account_may_serve(&scenario)?;
    }

    #[test]
    fn r14_nobody_waits_while_a_servable_slot_is_free(scenario in scenario_strategy()) {
        check_r14_nobody_waits_while_a_servable_slot_is_free(&scenario)?;
    }

    #[test]
    fn r09_least_loaded_pick_has_fewest_occupied_slots(scenario in scenario_strategy()) {
        check_r09_least_loaded_pick_has_fewest_occupied_slots(&scenario)?;
    }

    #[test]
    fn r18_message_pool_is_left_only_by_hand(scenario in scenario_strategy()) {
        check_r18_message_pool_is_left_only_by_hand(&scenario)?;
    }

    #[test]
    fn r12_bot_disables_affinity_and_forbidden_policies(scenario in scenario_strategy()) {
        check_r12_bot_disables_affinity_and_forbidden_policies(&scenario)?;
    }

    #[test]
    fn r16_transfer_goes_through_whenever_the_actor_may_make_it(scenario in scenario_strategy()) {
        check_r16_transfer_goes_through_whenever_the_actor_may_make_it(&scenario)?;
    }

    #[test]
    fn r19_end_and_pull_accepted_exactly_when_permitted(scenario in scenario_strategy()) {
        check_r19_end_and_pull_accepted_exactly_when_permitted(&scenario)?;
    }

    #[test]
    fn r19_refused_calls_change_nothing(scenario in scenario_strategy()) {
        check_r19_refused_calls_change_nothing(&scenario)?;
    }

    #[test]
    fn r15_close_delay_and_presence_ttl_run_out_on_time(scenario in scenario_strategy()) {
        check_r15_close_delay_and_presence_ttl_run_out_on_time(&scenario)?;
    }
}

// ------------------------------------------------------------------ R9 over a run

/// N available customer-service accounts with equal (large) capacity, M new buyers,
/// nothing ending and nobody changing status: per-account counts.
fn even_run(
    distribution: Distribution,
    profile: Profile,
    accounts: usize,
    buyers: &[(usize, bool, u64)],
) -> Result<Vec<usize>, TestCaseError> {
    let mut now = Timestamp(T0);
    let mut state = ShopState::new(ShopId::from("shop"), profile, AccountId::from("main"), now);
    state
        .update_settings(
            &SettingsPatch {
                routing_mode: Some(RoutingMode::Basic),
                distribution: Some(distribution),
                presence_ttl: Some(Duration::from_secs(24 * 3600)),
                ..SettingsPatch::default()
            },
            now,
        )
        .expect("valid settings");
    let ids: Vec<AccountId> = (1..=accounts).map(account_id).collect();
    for id in &ids {
        state
            .upsert_account(
                AccountUpsert {
                    id: id.clone(),
                    config: AccountConfig {
                        display_name: id.to_string(),
                        roles: [Role::CustomerService].into_iter().collect(),
                        non_routing: false,
                        max_concurrent: Some(500),
                        pool_permission: false,
                        main_account_participates: false,
                    },
                },
                now,
            )
            .expect("valid account");
        state
            .set_account_status(id, AccountStatus::Online, now)
            .expect("account exists");
    }
    let mut counts = vec![0usize; accounts];
    for (n, (status, from_bot, wait_ms)) in buyers.iter().enumerate() {
        now = Timestamp(now.as_millis() + wait_ms);
        let request = RouteRequest {
            buyer: BuyerId(format!("b{n}")),
            request_id: RequestId(format!("r{n}")),
            order_status: OrderStatus::ALL[status % OrderStatus::ALL.len()],
            addressed: None,
            from_bot: *from_bot,
        };
        let outcome = state
            .route(&request, now)
            .map_err(|e| TestCaseError::fail(format!("route {n} refused: {e}")))?;
        prop_assert_eq!(outcome.reason, RouteReason::Even, "route {}", n);
        let holder = outcome.session.account.expect("assigned");
        let index = ids.iter().position(|id| *id == holder);
        prop_assert!(index.is_some(), "route {} went to {}", n, holder);
        if let Some(index) = index {
            counts[index] += 1;
        }
    }
    Ok(counts)
}

fn buyers_strategy() -> impl Strategy<Value = Vec<(usize, bool, u64)>> {
    prop::collection::vec((0usize..6, prop::bool::weighted(0.2), millis(20)), 1..=100)
}

fn spread(counts: &[usize]) -> usize {
    counts.iter().max().copied().unwrap_or(0) - counts.iter().min().copied().unwrap_or(0)
}

proptest! {
    #![proptest_config(config(256))]

    /// R9: with LEAST_LOADED, equal capacities and nothing ending, counts differ by
    /// at most one.
    #[test]
    fn r09_equal_capacity_counts_differ_by_at_most_one(
        accounts in 2usize..=6,
        taobao in any::<bool>(),
        buyers in buyers_strategy(),
    ) {
        let profile = if taobao { Profile::Taobao } else { Profile::Kuaishou };
        let counts = even_run(Distribution::LeastLoaded, profile, accounts, &buyers)?;
        prop_assert_eq!(counts.iter().sum::<usize>(), buyers.len());
        prop_assert!(spread(&counts) <= 1, "counts {:?}", counts);
    }

    /// R9: the same with ROUND_ROBIN.
    #[test]
    fn r09_round_robin_counts_differ_by_at_most_one(
        accounts in 2usize..=6,
        taobao in any::<bool>(),
        buyers in buyers_strategy(),
    ) {
        let profile = if taobao { Profile::Taobao } else { Profile::Kuaishou };
        let counts = even_run(Distribution::RoundRobin, profile, accounts, &buyers)?;
        prop_assert_eq!(counts.iter().sum::<usize>(), buyers.len());
        prop_assert!(spread(&counts) <= 1, "counts {:?}", counts);
    }
}
