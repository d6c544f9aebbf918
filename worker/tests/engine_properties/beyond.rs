//! Properties of the rules beyond the two platforms, on random shops with their
//! settings on (queue and reply timeouts, aging) and priorities on the routes:
//!
//! - R23 (on queue-heavy scenarios of their own: one to three agents, a stream
//!   of buyers with priorities): once a session has waited `MAX_PRIORITY` aging
//!   intervals, no later arrival in its queue is served before it (so none waits
//!   behind infinitely many later ones); with aging alone, queues stay FIFO.
//! - R24: asking for the explanation never changes a decision, the account marked
//!   chosen is exactly the one that got the buyer, and every reason given holds.
//! - R25: each assignment beyond capacity is counted once, under the rule that the
//!   capacity property allows it by, and every assignment under its cause.
//! - R21, R22: a shop restored from its snapshot at any step times out the same
//!   sessions at the same moments as the running one.

use std::collections::BTreeMap;
use std::time::Duration;

use fenliu_worker::engine::{
    AccountConfig, AccountId, AccountStatus, AccountUpsert, AssignCause, BuyerId, CauseKind,
    EngineError, MAX_PRIORITY, OrderStatus, OverflowRule, Profile, QueueTimeoutAction, RequestId,
    Role, RouteOptions, RouteReason, RouteRequest, SessionId, SettingsPatch, ShopEvent, ShopId,
    ShopState, TimedEvent, Timestamp, Why,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::harness::{Call, Extras, Step, run_with_extras};
use crate::oracle::{capacity_of, may_exceed_capacity};
use crate::strategies::{T0, millis};

/// R21–R23's settings on, at the scale of a scenario's clock (seconds), and the
/// routes' priorities: normal most often. `reassign`: R22 may move sessions.
pub(crate) fn extras_strategy(reassign: bool) -> impl Strategy<Value = Extras> {
    let action = prop_oneof![
        Just(QueueTimeoutAction::MessagePool),
        Just(QueueTimeoutAction::OfflineList),
        Just(QueueTimeoutAction::ProxyAccount),
        Just(QueueTimeoutAction::MainAccount),
        Just(QueueTimeoutAction::LeastLoaded),
    ];
    let some_millis = |quarters| millis(quarters).prop_map(|ms| Duration::from_millis(ms + 250));
    let priority = prop_oneof![4 => Just(0u8), 1 => 1..=MAX_PRIORITY];
    (
        prop::option::weighted(0.7, some_millis(40)),
        action,
        prop::option::weighted(0.7, some_millis(40)),
        1u32..=3,
        prop::option::weighted(0.7, some_millis(12)),
        prop::collection::vec(priority, 0..8),
    )
        .prop_map(
            move |(max_wait, action, reply_timeout, max_reassignments, aging, priorities)| Extras {
                settings: SettingsPatch {
                    max_queue_wait: max_wait,
                    queue_timeout_action: Some(action),
                    reply_timeout,
                    reassign_unanswered: Some(reassign),
                    max_reassignments: Some(max_reassignments),
                    priority_aging: aging,
                    ..SettingsPatch::default()
                },
                priorities,
            },
        )
}

/// A session served out of a queue by R14 or R17, with the sessions that waited
/// in that same queue at that moment (each with its arrival order and creation).
struct QueueService {
    at: Timestamp,
    session: SessionId,
    seq: u64,
    others: Vec<(SessionId, u64, Timestamp)>,
}

/// Replays events to find every session R14 or R17 served out of a queue, and
/// who else waited in that queue then. A session leaves the waiting line when
/// assigned, pooled (R21) or closed.
fn queue_services(
    before: &ShopState,
    after: &ShopState,
    events: &[TimedEvent],
) -> Vec<QueueService> {
    let known = |id: &SessionId| after.session(*id).or(before.session(*id));
    let mut waiting: BTreeMap<SessionId, _> = before
        .queues()
        .flat_map(|(queue, ids)| ids.iter().map(move |id| (*id, queue)))
        .filter_map(|(id, queue)| {
            let session = known(&id)?;
            Some((id, (queue, session.enqueued_seq, session.created_at)))
        })
        .collect();
    let mut services = Vec::new();
    for timed in events {
        match &timed.event {
            ShopEvent::SessionQueued { session, queue, .. } => {
                if let Some(s) = known(session) {
                    waiting.insert(*session, (*queue, s.enqueued_seq, s.created_at));
                }
            }
            ShopEvent::SessionAssigned { session, cause, .. } => {
                let served = matches!(cause, AssignCause::Queue { .. } | AssignCause::Pull { .. });
                if let (true, Some(&(queue, seq, _))) = (served, waiting.get(session)) {
                    let others = waiting
                        .iter()
                        .filter(|(id, (q, _, _))| *id != session && *q == queue)
                        .map(|(id, (_, s, created))| (*id, *s, *created))
                        .collect();
                    services.push(QueueService {
                        at: timed.at,
                        session: *session,
                        seq,
                        others,
                    });
                }
                waiting.remove(session);
            }
            ShopEvent::SessionPooled { session, .. } | ShopEvent::SessionClosed { session, .. } => {
                waiting.remove(session);
            }
            _ => {}
        }
    }
    services
}

/// What a queue-heavy scenario does (R23): a buyer arrives with a priority, time
/// passes, or an account finishes its session (its slot frees at once).
#[derive(Clone, Debug)]
pub(crate) enum QueueOp {
    Arrive { priority: u8 },
    Advance { millis: u64 },
    Free { account: usize },
}

/// One to three one-slot agents and a stream of buyers, most of whom wait.
#[derive(Clone, Debug)]
pub(crate) struct QueueScenario {
    accounts: usize,
    aging: Duration,
    ops: Vec<QueueOp>,
}

/// Queue-heavy scenarios; `raised`: buyers come with raised priorities too.
pub(crate) fn queue_scenario_strategy(raised: bool) -> impl Strategy<Value = QueueScenario> {
    let priority = if raised {
        prop_oneof![Just(0u8), 1..=MAX_PRIORITY].boxed()
    } else {
        Just(0u8).boxed()
    };
    let op = prop_oneof![
        4 => priority.prop_map(|priority| QueueOp::Arrive { priority }),
        3 => millis(8).prop_map(|millis| QueueOp::Advance { millis }),
        3 => (0usize..3).prop_map(|account| QueueOp::Free { account }),
    ];
    (1usize..=3, millis(7), prop::collection::vec(op, 1..=150)).prop_map(
        |(accounts, aging_ms, ops)| QueueScenario {
            accounts,
            aging: Duration::from_millis(250 + aging_ms),
            ops,
        },
    )
}

/// A Kuaishou shop of `accounts` one-slot agents, online for the day, sessions
/// closing as soon as they end, aging on.
fn queue_shop(accounts: usize, aging: Duration, now: Timestamp) -> (ShopState, Vec<AccountId>) {
    let mut state = ShopState::new(
        ShopId::from("queue"),
        Profile::Kuaishou,
        AccountId::from("main"),
        now,
    );
    let patch = SettingsPatch {
        close_delay: Some(Duration::ZERO),
        presence_ttl: Some(Duration::from_secs(24 * 3600)),
        priority_aging: Some(aging),
        ..SettingsPatch::default()
    };
    state.update_settings(&patch, now).expect("valid settings");
    let agents: Vec<AccountId> = (0..accounts).map(|n| AccountId(format!("a{n}"))).collect();
    for agent in &agents {
        let config = AccountConfig {
            display_name: agent.0.clone(),
            roles: [Role::CustomerService].into_iter().collect(),
            non_routing: false,
            max_concurrent: Some(1),
            pool_permission: false,
            main_account_participates: false,
        };
        let upsert = AccountUpsert {
            id: agent.clone(),
            config,
        };
        state.upsert_account(upsert, now).expect("valid account");
        state
            .set_account_status(agent, AccountStatus::Online, now)
            .expect("the account exists");
    }
    state.take_events();
    (state, agents)
}

/// Runs a queue scenario, handing `check` each op's services out of the queue.
fn run_queue_scenario(
    scenario: &QueueScenario,
    mut check: impl FnMut(usize, &[QueueService]) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let mut now = Timestamp(T0);
    let (mut state, agents) = queue_shop(scenario.accounts, scenario.aging, now);
    for (index, op) in scenario.ops.iter().enumerate() {
        let before = state.clone();
        let failed = |e: EngineError| TestCaseError::fail(format!("op {index}: {e}"));
        match op {
            QueueOp::Arrive { priority } => {
                let request = RouteRequest {
                    buyer: BuyerId(format!("buyer{index}")),
                    request_id: RequestId(format!("r{index}")),
                    order_status: OrderStatus::NoActiveOrder,
                    addressed: None,
                    from_bot: false,
                };
                let options = RouteOptions {
                    priority: *priority,
                    explain: false,
                };
                state.route_with(&request, options, now).map_err(failed)?;
            }
            QueueOp::Advance { millis } => {
                now = now.plus(Duration::from_millis(*millis));
                state.advance_to(now);
            }
            QueueOp::Free { account } => {
                let agent = &agents[account % agents.len()];
                let held = state
                    .sessions_by_holder()
                    .get(agent)
                    .and_then(|ids| ids.first().copied());
                if let Some(session) = held {
                    state.end_session(session, None, now).map_err(failed)?;
                }
            }
        }
        let events = state.take_events();
        check(index, &queue_services(&before, &state, &events))?;
    }
    Ok(())
}

/// R23: a session that has waited `MAX_PRIORITY` aging intervals is served before
/// every later arrival of its queue, so none waits behind infinitely many later
/// ones.
pub(crate) fn check_r23_an_aged_session_is_overtaken_by_no_later_arrival(
    scenario: &QueueScenario,
) -> Result<(), TestCaseError> {
    let top = (scenario.aging * u32::from(MAX_PRIORITY)).as_millis() as u64;
    run_queue_scenario(scenario, |index, services| {
        for service in services {
            for (older, seq, created) in &service.others {
                let waited = service.at.as_millis().saturating_sub(created.as_millis());
                prop_assert!(
                    !(*seq < service.seq && waited >= top),
                    "op {index}: session {older} waited {waited} ms (aged to the top) in its \
                     queue, yet {} which came later was served first",
                    service.session
                );
            }
        }
        Ok(())
    })
}

/// R23 with aging and no priorities: the queue still serves its oldest first.
pub(crate) fn check_r23_aging_alone_keeps_queues_fifo(
    scenario: &QueueScenario,
) -> Result<(), TestCaseError> {
    run_queue_scenario(scenario, |index, services| {
        for service in services {
            let older = service.others.iter().find(|(_, seq, _)| *seq < service.seq);
            prop_assert!(
                older.is_none(),
                "op {index}: session {} served before the older {:?}",
                service.session,
                older
            );
        }
        Ok(())
    })
}

/// R24: the same route with an explanation, on the state before the step, decides
/// the same and leaves the same shop; the candidates are every account once, the
/// chosen one is the session's account, and each reason holds of its account.
pub(crate) fn check_r24_explain_never_changes_a_decision(
    scenario: &crate::strategies::Scenario,
    extras: &Extras,
) -> Result<(), TestCaseError> {
    run_with_extras(scenario, extras, |step| {
        let Call::Route {
            request,
            result: Ok(outcome),
            ..
        } = step.call
        else {
            return Ok(());
        };
        let mut explained = step.before.clone();
        let options = RouteOptions {
            priority: outcome.session.priority,
            explain: true,
        };
        let answer = explained
            .route_with(request, options, step.before.clock())
            .map_err(|e| TestCaseError::fail(format!("step {}: {e}", step.index)))?;
        prop_assert_eq!(&answer.session, &outcome.session, "step {}", step.index);
        prop_assert_eq!(answer.reason, outcome.reason);
        prop_assert_eq!(&answer.explanation, &outcome.explanation);
        prop_assert_eq!(
            explained.snapshot(),
            step.after.snapshot(),
            "step {}",
            step.index
        );
        if answer.replayed {
            prop_assert!(answer.candidates.is_empty());
            return Ok(());
        }
        let listed: Vec<&AccountId> = answer.candidates.iter().map(|c| &c.account).collect();
        let accounts: Vec<&AccountId> = step.before.accounts().map(|a| &a.id).collect();
        prop_assert_eq!(listed, accounts, "step {}: every account once", step.index);
        let chosen: Vec<&AccountId> = answer
            .candidates
            .iter()
            .filter(|c| c.chosen())
            .map(|c| &c.account)
            .collect();
        prop_assert_eq!(chosen, outcome.session.account.iter().collect::<Vec<_>>());
        check_reasons_hold(step, &answer.candidates, outcome.session.account.as_ref())
    })
}

/// Each reason given for an account not chosen is true of it before the step.
fn check_reasons_hold(
    step: &Step<'_>,
    candidates: &[fenliu_worker::engine::Candidate],
    chosen: Option<&AccountId>,
) -> Result<(), TestCaseError> {
    let state = step.before;
    let chosen_load = chosen
        .and_then(|id| state.account(id))
        .map(|a| a.occupancy());
    for candidate in candidates {
        let account = state
            .account(&candidate.account)
            .expect("listed accounts exist");
        let holds = match candidate.why {
            Why::Offline => account.status == AccountStatus::Offline,
            Why::Suspended => account.status == AccountStatus::Suspended,
            Why::NonRouting => account.config.non_routing,
            Why::NotParticipating => !account.config.participates(),
            Why::Full => !state.has_free_slot(account),
            Why::MoreLoaded => chosen_load.is_some_and(|load| account.occupancy() > load),
            Why::Chosen => Some(&account.id) == chosen,
            _ => true,
        };
        prop_assert!(
            holds,
            "step {}: {} given as {:?}: {:?}",
            step.index,
            account.id,
            candidate.why,
            account
        );
    }
    Ok(())
}

/// The rule of R25 an assignment beyond capacity is counted under, restated from
/// the rules page.
fn overflow_rule(cause: &AssignCause) -> Option<OverflowRule> {
    Some(match cause {
        AssignCause::Rule(RouteReason::Addressed) => OverflowRule::R2,
        AssignCause::Rule(RouteReason::AddressedOffline) => OverflowRule::R3,
        AssignCause::Rule(RouteReason::NoParticipants) => OverflowRule::R4,
        AssignCause::Rule(RouteReason::Affinity) => OverflowRule::R5,
        AssignCause::Rule(RouteReason::OfflineList) => OverflowRule::R13b,
        AssignCause::Rule(RouteReason::Proxy) => OverflowRule::R13d,
        AssignCause::Rule(RouteReason::MainAccount) => OverflowRule::R13e,
        AssignCause::Manual { .. } | AssignCause::Transfer { .. } => OverflowRule::R16,
        AssignCause::Pull { .. } => OverflowRule::R17,
        AssignCause::QueueTimeout { .. } => OverflowRule::R21,
        _ => return None,
    })
}

/// R25: per step, each account's overflow counts grow by exactly the assignments
/// that found it at or past capacity, each under its rule (one the capacity
/// property allows), and its counts by cause by exactly its assignments.
pub(crate) fn check_r25_overflow_is_counted_by_the_rule_that_allowed_it(
    scenario: &crate::strategies::Scenario,
    extras: &Extras,
) -> Result<(), TestCaseError> {
    run_with_extras(scenario, extras, |step| {
        let mut overflow: BTreeMap<(AccountId, OverflowRule), u32> = BTreeMap::new();
        let mut taken: BTreeMap<(AccountId, CauseKind), u32> = BTreeMap::new();
        for a in step.assignments {
            *taken
                .entry((a.account.clone(), a.cause.kind()))
                .or_default() += 1;
            let occupancy = a.occupancy.get(&a.account).copied().unwrap_or(0);
            if occupancy < capacity_of(step.after, &a.account) {
                continue;
            }
            prop_assert!(
                may_exceed_capacity(&a.cause),
                "step {}: {:?} put {} past capacity",
                step.index,
                a.cause,
                a.account
            );
            let rule = overflow_rule(&a.cause).expect("an exception has its rule");
            *overflow.entry((a.account.clone(), rule)).or_default() += 1;
        }
        for account in step.after.accounts() {
            let before = step
                .before
                .account(&account.id)
                .map(|a| a.tally)
                .unwrap_or_default();
            for rule in OverflowRule::ALL {
                let counted = account.tally.overflow(rule) - before.overflow(rule);
                let expected = overflow
                    .get(&(account.id.clone(), rule))
                    .copied()
                    .unwrap_or(0);
                prop_assert_eq!(
                    counted,
                    expected,
                    "step {}: {} {:?}",
                    step.index,
                    account.id,
                    rule
                );
            }
            for kind in CauseKind::ALL {
                let counted = account.tally.taken(kind) - before.taken(kind);
                let expected = taken.get(&(account.id.clone(), kind)).copied().unwrap_or(0);
                prop_assert_eq!(
                    counted,
                    expected,
                    "step {}: {} {:?}",
                    step.index,
                    account.id,
                    kind
                );
            }
        }
        Ok(())
    })
}

/// R21, R22: restored from its snapshot at any step, the shop's next deadline is
/// the running one's, and the next 15 seconds bring the same events and shop.
pub(crate) fn check_r21_r22_deadlines_survive_a_restore(
    scenario: &crate::strategies::Scenario,
    extras: &Extras,
) -> Result<(), TestCaseError> {
    run_with_extras(scenario, extras, |step| {
        let now = step.after.clock();
        let mut running: ShopState = step.after.clone();
        let mut restored = ShopState::restore(running.snapshot(), now);
        prop_assert_eq!(
            restored.next_deadline(),
            running.next_deadline(),
            "step {}",
            step.index
        );
        let later = now.plus(Duration::from_secs(15));
        running.advance_to(later);
        restored.advance_to(later);
        prop_assert_eq!(
            restored.take_events(),
            running.take_events(),
            "step {}",
            step.index
        );
        prop_assert_eq!(
            restored.snapshot(),
            running.snapshot(),
            "step {}",
            step.index
        );
        Ok(())
    })
}
