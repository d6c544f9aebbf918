//! `WatchShop` loses nothing and repeats nothing: a watcher sees every event of a
//! shop exactly once, in order, numbered 1, 2, 3… across a shard move (the
//! dispatcher resumes the stream on the new owner), a restart of every worker
//! and of the dispatcher (the watcher resumes with `from_sequence`), and what it
//! saw adds up to the shop's final state. The events are kept with the shop
//! (Redis's stream, or memory on the embedded default), so a resume point
//! replays what was missed; one they no longer reach is `OUT_OF_RANGE`.

use std::collections::{BTreeMap, BTreeSet};

use fenliu_tests::*;
use pb::shop_event::Event;
use tokio_stream::StreamExt;
use tonic::{Code, Streaming};

const SHOP: &str = "watched-shop";
const EVENT_SEQUENCE_HEADER: &str = "fenliu-event-sequence";

/// Opens a watch from `from_sequence`; returns the stream and the sequence its
/// response header says it follows on from.
async fn watch_from(
    client: &mut Client,
    from_sequence: Option<u64>,
) -> (Streaming<pb::ShopEvent>, u64) {
    let response = client
        .watch_shop(pb::WatchShopRequest {
            shop_id: SHOP.to_owned(),
            from_sequence,
        })
        .await
        .unwrap_or_else(|status| panic!("watch from {from_sequence:?}: {status:?}"));
    let start = response
        .metadata()
        .get(EVENT_SEQUENCE_HEADER)
        .and_then(|value| value.to_str().ok()?.parse().ok())
        .expect("the response names the sequence the stream follows on from");
    (response.into_inner(), start)
}

/// Reads events into `seen` until the last one is numbered `until`.
async fn read_until(
    stream: &mut Streaming<pb::ShopEvent>,
    seen: &mut Vec<pb::ShopEvent>,
    until: u64,
) {
    while seen.last().map_or(0, |event| event.sequence) < until {
        seen.push(next_event(stream).await);
    }
}

/// Some of every kind of call: both accounts online, `buyers` new buyers routed
/// (those beyond capacity queue), every other session ended, an account's
/// status changed and back.
async fn work(client: &mut Client, next_buyer: &mut u32, buyers: u32) {
    set_status(client, SHOP, "a", pb::AccountStatus::Online).await;
    set_status(client, SHOP, "b", pb::AccountStatus::Online).await;
    let mut sessions = Vec::new();
    for _ in 0..buyers {
        *next_buyer += 1;
        let routed = route_new(client, SHOP, &format!("buyer-{next_buyer}")).await;
        sessions.push(routed.session.session_id);
    }
    for session in sessions.iter().step_by(2) {
        end_session(client, SHOP, *session).await;
    }
    set_status(client, SHOP, "b", pb::AccountStatus::Suspended).await;
    set_status(client, SHOP, "b", pb::AccountStatus::Online).await;
}

/// What the events say each account holds and its status, folded in order.
fn fold(events: &[pb::ShopEvent]) -> (BTreeMap<String, BTreeSet<u64>>, BTreeMap<String, i32>) {
    let mut holder: BTreeMap<u64, String> = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    for event in events {
        match event.event.as_ref().expect("every event has a body") {
            Event::SessionAssigned(assigned) => {
                holder.insert(assigned.session_id, assigned.account_id.clone());
            }
            Event::SessionClosed(closed) => {
                holder.remove(&closed.session_id);
            }
            Event::AccountStatusChanged(change) => {
                statuses.insert(change.account_id.clone(), change.to);
            }
            _ => {}
        }
    }
    let mut held: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for (session, account) in holder {
        held.entry(account).or_default().insert(session);
    }
    (held, statuses)
}

fn assert_numbered_once_in_order(seen: &[pb::ShopEvent]) {
    let sequences: Vec<u64> = seen.iter().map(|event| event.sequence).collect();
    let expected: Vec<u64> = (1..=seen.len() as u64).collect();
    assert_eq!(sequences, expected, "every event once, in order, from 1");
}

