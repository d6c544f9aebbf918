//! Nodes of two releases meeting, as in a rolling upgrade (the next release is
//! this build with its versions bumped): every dispatcher reaches every worker
//! whatever their releases, and a shop of the older release is upgraded when a
//! worker of the newer one takes it over; a worker meeting a shop stored by the
//! newer release refuses it as retryable (`UNAVAILABLE`, naming both record
//! formats) and changes nothing, where undecodable bytes stay `INTERNAL`; a
//! link between releases agrees on the newest version both speak, and one
//! between releases with no version in common is refused as retryable, naming
//! both ends' versions.

use std::collections::BTreeMap;

use fenliu_node::link::{LINK_VERSION_METADATA, offer_link_versions};
use fenliu_node::versions::{RECORD_FORMAT, Versions, Window};
use fenliu_proto::internal::v1 as link;
use fenliu_proto::internal::v1::worker_link_client::WorkerLinkClient;
use fenliu_testkit::resp::{Reply, request};
use fenliu_tests::mixed_fleet::MixedFleet;
use fenliu_tests::*;
use fenliu_worker::store::records::ShopRecord;
use prost::Message;
use tonic::Code;

const SHOP: &str = "upgraded-shop";

/// A shop with one account online and one buyer routed to it.
async fn shop_with_a_session(client: &mut Client) -> u64 {
    ShopBuilder::kuaishou(SHOP)
        .cs("a", 5)
        .online(&["a"])
        .create(client)
        .await;
    route_new(client, SHOP, "buyer").await.id()
}

/// Every key of the shop but its fence, with its `DUMP` (its value, exactly).
/// The fence is left out: any load raises it to the loading lease holder's
/// token, a refused one too, and the next owner's token is higher.
fn stored_shop(fleet: &MixedFleet) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let address = fleet.redis().addr();
    let pattern = format!("fenliu:{{{SHOP}}}:*");
    let Ok(Reply::Array(Some(keys))) = request(address, &["KEYS", &pattern]) else {
        panic!("KEYS {pattern}");
    };
    let mut stored = BTreeMap::new();
    for key in keys {
        let Reply::Bulk(Some(key)) = key else {
            panic!("a key: {key:?}")
        };
        if key.ends_with(b":fence") {
            continue;
        }
        let name = String::from_utf8(key.clone()).expect("an ASCII key");
        let Ok(Reply::Bulk(Some(dump))) = request(address, &["DUMP", &name]) else {
            panic!("DUMP {name}");
        };
        stored.insert(key, dump);
    }
    assert!(!stored.is_empty(), "the shop is stored");
    stored
}

/// The record format `shop_id` is stored in.
fn stored_format(fleet: &MixedFleet, shop_id: &str) -> u32 {
    let key = format!("fenliu:{{{shop_id}}}:shop");
    let Ok(Reply::Bulk(Some(bytes))) = request(fleet.redis().addr(), &["GET", &key]) else {
        panic!("GET {key}");
    };
    ShopRecord::decode(bytes.as_slice()).unwrap().format
}

/// A shop id whose shard `worker-<index>` owns among `workers` workers.
fn shop_of_worker(index: usize, workers: usize) -> String {
    use fenliu_node::sharding::{owner_of, shard_of};
    let names: Vec<String> = (0..workers).map(|i| format!("worker-{i}")).collect();
    (0..)
        .map(|n| format!("shop-{n}"))
        .find(|shop| {
            let owner = owner_of(
                shard_of(shop, TEST_SHARDS),
                names.iter().map(String::as_str),
            );
            owner == Some(names[index].as_str())
        })
        .expect("some shop id lands on every worker")
}

/// (a) Dispatchers of both releases reach workers of both, each worker stores
/// in its own format, and a shop of the older release is served by a worker of
/// the newer one that takes its shard over, upgraded to the newer format as it
/// is loaded.
#[tokio::test]
async fn dispatchers_and_workers_of_two_releases_serve_together_and_shops_move_forward() {
    bounded(async {
        let releases = [Versions::CURRENT, Versions::BUMPED];
        let mut fleet = MixedFleet::start(&releases, &releases).await;
        let shops = [shop_of_worker(0, 2), shop_of_worker(1, 2)];
        for (worker, shop) in shops.iter().enumerate() {
            for dispatcher in 0..2 {
                let mut client = fleet.dispatcher_client(dispatcher).await;
                if dispatcher == 0 {
                    ShopBuilder::kuaishou(shop)
                        .cs("a", 5)
                        .online(&["a"])
                        .create(&mut client)
                        .await;
                }
                let buyer = format!("buyer-{dispatcher}");
                assert_eq!(route_new(&mut client, shop, &buyer).await.account(), "a");
            }
            let written = releases[worker].records.newest;
            assert_eq!(stored_format(&fleet, shop), written, "{shop}");
        }
        assert_eq!(stored_format(&fleet, &shops[0]), RECORD_FORMAT);

        // The older worker goes (its pod replaced): the newer one takes its shop.
        fleet.stop_worker(0).await;
        let mut client = fleet.dispatcher_client(0).await;
        let state = shop_state(&mut client, &shops[0]).await;
        assert_eq!(account(&state, "a").session_ids.len(), 2);
        assert_eq!(stored_format(&fleet, &shops[0]), RECORD_FORMAT + 1);
        fleet.stop().await;
    })
    .await;
}

