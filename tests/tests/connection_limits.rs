//! What one connection may ask of a server: a request over the size limit is
//! refused before it is decoded (at the dispatcher, at a worker called
//! directly, and at a worker for each call on the dispatcher's link) and the
//! server goes on serving; past the concurrent-streams limit a connection's
//! new calls wait until one of its own ends.

use std::time::Duration;

use fenliu_node::ServerLimits;
use fenliu_tests::*;
use tonic::Code;

const SHOP: &str = "shop-1";
/// The request size limit of these tests.
const SMALL: u32 = 4096;

fn small_requests() -> ServerLimits {
    ServerLimits {
        max_request_bytes: SMALL,
        ..ServerLimits::default()
    }
}

/// An account whose display name alone is `bytes` long.
fn account_named_with(bytes: usize) -> pb::UpsertAccountRequest {
    let mut account = cs_account(SHOP, "big", 1);
    account.display_name = "x".repeat(bytes);
    account
}

fn account_ids(state: &pb::ShopState) -> Vec<String> {
    state
        .accounts
        .iter()
        .filter_map(|a| a.account.as_ref().map(|c| c.account_id.clone()))
        .collect()
}

/// Sends an account of `bytes` to `client`: refused naming the size, the shop
/// unchanged, and the same connection then serves an ordinary call.
async fn assert_oversized_refused(client: &mut Client, bytes: usize, words: &str) {
    let before = comparable(shop_state(client, SHOP).await);
    let refused = client.upsert_account(account_named_with(bytes)).await;
    let status = assert_refused(refused, Code::OutOfRange, words);
    assert!(status.message().contains("too large"), "{status:?}");
    let after = comparable(shop_state(client, SHOP).await);
    assert_eq!(after, before, "the refused request changed the shop");
    assert!(!account_ids(&after).contains(&"big".to_owned()));
    client
        .upsert_account(cs_account(SHOP, "small", 1))
        .await
        .expect("an ordinary request on the same connection");
    client
        .remove_account(pb::RemoveAccountRequest {
            shop_id: SHOP.to_owned(),
            account_id: "small".to_owned(),
        })
        .await
        .unwrap();
}

/// One worker on Redis with a dispatcher, with these limits, and the shop.
async fn start_with_shop(limits: NodeSettings) -> (TestNode, Client) {
    let node = TestNode::start_on_redis_with(1, limits).await;
    let mut client = node.client().await;
    ShopBuilder::kuaishou(SHOP)
        .cs("a", 1)
        .create(&mut client)
        .await;
    (node, client)
}

#[tokio::test]
async fn a_request_over_the_size_limit_is_refused_before_it_is_decoded_and_the_server_still_serves()
{
    bounded(async {
        let limits = NodeSettings {
            worker: small_requests(),
            dispatcher: small_requests(),
            ..NodeSettings::default()
        };
        let (node, mut client) = start_with_shop(limits).await;
        // tonic's refusal names the size it found and the limit.
        let just_over = SMALL as usize + 100;
        assert_oversized_refused(&mut client, just_over, "the limit is: 4096 bytes").await;
        let mut worker = node.worker_client().await;
        assert_oversized_refused(&mut worker, just_over, "the limit is: 4096 bytes").await;
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_worker_holds_each_call_on_the_link_to_its_own_request_limit() {
    bounded(async {
        // A dispatcher that lets the request through (set up with a larger
        // limit than its worker's): the worker refuses that one call, undecoded,
        // and the link carries the next (the same connection's next call).
        let limits = NodeSettings {
            worker: small_requests(),
            ..NodeSettings::default()
        };
        let (node, mut client) = start_with_shop(limits).await;
        // Just over the worker's limit, and far over (a call on the link of
        // 200 KB, within the dispatcher's 1 MiB).
        for bytes in [SMALL as usize + 100, 200_000] {
            assert_oversized_refused(&mut client, bytes, "--max-request-bytes").await;
        }
        node.stop().await;
    })
    .await;
}

/// Opens `WatchShop` streams on one connection until one does not open within
/// a moment; returns the open ones and the one left waiting.
async fn open_watches(client: &Client, expected: usize) -> Vec<tonic::Streaming<pb::ShopEvent>> {
    let mut open = Vec::new();
    for _ in 0..expected {
        let mut client = client.clone();
        let stream = tokio::time::timeout(Duration::from_secs(5), watch(&mut client, SHOP))
            .await
            .expect("a stream within the limit opens at once");
        open.push(stream);
    }
    open
}

/// With `expected` streams open on `client`'s connection, one more waits;
/// when one of the open ones ends, it opens.
async fn assert_one_more_waits(client: &Client, expected: usize) {
    let mut open = open_watches(client, expected).await;
    let mut waiting_client = client.clone();
    let waiting = tokio::spawn(async move { watch(&mut waiting_client, SHOP).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a stream past the limit opened at once"
    );
    open.pop();
    let extra = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting stream opens once another ends")
        .unwrap();
    drop(extra);
}

#[tokio::test]
async fn streams_past_the_connection_limit_wait_for_one_of_its_own_to_end() {
    bounded(async {
        // The worker's limit, on a connection straight to it.
        let worker_limited = NodeSettings {
            worker: ServerLimits {
                max_concurrent_streams: Some(2),
                ..ServerLimits::default()
            },
            ..NodeSettings::default()
        };
        let node = TestNode::start_with(worker_limited).await;
        let mut worker = node.worker_client().await;
        ShopBuilder::kuaishou(SHOP).create(&mut worker).await;
        assert_one_more_waits(&worker, 2).await;
        // The limit is per connection: another is not held up by this one's.
        let mut other = node.worker_client().await;
        let _open = open_watches(&worker, 2).await;
        get_shop(&mut other, SHOP).await;
        node.stop().await;

        // The dispatcher's limit, on a client's connection to it.
        let dispatcher_limited = NodeSettings {
            dispatcher: ServerLimits {
                max_concurrent_streams: Some(3),
                ..ServerLimits::default()
            },
            ..NodeSettings::default()
        };
        let node = TestNode::start_with(dispatcher_limited).await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP).create(&mut client).await;
        assert_one_more_waits(&client, 3).await;
        node.stop().await;
    })
    .await;
}
