//! How proptest draws requests: every field of every `Routing` request, with ids
//! of any Unicode and length (empty, past the 128-byte limit, `{}:%`, NUL,
//! non-ASCII), enum numbers of any `i32`, numbers at their edges, optional fields
//! present or absent, repeated fields with duplicates, the nested list absent.
//!
//! Half the calls are drawn *tame*: every field well-formed, ids naming the case's
//! shop and what exists in it (or a well-formed id it lacks), so that calls get
//! past the checks at the edge and deep into the engine (its NOT_FOUND,
//! FAILED_PRECONDITION and PERMISSION_DENIED, and its successes). The other half
//! are *wild*: each field is odd about one time in three.

use fenliu_tests::pb;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use crate::fixture::{
    ACCOUNTS, BUYERS, GROUPS, KEY_TAILS, NEIGHBOUR, NEIGHBOUR_SUFFIXES, NOT_QUEUES, QUEUES,
    REQUEST_IDS, SESSION_IDS, Setup, THIS_SHOP,
};
use crate::requests::{FuzzCall, Via};

/// Whether a call's fields may be odd (else all are well-formed).
#[derive(Clone, Copy, Debug)]
pub struct Wild(pub bool);

/// One case: how its shop is set up, then calls in order, each to a server.
pub fn case() -> impl Strategy<Value = (Setup, Vec<(Via, FuzzCall)>)> {
    let setup = (any::<bool>(), any::<bool>(), select(NEIGHBOUR_SUFFIXES)).prop_map(
        |(bot_enabled, group_mode, neighbour_suffix)| Setup {
            bot_enabled,
            group_mode,
            neighbour_suffix,
        },
    );
    let via = prop_oneof![Just(Via::Dispatcher), Just(Via::Worker)];
    (setup, vec((via, any_call()), 1..8))
}

/// Any request of any method, tame or wild.
pub fn any_call() -> impl Strategy<Value = FuzzCall> {
    prop_oneof![call(Wild(false)), call(Wild(true))]
}

/// Strings that are not well-formed ids, or only just are.
pub fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        // Any characters at all: NUL, controls, other planes.
        vec(any::<char>(), 1..12).prop_map(String::from_iter),
        // Past the 128-byte limit, in bytes or only in characters.
        vec(any::<char>(), 129..200).prop_map(String::from_iter),
        Just("x".repeat(129)),
        Just("分".repeat(43)),
        // Exactly at the limit: valid.
        Just("y".repeat(128)),
        select(vec![
            "{}",
            ":",
            "%",
            "%s",
            "a:b",
            "{shop}",
            "\0",
            "a\0b",
            " ",
            "\n",
            "分流",
            "🛒",
            "\u{feff}",
            "main ",
            "MAIN",
            "*",
            "shop:1:accounts",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Tame: one of `known`; wild: an odd string one time in three, or a known id
/// that ends like a key of the Redis layout.
fn id_among(known: &'static [&'static str], wild: Wild) -> BoxedStrategy<String> {
    let known = select(known).prop_map(str::to_owned);
    if wild.0 {
        let key_like = (known.clone(), select(KEY_TAILS)).prop_map(|(id, tail)| id + tail);
        prop_oneof![6 => known, 3 => odd_string(), 1 => key_like].boxed()
    } else {
        known.boxed()
    }
}

/// The case's shop mostly, its neighbour one time in four.
fn shop_id(wild: Wild) -> BoxedStrategy<String> {
    id_among(&[THIS_SHOP, THIS_SHOP, THIS_SHOP, NEIGHBOUR], wild)
}

fn account_id(wild: Wild) -> BoxedStrategy<String> {
    id_among(ACCOUNTS, wild)
}

/// An optional id: empty ("none") or an account.
fn maybe_account_id(wild: Wild) -> BoxedStrategy<String> {
    prop_oneof![Just(String::new()), account_id(wild)].boxed()
}

/// Repeated account ids, often with duplicates (few distinct known ids); now and
/// then hundreds (past the 255 items one step of a Redis commit takes).
fn account_ids(wild: Wild) -> BoxedStrategy<Vec<String>> {
    prop_oneof![
        9 => vec(account_id(wild), 0..6),
        1 => vec(account_id(wild), 250..400),
    ]
    .boxed()
}

/// Tame: a value of the enum (`0..=last`, UNSPECIFIED included); wild: any `i32`
/// one time in three, mostly just past the enum.
fn enum_number(last: i32, wild: Wild) -> BoxedStrategy<i32> {
    let valid = prop_oneof![1 => Just(0), 4 => 1..=last];
    if wild.0 {
        prop_oneof![
            4 => valid,
            1 => prop_oneof![Just(-1), Just(last + 1), any::<i32>(), Just(i32::MIN), Just(i32::MAX)],
        ]
        .boxed()
    } else {
        valid.boxed()
    }
}

/// Seconds or counts: tame, small or at the settings' limits; wild, also past
/// them and at the type's edges.
fn number(wild: Wild) -> BoxedStrategy<u32> {
    let tame = prop_oneof![4 => 0..=12u32, 1 => select(vec![60, 500, 3600, 86_400])];
    if wild.0 {
        prop_oneof![
            2 => tame,
            1 => select(vec![501, 86_401, 2_592_001, u32::MAX]),
            1 => any::<u32>(),
        ]
        .boxed()
    } else {
        tame.boxed()
    }
}

fn session_id(wild: Wild) -> BoxedStrategy<u64> {
    if wild.0 {
        prop_oneof![
            2 => SESSION_IDS,
            1 => select(vec![0, u64::MAX, u64::from(u32::MAX) + 1]),
            1 => any::<u64>(),
        ]
        .boxed()
    } else {
        SESSION_IDS.boxed()
    }
}

/// Optional settings: absent more often than present, so that a change of one or
/// two settings at a time is common.
fn sometimes<S: Strategy + 'static>(value: S) -> impl Strategy<Value = Option<S::Value>> {
    option::weighted(0.3, value)
}

