//! TLS on every gRPC hop through the real API: who gets in (callers trusting the
//! fleet CA; workers only for dispatchers of the fleet), who does not (plaintext,
//! another CA, no client certificate) and that nothing reaches the router then,
//! and certificates rotated while a load runs.
//!
//! - `handshake`: a raw TLS client that reads the certificate a server presents.
//! - this file: the tests.

mod handshake;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fenliu_node::tls::generate::TestCa;
use fenliu_proto::internal::v1 as link;
use fenliu_proto::internal::v1::worker_link_client::WorkerLinkClient;
use fenliu_tests::*;
use prost::Message;
use tonic::Code;

const SHOP: &str = "tls-shop";

async fn secure_node(tls: Arc<TestTls>) -> TestNode {
    let auth = Arc::new(TestAuth::new());
    let settings = NodeSettings {
        auth: Some(auth),
        tls: Some(tls),
        // The rotation test's load is as fast as the machine: not a tenant's.
        quotas: fenliu_worker::router::Quotas {
            route_rate_limit: 0,
            ..Default::default()
        },
        ..NodeSettings::default()
    };
    let node = TestNode::start_on_redis_with(3, settings).await;
    let mut client = node.client().await;
    ShopBuilder::kuaishou(SHOP)
        .cs("a", 5)
        .online(&["a"])
        .create(&mut client)
        .await;
    node
}

