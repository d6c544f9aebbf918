//! What Kubernetes and grpcurl see: gRPC health (liveness and readiness) and
//! reflection in both protocol versions, on the dispatcher and the worker.

use fenliu_tests::*;
use tokio_stream::StreamExt;

#[tokio::test]
async fn liveness_and_readiness_are_serving_on_both_roles() {
    bounded(async {
        let node = TestNode::start().await;
        for address in [node.dispatcher_address(), node.worker_address()] {
            assert_eq!(health(address, "").await, ServingStatus::Serving as i32);
            wait_for("readiness", || async move {
                (health(address, "fenliu.v1.Routing").await == ServingStatus::Serving as i32)
                    .then_some(())
            })
            .await;
        }
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_sharded_dispatcher_is_ready_once_it_knows_the_workers() {
    bounded(async {
        let node = TestNode::start_on_redis(2).await;
        for address in [node.dispatcher_address(), node.worker_address()] {
            wait_for("readiness of a sharded node", || async move {
                (health(address, "fenliu.v1.Routing").await == ServingStatus::Serving as i32)
                    .then_some(())
            })
            .await;
        }
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn reflection_lists_the_routing_service_in_v1_and_v1alpha() {
    bounded(async {
        let node = TestNode::start().await;
        let address = node.dispatcher_address();

        use tonic_reflection::pb::v1;
        let mut client =
            v1::server_reflection_client::ServerReflectionClient::new(channel(address).await);
        let request = v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        };
        let mut replies = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("v1 reflection answers")
            .into_inner();
        let reply = replies
            .next()
            .await
            .expect("a reply")
            .expect("not an error");
        let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            reply.message_response
        else {
            panic!("expected a service list, got {reply:?}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(names.contains(&"fenliu.v1.Routing".to_owned()), "{names:?}");
        assert!(
            names.contains(&"grpc.health.v1.Health".to_owned()),
            "{names:?}"
        );

        use tonic_reflection::pb::v1alpha as alpha;
        let mut client =
            alpha::server_reflection_client::ServerReflectionClient::new(channel(address).await);
        let request = alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        };
        let mut replies = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("v1alpha reflection answers")
            .into_inner();
        let reply = replies
            .next()
            .await
            .expect("a reply")
            .expect("not an error");
        let Some(alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            reply.message_response
        else {
            panic!("expected a service list, got {reply:?}");
        };
        assert!(list.service.iter().any(|s| s.name == "fenliu.v1.Routing"));
        node.stop().await;
    })
    .await;
}
