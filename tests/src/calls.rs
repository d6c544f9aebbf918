//! Calls: one API call each, with unique request ids; `try_*` return the
//! refusal, the others panic with context.

use std::sync::atomic::{AtomicU64, Ordering};

use fenliu_proto::v1 as pb;
use pb::routing_client::RoutingClient;
use tonic::Status;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::auth::BearerToken;

/// A connected client of the `fenliu.v1.Routing` API, with the bearer token (if
/// any) it sends with every call.
pub type Client = RoutingClient<InterceptedService<Channel, BearerToken>>;

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// A request id no other call of this test process uses.
pub fn next_request_id() -> String {
    format!("req-{}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed))
}

/// A `Route` answer, with the session unwrapped and the enums read.
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    pub session: pb::Session,
    pub reason: pb::RouteReason,
    pub explanation: String,
    pub replayed: bool,
    /// R24: every account and why, when the route asked for it.
    pub candidates: Vec<pb::Candidate>,
}

impl Routed {
    pub fn from_response(response: pb::RouteResponse) -> Routed {
        let reason = response.reason();
        Routed {
            session: response
                .session
                .expect("a RouteResponse always carries the session"),
            reason,
            explanation: response.explanation,
            replayed: response.replayed,
            candidates: response.candidates,
        }
    }

    pub fn id(&self) -> u64 {
        self.session.session_id
    }

    pub fn state(&self) -> pb::SessionState {
        self.session.state()
    }

    pub fn account(&self) -> &str {
        &self.session.account_id
    }
}

/// A route request for a buyer with a fresh request id.
pub fn route_request(shop_id: &str, buyer_id: &str, status: pb::OrderStatus) -> pb::RouteRequest {
    route_request_with_id(shop_id, buyer_id, &next_request_id(), status)
}

/// A route request for a buyer with the request id given: to send the same
/// route again and see it replayed.
pub fn route_request_with_id(
    shop_id: &str,
    buyer_id: &str,
    request_id: &str,
    status: pb::OrderStatus,
) -> pb::RouteRequest {
    pb::RouteRequest {
        shop_id: shop_id.to_owned(),
        buyer_id: buyer_id.to_owned(),
        request_id: request_id.to_owned(),
        order_status: status as i32,
        addressed_account_id: String::new(),
        from_bot: false,
        priority: 0,
        explain: false,
    }
}

/// Sends a route request as given.
pub async fn try_route(client: &mut Client, request: pb::RouteRequest) -> Result<Routed, Status> {
    client
        .route(request)
        .await
        .map(|response| Routed::from_response(response.into_inner()))
}

/// Routes a buyer's message with a fresh request id; panics if refused.
pub async fn route(
    client: &mut Client,
    shop_id: &str,
    buyer_id: &str,
    status: pb::OrderStatus,
) -> Routed {
    let request = route_request(shop_id, buyer_id, status);
    try_route(client, request)
        .await
        .unwrap_or_else(|status| panic!("route {buyer_id} in {shop_id}: {status:?}"))
}

/// Routes a buyer with no active order.
pub async fn route_new(client: &mut Client, shop_id: &str, buyer_id: &str) -> Routed {
    route(client, shop_id, buyer_id, pb::OrderStatus::NoActiveOrder).await
}

/// Routes a buyer's message addressed to an account (R2, R3).
pub async fn route_addressed(
    client: &mut Client,
    shop_id: &str,
    buyer_id: &str,
    account_id: &str,
) -> Routed {
    let mut request = route_request(shop_id, buyer_id, pb::OrderStatus::NoActiveOrder);
    request.addressed_account_id = account_id.to_owned();
    try_route(client, request).await.unwrap_or_else(|status| {
        panic!("route {buyer_id} to {account_id} in {shop_id}: {status:?}")
    })
}

pub async fn set_status(
    client: &mut Client,
    shop_id: &str,
    account_id: &str,
    status: pb::AccountStatus,
) -> pb::AccountState {
    client
        .set_account_status(pb::SetAccountStatusRequest {
            shop_id: shop_id.to_owned(),
            account_id: account_id.to_owned(),
            status: status as i32,
        })
        .await
        .unwrap_or_else(|error| panic!("set {account_id} {status:?} in {shop_id}: {error:?}"))
        .into_inner()
}

pub async fn try_end_session(
    client: &mut Client,
    shop_id: &str,
    session_id: u64,
    actor: &str,
) -> Result<pb::Session, Status> {
    client
        .end_session(pb::EndSessionRequest {
            shop_id: shop_id.to_owned(),
            session_id,
            actor_account_id: actor.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Ends a session as the platform (no actor); panics if refused.
pub async fn end_session(client: &mut Client, shop_id: &str, session_id: u64) -> pb::Session {
    try_end_session(client, shop_id, session_id, "")
        .await
        .unwrap_or_else(|status| panic!("end session {session_id} in {shop_id}: {status:?}"))
}

pub async fn try_transfer(
    client: &mut Client,
    shop_id: &str,
    session_id: u64,
    actor: &str,
    to: &str,
) -> Result<pb::Session, Status> {
    client
        .transfer(pb::TransferRequest {
            shop_id: shop_id.to_owned(),
            session_id,
            actor_account_id: actor.to_owned(),
            to_account_id: to.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn try_pull(
    client: &mut Client,
    shop_id: &str,
    account_id: &str,
    queue: &str,
) -> Result<pb::Session, Status> {
    client
        .pull_queued(pb::PullQueuedRequest {
            shop_id: shop_id.to_owned(),
            account_id: account_id.to_owned(),
            queue: queue.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn try_get_session(
    client: &mut Client,
    shop_id: &str,
    session_id: u64,
) -> Result<pb::Session, Status> {
    client
        .get_session(pb::GetSessionRequest {
            shop_id: shop_id.to_owned(),
            session_id,
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn get_session(client: &mut Client, shop_id: &str, session_id: u64) -> pb::Session {
    try_get_session(client, shop_id, session_id)
        .await
        .unwrap_or_else(|status| panic!("get session {session_id} of {shop_id}: {status:?}"))
}

pub async fn try_shop_state(client: &mut Client, shop_id: &str) -> Result<pb::ShopState, Status> {
    client
        .get_shop_state(pb::GetShopStateRequest {
            shop_id: shop_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn shop_state(client: &mut Client, shop_id: &str) -> pb::ShopState {
    try_shop_state(client, shop_id)
        .await
        .unwrap_or_else(|status| panic!("get the state of {shop_id}: {status:?}"))
}

pub async fn try_get_shop(client: &mut Client, shop_id: &str) -> Result<pb::Shop, Status> {
    client
        .get_shop(pb::GetShopRequest {
            shop_id: shop_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn get_shop(client: &mut Client, shop_id: &str) -> pb::Shop {
    try_get_shop(client, shop_id)
        .await
        .unwrap_or_else(|status| panic!("get shop {shop_id}: {status:?}"))
}
