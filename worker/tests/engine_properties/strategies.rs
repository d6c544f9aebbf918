//! What a scenario is made of and how proptest draws it: the shop's setup, the
//! sequence of calls and clock steps, and the proptest config every property uses.

use std::collections::BTreeSet;

use fenliu_worker::engine::{
    AccountStatus, Distribution, OfflinePolicy, Profile, Role, RoutingMode,
};
use proptest::prelude::*;

/// Where every scenario's clock starts.
pub(crate) const T0: u64 = 1_700_000_000_000;
/// Buyers are drawn from a small pool so that they come back (R1, R5).
pub(crate) const BUYERS: u8 = 8;

pub(crate) fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Keep the tree clean: proptest prints the minimal failing case anyway.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum RoleSpec {
    CustomerService,
    CustomerServiceAndCsAdmin,
    CsAdmin,
    Admin,
    Operations,
}

impl RoleSpec {
    pub(crate) fn roles(self) -> BTreeSet<Role> {
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
pub(crate) struct AccountSpec {
    pub(crate) roles: RoleSpec,
    pub(crate) non_routing: bool,
    pub(crate) max_concurrent: u32,
    pub(crate) pool_permission: bool,
    pub(crate) initial: AccountStatus,
}

#[derive(Clone, Debug)]
pub(crate) struct GroupSpec {
    pub(crate) members: Vec<usize>,
    pub(crate) statuses: Vec<usize>,
}

#[derive(Clone, Debug)]
pub(crate) struct Setup {
    pub(crate) profile: Profile,
    pub(crate) mode: RoutingMode,
    pub(crate) distribution: Distribution,
    pub(crate) policy: OfflinePolicy,
    pub(crate) bot: bool,
    pub(crate) bot_first: bool,
    pub(crate) offline_forwarding: bool,
    pub(crate) affinity_window_ms: u64,
    pub(crate) close_delay_ms: u64,
    pub(crate) presence_ttl_ms: u64,
    pub(crate) main_participates: bool,
    pub(crate) main_max: u32,
    pub(crate) main_initial: AccountStatus,
    pub(crate) accounts: Vec<AccountSpec>,
    pub(crate) offline_list: Vec<usize>,
    pub(crate) proxy: usize,
    pub(crate) groups: Vec<GroupSpec>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum ActorPick {
    Holder,
    Account(usize),
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum QueuePick {
    /// One of the non-empty queues (or the shop queue when all are empty).
    Existing(usize),
    Shop,
    Status(usize),
}

#[derive(Clone, Debug)]
pub(crate) enum Op {
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
pub(crate) struct Scenario {
    pub(crate) setup: Setup,
    pub(crate) ops: Vec<Op>,
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
pub(crate) fn millis(max_quarters: u64) -> impl Strategy<Value = u64> {
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

pub(crate) fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (
        setup_strategy(),
        prop::collection::vec(op_strategy(), 1..=60),
    )
        .prop_map(|(setup, ops)| Scenario { setup, ops })
}