fn upsert_shop(wild: Wild) -> impl Strategy<Value = pb::UpsertShopRequest> {
    // Mostly what an update of the existing shop sends: no profile and no main
    // account, or the ones it has; else any (refused when they differ).
    let profile = prop_oneof![3 => Just(0), 1 => Just(pb::Profile::Kuaishou as i32), 1 => enum_number(2, wild)];
    let main =
        prop_oneof![3 => Just(String::new()), 1 => Just("main".to_owned()), 1 => account_id(wild)];
    let head = (shop_id(wild), profile, main);
    let list =
        sometimes(account_ids(wild).prop_map(|account_ids| pb::AccountIdList { account_ids }));
    let settings = (
        sometimes(enum_number(2, wild)),
        sometimes(number(wild)),
        sometimes(any::<bool>()),
        sometimes(enum_number(5, wild)),
        list,
        sometimes(maybe_account_id(wild)),
    );
    let more = (
        sometimes(any::<bool>()),
        sometimes(number(wild)),
        sometimes(number(wild)),
        sometimes(enum_number(3, wild)),
        sometimes(number(wild)),
        sometimes(number(wild)),
    );
    // R21–R23's settings.
    let beyond = (
        sometimes(number(wild)),
        sometimes(enum_number(5, wild)),
        sometimes(number(wild)),
        sometimes(any::<bool>()),
        sometimes(number(wild)),
        sometimes(number(wild)),
    );
    (head, settings, more, beyond).prop_map(
        |(
            (shop_id, profile, main_account_id),
            (routing_mode, affinity, bot, policy, offline_list, proxy),
            (forwarding, close_delay, default_max, distribution, presence_ttl, rate_limit),
            (max_wait, timeout_action, reply_timeout, reassign, max_reassignments, aging),
        )| pb::UpsertShopRequest {
            shop_id,
            profile,
            main_account_id,
            routing_mode,
            affinity_window_seconds: affinity,
            bot_enabled: bot,
            offline_policy: policy,
            offline_list,
            proxy_account_id: proxy,
            offline_forwarding: forwarding,
            close_delay_seconds: close_delay,
            default_max_concurrent: default_max,
            distribution,
            presence_ttl_seconds: presence_ttl,
            route_rate_limit_per_second: rate_limit,
            max_queue_wait_seconds: max_wait,
            queue_timeout_action: timeout_action,
            reply_timeout_seconds: reply_timeout,
            reassign_unanswered: reassign,
            max_reassignments,
            priority_aging_seconds: aging,
        },
    )
}

/// An account's roles: tame, one to three valid ones (MAIN refused but for the
/// main account); wild, also none, UNSPECIFIED, or unknown numbers.
fn roles(wild: Wild) -> BoxedStrategy<Vec<i32>> {
    if wild.0 {
        vec(enum_number(5, wild), 0..4).boxed()
    } else {
        vec(1..=5, 1..4).boxed()
    }
}

fn queue(wild: Wild) -> BoxedStrategy<String> {
    if wild.0 {
        prop_oneof![
            id_among(QUEUES, wild),
            select(NOT_QUEUES).prop_map(str::to_owned)
        ]
        .boxed()
    } else {
        id_among(QUEUES, wild)
    }
}

fn upsert_account(wild: Wild) -> impl Strategy<Value = pb::UpsertAccountRequest> {
    let display_name = prop_oneof![Just("An Agent".to_owned()), odd_string()];
    (
        (shop_id(wild), account_id(wild), display_name, roles(wild)),
        (any::<bool>(), number(wild), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (shop_id, account_id, display_name, roles),
                (non_routing, max, pool, participates),
            )| {
                pb::UpsertAccountRequest {
                    shop_id,
                    account_id,
                    display_name,
                    roles,
                    non_routing,
                    max_concurrent: max,
                    pool_permission: pool,
                    main_account_participates: participates,
                }
            },
        )
}

