//! What the tests share: a store on a fresh redis-server, and the shops and write
//! sets they commit.

use std::time::Duration;

use fenliu_node::redis_connection::RedisConnection;
use fenliu_testkit::RedisServer;
use fenliu_worker::engine::*;
use fenliu_worker::store::RedisStore;

const NAMESPACE: &str = "fenliu";
pub(crate) const NOW: Timestamp = Timestamp(1_795_305_600_000);

pub(crate) async fn store(redis: &RedisServer) -> RedisStore {
    let connection = RedisConnection::connect(&[redis.url()], Duration::from_secs(2))
        .await
        .expect("connect");
    RedisStore::new(connection, NAMESPACE)
}

pub(crate) fn start_redis() -> RedisServer {
    RedisServer::start().expect("start redis-server")
}

/// A new buyer's message without an order.
pub(crate) fn request(buyer: &str, request_id: &str) -> RouteRequest {
    RouteRequest {
        buyer: BuyerId::from(buyer),
        request_id: RequestId::from(request_id),
        order_status: OrderStatus::NoActiveOrder,
        addressed: None,
        from_bot: false,
    }
}

/// Shop s1 with customer-service account `a` online, room for `max_concurrent`.
pub(crate) fn shop_with_account_a_online(max_concurrent: u32) -> ShopState {
    let mut shop = ShopState::new(
        ShopId::from("s1"),
        Profile::Kuaishou,
        AccountId::from("main"),
        NOW,
    );
    let config = AccountConfig {
        display_name: "a".to_owned(),
        roles: [Role::CustomerService].into_iter().collect(),
        non_routing: false,
        max_concurrent: Some(max_concurrent),
        pool_permission: false,
        main_account_participates: false,
    };
    shop.upsert_account(
        AccountUpsert {
            id: AccountId::from("a"),
            config,
        },
        NOW,
    )
    .unwrap();
    shop.set_account_status(&AccountId::from("a"), AccountStatus::Online, NOW)
        .unwrap();
    shop
}

/// A shop with an account online, an assigned session, an ended one and a queue.
pub(crate) fn busy_shop() -> ShopState {
    let mut shop = shop_with_account_a_online(1);
    shop.update_settings(
        &SettingsPatch {
            close_delay: Some(Duration::from_secs(30)),
            route_rate_limit_per_second: Some(250),
            ..Default::default()
        },
        NOW,
    )
    .unwrap();
    for (n, buyer) in ["b1", "b2", "b3"].iter().enumerate() {
        shop.route(&request(buyer, &format!("r{n}")), NOW).unwrap();
    }
    shop.end_session(SessionId(1), None, NOW).unwrap();
    shop
}

/// A snapshot's deadlines (presence, close delays, affinities), and the snapshot
/// without them.
pub(crate) fn split_deadlines(mut snapshot: ShopSnapshot) -> (Vec<Timestamp>, ShopSnapshot) {
    let mut deadlines = Vec::new();
    for account in &mut snapshot.accounts {
        deadlines.extend(account.presence_expires_at.take());
    }
    for session in &mut snapshot.sessions {
        deadlines.extend(session.closes_at.take());
    }
    for (_, affinity) in &mut snapshot.affinities {
        deadlines.push(std::mem::take(&mut affinity.expires_at));
    }
    (deadlines, snapshot)
}

/// Everything the shop would write when created.
pub(crate) fn full_write_set(shop: &ShopState) -> WriteSet {
    let mut writes = WriteSet {
        settings: true,
        ..Default::default()
    };
    writes.accounts = shop.accounts().map(|a| a.id.clone()).collect();
    writes.presence = writes.accounts.clone();
    writes.sessions = shop.sessions().map(|s| s.id).collect();
    writes.affinities = ["b1", "b2", "b3"]
        .iter()
        .map(|b| BuyerId::from(*b))
        .collect();
    writes.new_affinities = writes.affinities.clone();
    writes.groups = shop.groups().map(|g| g.name.clone()).collect();
    writes
}

/// A store on `redis`, and [`busy_shop`] created in it by the owner holding token
/// 1, with nothing left to commit.
pub(crate) async fn stored_busy_shop(redis: &RedisServer) -> (RedisStore, ShopState) {
    let store = store(redis).await;
    let mut shop = busy_shop();
    shop.take_write_set();
    store
        .commit(&shop, &full_write_set(&shop), 1, NOW, &[], true)
        .await
        .unwrap();
    (store, shop)
}
