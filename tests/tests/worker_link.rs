//! The dispatcher's link to a worker: many calls in flight on one stream, each
//! answered with its own answer (answers come back in whatever order the calls
//! finish), and refusals keeping their code and the field they name.

use std::collections::HashSet;

use fenliu_tests::*;
use tonic::Code;

const SHOP: &str = "linked-shop";

/// R9 through the link: 200 buyers routed at once to a shop of three accounts;
/// every caller gets the session of its own buyer, no two the same, and the
/// buyers are spread evenly.
#[tokio::test]
async fn r09_many_calls_in_flight_on_one_link_each_get_their_own_answer() {
    bounded(async {
        let node = TestNode::start_on_redis(1).await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 100)
            .cs("b", 100)
            .cs("c", 100)
            .online(&["a", "b", "c"])
            .create(&mut client)
            .await;

        let mut calls = tokio::task::JoinSet::new();
        for n in 0..200 {
            let mut client = client.clone();
            calls.spawn(async move {
                let buyer = format!("buyer-{n}");
                let routed = route_new(&mut client, SHOP, &buyer).await;
                (buyer, routed)
            });
        }
        let answers = calls.join_all().await;

        let mut sessions = HashSet::new();
        let mut per_account = std::collections::HashMap::<String, usize>::new();
        for (buyer, routed) in &answers {
            assert_eq!(&routed.session.buyer_id, buyer, "an answer of another call");
            assert!(
                sessions.insert(routed.id()),
                "session {} twice",
                routed.id()
            );
            *per_account.entry(routed.account().to_owned()).or_default() += 1;
        }
        let counts: Vec<usize> = per_account.values().copied().collect();
        let (least, most) = (counts.iter().min(), counts.iter().max());
        assert!(
            most.unwrap() - least.unwrap() <= 1,
            "even spread (R9): {per_account:?}"
        );
        node.stop().await;
    })
    .await;
}

/// A refusal crosses the link with its code and the field it names.
#[tokio::test]
async fn a_refusal_crosses_the_link_with_its_code_and_message() {
    bounded(async {
        let node = TestNode::start_on_redis(1).await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .create(&mut client)
            .await;
        let mut request = route_request(SHOP, "buyer", pb::OrderStatus::NoActiveOrder);
        request.buyer_id = String::new();
        let refused = try_route(&mut client, request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(refused.message().contains("buyer_id"), "{refused:?}");

        let unknown = try_route(
            &mut client,
            route_request("no-such-shop", "buyer", pb::OrderStatus::NoActiveOrder),
        )
        .await
        .unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound);
        assert!(unknown.message().contains("shop_id"), "{unknown:?}");
        node.stop().await;
    })
    .await;
}

/// A worker whose connections are reset as soon as they open (a fault proxy in
/// front of it, as the chaos run puts one): the link cannot be opened, and every
/// call fails UNAVAILABLE, the code callers retry on, whether the dispatcher
/// retries it (`Route`) or not (`Transfer`); never UNKNOWN "transport error" or
/// CANCELLED "operation was canceled", as tonic reports a connection that failed.
/// (Found by the chaos run, seed 1: Transfer and Route came back UNKNOWN and
/// CANCELLED while a proxy reset the dispatcher's connections to a worker.)
#[tokio::test]
async fn calls_to_a_worker_whose_connections_are_reset_fail_unavailable_never_unknown() {
    bounded(async {
        let nowhere = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
        let proxy = fenliu_testkit::FaultProxy::start(nowhere).await.unwrap();
        proxy.set_mode(fenliu_testkit::FaultMode::Reset);
        let worker = fenliu_dispatcher::WorkerDialer::new(None)
            .dial(&format!("http://{}", proxy.addr()))
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let options = fenliu_dispatcher::DispatcherOptions {
            admission: fenliu_dispatcher::Admission::new(None),
            limits: Default::default(),
            tls: None,
            console: None,
        };
        tokio::spawn(fenliu_dispatcher::serve_with(
            listener,
            fenliu_dispatcher::Workers::Fixed(worker),
            options,
            std::future::pending(),
        ));
        let mut client = connect(address).await;

        let mut transfer = tonic::Request::new(pb::TransferRequest {
            shop_id: SHOP.to_owned(),
            session_id: 1,
            actor_account_id: MAIN.to_owned(),
            to_account_id: "a".to_owned(),
        });
        transfer.set_timeout(std::time::Duration::from_secs(2));
        let refused = client.transfer(transfer).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");

        let mut route =
            tonic::Request::new(route_request(SHOP, "buyer", pb::OrderStatus::NoActiveOrder));
        route.set_timeout(std::time::Duration::from_millis(600));
        let refused = client.route(route).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        assert!(
            proxy
                .counters()
                .reset
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
        );
    })
    .await;
}
