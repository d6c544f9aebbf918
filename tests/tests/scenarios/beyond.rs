//! One scenario per rule beyond the two platforms (R20–R25), through a real
//! dispatcher in front of real workers, in every deployment the rule scenarios
//! run in. Time-driven rules (R21, R22) run in real time with one-second
//! settings, and are watched on the shop's event stream: no call is made while
//! they are due, so they can only have happened by themselves.

use fenliu_tests::*;
use pb::candidate::Why;
use pb::shop_event::Event;
use pb::{AccountStatus, OrderStatus, RouteReason, SessionState};
use tonic::Code;

const SHOP: &str = "shop-beyond";

/// The next event of the stream that `pick` picks out, skipping the others.
async fn next_matching<T>(
    events: &mut tonic::Streaming<pb::ShopEvent>,
    pick: impl Fn(&pb::ShopEvent) -> Option<T>,
) -> (T, u64) {
    loop {
        let event = next_event(events).await;
        if let Some(found) = pick(&event) {
            return (found, event.at_ms);
        }
    }
}

fn record_reply(session_id: u64, account_id: &str) -> pb::RecordReplyRequest {
    pb::RecordReplyRequest {
        shop_id: SHOP.to_owned(),
        session_id,
        account_id: account_id.to_owned(),
    }
}

async fn account_state(client: &mut Client, account_id: &str) -> pb::AccountState {
    account(&shop_state(client, SHOP).await, account_id).clone()
}

// ------------------------------------------------------------------ R20

#[tokio::test]
async fn r20_a_waiting_buyer_is_told_an_estimate_once_slots_have_freed() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .close_delay(0)
            .online(&["a"])
            .create(&mut client)
            .await;
        let serving = route_new(&mut client, SHOP, "first").await;
        let waiting = route_new(&mut client, SHOP, "second").await;
        assert_queued(&waiting, "shop", 1);
        let unknown = waiting.session.wait_estimate.unwrap();
        assert!(!unknown.known, "no slot has freed yet: {unknown:?}");
        // Three slots free (each served buyer is finished at once).
        end_session(&mut client, SHOP, serving.id()).await;
        end_session(&mut client, SHOP, waiting.id()).await;
        let third = route_new(&mut client, SHOP, "third").await;
        end_session(&mut client, SHOP, third.id()).await;
        route_new(&mut client, SHOP, "fourth").await;
        let told = route_new(&mut client, SHOP, "fifth").await;
        assert_queued(&told, "shop", 1);
        let estimate = told.session.wait_estimate.unwrap();
        assert!(estimate.known, "{estimate:?}");
        assert!(
            estimate.low_seconds <= estimate.high_seconds,
            "{estimate:?}"
        );
        // Later reads give it too, and the shop counts how the first one held.
        let read = get_session(&mut client, SHOP, told.id()).await;
        assert!(read.wait_estimate.unwrap().known);
        let state = shop_state(&mut client, SHOP).await;
        let listed = &state.queues[0].sessions[0];
        assert_eq!(listed.session_id, told.id());
        assert!(listed.wait_estimate.as_ref().unwrap().known);
        let accuracy = state.wait_estimate_accuracy.unwrap();
        assert_eq!(
            (accuracy.samples, accuracy.unknown),
            (0, 1),
            "the second buyer was served, told: unknown"
        );
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R21

