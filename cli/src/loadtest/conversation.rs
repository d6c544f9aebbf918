//! A buyer's conversation as `fenliu loadtest` sends it: each message's Route,
//! then what the workload says follows from the answer — a transfer at once,
//! the session's end after the think time — each call recorded in the stats.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use fenliu_proto::v1 as pb;

use super::measures::Call;
use super::shared::Shared;
use super::shared::lock;
use super::stats::Failure;
use super::workload::{self, Answer, EndPlan, TransferPlan};

impl Shared {
    /// One buyer's message: Route, then what follows from the answer (a
    /// transfer at once, the session's end after the think time). `intended` is
    /// the scheduled time in open loop, the send time in closed loop.
    pub async fn route(self: &Arc<Self>, intended: Instant) {
        let message = lock(&self.workload).next_message();
        let conversation = &message.conversation;
        let request = pb::RouteRequest {
            shop_id: self.shop_ids[conversation.shop].clone(),
            buyer_id: workload::buyer_id(conversation.buyer),
            request_id: message.request_id.clone(),
            order_status: message.order_status,
            addressed_account_id: message
                .addressed_account()
                .map(|account| self.account_ids[account].clone())
                .unwrap_or_default(),
            from_bot: false,
            priority: 0,
            explain: false,
        };
        let sent = Instant::now();
        let api = &self.api;
        let result = api.bounded(api.client().route(api.request(request))).await;
        let done = Instant::now();
        let (outcome, answer) = match &result {
            Ok(response) => {
                let session = response.session.clone().unwrap_or_default();
                let assigned = session.state == pb::SessionState::Assigned as i32;
                (
                    Ok(response.reason),
                    Some(Answer {
                        session_id: session.session_id,
                        assigned_to: assigned.then_some(session.account_id),
                    }),
                )
            }
            Err(status) => (Err(Failure::from(status)), None),
        };
        lock(&self.stats).record_route(self.at(intended), self.at(sent), self.at(done), outcome);
        let next = lock(&self.workload).answered(message, answer.as_ref());
        if let Some(transfer) = next.transfer {
            self.transfer(transfer).await;
        }
        if let Some(end) = next.end {
            self.end_later(end);
        }
    }

    /// The main account moves the session to another account: one Transfer,
    /// recorded.
    async fn transfer(&self, plan: TransferPlan) {
        let sent = Instant::now();
        let api = &self.api;
        let result = api
            .bounded(api.client().transfer(api.request(pb::TransferRequest {
                shop_id: self.shop_ids[plan.shop].clone(),
                session_id: plan.session_id,
                actor_account_id: workload::MAIN_ACCOUNT.to_owned(),
                to_account_id: self.account_ids[plan.to_account].clone(),
            })))
            .await;
        self.record_call(Call::Transfer, sent, result);
    }

    /// Ends the session after the think time (unless the run is over by
    /// then: the session is left open), then lets its buyer come back.
    fn end_later(self: &Arc<Self>, plan: EndPlan) {
        let guard = self.begin();
        let shared = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            if plan.session_id != 0 {
                let at = Instant::now() + shared.think;
                if at >= shared.end || shared.stopped.load(Ordering::Acquire) {
                    return;
                }
                tokio::time::sleep_until(at.into()).await;
                let sent = Instant::now();
                let api = &shared.api;
                let result = api
                    .bounded(api.client().end_session(api.request(pb::EndSessionRequest {
                        shop_id: shared.shop_ids[plan.shop].clone(),
                        session_id: plan.session_id,
                        actor_account_id: String::new(),
                    })))
                    .await;
                shared.record_call(Call::EndSession, sent, result);
            }
            lock(&shared.workload).ended(&plan);
        });
    }
}
