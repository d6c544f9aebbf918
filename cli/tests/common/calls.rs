//! Calls made while a fault is on: each carries a gRPC deadline and is bounded
//! on the test side too; and the new buyers they route.
//!
//! This is what the tests crate's call helpers (`fenliu_tests::route` and
//! friends) do not do, on purpose: they talk to servers in the test's own
//! process, which cannot freeze, and the test as a whole is bounded instead. Here
//! a worker or Redis is frozen or killed while calls are on their way, and how a
//! call's deadline is spent is part of what is tested (the dispatcher retries on
//! a shop's new owner within the caller's deadline). Routes all go through
//! [`route_within`], with request ids of the test's choosing so that they can be
//! sent again; other calls on a settled deployment (setting shops up, reading
//! back what was stored, ending a session) use the tests crate's helpers.

use std::future::Future;
use std::time::Duration;

use fenliu_tests::{Client, pb, route_request_with_id};
use tonic::{Request, Status};

/// Deadline of the client's calls while a worker fails.
pub const CALL_DEADLINE: Duration = Duration::from_secs(8);

/// A request carrying a gRPC deadline.
pub fn with_deadline<T>(message: T, deadline: Duration) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(deadline);
    request
}

/// Awaits a call, bounding it also on our side (2 s past its gRPC deadline), so
/// a hung server makes the call fail rather than the test hang. A call cut off
/// here is reported as DEADLINE_EXCEEDED.
pub async fn call<T, F>(deadline: Duration, call: F) -> Result<T, Status>
where
    F: Future<Output = Result<tonic::Response<T>, Status>>,
{
    match tokio::time::timeout(deadline + Duration::from_secs(2), call).await {
        Ok(result) => result.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within {:?} (test-side bound)",
            deadline + Duration::from_secs(2)
        ))),
    }
}

/// Routes a buyer's message (no address, no order status) with this request id,
/// within `deadline`; returns the answer or the refusal as it came.
pub async fn route_within(
    client: &mut Client,
    shop: &str,
    buyer: &str,
    request_id: &str,
    deadline: Duration,
) -> Result<pb::RouteResponse, Status> {
    let request = route_request_with_id(shop, buyer, request_id, pb::OrderStatus::Unspecified);
    call(deadline, client.route(with_deadline(request, deadline))).await
}

/// New buyers, numbered: `buyer-<n>`, each with request id `req-<n>`.
#[derive(Debug, Default)]
pub struct NewBuyers {
    pub sent: usize,
}

impl NewBuyers {
    pub fn next(&mut self) -> (String, String) {
        self.sent += 1;
        (format!("buyer-{}", self.sent), format!("req-{}", self.sent))
    }
}
