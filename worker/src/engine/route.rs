//! `Route`: rules R1 to R13, tried in order; the first that decides, decides. A
//! `Route` may carry a priority (R23, for the queue) and ask for an explanation
//! (R24, `explain`); neither changes the decision.
//!
//! Deciding is a read-only walk over the shop ([`ShopState::decide`]) that yields a
//! [`Placement`] and a sentence for the merchant; applying it is separate, so the
//! order of the rules can be read top to bottom without any mutation in between.
//! The call's own values (request, answer, remembered answer) are in
//! [`super::route_call`].

use super::distribution::pick_even;
use super::error::EngineError;
use super::model::{
    Account, AccountId, AccountStatus, AssignCause, MAX_PRIORITY, QueueName, RouteReason,
    SessionId, SessionState, Timestamp,
};
use super::route_call::{RouteOptions, RouteOutcome, RouteRecord, RouteRequest};
use super::settings::{OfflinePolicy, RoutingMode};
use super::state::ShopState;

/// Where a decision puts the buyer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// R1: the buyer's open session, unchanged.
    Existing(SessionId),
    Assign(AccountId),
    Queue(QueueName),
    Pool,
}

/// A decision before it is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub placement: Placement,
    pub reason: RouteReason,
    pub explanation: String,
}

impl Decision {
    fn new(placement: Placement, reason: RouteReason, explanation: String) -> Self {
        Decision {
            placement,
            reason,
            explanation,
        }
    }
}

impl ShopState {
    /// Routes a buyer's message at `now`.
    pub fn route(
        &mut self,
        request: &RouteRequest,
        now: Timestamp,
    ) -> Result<RouteOutcome, EngineError> {
        self.route_with(request, RouteOptions::default(), now)
    }

    /// Routes a buyer's message at `now` with a priority (R23) or an explanation
    /// (R24), neither of which changes who gets the buyer.
    pub fn route_with(
        &mut self,
        request: &RouteRequest,
        options: RouteOptions,
        now: Timestamp,
    ) -> Result<RouteOutcome, EngineError> {
        if options.priority > MAX_PRIORITY {
            return Err(EngineError::invalid(
                "priority",
                format!(
                    "must be between 0 and {MAX_PRIORITY}, got {}",
                    options.priority
                ),
            ));
        }
        self.advance_to(now);
        let now = self.clock;
        if let Some(record) = self.route_records.get(&request.request_id) {
            if record.buyer != request.buyer {
                return Err(EngineError::invalid(
                    "request_id",
                    format!(
                        "request id {} was already used for another buyer",
                        request.request_id
                    ),
                ));
            }
            let mut outcome = record.outcome.clone();
            outcome.replayed = true;
            return Ok(outcome);
        }
        if let Some(addressed) = &request.addressed
            && !self.accounts.contains_key(addressed)
        {
            return Err(EngineError::not_found(
                "addressed_account_id",
                format!("account {addressed} does not exist in this shop"),
            ));
        }

        let decision = self.decide(request, now);
        self.admit_placement(&decision.placement)?;
        let candidates = if options.explain {
            self.explain(request, &decision)
        } else {
            Vec::new()
        };
        let session_id = self.apply_decision(request, &decision, options.priority, now);
        let session = self.sessions[&session_id].clone();
        let outcome = RouteOutcome {
            session,
            reason: decision.reason,
            explanation: decision.explanation,
            replayed: false,
            candidates: Vec::new(),
        };
        self.remember_route(request, &outcome, now);
        Ok(RouteOutcome {
            candidates,
            ..outcome
        })
    }

    /// R1 to R13 as a pure function of the shop at `now`.
    pub fn decide(&self, request: &RouteRequest, now: Timestamp) -> Decision {
        // R1: the message joins the buyer's open session.
        if let Some(open) = self.open_session_of(&request.buyer) {
            let holder = match (&open.account, open.state) {
                (Some(account), _) => format!("held by {account}"),
                (None, SessionState::Pooled) => "in the message pool".to_owned(),
                (None, _) => format!("waiting in queue {}", open.queue.map_or("?", |q| q.name())),
            };
            return Decision::new(
                Placement::Existing(open.id),
                RouteReason::OpenSession,
                format!("the buyer's open session {} continues ({holder})", open.id),
            );
        }
        let Some(addressed_id) = &request.addressed else {
            return self.decide_unaddressed(request, None, now);
        };
        let addressed = &self.accounts[addressed_id];
        // R2: an addressed account that is logged in gets the buyer.
        if addressed.status.is_logged_in() {
            return Decision::new(
                Placement::Assign(addressed_id.clone()),
                RouteReason::Addressed,
                format!(
                    "the buyer addressed {addressed_id}, who is {}",
                    status_word(addressed.status)
                ),
            );
        }
        // R3: offline forwarding applies only to a participating addressed account.
        if self.settings.offline_forwarding && addressed.config.participates() {
            return self.decide_unaddressed(request, Some(addressed_id), now);
        }
        Decision::new(
            Placement::Assign(addressed_id.clone()),
            RouteReason::AddressedOffline,
            format!(
                "the buyer addressed {addressed_id}, who is offline: delivered as an offline message"
            ),
        )
    }

