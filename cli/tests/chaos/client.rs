//! A client of the deployment as a platform backend would be: it knows every
//! dispatcher, sends each call to one with a gRPC deadline (bounded on its own
//! side too, so a hung dispatcher cannot hang the run), moves to the next
//! dispatcher after an outage refusal, and records each call in the history.

use std::time::Duration;

use fenliu_tests::pb::routing_client::RoutingClient;
use fenliu_tests::{BearerToken, Client, MAIN, pb};
use tonic::transport::Endpoint;
use tonic::{Code, Request, Status};

pub use crate::calls::{call as bounded, with_deadline};
use crate::history::{Answer, Call, History, Op, Outcome};

/// The deadline of every call of the workload: long enough for a dispatcher to
/// ride out a failover (a lease TTL and its retries), short enough that calls
/// into a blackhole give up while the fault lasts.
pub const CALL_DEADLINE: Duration = Duration::from_secs(3);

/// A client with a channel to every dispatcher.
#[derive(Debug)]
pub struct Caller {
    /// Which client this is, in the history.
    pub id: usize,
    /// One per dispatcher, connected lazily (a dispatcher may be down).
    clients: Vec<Client>,
    /// The dispatcher the next call goes to.
    current: usize,
}

/// A client of the dispatcher at `url`, connecting when first used.
pub fn lazy_client(url: &str) -> Client {
    let channel = Endpoint::from_shared(url.to_owned())
        .expect("dispatcher url")
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_millis(500))
        .connect_lazy();
    RoutingClient::with_interceptor(channel, BearerToken::default())
}

impl Caller {
    /// Client `id`, starting on dispatcher `id % dispatchers`.
    pub fn new(id: usize, dispatcher_urls: &[String]) -> Caller {
        Caller {
            id,
            clients: dispatcher_urls.iter().map(|u| lazy_client(u)).collect(),
            current: id % dispatcher_urls.len(),
        }
    }

    /// Sends `call` about `shop`, records it in `history` and returns it.
    pub async fn send(&mut self, history: &History, shop: &str, call: Call) -> Op {
        let dispatcher = self.current;
        let client = &mut self.clients[dispatcher];
        let sent = history.now();
        let outcome = match send(client, shop, &call).await {
            Ok(answer) => Outcome::Ok(answer),
            Err(status) => {
                if matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded) {
                    self.current = (self.current + 1) % self.clients.len();
                }
                Outcome::from_status(&status)
            }
        };
        let op = Op {
            client: self.id,
            dispatcher,
            shop: shop.to_owned(),
            call,
            sent,
            answered: history.now(),
            outcome,
        };
        history.record(op.clone());
        op
    }
}

/// A request carrying the workload's deadline.
fn timed<T>(message: T) -> Request<T> {
    with_deadline(message, CALL_DEADLINE)
}

async fn send(client: &mut Client, shop: &str, call: &Call) -> Result<Answer, Status> {
    let shop_id = shop.to_owned();
    Ok(match call {
        Call::Route(route) => {
            let response = bounded(CALL_DEADLINE, client.route(timed(route.request(shop)))).await?;
            let reason = response.reason();
            Answer::Routed {
                session: response.session.unwrap_or_default(),
                reason,
                replayed: response.replayed,
            }
        }
        Call::End { session_id } => {
            let end = pb::EndSessionRequest {
                shop_id,
                session_id: *session_id,
                actor_account_id: String::new(),
            };
            Answer::Session(bounded(CALL_DEADLINE, client.end_session(timed(end))).await?)
        }
        Call::Transfer { session_id, to } => {
            let transfer = pb::TransferRequest {
                shop_id,
                session_id: *session_id,
                actor_account_id: MAIN.to_owned(),
                to_account_id: to.clone(),
            };
            Answer::Session(bounded(CALL_DEADLINE, client.transfer(timed(transfer))).await?)
        }
        Call::Pull { account, queue } => {
            let pull = pb::PullQueuedRequest {
                shop_id,
                account_id: account.clone(),
                queue: queue.clone(),
            };
            Answer::Session(bounded(CALL_DEADLINE, client.pull_queued(timed(pull))).await?)
        }
        Call::SetStatus { account, status } => {
            let set = pb::SetAccountStatusRequest {
                shop_id,
                account_id: account.clone(),
                status: *status as i32,
            };
            let state = bounded(CALL_DEADLINE, client.set_account_status(timed(set))).await?;
            Answer::Status(state.status())
        }
    })
}
