//! `WatchShop` through the dispatcher: every change of a shop arrives, in order, with
//! a sequence that increases by one, including what happens with nobody calling
//! (a close delay running out, a presence TTL running out).

use fenliu_tests::*;
use pb::shop_event::Event;
use pb::{AccountStatus, AssignCause, RouteReason};
use tonic::{Code, Streaming};

const SHOP: &str = "shop-1";

/// A shop's event stream that checks each event follows the last by one.
struct Events {
    stream: Streaming<pb::ShopEvent>,
    last_sequence: u64,
}

impl Events {
    async fn watch(client: &mut Client) -> Events {
        Events {
            stream: watch(client, SHOP).await,
            last_sequence: 0,
        }
    }

    /// The next event and when it happened (server time, ms).
    async fn next(&mut self) -> (Event, u64) {
        let event = next_event(&mut self.stream).await;
        assert_eq!(
            event.sequence,
            self.last_sequence + 1,
            "sequences increase by one: {event:?}"
        );
        self.last_sequence = event.sequence;
        (event.event.expect("every event has a body"), event.at_ms)
    }
}

fn status_changed(
    account_id: &str,
    from: AccountStatus,
    to: AccountStatus,
    expired: bool,
) -> Event {
    Event::AccountStatusChanged(pb::AccountStatusChanged {
        account_id: account_id.to_owned(),
        from: from as i32,
        to: to as i32,
        presence_expired: expired,
    })
}

fn assigned(
    session_id: u64,
    buyer_id: &str,
    account_id: &str,
    cause: AssignCause,
) -> pb::SessionAssigned {
    pb::SessionAssigned {
        session_id,
        buyer_id: buyer_id.to_owned(),
        account_id: account_id.to_owned(),
        cause: cause as i32,
        reason: 0,
        from_account_id: String::new(),
        from_queue: String::new(),
    }
}

fn by_rule(session_id: u64, buyer_id: &str, account_id: &str, reason: RouteReason) -> Event {
    Event::SessionAssigned(pb::SessionAssigned {
        reason: reason as i32,
        ..assigned(session_id, buyer_id, account_id, AssignCause::Rule)
    })
}

