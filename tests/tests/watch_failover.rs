//! A `WatchShop` stream through the dispatcher keeps delivering the shop's events
//! when the shop's shard moves to another worker: the dispatcher resumes it on the
//! new owner.

use fenliu_tests::*;
use pb::shop_event::Event;

#[tokio::test]
async fn a_watch_stream_resumes_on_the_new_owner_when_the_shard_moves() {
    bounded(async {
        let mut node = TestNode::start_on_redis(2).await;
        let mut client = node.client().await;
        let shop = "moving-shop";
        ShopBuilder::new(shop, pb::Profile::Kuaishou)
            .cs("agent", 2)
            .create(&mut client)
            .await;
        let mut events = watch(&mut client, shop).await;

        set_status(&mut client, shop, "agent", pb::AccountStatus::Online).await;
        let before = next_event(&mut events).await;
        assert!(
            matches!(before.event, Some(Event::AccountStatusChanged(_))),
            "{before:?}"
        );

        // The owner leaves; the other worker takes the shard over.
        let owner = node.owner_of(shop);
        node.stop_worker(owner).await;

        // A call through the dispatcher reaches the new owner (after retries), and
        // the same stream carries the event it causes.
        set_status(&mut client, shop, "agent", pb::AccountStatus::Suspended).await;
        let after = loop {
            let event = next_event(&mut events).await;
            if let Some(Event::AccountStatusChanged(change)) = &event.event
                && change.to == pb::AccountStatus::Suspended as i32
            {
                break change.clone();
            }
        };
        assert_eq!(after.account_id, "agent");
        assert_eq!(
            after.from,
            pb::AccountStatus::Online as i32,
            "the new owner loaded the stored status"
        );
        node.stop().await;
    })
    .await;
}