    /// R4 to R13. `excluded` is an offline addressed account being forwarded away
    /// from (R3), which must never get the buyer back.
    fn decide_unaddressed(
        &self,
        request: &RouteRequest,
        excluded: Option<&AccountId>,
        now: Timestamp,
    ) -> Decision {
        // R4: a shop without customer-service accounts is served by its main account.
        if !self.accounts.values().any(|a| a.config.participates()) {
            return Decision::new(
                Placement::Assign(self.main_account.clone()),
                RouteReason::NoParticipants,
                "no account of the shop takes part in routing: the main account serves".to_owned(),
            );
        }
        if let Some(decision) = self.decide_returning_buyer(request, excluded, now) {
            return decision;
        }
        // R10: exactly one of basic and group routing is in force.
        let group_routing =
            self.settings.routing_mode == RoutingMode::Group && !self.groups.is_empty();
        if group_routing {
            self.decide_group(request, excluded)
        } else {
            self.decide_basic(excluded)
        }
    }

    /// R5 and R6: a returning buyer goes back to the last account, if that account
    /// still participates and is logged in, even when it is full. Off while the bot
    /// is enabled or when the bot hands the buyer over (R12).
    fn decide_returning_buyer(
        &self,
        request: &RouteRequest,
        excluded: Option<&AccountId>,
        now: Timestamp,
    ) -> Option<Decision> {
        if self.settings.bot_enabled || request.from_bot {
            return None;
        }
        let affinity = self.affinity(&request.buyer, now)?;
        let account = self.accounts.get(&affinity.account)?;
        // R6 (and R11: a non-routing account's affinities stop counting).
        if !account.config.participates()
            || !account.status.is_logged_in()
            || Some(&account.id) == excluded
        {
            return None;
        }
        Some(Decision::new(
            Placement::Assign(account.id.clone()),
            RouteReason::Affinity,
            format!(
                "returning buyer: {} served them last and is {} ({} of {} slots taken)",
                account.id,
                status_word(account.status),
                account.occupancy(),
                self.capacity(account)
            ),
        ))
    }

    /// R7: group routing by the buyer's order status.
    fn decide_group(&self, request: &RouteRequest, excluded: Option<&AccountId>) -> Decision {
        let status = request.order_status;
        let queue = QueueName::Status(status);
        let group = self.group_of(status);
        if let Some(group) = group {
            let available = self.members_of(group).filter(|a| a.is_available());
            let (picked, members) = self.pick_with_free_slot(available);
            if members > 0 {
                // R7a.
                if let Some(picked) = picked {
                    return Decision::new(
                        Placement::Assign(picked.id.clone()),
                        RouteReason::Group,
                        format!(
                            "group {} serves {}: {} had the fewest occupied slots",
                            group.name,
                            status.name(),
                            picked.id
                        ),
                    );
                }
                // R7b.
                return Decision::new(
                    Placement::Queue(queue),
                    RouteReason::Queued,
                    format!(
                        "all {members} available accounts of group {} are full: waiting in queue {queue}",
                        group.name
                    ),
                );
            }
        }
        // R7c: no group for the status, or nobody of it available.
        let why = match group {
            Some(group) => format!("nobody of group {} is available", group.name),
            None => format!("no group serves {}", status.name()),
        };
        let (picked, available) = self.pick_with_free_slot(self.available_accounts(excluded));
        if let Some(picked) = picked {
            return Decision::new(
                Placement::Assign(picked.id.clone()),
                RouteReason::AnyOnline,
                format!("{why}: {} is online with a free slot", picked.id),
            );
        }
        if available > 0 {
            return Decision::new(
                Placement::Queue(queue),
                RouteReason::Queued,
                format!(
                    "{why}, and all {available} available accounts are full: waiting in queue {queue}"
                ),
            );
        }
        // R7d.
        self.decide_nobody_available(queue, excluded)
    }

    /// R8: basic routing, the most even pick among available accounts.
    fn decide_basic(&self, excluded: Option<&AccountId>) -> Decision {
        let (picked, available) = self.pick_with_free_slot(self.available_accounts(excluded));
        if let Some(picked) = picked {
            return Decision::new(
                Placement::Assign(picked.id.clone()),
                RouteReason::Even,
                format!(
                    "new buyer: {} had the fewest occupied slots ({} of {})",
                    picked.id,
                    picked.occupancy(),
                    self.capacity(picked)
                ),
            );
        }
        if available > 0 {
            return Decision::new(
                Placement::Queue(QueueName::Shop),
                RouteReason::Queued,
                format!("all {available} available accounts are full: waiting in the shop queue"),
            );
        }
        self.decide_nobody_available(QueueName::Shop, excluded)
    }