#[tokio::test]
async fn watch_reports_every_change_in_order_including_a_queue_draining_by_itself() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .cs("b", 1)
            .close_delay(1)
            .create(&mut client)
            .await;
        let mut events = Events::watch(&mut client).await;

        set_status(&mut client, SHOP, "a", AccountStatus::Online).await;
        assert_eq!(
            events.next().await.0,
            status_changed("a", AccountStatus::Offline, AccountStatus::Online, false)
        );
        assert_eq!(events.last_sequence, 1, "the shop's first event");

        let s1 = route_new(&mut client, SHOP, "b1").await;
        assert_eq!(
            events.next().await.0,
            by_rule(s1.id(), "b1", "a", RouteReason::Even)
        );

        let s2 = route_new(&mut client, SHOP, "b2").await;
        assert_eq!(
            events.next().await.0,
            Event::SessionQueued(pb::SessionQueued {
                session_id: s2.id(),
                buyer_id: "b2".to_owned(),
                queue: "shop".to_owned(),
                position: 1,
                // R20: no slot has freed yet, so no estimate.
                wait_estimate: Some(pb::WaitEstimate::default()),
            })
        );

        let ended = end_session(&mut client, SHOP, s1.id()).await;
        let (event, ended_at) = events.next().await;
        assert_eq!(
            event,
            Event::SessionEnded(pb::SessionEnded {
                session_id: s1.id(),
                account_id: "a".to_owned(),
                closes_at_ms: ended.closes_at_ms,
            })
        );
        assert_eq!(ended.closes_at_ms, ended_at + 1000, "a 1 s close delay");

        // No call is made: the close delay runs out and the queue drains.
        let (event, closed_at) = events.next().await;
        assert_eq!(
            event,
            Event::SessionClosed(pb::SessionClosed {
                session_id: s1.id(),
                account_id: "a".to_owned(),
            })
        );
        assert!(closed_at >= ended.closes_at_ms, "closed at {closed_at}");
        let (event, drained_at) = events.next().await;
        assert_eq!(
            event,
            Event::SessionAssigned(pb::SessionAssigned {
                from_queue: "shop".to_owned(),
                ..assigned(s2.id(), "b2", "a", AssignCause::Queue)
            })
        );
        assert_eq!(drained_at, closed_at);

        // The message pool.
        client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: SHOP.to_owned(),
                offline_policy: Some(pb::OfflinePolicy::MessagePool as i32),
                ..Default::default()
            })
            .await
            .unwrap();
        set_status(&mut client, SHOP, "a", AccountStatus::Offline).await;
        assert_eq!(
            events.next().await.0,
            status_changed("a", AccountStatus::Online, AccountStatus::Offline, false)
        );
        let s3 = route_new(&mut client, SHOP, "b3").await;
        assert_eq!(
            events.next().await.0,
            Event::SessionPooled(pb::SessionPooled {
                session_id: s3.id(),
                buyer_id: "b3".to_owned(),
                reason: RouteReason::MessagePool as i32,
            })
        );

        // Transfers, and a manual assignment out of the pool.
        try_transfer(&mut client, SHOP, s2.id(), MAIN, "b")
            .await
            .unwrap();
        assert_eq!(
            events.next().await.0,
            Event::SessionAssigned(pb::SessionAssigned {
                from_account_id: "a".to_owned(),
                ..assigned(s2.id(), "b2", "b", AssignCause::Transfer)
            })
        );
        try_transfer(&mut client, SHOP, s2.id(), "b", "a")
            .await
            .unwrap();
        assert_eq!(
            events.next().await.0,
            Event::SessionAssigned(pb::SessionAssigned {
                from_account_id: "b".to_owned(),
                ..assigned(s2.id(), "b2", "a", AssignCause::Transfer)
            })
        );
        try_transfer(&mut client, SHOP, s3.id(), MAIN, "b")
            .await
            .unwrap();
        assert_eq!(
            events.next().await.0,
            Event::SessionAssigned(assigned(s3.id(), "b3", "b", AssignCause::Manual))
        );

        // A refused call publishes nothing: the next event is the next change.
        assert_refused(
            try_transfer(&mut client, SHOP, s3.id(), "a", "a").await,
            Code::PermissionDenied,
            "actor_account_id",
        );
        let s4 = route_addressed(&mut client, SHOP, "b4", "b").await;
        assert_eq!(
            events.next().await.0,
            by_rule(s4.id(), "b4", "b", RouteReason::AddressedOffline)
        );
        drop(events);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_account_without_heartbeats_goes_offline_by_itself_when_its_presence_ttl_passes() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        ShopBuilder::taobao(SHOP)
            .cs("a", 5)
            .presence_ttl(1)
            .create(&mut client)
            .await;
        let mut events = Events::watch(&mut client).await;

        let online = set_status(&mut client, SHOP, "a", AccountStatus::Online).await;
        let (event, online_at) = events.next().await;
        assert_eq!(
            event,
            status_changed("a", AccountStatus::Offline, AccountStatus::Online, false)
        );
        assert_eq!(online.presence_expires_at_ms, online_at + 1000);
        let served = route_new(&mut client, SHOP, "b1").await;
        assert_assigned(&served, "a", RouteReason::Even);
        assert_eq!(
            events.next().await.0,
            by_rule(served.id(), "b1", "a", RouteReason::Even)
        );

        // No heartbeat, no call: the presence runs out.
        let (event, expired_at) = events.next().await;
        assert_eq!(
            event,
            status_changed("a", AccountStatus::Online, AccountStatus::Offline, true)
        );
        assert_eq!(expired_at, online.presence_expires_at_ms);

        // Nobody is available now: a Taobao shop sends the next buyer to main.
        let next = route_new(&mut client, SHOP, "b2").await;
        assert_assigned(&next, MAIN, RouteReason::MainAccount);
        assert_eq!(
            events.next().await.0,
            by_rule(next.id(), "b2", MAIN, RouteReason::MainAccount)
        );
        let state = shop_state(&mut client, SHOP).await;
        let a = account(&state, "a");
        assert_eq!(a.status(), AccountStatus::Offline);
        assert_eq!(a.presence_expires_at_ms, 0);
        assert_eq!(a.session_ids, vec![served.id()], "it keeps its session");
        drop(events);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn heartbeats_keep_an_account_online_past_its_presence_ttl_and_do_not_log_anyone_in() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 5)
            .cs("b", 5)
            .presence_ttl(1)
            .create(&mut client)
            .await;
        let mut events = Events::watch(&mut client).await;
        let online = set_status(&mut client, SHOP, "a", AccountStatus::Online).await;
        assert_eq!(
            events.next().await.0,
            status_changed("a", AccountStatus::Offline, AccountStatus::Online, false)
        );

        // Heartbeats every 300 ms for twice the TTL.
        let mut last_expiry = online.presence_expires_at_ms;
        for _ in 0..7 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let response = client
                .heartbeat(pb::HeartbeatRequest {
                    shop_id: SHOP.to_owned(),
                    account_ids: vec!["a".to_owned(), "b".to_owned()],
                })
                .await
                .unwrap()
                .into_inner();
            let [a, b] = response.accounts.as_slice() else {
                panic!("one presence per account asked about: {response:?}");
            };
            assert_eq!(
                (a.account_id.as_str(), a.status()),
                ("a", AccountStatus::Online)
            );
            assert!(a.presence_expires_at_ms > last_expiry, "{a:?}");
            last_expiry = a.presence_expires_at_ms;
            // A heartbeat is not a login.
            assert_eq!(
                (b.account_id.as_str(), b.status()),
                ("b", AccountStatus::Offline)
            );
            assert_eq!(b.presence_expires_at_ms, 0);
        }
        let state = shop_state(&mut client, SHOP).await;
        assert!(
            state.now_ms > online.presence_expires_at_ms,
            "past the first TTL"
        );
        assert_eq!(account(&state, "a").status(), AccountStatus::Online);

        // Once the heartbeats stop, the presence runs out: the next event.
        let (event, expired_at) = events.next().await;
        assert_eq!(
            event,
            status_changed("a", AccountStatus::Online, AccountStatus::Offline, true)
        );
        assert_eq!(expired_at, last_expiry);
        drop(events);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn watching_an_unknown_shop_is_not_found() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        let refused = client
            .watch_shop(pb::WatchShopRequest {
                shop_id: "nowhere".to_owned(),
                from_sequence: None,
            })
            .await
            .map(|_| ());
        assert_refused(refused, Code::NotFound, "shop_id");
        node.stop().await;
    })
    .await;
}
