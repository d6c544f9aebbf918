//! Forwarding every `Routing` call to a worker, keeping what the caller set: its
//! deadline (`grpc-timeout`) and its custom metadata, `traceparent` included.

use std::time::Duration;

use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_client::RoutingClient;
use fenliu_proto::v1::routing_server::Routing;
use fenliu_worker::server::{ShutdownSignal, until_shutdown};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// Serves `Routing` by calling a worker.
#[derive(Debug, Clone)]
pub struct Forwarder {
    worker: RoutingClient<Channel>,
    /// Ends forwarded WatchShop streams when the dispatcher stops, so that they do
    /// not hold a graceful shutdown open.
    stopping: ShutdownSignal,
}

impl Forwarder {
    pub fn new(worker: Channel, stopping: ShutdownSignal) -> Self {
        Forwarder {
            worker: RoutingClient::new(worker),
            stopping,
        }
    }
}

/// The request to send on: same message, same custom metadata, same deadline.
fn onward<T>(request: Request<T>) -> Request<T> {
    let deadline = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout);
    let (metadata, _, message) = request.into_parts();
    let mut onward = Request::new(message);
    *onward.metadata_mut() = metadata;
    if let Some(deadline) = deadline {
        onward.set_timeout(deadline);
    }
    onward
}

/// Reads a `grpc-timeout` header value: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    let duration = match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    Some(duration)
}

/// Writes the `Routing` impl: every unary call is forwarded the same way. (The
/// whole impl is generated so that `async_trait` sees the expanded methods.)
macro_rules! forwarding_impl {
    ($($method:ident($request:ty) -> $response:ty;)*) => {
        #[tonic::async_trait]
        impl Routing for Forwarder {
            $(
                async fn $method(
                    &self,
                    request: Request<$request>,
                ) -> Result<Response<$response>, Status> {
                    self.worker.clone().$method(onward(request)).await
                }
            )*

            type WatchShopStream = ReceiverStream<Result<pb::ShopEvent, Status>>;

            async fn watch_shop(
                &self,
                request: Request<pb::WatchShopRequest>,
            ) -> Result<Response<Self::WatchShopStream>, Status> {
                let events = self.worker.clone().watch_shop(onward(request)).await?;
                let stream = until_shutdown(events.into_inner(), self.stopping.clone());
                Ok(Response::new(stream))
            }
        }
    };
}

forwarding_impl! {
    upsert_shop(pb::UpsertShopRequest) -> pb::Shop;
    get_shop(pb::GetShopRequest) -> pb::Shop;
    upsert_account(pb::UpsertAccountRequest) -> pb::Account;
    remove_account(pb::RemoveAccountRequest) -> pb::RemoveAccountResponse;
    upsert_group(pb::UpsertGroupRequest) -> pb::Group;
    remove_group(pb::RemoveGroupRequest) -> pb::RemoveGroupResponse;
    set_account_status(pb::SetAccountStatusRequest) -> pb::AccountState;
    heartbeat(pb::HeartbeatRequest) -> pb::HeartbeatResponse;
    route(pb::RouteRequest) -> pb::RouteResponse;
    end_session(pb::EndSessionRequest) -> pb::Session;
    transfer(pb::TransferRequest) -> pb::Session;
    pull_queued(pb::PullQueuedRequest) -> pb::Session;
    get_session(pb::GetSessionRequest) -> pb::Session;
    get_shop_state(pb::GetShopStateRequest) -> pb::ShopState;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units_are_read_as_the_spec_writes_them() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("10u"), Some(Duration::from_micros(10)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }

    #[test]
    fn onward_keeps_metadata_and_deadline() {
        let mut request = Request::new(());
        request.metadata_mut().insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .unwrap(),
        );
        request
            .metadata_mut()
            .insert("grpc-timeout", "150m".parse().unwrap());
        let onward = onward(request);
        assert_eq!(
            onward.metadata().get("traceparent").unwrap(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert_eq!(onward.metadata().get("grpc-timeout").unwrap(), "150000u");
    }
}
