//! Runs a scenario step by step: makes each `Op` a call on the shop, records how it
//! went, and hands every property the state before and after each step.

use fenliu_worker::engine::{
    AccountConfig, AccountId, AccountUpsert, BuyerId, EngineError, OrderStatus, QueueName,
    RequestId, Role, RouteOptions, RouteOutcome, RouteRequest, SessionId, SettingsPatch,
    ShopLimits, ShopState, TimedEvent, Timestamp, WriteSet,
};
use proptest::test_runner::TestCaseError;

use crate::event_replay::{Assignment, replay};
use crate::oracle::capacity_of;
use crate::shop::{build_shop, group_upsert};
use crate::strategies::{ActorPick, Op, QueuePick, Scenario, T0};

/// A call as it was made, with concrete ids, and how it went.
#[derive(Debug)]
pub(crate) enum Call {
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

pub(crate) struct Step<'a> {
    pub(crate) index: usize,
    pub(crate) call: &'a Call,
    pub(crate) before: &'a ShopState,
    pub(crate) after: &'a ShopState,
    pub(crate) events: &'a [TimedEvent],
    pub(crate) assignments: &'a [Assignment],
    pub(crate) write_set: &'a WriteSet,
}

struct Harness {
    state: ShopState,
    ids: Vec<AccountId>,
    now: u64,
    used_requests: Vec<(RequestId, BuyerId)>,
    next_request: u64,
    /// R23: the priority of each route in turn (none: every route normal).
    priorities: Vec<u8>,
    /// Routes made so far, to give each its priority.
    routes: usize,
}

/// What the properties of R20–R25 add to a scenario: settings turned on after the
/// shop is built, and the priority each route gives in turn.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extras {
    pub(crate) settings: SettingsPatch,
    pub(crate) priorities: Vec<u8>,
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
                let priority = match self.priorities.as_slice() {
                    [] => 0,
                    levels => levels[self.routes % levels.len()],
                };
                self.routes += 1;
                let options = RouteOptions {
                    priority,
                    explain: false,
                };
                let result = self.state.route_with(&request, options, now);
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

/// Builds the scenario's shop and runs its steps, calling `check` after each.
pub(crate) fn run(
    scenario: &Scenario,
    check: impl FnMut(&Step<'_>) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    run_with_limits(scenario, ShopLimits::default(), check)
}

/// [`run`] with the shop under `limits` from its first step (its setup is
/// made without them, as a shop made before a deployment lowered its caps).
pub(crate) fn run_with_limits(
    scenario: &Scenario,
    limits: ShopLimits,
    check: impl FnMut(&Step<'_>) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    run_with(scenario, limits, &Extras::default(), check)
}

/// [`run`] with R20–R25's extras: their settings on from the first step (a
/// queue-timeout action whose target this shop lacks is left at its default),
/// and priorities on the routes.
pub(crate) fn run_with_extras(
    scenario: &Scenario,
    extras: &Extras,
    check: impl FnMut(&Step<'_>) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    run_with(scenario, ShopLimits::default(), extras, check)
}

fn run_with(
    scenario: &Scenario,
    limits: ShopLimits,
    extras: &Extras,
    mut check: impl FnMut(&Step<'_>) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let (mut state, ids) = build_shop(&scenario.setup);
    state.set_limits(limits);
    if extras.settings != SettingsPatch::default() {
        let refused = state.update_settings(&extras.settings, Timestamp(T0));
        if refused.is_err() {
            // The queue-timeout action's target is missing here: the rest stays.
            let without_action = SettingsPatch {
                queue_timeout_action: None,
                ..extras.settings.clone()
            };
            state
                .update_settings(&without_action, Timestamp(T0))
                .expect("the extras' other settings are valid");
        }
        state.take_events();
        state.take_write_set();
    }
    let mut harness = Harness {
        state,
        ids,
        now: T0,
        used_requests: Vec::new(),
        next_request: 0,
        priorities: extras.priorities.clone(),
        routes: 0,
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
    pub(crate) fn refused(&self) -> bool {
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

/// The outcome of a route the property needs accepted; a refusal fails the case.
pub(crate) fn route_outcome<'a>(
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
