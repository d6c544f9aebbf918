//! R21 and R22 across workers: their deadlines are derived from what is stored
//! with each session (when it was created, since when its buyer waits), so when
//! the worker that owns a shop stops, or the whole deployment restarts, the worker
//! that serves the shop next loads it and times the waits out by itself, at
//! their moment. No call is made while they are due: the shop's event stream
//! shows them happen.

use fenliu_tests::*;
use pb::shop_event::Event;

const SHOP: &str = "timeouts";
/// Long enough for the shop to reach its next worker before the waits run out.
const WAIT_SECONDS: u32 = 5;
const WAIT_MS: u64 = WAIT_SECONDS as u64 * 1000;

/// A shop whose buyer on `a` waits for a reply (R22, reminder only) and whose
/// other buyer waits in the queue (R21, to the main account); both run out
/// `WAIT_SECONDS` after they began. Returns (the assigned, the queued) session.
async fn shop_with_running_waits(client: &mut Client) -> (Routed, Routed) {
    ShopBuilder::kuaishou(SHOP)
        .cs("a", 1)
        .online(&["a"])
        .presence_ttl(60)
        .settings(|s| {
            s.max_queue_wait_seconds = Some(WAIT_SECONDS);
            s.queue_timeout_action = Some(pb::QueueTimeoutAction::MainAccount as i32);
            s.reply_timeout_seconds = Some(WAIT_SECONDS);
        })
        .create(client)
        .await;
    let held = route_new(client, SHOP, "held").await;
    let waiting = route_new(client, SHOP, "waiting").await;
    assert_queued(&waiting, "shop", 1);
    (held, waiting)
}

/// Subscribes once the shop is served again, checking its waits have not run out
/// yet, then waits (with no call) for both to run out by themselves.
async fn both_waits_run_out_by_themselves(client: &mut Client, held: &Routed, waiting: &Routed) {
    let due_ms = held.session.reply_due_at_ms;
    assert!(due_ms > 0);
    let state = wait_for("the shop to be served again", || {
        let mut client = client.clone();
        async move { try_shop_state(&mut client, SHOP).await.ok() }
    })
    .await;
    assert!(
        state.now_ms < due_ms.min(waiting.session.created_at_ms + WAIT_MS),
        "the shop reached its next worker too late to watch the waits run out"
    );
    let mut events = watch(client, SHOP).await;
    let (mut reminded, mut timed_out) = (None, None);
    while reminded.is_none() || timed_out.is_none() {
        let event = next_event(&mut events).await;
        match event.event {
            Some(Event::SessionUnanswered(unanswered)) => {
                reminded = Some((unanswered, event.at_ms))
            }
            Some(Event::SessionAssigned(assigned)) => timed_out = Some((assigned, event.at_ms)),
            _ => {}
        }
    }
    let (unanswered, at_ms) = reminded.unwrap();
    assert_eq!(
        (unanswered.session_id, unanswered.account_id.as_str()),
        (held.id(), "a")
    );
    assert!(at_ms >= due_ms, "reminded at {at_ms}, due at {due_ms}");
    let (assigned, at_ms) = timed_out.unwrap();
    assert_eq!(
        (
            assigned.session_id,
            assigned.account_id.as_str(),
            assigned.cause()
        ),
        (waiting.id(), MAIN, pb::AssignCause::QueueTimeout)
    );
    assert!(at_ms >= waiting.session.created_at_ms + WAIT_MS);
    let session = get_session(client, SHOP, waiting.id()).await;
    assert_eq!(session.reason(), pb::RouteReason::QueueTimeout);
    let held_now = get_session(client, SHOP, held.id()).await;
    assert_eq!(held_now.timed_out_account_ids, vec!["a".to_owned()]);
    assert_eq!(held_now.reply_due_at_ms, 0, "reminded once");
}

#[tokio::test]
async fn r21_r22_waits_run_out_on_the_new_owner_after_the_owner_stops() {
    bounded(async {
        let mut node = TestNode::start_on_redis(2).await;
        let mut client = node.client().await;
        let (held, waiting) = shop_with_running_waits(&mut client).await;
        let owner = node.owner_of(SHOP);
        node.stop_worker(owner).await;
        both_waits_run_out_by_themselves(&mut client, &held, &waiting).await;
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r21_r22_waits_run_out_after_the_whole_deployment_restarts() {
    bounded(async {
        let node = TestNode::start_on_redis(2).await;
        let mut client = node.client().await;
        let (held, waiting) = shop_with_running_waits(&mut client).await;
        let node = node.restart().await;
        let mut client = node.client().await;
        both_waits_run_out_by_themselves(&mut client, &held, &waiting).await;
        node.stop().await;
    })
    .await;
}
