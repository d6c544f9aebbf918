//! The shops the fault tests route on, made through the tests crate's
//! [`ShopBuilder`].

use fenliu_tests::{Client, ShopBuilder, pb};

/// A KUAISHOU shop whose offline policy is QUEUE (nobody is given a session
/// beyond capacity), with customer-service accounts `cs-0..cs-{accounts-1}` of
/// `max_concurrent` slots each, all ONLINE with a long presence TTL.
pub fn fault_shop(shop: &str, accounts: usize, max_concurrent: u32) -> ShopBuilder {
    let account_ids: Vec<String> = (0..accounts).map(|i| format!("cs-{i}")).collect();
    let account_ids: Vec<&str> = account_ids.iter().map(String::as_str).collect();
    let shop = ShopBuilder::kuaishou(shop)
        .offline_policy(pb::OfflinePolicy::Queue)
        .presence_ttl(3600);
    account_ids
        .iter()
        .fold(shop, |shop, id| shop.cs(id, max_concurrent))
        .online(&account_ids)
}

/// A [`fault_shop`] with 2 accounts of 50 slots: every new buyer is assigned.
pub async fn roomy_shop(client: &mut Client, shop: &str) {
    fault_shop(shop, 2, 50).create(client).await;
}