#[tokio::test]
async fn callers_trusting_the_fleet_ca_get_in_and_plaintext_or_another_ca_does_not() {
    bounded(async {
        let tls = Arc::new(TestTls::new());
        let node = secure_node(tls.clone()).await;
        let mut client = node.client().await;
        route_new(&mut client, SHOP, "buyer-1").await;

        // Plaintext to a TLS dispatcher: no call gets through.
        let mut plaintext = connect_with_token(node.dispatcher_address(), node.token()).await;
        let refused = try_shop_state(&mut plaintext, SHOP).await.unwrap_err();
        assert_ne!(refused.code(), Code::Ok);
        // A client that trusts another CA does not trust the dispatcher.
        let stranger = TestCa::generate("stranger").unwrap();
        let other_ca = tonic::transport::ClientTlsConfig::new().ca_certificate(
            tonic::transport::Certificate::from_pem(&stranger.pair.cert_pem),
        );
        assert!(
            try_channel(node.dispatcher_address(), Some(other_ca))
                .await
                .is_err(),
            "the handshake fails"
        );
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_worker_refuses_callers_without_a_fleet_certificate_and_nothing_reaches_the_router() {
    bounded(async {
        let tls = Arc::new(TestTls::new());
        let node = secure_node(tls.clone()).await;
        let mut platform = node.client().await;
        let before = comparable(shop_state(&mut platform, SHOP).await);
        let worker = node.worker_address();
        let stranger = TestCa::generate("stranger").unwrap();
        let strangers_cert = stranger.issue(&TEST_NODE_NAMES).unwrap();
        let attempts = [
            ("no client certificate", Some(tls.client_config())),
            (
                "a certificate of another CA",
                Some(tls.client_config_with(&strangers_cert)),
            ),
            ("plaintext", None),
        ];
        for (who, config) in attempts {
            // A direct call (with a valid token: the certificate is what fails).
            let direct = try_channel(worker, config.clone()).await.ok();
            if let Some(channel) = direct {
                let bearer = BearerToken::new(node.token()).unwrap();
                let mut client = fenliu_proto::v1::routing_client::RoutingClient::with_interceptor(
                    channel.clone(),
                    bearer,
                );
                let result = client
                    .route(route_request(
                        SHOP,
                        "sneaky",
                        pb::OrderStatus::NoActiveOrder,
                    ))
                    .await;
                assert!(result.is_err(), "{who}: a direct call got through");
                // The link, with a forged platform principal on the call.
                let forged = forged_link_call();
                let mut link_client = WorkerLinkClient::new(channel);
                let outcome = link_client.exchange(tokio_stream::iter([forged])).await;
                let answered = match outcome {
                    Err(_) => false,
                    Ok(answers) => answers
                        .into_inner()
                        .message()
                        .await
                        .is_ok_and(|a| a.is_some()),
                };
                assert!(!answered, "{who}: a link call got an answer");
            }
        }
        assert_eq!(
            comparable(shop_state(&mut platform, SHOP).await),
            before,
            "nothing reached the router"
        );
        node.stop().await;
    })
    .await;
}

/// What a client retries: `UNAVAILABLE`, and a connection that closed under
/// the call (tonic reports it as UNKNOWN "transport error"): a server closing
/// a connection past its age, as it does to pick up new certificates.
fn retryable(status: &tonic::Status) -> bool {
    status.code() == Code::Unavailable
        || (status.code() == Code::Unknown && status.message() == "transport error")
}

/// A link call routing a buyer, carrying a forged platform principal.
fn forged_link_call() -> link::LinkCall {
    let principal = fenliu_node::auth::principal::Principal {
        subject: "mallory".to_owned(),
        shops: fenliu_node::auth::principal::ShopGrant::Every,
        scopes: fenliu_node::auth::scopes::ScopeSet::from_claim(ALL_SCOPES),
        account: None,
    };
    link::LinkCall {
        id: 1,
        method: link::LinkMethod::Route as i32,
        request: route_request(SHOP, "forged", pb::OrderStatus::NoActiveOrder).encode_to_vec(),
        timeout_us: 1_000_000,
        metadata: vec![link::MetadataEntry {
            key: "fenliu-principal".to_owned(),
            value: principal.to_metadata(),
        }],
    }
}

#[tokio::test]
async fn certificates_rotate_under_load_without_a_failed_call_and_new_connections_show_the_new_one()
{
    bounded_by(Duration::from_secs(60), async {
        let mut tls = TestTls::new();
        tls.max_connection_age_ms = 1500;
        let tls = Arc::new(tls);
        let node = secure_node(tls.clone()).await;
        // Clients trust the old and the new CA, as an operator distributes the
        // new bundle before the new certificates.
        let new_ca = TestCa::generate("new fleet").unwrap();
        let bundle = format!("{}{}", tls.ca.pair.cert_pem, new_ca.pair.cert_pem);
        tls.install(&tls.node_identity(), &bundle);
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let client = node.client_with_token(node.token()).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(7);
        let retried = Arc::new(AtomicU64::new(0));
        let load: Vec<_> = (0..4)
            .map(|task| {
                let (ok, failures, retried) = (ok.clone(), failures.clone(), retried.clone());
                let mut client = client.clone();
                tokio::spawn(async move {
                    let mut n = 0;
                    while tokio::time::Instant::now() < deadline {
                        n += 1;
                        let buyer = format!("load-{task}-{n}");
                        // The same request id on a retry: R1 makes it safe.
                        let request = route_request(SHOP, &buyer, pb::OrderStatus::NoActiveOrder);
                        let mut attempts = 0;
                        loop {
                            attempts += 1;
                            match try_route(&mut client, request.clone()).await {
                                Ok(_) => {
                                    ok.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                                Err(status) if retryable(&status) && attempts < 5 => {
                                    retried.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(status) => {
                                    failures.lock().unwrap().push(status);
                                    break;
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // Rotate: node certificates of the new CA.
        let new_node = new_ca.issue(&TEST_NODE_NAMES).unwrap();
        tls.install(&new_node, &bundle);
        for task in load {
            task.await.unwrap();
        }
        let failures = std::mem::take(&mut *failures.lock().unwrap());
        assert!(
            failures.is_empty(),
            "calls failed, or failed again after 4 retries: {failures:?}"
        );
        assert!(ok.load(Ordering::Relaxed) > 100, "the load ran");
        println!(
            "{} routes, {} retried after a connection closed past its age",
            ok.load(Ordering::Relaxed),
            retried.load(Ordering::Relaxed)
        );
        // New connections present the new certificate, at the dispatcher and at
        // a worker.
        let new_der = handshake::der_of(&new_node.cert_pem);
        for address in [node.dispatcher_address(), node.worker_address()] {
            let presented = handshake::presented_certificate(address, &bundle, &new_node).await;
            assert_eq!(presented, new_der, "{address} presents the new certificate");
        }
        node.stop().await;
    })
    .await;
}