#[tokio::test]
async fn a_watcher_sees_every_event_exactly_once_across_a_shard_move_and_a_restart_of_every_node() {
    bounded(async {
        let mut node = TestNode::start_on_redis(3).await;
        let mut client = node.client().await;
        ShopBuilder::new(SHOP, pb::Profile::Kuaishou)
            .cs("a", 2)
            .cs("b", 2)
            .create(&mut client)
            .await;
        let (mut stream, start) = watch_from(&mut client, None).await;
        assert_eq!(start, 0, "a new shop has had no event");
        let mut seen = Vec::new();
        let mut next_buyer = 0;

        work(&mut client, &mut next_buyer, 6).await;
        let before_move = shop_state(&mut client, SHOP).await.event_sequence;
        assert!(before_move > 10, "the work made events: {before_move}");
        read_until(&mut stream, &mut seen, before_move).await;

        // The owner leaves: its shard moves, and the dispatcher resumes the same
        // stream on the new owner after the last event it passed on.
        node.stop_worker(node.owner_of(SHOP)).await;
        work(&mut client, &mut next_buyer, 6).await;
        let after_move = shop_state(&mut client, SHOP).await.event_sequence;
        assert!(after_move > before_move);
        read_until(&mut stream, &mut seen, after_move).await;

        // Every node restarts, the dispatcher too: the stream ends, and the
        // watcher resumes after the last event it saw. Events happen meanwhile.
        let last_seen = seen.last().expect("events were seen").sequence;
        let node = node.restart().await;
        let ended = drain_to_end(&mut stream).await;
        assert!(
            ended.iter().all(|item| match item {
                Ok(event) => event.sequence > last_seen,
                Err(status) => status.code() == Code::Unavailable,
            }),
            "the stream ends retryably: {ended:?}"
        );
        seen.extend(ended.into_iter().filter_map(Result::ok));
        let mut client = node.client().await;
        work(&mut client, &mut next_buyer, 4).await;
        let resume_from = seen.last().expect("events were seen").sequence;
        let (mut stream, start) = watch_from(&mut client, Some(resume_from)).await;
        assert_eq!(
            start, resume_from,
            "the stream follows on from the resume point"
        );
        let state = shop_state(&mut client, SHOP).await;
        read_until(&mut stream, &mut seen, state.event_sequence).await;

        assert_numbered_once_in_order(&seen);
        assert_eq!(seen.len() as u64, state.event_sequence);

        // What the watcher saw adds up to the shop's state.
        let (held, statuses) = fold(&seen);
        for account in &state.accounts {
            let id = &account.account.as_ref().expect("an account").account_id;
            let sessions: BTreeSet<u64> = account.session_ids.iter().copied().collect();
            assert_eq!(
                held.get(id).cloned().unwrap_or_default(),
                sessions,
                "the sessions {id} holds"
            );
            // An account starts offline (as the shop's main account stays here).
            let offline = pb::AccountStatus::Offline as i32;
            let status = statuses.get(id).copied().unwrap_or(offline);
            assert_eq!(status, account.status, "{id}'s status");
        }

        // The whole history replays from the store, identical.
        let (mut replay, start) = watch_from(&mut client, Some(0)).await;
        assert_eq!(start, 0);
        let mut replayed = Vec::new();
        read_until(&mut replay, &mut replayed, state.event_sequence).await;
        assert_eq!(replayed, seen, "the stored events are the ones watched");

        // A resume point the shop has not reached is refused, naming the field.
        let ahead = client
            .watch_shop(pb::WatchShopRequest {
                shop_id: SHOP.to_owned(),
                from_sequence: Some(state.event_sequence + 5),
            })
            .await
            .expect_err("no such event yet");
        assert_eq!(ahead.code(), Code::OutOfRange, "{ahead:?}");
        assert!(ahead.message().starts_with("from_sequence: "), "{ahead:?}");
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn on_the_embedded_default_a_resume_point_replays_the_events_kept_in_memory() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        ShopBuilder::new(SHOP, pb::Profile::Kuaishou)
            .cs("a", 1)
            .cs("b", 1)
            .create(&mut client)
            .await;
        let mut next_buyer = 0;
        work(&mut client, &mut next_buyer, 3).await;
        let state = shop_state(&mut client, SHOP).await;
        let last = state.event_sequence;
        assert!(last > 5, "the work made events: {last}");

        let (mut everything, start) = watch_from(&mut client, Some(0)).await;
        assert_eq!(start, 0);
        let mut seen = Vec::new();
        read_until(&mut everything, &mut seen, last).await;
        assert_numbered_once_in_order(&seen);

        // From the middle: only what follows, then live events go on from there.
        let (mut from_middle, start) = watch_from(&mut client, Some(3)).await;
        assert_eq!(start, 3);
        let mut rest = Vec::new();
        read_until(&mut from_middle, &mut rest, last).await;
        assert_eq!(rest.as_slice(), &seen[3..]);
        set_status(&mut client, SHOP, "a", pb::AccountStatus::Suspended).await;
        let live = next_event(&mut from_middle).await;
        assert_eq!(
            live.sequence,
            last + 1,
            "live events follow the replay: {live:?}"
        );

        // Without a resume point: from now on, the header saying where that is.
        let (mut from_now, start) = watch_from(&mut client, None).await;
        assert_eq!(start, last + 1);
        set_status(&mut client, SHOP, "a", pb::AccountStatus::Online).await;
        assert_eq!(next_event(&mut from_now).await.sequence, last + 2);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(100), from_now.next())
                .await
                .is_err(),
            "nothing else came"
        );
        node.stop().await;
    })
    .await;
}