    /// R13: nobody available; the shop's offline policy decides (R12 forces the pool
    /// while the bot is enabled).
    fn decide_nobody_available(&self, queue: QueueName, excluded: Option<&AccountId>) -> Decision {
        let policy = self.settings.effective_offline_policy();
        let queued = |why: &str| {
            Decision::new(
                Placement::Queue(queue),
                RouteReason::Queued,
                format!("nobody is available{why}: waiting in queue {queue}"),
            )
        };
        match policy {
            OfflinePolicy::Queue => queued(""),
            OfflinePolicy::OfflineList => {
                let on_list = self
                    .settings
                    .offline_list
                    .iter()
                    .filter(|id| Some(*id) != excluded)
                    .filter_map(|id| self.accounts.get(id))
                    .filter(|a| a.config.participates());
                match pick_even(self.settings.distribution, on_list, self.seed()) {
                    Some(picked) => Decision::new(
                        Placement::Assign(picked.id.clone()),
                        RouteReason::OfflineList,
                        format!("nobody is available: offline list, {} is next", picked.id),
                    ),
                    None => queued(" and the offline list has no participating account"),
                }
            }
            OfflinePolicy::MessagePool => Decision::new(
                Placement::Pool,
                RouteReason::MessagePool,
                if self.settings.bot_enabled {
                    "nobody is available and the bot is on: held in the message pool".to_owned()
                } else {
                    "nobody is available: held in the message pool".to_owned()
                },
            ),
            OfflinePolicy::ProxyAccount => match &self.settings.proxy_account {
                Some(proxy) if Some(proxy) != excluded => Decision::new(
                    Placement::Assign(proxy.clone()),
                    RouteReason::Proxy,
                    format!("nobody is available: the proxy account {proxy} receives it"),
                ),
                _ => queued(" and the proxy account is the offline addressed account"),
            },
            OfflinePolicy::MainAccount => {
                if Some(&self.main_account) == excluded {
                    return queued(" and the main account is the offline addressed account");
                }
                Decision::new(
                    Placement::Assign(self.main_account.clone()),
                    RouteReason::MainAccount,
                    format!(
                        "nobody is available: the main account {} receives it",
                        self.main_account
                    ),
                )
            }
        }
    }

    /// The even pick (R9) among the `available` accounts that have a free slot, and
    /// how many `available` accounts there were (to tell "all full" from "nobody").
    /// One pass, without collecting the candidates: in a large shop, building that
    /// list cost more than the pick.
    fn pick_with_free_slot<'a>(
        &'a self,
        available: impl Iterator<Item = &'a Account>,
    ) -> (Option<&'a Account>, usize) {
        let mut count = 0;
        let mut free = available
            .inspect(|_| count += 1)
            .filter(|account| self.has_free_slot(account));
        let picked = pick_even(self.settings.distribution, free.by_ref(), self.seed());
        // Counts whatever the pick did not look at, should it ever stop early.
        free.for_each(drop);
        (picked, count)
    }

    /// Participating ONLINE accounts, less an excluded one.
    pub(crate) fn available_accounts<'a>(
        &'a self,
        excluded: Option<&'a AccountId>,
    ) -> impl Iterator<Item = &'a Account> + 'a {
        self.accounts
            .values()
            .filter(move |a| a.is_available() && Some(&a.id) != excluded)
    }

    /// The seed of a RANDOM pick: the next session id mixed with the clock, so a
    /// replay of the same history makes the same picks.
    pub(crate) fn seed(&self) -> u64 {
        self.next_session_id ^ self.clock.as_millis().rotate_left(17) ^ self.assignment_seq
    }

    /// Refuses a decision that would grow the shop past its caps: a new session
    /// past `max_open_sessions`, a queued one past `max_queued_sessions`. A
    /// message joining its open session (R1) is never refused.
    fn admit_placement(&self, placement: &Placement) -> Result<(), EngineError> {
        if let Placement::Existing(_) = placement {
            return Ok(());
        }
        self.limits.admit_open_session(self.open_session_count())?;
        if let Placement::Queue(_) = placement {
            self.limits
                .admit_queued_session(self.queued_session_count())?;
        }
        Ok(())
    }

    fn apply_decision(
        &mut self,
        request: &RouteRequest,
        decision: &Decision,
        priority: u8,
        now: Timestamp,
    ) -> SessionId {
        if let Placement::Existing(id) = decision.placement {
            // R22: the buyer wrote again and waits for a reply, if not already.
            self.buyer_wrote_again(id, now);
            return id;
        }
        let id = self.new_session(
            &request.buyer,
            request.order_status,
            decision.reason,
            priority,
            now,
        );
        match &decision.placement {
            Placement::Existing(_) => unreachable!("handled above"),
            Placement::Assign(account) => {
                self.assign(id, account, AssignCause::Rule(decision.reason), now)
            }
            Placement::Queue(queue) => self.enqueue(id, *queue, now),
            Placement::Pool => self.put_in_pool(id, decision.reason, now),
        }
        id
    }

    fn remember_route(&mut self, request: &RouteRequest, outcome: &RouteOutcome, now: Timestamp) {
        self.route_records.insert(
            request.request_id.clone(),
            RouteRecord {
                buyer: request.buyer.clone(),
                outcome: outcome.clone(),
            },
            now,
        );
        self.write_set
            .route_records
            .insert(request.request_id.clone());
    }
}

fn status_word(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Online => "online",
        AccountStatus::Suspended => "suspended",
        AccountStatus::Offline => "offline",
    }
}