#[tokio::test]
async fn r21_a_buyer_waiting_past_the_maximum_leaves_a_message_by_itself() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .online(&["a"])
            .settings(|s| s.max_queue_wait_seconds = Some(1))
            .create(&mut client)
            .await;
        let settings = get_shop(&mut client, SHOP).await.settings.unwrap();
        assert_eq!(
            settings.queue_timeout_action(),
            pb::QueueTimeoutAction::MessagePool
        );
        route_new(&mut client, SHOP, "served").await;
        let mut events = watch(&mut client, SHOP).await;
        let waiting = route_new(&mut client, SHOP, "waiting").await;
        assert_queued(&waiting, "shop", 1);
        // No call: the wait runs out by itself.
        let (pooled, at_ms) = next_matching(&mut events, |event| match &event.event {
            Some(Event::SessionPooled(pooled)) => Some(pooled.clone()),
            _ => None,
        })
        .await;
        assert_eq!(pooled.session_id, waiting.id());
        assert_eq!(pooled.reason(), RouteReason::QueueTimeout);
        assert!(at_ms >= waiting.session.created_at_ms + 1000, "{at_ms}");
        let session = get_session(&mut client, SHOP, waiting.id()).await;
        assert_eq!(session.state(), SessionState::Pooled);
        assert_eq!(session.reason(), RouteReason::QueueTimeout);
        assert_eq!(
            pool(&shop_state(&mut client, SHOP).await),
            vec![waiting.id()]
        );
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r21_least_loaded_takes_the_timed_out_buyer_even_when_full_and_r25_counts_it() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .cs("b", 2)
            .online(&["a", "b"])
            .settings(|s| {
                s.max_queue_wait_seconds = Some(1);
                s.queue_timeout_action = Some(pb::QueueTimeoutAction::LeastLoaded as i32);
            })
            .create(&mut client)
            .await;
        for buyer in ["x", "y", "z"] {
            route_new(&mut client, SHOP, buyer).await;
        }
        // a: 1 of 1 plus one addressed (2/1); b: 2 of 2 (1.0): b is the least loaded.
        route_addressed(&mut client, SHOP, "addressing", "a").await;
        let mut events = watch(&mut client, SHOP).await;
        let waiting = route_new(&mut client, SHOP, "waiting").await;
        assert_queued(&waiting, "shop", 1);
        let (assigned, _) = next_matching(&mut events, |event| match &event.event {
            Some(Event::SessionAssigned(assigned)) => Some(assigned.clone()),
            _ => None,
        })
        .await;
        assert_eq!(assigned.session_id, waiting.id());
        assert_eq!(assigned.account_id, "b");
        assert_eq!(assigned.cause(), pb::AssignCause::QueueTimeout);
        assert_eq!(assigned.reason(), RouteReason::QueueTimeout);
        assert_eq!(assigned.from_queue, "shop");
        let b = account_state(&mut client, "b").await;
        assert_eq!(b.occupancy, 3);
        assert_eq!(
            b.overflow_by_rule,
            vec![pb::RuleCount {
                rule: "R21".to_owned(),
                count: 1
            }]
        );
        assert!(
            b.assigned_by_cause.contains(&pb::CauseCount {
                cause: pb::AssignCause::QueueTimeout as i32,
                count: 1
            }),
            "{b:?}"
        );
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R22