/// (b) A shop stored by the next release meets a worker of this one: refused
/// with UNAVAILABLE naming both formats (not INTERNAL), nothing written; a
/// worker of the next release then serves it as it was.
#[tokio::test]
async fn a_shop_stored_by_a_newer_release_is_refused_as_retryable_and_left_as_it_was() {
    bounded(async {
        let mut fleet = MixedFleet::start(&[Versions::BUMPED], &[Versions::BUMPED]).await;
        let session = shop_with_a_session(&mut fleet.client().await).await;
        let before = stored_shop(&fleet);

        let current = fleet.start_worker(Versions::CURRENT).await;
        fleet.stop_worker(0).await;
        let mut worker = fleet.worker_client(current).await;
        for _ in 0..2 {
            let refused = try_shop_state(&mut worker, SHOP).await.unwrap_err();
            assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
            let message = refused.message();
            assert!(
                message.contains(&format!("record format {}", RECORD_FORMAT + 1))
                    && message.contains(&format!("up to {RECORD_FORMAT}")),
                "{message}"
            );
            let routed = try_route(
                &mut worker,
                route_request(SHOP, "another", pb::OrderStatus::NoActiveOrder),
            )
            .await;
            let refused = routed.map(|_| ()).unwrap_err();
            assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        }
        assert_eq!(stored_shop(&fleet), before, "the refusals wrote nothing");

        let next = fleet.start_worker(Versions::BUMPED).await;
        fleet.stop_worker(current).await;
        let state = shop_state(&mut fleet.worker_client(next).await, SHOP).await;
        assert_eq!(account(&state, "a").session_ids, vec![session]);
        fleet.stop().await;
    })
    .await;
}

/// (c) Bytes that do not decode are corruption: INTERNAL, whichever release
/// reads them, told apart from a newer format.
#[tokio::test]
async fn undecodable_stored_bytes_stay_internal_not_a_newer_format() {
    bounded(async {
        let mut fleet = MixedFleet::start(&[Versions::CURRENT], &[Versions::CURRENT]).await;
        shop_with_a_session(&mut fleet.client().await).await;
        fleet.stop_worker(0).await;
        let shop_key = format!("fenliu:{{{SHOP}}}:shop");
        let set = request(
            fleet.redis().addr(),
            &["SET", &shop_key, "not a shop record"],
        );
        assert_eq!(set.unwrap(), Reply::Simple("OK".to_owned()));

        for versions in [Versions::CURRENT, Versions::BUMPED] {
            let index = fleet.start_worker(versions).await;
            let mut worker = fleet.worker_client(index).await;
            let refused = try_shop_state(&mut worker, SHOP).await.unwrap_err();
            assert_eq!(refused.code(), Code::Internal, "{refused:?}");
            assert!(refused.message().contains("unreadable"), "{refused:?}");
            fleet.stop_worker(index).await;
        }
        fleet.stop().await;
    })
    .await;
}

/// Opens a link stream to the worker at `address` offering `offered`: the
/// version the worker agreed on, or its refusal.
async fn open_link(address: std::net::SocketAddr, offered: Window) -> Result<u32, tonic::Status> {
    let mut client = WorkerLinkClient::new(channel(address).await);
    let mut opening = tonic::Request::new(tokio_stream::pending::<link::LinkCall>());
    offer_link_versions(offered, opening.metadata_mut());
    let answers = client.exchange(opening).await?;
    let agreed = answers
        .metadata()
        .get(LINK_VERSION_METADATA)
        .expect("the worker names the version agreed");
    Ok(agreed.to_str().unwrap().parse().unwrap())
}

/// (d) Releases whose link versions overlap agree on the newest both speak;
/// a dispatcher with none in common is refused with UNAVAILABLE naming both
/// ends' versions, on the link and through the dispatcher.
#[tokio::test]
async fn a_link_without_a_version_in_common_is_refused_as_retryable_naming_both() {
    bounded(async {
        let far = Versions {
            link: Window {
                oldest: 3,
                newest: 4,
            },
            ..Versions::CURRENT
        };
        let fleet = MixedFleet::start(&[Versions::BUMPED], &[far]).await;
        let worker = fleet.worker_address(0);
        assert_eq!(open_link(worker, Versions::CURRENT.link).await.unwrap(), 1);
        assert_eq!(open_link(worker, Versions::BUMPED.link).await.unwrap(), 2);
        let refused = open_link(worker, far.link).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        assert!(
            refused
                .message()
                .contains("this worker speaks link version 1 to 2")
                && refused.message().contains("the dispatcher 3 to 4"),
            "{refused:?}"
        );

        // Through the dispatcher (a call it does not retry, so the refusal
        // itself comes back).
        let mut client = fleet.dispatcher_client(0).await;
        let refused = try_end_session(&mut client, SHOP, 1, "").await.unwrap_err();
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        assert!(refused.message().contains("1 to 2"), "{refused:?}");
        assert!(refused.message().contains("3 to 4"), "{refused:?}");
        fleet.stop().await;
    })
    .await;
}
