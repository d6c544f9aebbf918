//! The `fenliu.v1.Routing` service of a worker: each call checks its request at the
//! edge ([`super::checks`], [`super::enum_codes`]), runs the engine on its shop through the [`Router`], and
//! converts the answer back.

use std::pin::Pin;
use std::sync::Arc;

use fenliu_node::ShutdownSignal;
use fenliu_node::link::EVENT_SEQUENCE_METADATA;
use fenliu_node::metrics::meters::watch_stream_open;
use fenliu_node::shutdown::until_shutdown;
use fenliu_node::tracing_context;
use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_server::Routing;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::access::{Access, Caller, ShopScoped};
use super::status::{self, to_status};
use super::{checks, enum_codes, wire};
use crate::engine::{EngineError, GroupName, SessionId, ShopId, ShopState, Timestamp};
use crate::recording::{RecordedCall, RecordedDecision};
use crate::router::{Router, RouterError, WatchedEvent};
use crate::store::StoreError;
use crate::store::redis_store::StoredEvent;

/// Serves the routing API from this node's shops.
#[derive(Debug, Clone)]
pub struct RoutingService {
    /// The shops of this node.
    router: Arc<Router>,
    /// Ends WatchShop streams when the node stops.
    stopping: ShutdownSignal,
    /// Who may call, when authentication is on.
    access: Access,
}

impl RoutingService {
    pub fn new(router: Arc<Router>, stopping: ShutdownSignal, access: Access) -> Self {
        RoutingService {
            router,
            stopping,
            access,
        }
    }

    /// Admits the call before anything of it is read further.
    /// R26: records a call that succeeded on `shop_id` at `now`, when the
    /// shop's calls are recorded (inside the call, so in the order decided).
    fn record(
        &self,
        shop_id: &ShopId,
        now: Timestamp,
        method: &str,
        request: &impl prost::Message,
        decision: Option<RecordedDecision>,
    ) {
        if let Some(recorder) = self.router.recorder_for(shop_id) {
            recorder.write(&RecordedCall::new(shop_id, method, now, request, decision));
        }
    }

