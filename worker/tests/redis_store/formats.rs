//! Record formats across releases: a shop stored by a newer release is refused
//! at load (retryable, distinct from corruption) and left exactly as it was; a
//! shop of the previous release is read and stamped with the newer format
//! before it is served; undecodable bytes are still corruption.

use std::collections::BTreeMap;

use fenliu_node::versions::{RECORD_FORMAT, Versions};
use fenliu_testkit::RedisServer;
use fenliu_worker::engine::*;
use fenliu_worker::store::records::ShopRecord;
use fenliu_worker::store::{RedisStore, StoreError};
use prost::Message;

use crate::support::{NOW, busy_shop, full_write_set, split_deadlines, start_redis, store};

const SHOP_KEY: &str = "fenliu:{s1}:shop";
const FENCE_KEY: &str = "fenliu:{s1}:fence";

/// Every key in Redis but the fence, with its `DUMP` (its value, exactly). The
/// fence is left out: any load raises it to the loader's token, a refused one
/// too, and the next owner's token is higher.
async fn stored_data(store: &RedisStore) -> BTreeMap<String, Vec<u8>> {
    let mut connection = store.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut data = BTreeMap::new();
    for key in keys.into_iter().filter(|key| key != FENCE_KEY) {
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        data.insert(key, dump);
    }
    data
}

/// The shop record as stored.
async fn shop_record(store: &RedisStore) -> ShopRecord {
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(SHOP_KEY)
        .query_async(&mut store.connection())
        .await
        .unwrap();
    ShopRecord::decode(bytes.as_slice()).unwrap()
}

async fn set_shop_record(store: &RedisStore, bytes: &[u8]) {
    let () = redis::cmd("SET")
        .arg(SHOP_KEY)
        .arg(bytes)
        .query_async(&mut store.connection())
        .await
        .unwrap();
}

/// A store of the next release on `redis` (records one format newer).
async fn next_release(redis: &RedisServer) -> RedisStore {
    store(redis)
        .await
        .with_record_formats(Versions::BUMPED.records)
}

/// [`busy_shop`], created by `writer` with token 1.
async fn stored_by(writer: &RedisStore) -> ShopState {
    let mut shop = busy_shop();
    shop.take_write_set();
    writer
        .commit(&shop, &full_write_set(&shop), 1, NOW, &[], true)
        .await
        .unwrap();
    shop
}

/// Asserts that `loaded` is `shop` (deadlines aside: they come back from TTLs).
fn assert_same_shop(loaded: &ShopState, shop: &ShopState) {
    let (_, loaded_rest) = split_deadlines(loaded.snapshot());
    let (_, rest) = split_deadlines(shop.snapshot());
    assert_eq!(loaded_rest, rest);
}

pub(crate) async fn a_shop_stored_by_a_newer_release_is_refused_at_load_and_left_as_it_was() {
    let redis = start_redis();
    let current = store(&redis).await;
    let next = next_release(&redis).await;
    let shop = stored_by(&next).await;
    assert_eq!(shop_record(&next).await.format, RECORD_FORMAT + 1);
    let before = stored_data(&current).await;

    let refused = current.load(shop.shop_id(), 2, NOW).await.unwrap_err();
    match &refused {
        StoreError::NewerFormat {
            found, understood, ..
        } => assert_eq!((*found, *understood), (RECORD_FORMAT + 1, RECORD_FORMAT)),
        other => panic!("expected NewerFormat, got {other:?}"),
    }
    let message = refused.to_string();
    assert!(
        message.contains(&format!("format {}", RECORD_FORMAT + 1))
            && message.contains(&format!("up to {RECORD_FORMAT}")),
        "{message}"
    );
    assert_eq!(
        stored_data(&current).await,
        before,
        "the refusal wrote nothing"
    );

    // A worker of the newer release serves it, as it was.
    let loaded = next.load(shop.shop_id(), 3, NOW).await.unwrap().unwrap();
    assert_same_shop(&loaded.state, &shop);
}

pub(crate) async fn a_shop_of_the_previous_release_is_read_and_stamped_before_it_is_served() {
    let redis = start_redis();
    let current = store(&redis).await;
    let next = next_release(&redis).await;
    let shop = stored_by(&current).await;
    assert_eq!(shop_record(&current).await.format, RECORD_FORMAT);

    let loaded = next.load(shop.shop_id(), 2, NOW).await.unwrap().unwrap();
    assert_same_shop(&loaded.state, &shop);
    assert_eq!(shop_record(&next).await.format, RECORD_FORMAT + 1);
    // From then on a worker of the previous release no longer reads it.
    let refused = current.load(shop.shop_id(), 3, NOW).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::NewerFormat { .. }),
        "{refused:?}"
    );
}

pub(crate) async fn a_shop_record_without_a_format_reads_as_the_first() {
    let redis = start_redis();
    let current = store(&redis).await;
    let shop = stored_by(&current).await;
    // As written before formats existed: no `format` field at all.
    let unversioned = ShopRecord {
        format: 0,
        ..shop_record(&current).await
    };
    set_shop_record(&current, &unversioned.encode_to_vec()).await;
    let loaded = current.load(shop.shop_id(), 2, NOW).await.unwrap().unwrap();
    assert_same_shop(&loaded.state, &shop);
}

pub(crate) async fn undecodable_bytes_are_corruption_not_a_newer_format() {
    let redis = start_redis();
    let current = store(&redis).await;
    let next = next_release(&redis).await;
    let shop = stored_by(&current).await;
    // A length-delimited field whose length runs past the end.
    set_shop_record(&current, &[0x0a, 0xff, 0x01, b'x']).await;
    for store in [&current, &next] {
        let refused = store.load(shop.shop_id(), 2, NOW).await.unwrap_err();
        assert!(matches!(refused, StoreError::Corrupt(_)), "{refused:?}");
    }
}
