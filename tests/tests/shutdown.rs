//! Graceful shutdown: an open `WatchShop` stream does not hold a stopping server
//! open; the stream ends, both servers return `Ok` within a bounded time, and the
//! node then refuses new calls.

use fenliu_tests::*;
use pb::AccountStatus;
use tonic::Code;

const SHOP: &str = "shop-1";

/// Stops the node while `stream` is open; asserts both servers stop within
/// [`STOP_TIMEOUT`] each (returning `Ok`) and the stream ends: cleanly, or with
/// UNAVAILABLE telling the watcher to reconnect, and with no other error.
async fn stop_with_open_stream(node: TestNode, mut stream: tonic::Streaming<pb::ShopEvent>) {
    let stopping = tokio::spawn(node.stop());
    let draining = tokio::spawn(async move { drain_to_end(&mut stream).await });
    // `stop` panics, naming the server, if either takes longer than STOP_TIMEOUT.
    if let Err(failed) = stopping.await {
        std::panic::resume_unwind(failed.into_panic());
    }
    let seen = match draining.await {
        Ok(seen) => seen,
        Err(failed) => std::panic::resume_unwind(failed.into_panic()),
    };
    let (last, before) = match seen.split_last() {
        Some((last, before)) => (Some(last), before),
        None => (None, &[][..]),
    };
    assert!(before.iter().all(Result::is_ok), "{seen:?}");
    if let Some(Err(status)) = last {
        assert_eq!(
            status.code(),
            Code::Unavailable,
            "a stream ended by a shutdown says so: {status:?}"
        );
    }
}

#[tokio::test]
async fn a_worker_with_an_open_watch_stream_stops_gracefully_and_ends_the_stream() {
    bounded(async {
        let node = TestNode::start().await;
        let mut worker = node.worker_client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .create(&mut worker)
            .await;
        let mut stream = watch(&mut worker, SHOP).await;
        // The stream is live before the stop.
        set_status(&mut worker, SHOP, "a", AccountStatus::Online).await;
        let event = next_event(&mut stream).await;
        assert!(
            matches!(
                event.event,
                Some(pb::shop_event::Event::AccountStatusChanged(_))
            ),
            "{event:?}"
        );
        stop_with_open_stream(node, stream).await;
    })
    .await;
}

#[tokio::test]
async fn a_node_with_an_open_watch_stream_through_the_dispatcher_stops_gracefully() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .create(&mut client)
            .await;
        let mut stream = watch(&mut client, SHOP).await;
        set_status(&mut client, SHOP, "a", AccountStatus::Online).await;
        let event = next_event(&mut stream).await;
        assert!(
            matches!(
                event.event,
                Some(pb::shop_event::Event::AccountStatusChanged(_))
            ),
            "{event:?}"
        );
        stop_with_open_stream(node, stream).await;
    })
    .await;
}

#[tokio::test]
async fn a_stopped_node_refuses_new_calls() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        let worker = node.worker_client().await;
        ShopBuilder::kuaishou(SHOP).create(&mut client).await;
        assert_eq!(get_shop(&mut client, SHOP).await.shop_id, SHOP);
        node.stop().await;

        for (server, mut stopped) in [("dispatcher", client), ("worker", worker)] {
            let status = try_get_shop(&mut stopped, SHOP)
                .await
                .expect_err("a stopped server answers nothing");
            assert_eq!(status.code(), Code::Unavailable, "{server}: {status:?}");
        }
    })
    .await;
}
