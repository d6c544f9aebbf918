//! Ids that spell key names (issue 9): a buyer, shop or request id holding `{`,
//! `}`, `:` or `%` names only its own shop's keys. Each scenario runs the
//! issue's steps on 3 workers over one Redis (or Redis Cluster), restarts the
//! deployment so that every shop is loaded again from Redis, and checks that
//! both shops are as they were and still decide on what they stored.

use fenliu_tests::*;
use pb::RouteReason;

/// The shop the buyers write to.
const A: &str = "A";

/// A shop with two accounts, both online, whose ended sessions close at once
/// (so that a state read before and after a restart has nothing running out).
async fn two_account_shop(client: &mut Client, shop_id: &str) {
    ShopBuilder::kuaishou(shop_id)
        .cs("a", 5)
        .cs("b", 5)
        .close_delay(0)
        .online(&["a", "b"])
        .create(client)
        .await;
}

/// Routes each buyer and ends the session, so that each leaves an affinity (and
/// no open session) behind; returns the account each went to.
async fn visit(client: &mut Client, shop_id: &str, buyers: &[&str]) -> Vec<String> {
    let mut accounts = Vec::new();
    for buyer in buyers {
        let routed = route_new(client, shop_id, buyer).await;
        assert!(!routed.account().is_empty(), "{routed:?}");
        end_session(client, shop_id, routed.id()).await;
        accounts.push(routed.account().to_owned());
    }
    accounts
}

/// Each buyer comes back to the account it went to, by its affinity (R5).
async fn assert_returning(
    client: &mut Client,
    shop_id: &str,
    buyers: &[&str],
    accounts: &[String],
) {
    for (buyer, account) in buyers.iter().zip(accounts) {
        let back = route_new(client, shop_id, buyer).await;
        assert_assigned(&back, account, RouteReason::Affinity);
    }
}

/// Each shop's state, as read now (comparable across reads).
async fn states(client: &mut Client, shop_ids: &[&str]) -> Vec<pb::ShopState> {
    let mut states = Vec::new();
    for shop_id in shop_ids {
        states.push(comparable(shop_state(client, shop_id).await));
    }
    states
}

/// Restarts `node` and asserts that every shop of `shop_ids` was loaded back as
/// it was; returns the new node.
async fn restart_and_compare(node: TestNode, shop_ids: &[&str]) -> TestNode {
    let before = states(&mut node.client().await, shop_ids).await;
    let node = node.restart().await;
    let after = states(&mut node.client().await, shop_ids).await;
    for ((shop_id, before), after) in shop_ids.iter().zip(&before).zip(&after) {
        assert_eq!(before, after, "shop {shop_id:?} after the restart");
    }
    node
}

#[tokio::test]
async fn r05_a_shop_named_like_a_buyers_affinity_key_is_created_and_both_survive_a_reload() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        // Buyer `y}:shop`'s affinity key was `ns:{A}:affinity:y}:shop`: the
        // record of shop `A}:affinity:y`, whose creation then read the affinity
        // as a shop and failed INTERNAL. `y%7D%3Ashop` is that buyer's id
        // escaped: another buyer, with a key of its own.
        two_account_shop(&mut client, A).await;
        let buyers = ["y}:shop", "y%7D%3Ashop", "{y}", ":"];
        let accounts = visit(&mut client, A, &buyers).await;
        let other = "A}:affinity:y";
        two_account_shop(&mut client, other).await;
        let other_accounts = visit(&mut client, other, &["b1"]).await;

        let node = restart_and_compare(node, &[A, other]).await;
        let mut client = node.client().await;
        assert_returning(&mut client, A, &buyers, &accounts).await;
        assert_returning(&mut client, other, &["b1"], &other_accounts).await;
        check_shop_invariants(&mut client, A).await;
        check_shop_invariants(&mut client, other).await;
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r05_a_buyer_whose_affinity_key_spelled_another_shops_record_leaves_it_intact_after_a_reload()
 {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        // The other order: shop `A}:affinity:x` first, then buyer `x}:shop` in
        // `A`, whose affinity overwrote that shop's record: both calls
        // succeeded, and the shop answered INTERNAL from its next load on.
        let other = "A}:affinity:x";
        two_account_shop(&mut client, other).await;
        let other_accounts = visit(&mut client, other, &["b1"]).await;
        two_account_shop(&mut client, A).await;
        let buyers = ["x}:shop"];
        let accounts = visit(&mut client, A, &buyers).await;

        let node = restart_and_compare(node, &[A, other]).await;
        let mut client = node.client().await;
        assert_returning(&mut client, other, &["b1"], &other_accounts).await;
        assert_returning(&mut client, A, &buyers, &accounts).await;
        let fresh = route_new(&mut client, other, "b2").await;
        assert!(!fresh.account().is_empty(), "{fresh:?}");
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r01_request_ids_and_account_ids_that_spell_keys_stay_their_own_shops() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        // A request id spelling shop `A}:request:r`'s record, remembered with
        // its Route's answer; an account id spelling a presence key; and a shop
        // called `meta`, which shares the membership's hash tag.
        two_account_shop(&mut client, A).await;
        let other = "A}:request:r";
        two_account_shop(&mut client, other).await;
        let request = route_request_with_id(A, "buyer", "r}:shop", pb::OrderStatus::NoActiveOrder);
        let first = try_route(&mut client, request.clone()).await.unwrap();
        ShopBuilder::kuaishou("meta")
            .cs("presence:a", 5)
            .cs("a}:presence", 5)
            .online(&["presence:a", "a}:presence"])
            .create(&mut client)
            .await;
        let meta_accounts = visit(&mut client, "meta", &["member:worker-0", "lease:0"]).await;

        let node = restart_and_compare(node, &[A, other, "meta"]).await;
        let mut client = node.client().await;
        // The Route is replayed from what was stored under its request id.
        let again = try_route(&mut client, request).await.unwrap();
        assert!(again.replayed, "{again:?}");
        assert_eq!(again.session, first.session);
        let fresh = route_new(&mut client, other, "b1").await;
        assert!(!fresh.account().is_empty(), "{fresh:?}");
        let meta_buyers = ["member:worker-0", "lease:0"];
        assert_returning(&mut client, "meta", &meta_buyers, &meta_accounts).await;
        node.stop().await;
    })
    .await;
}
