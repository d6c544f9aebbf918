//! Tests of each rule, named after its id: each builds the situation, routes, and
//! asserts the exact decision and reason. Time is virtual.

mod limits;
mod profiles;
mod r01_r04;
mod r05_r09;
mod r10_r13;
mod r14_r15;
mod r16_r19;
mod r20_r21;
mod r22;
mod r23_r25;
mod snapshot;

use std::time::Duration;

use super::*;

/// A shop under test with a virtual clock.
pub(super) struct Fixture {
    pub state: ShopState,
    pub now: Timestamp,
    next_request: u64,
}

pub(super) const MAIN: &str = "main";
/// 2026-11-22T00:00:00Z, so timestamps read like real ones.
const START: Timestamp = Timestamp(1_795_305_600_000);

pub(super) fn id(value: &str) -> AccountId {
    AccountId::from(value)
}

impl Fixture {
    pub fn new(profile: Profile) -> Self {
        let state = ShopState::new(ShopId::from("shop-1"), profile, id(MAIN), START);
        Fixture {
            state,
            now: START,
            next_request: 0,
        }
    }

    pub fn taobao() -> Self {
        Self::new(Profile::Taobao)
    }

    pub fn kuaishou() -> Self {
        Self::new(Profile::Kuaishou)
    }

    pub fn config(roles: &[Role], max_concurrent: Option<u32>) -> AccountConfig {
        AccountConfig {
            display_name: String::new(),
            roles: roles.iter().copied().collect(),
            non_routing: false,
            max_concurrent,
            pool_permission: false,
            main_account_participates: false,
        }
    }

    /// Adds a customer-service account with this capacity.
    pub fn cs(&mut self, account: &str, max_concurrent: u32) -> &mut Self {
        self.account(
            account,
            Self::config(&[Role::CustomerService], Some(max_concurrent)),
        )
    }

    pub fn account(&mut self, account: &str, config: AccountConfig) -> &mut Self {
        let upsert = AccountUpsert {
            id: id(account),
            config,
        };
        self.state.upsert_account(upsert, self.now).unwrap();
        self
    }

    pub fn status(&mut self, account: &str, status: AccountStatus) -> &mut Self {
        self.state
            .set_account_status(&id(account), status, self.now)
            .unwrap();
        self
    }

    pub fn online(&mut self, accounts: &[&str]) -> &mut Self {
        for account in accounts {
            self.status(account, AccountStatus::Online);
        }
        self
    }

    pub fn settings(&mut self, patch: SettingsPatch) -> &mut Self {
        self.state.update_settings(&patch, self.now).unwrap();
        self
    }

    pub fn group(&mut self, name: &str, members: &[&str], statuses: &[OrderStatus]) -> &mut Self {
        let upsert = GroupUpsert {
            name: GroupName::from(name),
            members: members.iter().map(|m| id(m)).collect(),
            order_statuses: statuses.iter().copied().collect(),
        };
        self.state.upsert_group(upsert, self.now).unwrap();
        self
    }

    pub fn advance(&mut self, duration: Duration) -> &mut Self {
        self.now = self.now.plus(duration);
        self.state.advance_to(self.now);
        self
    }

    /// Lets time pass while every logged-in account keeps sending heartbeats, as a
    /// working day would.
    pub fn pass_time_online(&mut self, duration: Duration) -> &mut Self {
        let step = self.state.settings().presence_ttl / 2;
        let until = self.now.plus(duration);
        while self.now < until {
            let next = self.now.plus(step).min(until);
            let logged_in: Vec<AccountId> = self
                .state
                .accounts()
                .filter(|a| a.status.is_logged_in())
                .map(|a| a.id.clone())
                .collect();
            self.state.heartbeat(&logged_in, self.now).unwrap();
            self.now = next;
            self.state.advance_to(self.now);
        }
        self
    }

    pub fn request(&mut self, buyer: &str) -> RouteRequest {
        self.next_request += 1;
        RouteRequest {
            buyer: BuyerId::from(buyer),
            request_id: RequestId(format!("req-{}", self.next_request)),
            order_status: OrderStatus::NoActiveOrder,
            addressed: None,
            from_bot: false,
        }
    }

    pub fn route(&mut self, buyer: &str) -> RouteOutcome {
        let request = self.request(buyer);
        self.route_request(&request)
    }

    pub fn route_status(&mut self, buyer: &str, status: OrderStatus) -> RouteOutcome {
        let mut request = self.request(buyer);
        request.order_status = status;
        self.route_request(&request)
    }

    pub fn route_addressed(&mut self, buyer: &str, addressed: &str) -> RouteOutcome {
        let mut request = self.request(buyer);
        request.addressed = Some(id(addressed));
        self.route_request(&request)
    }

    pub fn route_request(&mut self, request: &RouteRequest) -> RouteOutcome {
        let outcome = self.state.route(request, self.now).unwrap();
        self.state.check_invariants().unwrap();
        outcome
    }

    /// Routes and ends a session at once, leaving an affinity behind.
    pub fn serve_and_end(&mut self, buyer: &str) -> RouteOutcome {
        let outcome = self.route(buyer);
        self.end(outcome.session.id);
        outcome
    }

    pub fn end(&mut self, session: SessionId) {
        self.state.end_session(session, None, self.now).unwrap();
        self.state.check_invariants().unwrap();
    }

    pub fn occupancy(&self, account: &str) -> u32 {
        self.state.account(&id(account)).unwrap().occupancy()
    }

    pub fn session(&self, session: SessionId) -> &Session {
        self.state.session(session).unwrap()
    }

    pub fn queue(&self, queue: QueueName) -> Vec<SessionId> {
        self.state
            .queues()
            .find(|(name, _)| *name == queue)
            .map(|(_, ids)| ids.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Asserts a session went to `account` for `reason`.
pub(super) fn assert_assigned(outcome: &RouteOutcome, account: &str, reason: RouteReason) {
    assert_eq!(outcome.reason, reason, "{}", outcome.explanation);
    assert_eq!(outcome.session.state, SessionState::Assigned);
    assert_eq!(
        outcome.session.account.as_ref().map(AccountId::as_str),
        Some(account),
        "{}",
        outcome.explanation
    );
}

/// Asserts a session waits in `queue`.
pub(super) fn assert_queued(outcome: &RouteOutcome, queue: QueueName) {
    assert_eq!(
        outcome.reason,
        RouteReason::Queued,
        "{}",
        outcome.explanation
    );
    assert_eq!(outcome.session.state, SessionState::Queued);
    assert_eq!(outcome.session.queue, Some(queue));
    assert_eq!(outcome.session.account, None);
}

pub(super) fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

pub(super) fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}