fn upsert_group(wild: Wild) -> impl Strategy<Value = pb::UpsertGroupRequest> {
    (
        shop_id(wild),
        id_among(GROUPS, wild),
        account_ids(wild),
        vec(enum_number(6, wild), 0..4),
    )
        .prop_map(|(shop_id, name, member_account_ids, order_statuses)| {
            pb::UpsertGroupRequest {
                shop_id,
                name,
                member_account_ids,
                order_statuses,
            }
        })
}

fn route(wild: Wild) -> impl Strategy<Value = pb::RouteRequest> {
    (
        shop_id(wild),
        id_among(BUYERS, wild),
        id_among(REQUEST_IDS, wild),
        enum_number(6, wild),
        maybe_account_id(wild),
        any::<bool>(),
        (number(wild), any::<bool>()),
    )
        .prop_map(
            |(
                shop_id,
                buyer_id,
                request_id,
                order_status,
                addressed,
                from_bot,
                (priority, explain),
            )| {
                pb::RouteRequest {
                    shop_id,
                    buyer_id,
                    request_id,
                    order_status,
                    addressed_account_id: addressed,
                    from_bot,
                    priority,
                    explain,
                }
            },
        )
}

/// Any request of any method, its fields tame or wild.
pub fn call(wild: Wild) -> impl Strategy<Value = FuzzCall> {
    prop_oneof![
        1 => upsert_shop(wild).prop_map(FuzzCall::UpsertShop),
        1 => shop_id(wild).prop_map(|shop_id| FuzzCall::GetShop(pb::GetShopRequest { shop_id })),
        1 => upsert_account(wild).prop_map(FuzzCall::UpsertAccount),
        1 => (shop_id(wild), account_id(wild)).prop_map(|(shop_id, account_id)| {
            FuzzCall::RemoveAccount(pb::RemoveAccountRequest {
                shop_id,
                account_id,
            })
        }),
        1 => upsert_group(wild).prop_map(FuzzCall::UpsertGroup),
        1 => (shop_id(wild), id_among(GROUPS, wild)).prop_map(|(shop_id, name)| {
            FuzzCall::RemoveGroup(pb::RemoveGroupRequest { shop_id, name })
        }),
        1 => (shop_id(wild), account_id(wild), enum_number(3, wild)).prop_map(
            |(shop_id, account_id, status)| {
                FuzzCall::SetAccountStatus(pb::SetAccountStatusRequest {
                    shop_id,
                    account_id,
                    status,
                })
            }
        ),
        1 => (shop_id(wild), account_ids(wild)).prop_map(|(shop_id, account_ids)| {
            FuzzCall::Heartbeat(pb::HeartbeatRequest {
                shop_id,
                account_ids,
            })
        }),
        2 => route(wild).prop_map(FuzzCall::Route),
        1 => (shop_id(wild), session_id(wild), maybe_account_id(wild)).prop_map(
            |(shop_id, session_id, actor)| {
                FuzzCall::EndSession(pb::EndSessionRequest {
                    shop_id,
                    session_id,
                    actor_account_id: actor,
                })
            }
        ),
        1 => (shop_id(wild), session_id(wild), account_id(wild), account_id(wild)).prop_map(
            |(shop_id, session_id, actor, to)| {
                FuzzCall::Transfer(pb::TransferRequest {
                    shop_id,
                    session_id,
                    actor_account_id: actor,
                    to_account_id: to,
                })
            }
        ),
        1 => (shop_id(wild), account_id(wild), queue(wild)).prop_map(
            |(shop_id, account_id, queue)| {
                FuzzCall::PullQueued(pb::PullQueuedRequest {
                    shop_id,
                    account_id,
                    queue,
                })
            }
        ),
        1 => (shop_id(wild), session_id(wild)).prop_map(|(shop_id, session_id)| {
            FuzzCall::GetSession(pb::GetSessionRequest {
                shop_id,
                session_id,
            })
        }),
        1 => shop_id(wild).prop_map(|shop_id| {
            FuzzCall::GetShopState(pb::GetShopStateRequest { shop_id })
        }),
        1 => (shop_id(wild), proptest::option::of(prop_oneof![0..4u64, any::<u64>()])).prop_map(
            |(shop_id, from_sequence)| FuzzCall::WatchShop(pb::WatchShopRequest {
                shop_id,
                from_sequence,
            })
        ),
        1 => (shop_id(wild), session_id(wild), maybe_account_id(wild)).prop_map(
            |(shop_id, session_id, account_id)| {
                FuzzCall::RecordReply(pb::RecordReplyRequest {
                    shop_id,
                    session_id,
                    account_id,
                })
            }
        ),
    ]
}