#[tokio::test]
async fn r22_an_unanswered_buyer_is_reminded_and_moved_and_the_affinity_follows_the_reply() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 2)
            .cs("b", 2)
            .close_delay(0)
            .online(&["a", "b"])
            .settings(|s| {
                // Two seconds: the new holder's own wait must not run out
                // before this test has its reply recorded.
                s.reply_timeout_seconds = Some(2);
                s.reassign_unanswered = Some(true);
            })
            .create(&mut client)
            .await;
        let mut events = watch(&mut client, SHOP).await;
        let routed = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&routed, "a", RouteReason::Even);
        assert_eq!(
            routed.session.reply_due_at_ms,
            routed.session.created_at_ms + 2000
        );
        // No call: the reply timeout runs out by itself.
        let (unanswered, at_ms) = next_matching(&mut events, |event| match &event.event {
            Some(Event::SessionUnanswered(unanswered)) => Some(unanswered.clone()),
            _ => None,
        })
        .await;
        assert!(at_ms >= routed.session.reply_due_at_ms);
        assert_eq!(
            (
                unanswered.session_id,
                unanswered.account_id.as_str(),
                unanswered.reassigned_to_account_id.as_str(),
                unanswered.waited_seconds
            ),
            (routed.id(), "a", "b", 2)
        );
        let whys: Vec<(String, Why)> = unanswered
            .candidates
            .iter()
            .map(|c| (c.account_id.clone(), c.why()))
            .collect();
        assert_eq!(
            whys,
            vec![
                ("a".to_owned(), Why::AlreadyTimedOut),
                ("b".to_owned(), Why::Chosen),
                (MAIN.to_owned(), Why::NotParticipating),
            ]
        );
        let (moved, _) = next_matching(&mut events, |event| match &event.event {
            Some(Event::SessionAssigned(assigned)) => Some(assigned.clone()),
            _ => None,
        })
        .await;
        assert_eq!(
            (
                moved.account_id.as_str(),
                moved.cause(),
                moved.from_account_id.as_str()
            ),
            ("b", pb::AssignCause::ReplyTimeout, "a")
        );
        let session = get_session(&mut client, SHOP, routed.id()).await;
        assert_eq!(session.account_id, "b");
        assert_eq!(session.reassignments, 1);
        assert_eq!(session.timed_out_account_ids, vec!["a".to_owned()]);
        // Only the holder replies; its reply stops the wait.
        let refused = client.record_reply(record_reply(routed.id(), "a")).await;
        assert_refused(refused, Code::FailedPrecondition, "account_id");
        let replied = client
            .record_reply(record_reply(routed.id(), "b"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(replied.reply_due_at_ms, 0);
        // The affinity moved with b's reply: the buyer's next visit goes to b (R5).
        end_session(&mut client, SHOP, routed.id()).await;
        route_new(&mut client, SHOP, "other").await; // a is now the least loaded
        let back = route_new(&mut client, SHOP, "buyer").await;
        assert_assigned(&back, "b", RouteReason::Affinity);
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R23

#[tokio::test]
async fn r23_a_higher_priority_buyer_is_served_first() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .close_delay(0)
            .online(&["a"])
            .create(&mut client)
            .await;
        let serving = route_new(&mut client, SHOP, "serving").await;
        let normal = route_new(&mut client, SHOP, "normal").await;
        let mut request = route_request(SHOP, "urgent", OrderStatus::NoActiveOrder);
        request.priority = 5;
        let urgent = try_route(&mut client, request).await.unwrap();
        assert_queued(&urgent, "shop", 1);
        assert_eq!(urgent.session.priority, 5);
        let state = shop_state(&mut client, SHOP).await;
        assert_eq!(queue(&state, "shop"), vec![urgent.id(), normal.id()]);
        assert_eq!(state.queues[0].sessions[1].queue_position, 2);
        end_session(&mut client, SHOP, serving.id()).await;
        assert_eq!(
            get_session(&mut client, SHOP, urgent.id()).await.account_id,
            "a"
        );
        assert_eq!(
            get_session(&mut client, SHOP, normal.id()).await.state(),
            SessionState::Queued
        );
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R24

#[tokio::test]
async fn r24_a_route_asking_for_it_explains_every_account() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .cs("b", 2)
            .cs("c", 2)
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        route_new(&mut client, SHOP, "x").await; // a: full
        let plain = route_new(&mut client, SHOP, "y").await;
        assert!(plain.candidates.is_empty(), "only when asked");
        let mut request = route_request(SHOP, "buyer", OrderStatus::NoActiveOrder);
        request.explain = true;
        let explained = try_route(&mut client, request.clone()).await.unwrap();
        assert_assigned(&explained, "b", RouteReason::Even);
        let whys: Vec<(String, bool, Why)> = explained
            .candidates
            .iter()
            .map(|c| (c.account_id.clone(), c.chosen, c.why()))
            .collect();
        assert_eq!(
            whys,
            vec![
                ("a".to_owned(), false, Why::Full),
                ("b".to_owned(), true, Why::Chosen),
                ("c".to_owned(), false, Why::Offline),
                (MAIN.to_owned(), false, Why::NotParticipating),
            ]
        );
        let replayed = try_route(&mut client, request).await.unwrap();
        assert!(replayed.replayed && replayed.candidates.is_empty());
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ R25

#[tokio::test]
async fn r25_the_shop_counts_by_cause_overflow_by_rule_and_the_spread() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        ShopBuilder::kuaishou(SHOP)
            .cs("a", 1)
            .cs("b", 2)
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        route_new(&mut client, SHOP, "x").await; // a 1/1
        route_addressed(&mut client, SHOP, "addressing", "a").await; // R2: a 2/1
        let state = shop_state(&mut client, SHOP).await;
        let a = account(&state, "a");
        assert_eq!(
            a.assigned_by_cause,
            vec![pb::CauseCount {
                cause: pb::AssignCause::Rule as i32,
                count: 2
            }]
        );
        assert_eq!(
            a.overflow_by_rule,
            vec![pb::RuleCount {
                rule: "R2".to_owned(),
                count: 1
            }]
        );
        assert!(account(&state, "b").overflow_by_rule.is_empty());
        // a at 2 of 1, b at 0 of 2.
        assert_eq!(state.load_spread, 2.0);
        set_status(&mut client, SHOP, "b", AccountStatus::Offline).await;
        assert_eq!(shop_state(&mut client, SHOP).await.load_spread, 0.0);
        node.stop().await;
    })
    .await;
}

// ------------------------------------------------------------------ off

#[tokio::test]
async fn r20_to_r25_settings_are_off_by_default_in_both_profiles() {
    bounded(async {
        let node = super::backend::start().await;
        let mut client = node.client().await;
        for (shop_id, builder) in [
            ("off-taobao", ShopBuilder::taobao("off-taobao")),
            ("off-kuaishou", ShopBuilder::kuaishou("off-kuaishou")),
        ] {
            builder.cs("a", 1).online(&["a"]).create(&mut client).await;
            let settings = get_shop(&mut client, shop_id).await.settings.unwrap();
            assert_eq!(
                (
                    settings.max_queue_wait_seconds,
                    settings.reply_timeout_seconds,
                    settings.reassign_unanswered,
                    settings.max_reassignments,
                    settings.priority_aging_seconds,
                ),
                (0, 0, false, 1, 0),
                "{shop_id}"
            );
            assert_eq!(
                settings.queue_timeout_action(),
                pb::QueueTimeoutAction::MessagePool
            );
            let routed = route_new(&mut client, shop_id, "buyer").await;
            assert_eq!(routed.session.reply_due_at_ms, 0, "{shop_id}");
            assert!(routed.candidates.is_empty());
        }
        node.stop().await;
    })
    .await;
}