    fn admit<T: ShopScoped>(
        &self,
        request: &Request<T>,
        method: &'static str,
    ) -> Result<Caller, Status> {
        tracing_context::record_shop(request.get_ref().shop_id());
        self.access
            .admit(request.metadata(), method, request.get_ref().shop_id())
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ShopEvent, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Routing for RoutingService {
    async fn upsert_shop(
        &self,
        request: Request<pb::UpsertShopRequest>,
    ) -> Result<Response<pb::Shop>, Status> {
        let caller = self.admit(&request, "UpsertShop")?;
        let request = request.into_inner();
        if request.route_rate_limit_per_second.is_some() {
            // A shop's own admin must not lift the quota that keeps it from
            // starving the other tenants.
            caller.serves_every_shop("route_rate_limit_per_second")?;
        }
        let shop_id = checks::shop_id(&request.shop_id)?;
        let profile = enum_codes::profile(request.profile)?;
        let patch = checks::settings_patch(&request)?;
        let main_account =
            checks::optional_account_id("main_account_id", &request.main_account_id)?;

        if !self.router.shop_exists(&shop_id).await.map_err(to_status)? {
            let Some(main_account) = main_account.clone() else {
                return Err(Status::invalid_argument(
                    "main_account_id: required when the shop is created",
                ));
            };
            // Configure the new shop completely before anyone can see it, so a
            // refused setting leaves no half-made shop behind.
            let created_at = self.router.now();
            let mut state = ShopState::new(shop_id.clone(), profile, main_account, created_at);
            state
                .update_settings(&patch, created_at)
                .map_err(|e| status::engine_status(&e))?;
            state.take_events();
            if self.router.create_shop(state).await.map_err(to_status)? {
                self.record(&shop_id, created_at, "UpsertShop", &request, None);
                tracing::info!(shop = %shop_id, ?profile, "shop created");
                return self
                    .router
                    .read_shop(&shop_id, wire::wire_shop)
                    .await
                    .map(Response::new)
                    .map_err(to_status);
            }
            // Created meanwhile by a concurrent call: apply as an update.
        }
        let explicit_profile = request.profile != pb::Profile::Unspecified as i32;
        self.router
            .with_shop(&shop_id, |state, now| {
                if explicit_profile && state.profile() != profile {
                    return Err(EngineError::failed_precondition(
                        "profile",
                        "a profile is chosen when the shop is created; change settings one by one instead",
                    ));
                }
                if let Some(main) = &main_account
                    && main != state.main_account()
                {
                    return Err(EngineError::failed_precondition(
                        "main_account_id",
                        format!("the shop's main account is {}", state.main_account()),
                    ));
                }
                state.update_settings(&patch, now)?;
                self.record(&shop_id, now, "UpsertShop", &request, None);
                Ok(wire::wire_shop(state))
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn get_shop(
        &self,
        request: Request<pb::GetShopRequest>,
    ) -> Result<Response<pb::Shop>, Status> {
        let _caller = self.admit(&request, "GetShop")?;
        let shop_id = checks::shop_id(&request.get_ref().shop_id)?;
        self.router
            .read_shop(&shop_id, wire::wire_shop)
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn upsert_account(
        &self,
        request: Request<pb::UpsertAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let _caller = self.admit(&request, "UpsertAccount")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        let upsert = checks::account_upsert(&request)?;
        self.router
            .with_shop(&shop_id, |state, now| {
                let account = state.upsert_account(upsert.clone(), now)?.clone();
                self.record(&shop_id, now, "UpsertAccount", &request, None);
                Ok(wire::wire_account(state, &account))
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn remove_account(
        &self,
        request: Request<pb::RemoveAccountRequest>,
    ) -> Result<Response<pb::RemoveAccountResponse>, Status> {
        let _caller = self.admit(&request, "RemoveAccount")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        let account = checks::account_id("account_id", &request.account_id)?;
        self.router
            .with_shop(&shop_id, |state, now| {
                state.remove_account(&account, now)?;
                self.record(&shop_id, now, "RemoveAccount", &request, None);
                Ok(())
            })
            .await
            .map(|()| Response::new(pb::RemoveAccountResponse {}))
            .map_err(to_status)
    }

    async fn upsert_group(
        &self,
        request: Request<pb::UpsertGroupRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        let _caller = self.admit(&request, "UpsertGroup")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        let upsert = checks::group_upsert(&request)?;
        self.router
            .with_shop(&shop_id, |state, now| {
                let group = wire::wire_group(state.upsert_group(upsert.clone(), now)?);
                self.record(&shop_id, now, "UpsertGroup", &request, None);
                Ok(group)
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn remove_group(
        &self,
        request: Request<pb::RemoveGroupRequest>,
    ) -> Result<Response<pb::RemoveGroupResponse>, Status> {
        let _caller = self.admit(&request, "RemoveGroup")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        let name = GroupName(checks::id_field("name", &request.name)?);
        self.router
            .with_shop(&shop_id, |state, now| {
                state.remove_group(&name, now)?;
                self.record(&shop_id, now, "RemoveGroup", &request, None);
                Ok(())
            })
            .await
            .map(|()| Response::new(pb::RemoveGroupResponse {}))
            .map_err(to_status)
    }

    async fn set_account_status(
        &self,
        request: Request<pb::SetAccountStatusRequest>,
    ) -> Result<Response<pb::AccountState>, Status> {
        let caller = self.admit(&request, "SetAccountStatus")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        caller.acts_for("account_id", &request.account_id)?;
        let account_id = checks::account_id("account_id", &request.account_id)?;
        let status = enum_codes::account_status(request.status)?;
        self.router
            .with_shop(&shop_id, |state, now| {
                let account = state.set_account_status(&account_id, status, now)?.clone();
                self.record(&shop_id, now, "SetAccountStatus", &request, None);
                let held = state.sessions_by_holder();
                let ids = held.get(&account.id).map(Vec::as_slice).unwrap_or_default();
                Ok(wire::wire_account_state(state, &account, ids))
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let caller = self.admit(&request, "Heartbeat")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        for account in &request.account_ids {
            caller.acts_for("account_ids", account)?;
        }
        let accounts = request
            .account_ids
            .iter()
            .map(|id| checks::account_id("account_ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        self.router
            .with_shop(&shop_id, |state, now| {
                let beaten = state.heartbeat(&accounts, now)?;
                self.record(&shop_id, now, "Heartbeat", &request, None);
                let presences = beaten.into_iter().map(wire::wire_presence).collect();
                Ok(pb::HeartbeatResponse {
                    accounts: presences,
                })
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn route(
        &self,
        request: Request<pb::RouteRequest>,
    ) -> Result<Response<pb::RouteResponse>, Status> {
        let _caller = self.admit(&request, "Route")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        let (route, options) = checks::route_call(&request)?;
        self.router
            .route_with(&shop_id, &route, options, |state, outcome| {
                tracing::debug!(
                    shop = %shop_id,
                    buyer = %route.buyer,
                    session = %outcome.session.id,
                    reason = ?outcome.reason,
                    replayed = outcome.replayed,
                    explanation = %outcome.explanation,
                    "routed"
                );
                let reason = enum_codes::wire_reason(outcome.reason);
                tracing_context::record_reason(reason.as_str_name());
                if !outcome.replayed {
                    let decision = RecordedDecision::of(outcome, reason);
                    self.record(&shop_id, state.clock(), "Route", &request, Some(decision));
                }
                pb::RouteResponse {
                    session: Some(wire::wire_routed_session(state, &outcome.session)),
                    reason: reason as i32,
                    explanation: outcome.explanation.clone(),
                    replayed: outcome.replayed,
                    candidates: wire::wire_candidates(&outcome.candidates),
                }
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn end_session(
        &self,
        request: Request<pb::EndSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let caller = self.admit(&request, "EndSession")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        let actor = caller.actor("actor_account_id", &request.actor_account_id)?;
        let actor = checks::optional_account_id("actor_account_id", actor)?;
        let session_id = SessionId(request.session_id);
        self.router
            .with_shop(&shop_id, |state, now| {
                let session = state.end_session(session_id, actor.as_ref(), now)?.clone();
                let resolved = pb::EndSessionRequest {
                    actor_account_id: actor.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
                    ..request.clone()
                };
                self.record(&shop_id, now, "EndSession", &resolved, None);
                Ok(wire::wire_shop_session(state, &session))
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn transfer(
        &self,
        request: Request<pb::TransferRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let caller = self.admit(&request, "Transfer")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        let actor = caller.actor("actor_account_id", &request.actor_account_id)?;
        let actor = checks::account_id("actor_account_id", actor)?;
        let to = checks::account_id("to_account_id", &request.to_account_id)?;
        let session_id = SessionId(request.session_id);
        self.router
            .with_shop(&shop_id, |state, now| {
                let session = state.transfer(session_id, &actor, &to, now)?.clone();
                let resolved = pb::TransferRequest {
                    actor_account_id: actor.0.clone(),
                    ..request.clone()
                };
                self.record(&shop_id, now, "Transfer", &resolved, None);
                Ok(wire::wire_shop_session(state, &session))
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn pull_queued(
        &self,
        request: Request<pb::PullQueuedRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let caller = self.admit(&request, "PullQueued")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        caller.acts_for("account_id", &request.account_id)?;
        let account = checks::account_id("account_id", &request.account_id)?;
        let queue = checks::queue_name(&request.queue)?;
        self.router
            .with_shop(&shop_id, |state, now| {
                let session = state.pull_queued(&account, queue, now)?.clone();
                self.record(&shop_id, now, "PullQueued", &request, None);
                Ok(wire::wire_shop_session(state, &session))
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let _caller = self.admit(&request, "GetSession")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        let session_id = SessionId(request.session_id);
        self.router
            .with_shop(&shop_id, |state, now| {
                state.advance_to(now);
                let session = state.require_session(session_id)?;
                Ok(wire::wire_shop_session(state, session))
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn record_reply(
        &self,
        request: Request<pb::RecordReplyRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let caller = self.admit(&request, "RecordReply")?;
        let request = request.into_inner();
        let shop_id = checks::shop_id(&request.shop_id)?;
        // An agent's token records only its own replies (empty: its own).
        let account = caller.actor("account_id", &request.account_id)?;
        let account = checks::account_id("account_id", account)?;
        let session_id = SessionId(request.session_id);
        self.router
            .with_shop(&shop_id, |state, now| {
                let session = state.record_reply(session_id, &account, now)?.clone();
                let resolved = pb::RecordReplyRequest {
                    account_id: account.0.clone(),
                    ..request.clone()
                };
                self.record(&shop_id, now, "RecordReply", &resolved, None);
                Ok(wire::wire_shop_session(state, &session))
            })
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn get_shop_state(
        &self,
        request: Request<pb::GetShopStateRequest>,
    ) -> Result<Response<pb::ShopState>, Status> {
        let _caller = self.admit(&request, "GetShopState")?;
        let shop_id = checks::shop_id(&request.get_ref().shop_id)?;
        let (mut state, sequence) = self
            .router
            .read_shop_sequenced(&shop_id, wire::wire_shop_state)
            .await
            .map_err(to_status)?;
        state.event_sequence = sequence;
        Ok(Response::new(state))
    }

    type WatchShopStream = EventStream;

    async fn watch_shop(
        &self,
        request: Request<pb::WatchShopRequest>,
    ) -> Result<Response<Self::WatchShopStream>, Status> {
        let _caller = self.admit(&request, "WatchShop")?;
        let shop_id = checks::shop_id(&request.get_ref().shop_id)?;
        let after = request.get_ref().from_sequence;
        let watch = self
            .router
            .watch(&shop_id, after)
            .await
            .map_err(to_status)?;
        // Counted as open while the stream lives (the guard goes with it).
        let open = watch_stream_open();
        let events = ReceiverStream::new(watch.events).map(move |item| {
            let _open = &open;
            match item.map_err(to_status)? {
                WatchedEvent::Decided(event) => Ok(wire::wire_event(event.sequence, &event.event)),
                WatchedEvent::Stored(event) => stored_event(&event),
            }
        });
        let stream = until_shutdown(events, self.stopping.clone());
        let mut response = Response::new(Box::pin(stream) as EventStream);
        response
            .metadata_mut()
            .insert(EVENT_SEQUENCE_METADATA, watch.start.into());
        Ok(response)
    }
}

/// A stored event back in its wire form, which it was stored in.
fn stored_event(event: &StoredEvent) -> Result<pb::ShopEvent, Status> {
    prost::Message::decode(event.bytes.as_slice()).map_err(|error| {
        to_status(RouterError::Store(StoreError::Corrupt(format!(
            "stored event {}: {error}",
            event.sequence
        ))))
    })
}
