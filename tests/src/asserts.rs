//! Reading and asserting on state: the parts of a shop state tests look at,
//! state comparable across reads, the shape of refusals and route answers,
//! and the invariants every shop keeps.

use std::collections::BTreeMap;
use std::time::Duration;

use tonic::{Code, Status};

use fenliu_node::link::RETRY_AFTER_METADATA;
use fenliu_proto::v1 as pb;

use crate::calls::{Client, Routed, try_get_session, try_shop_state};

/// The account's state in a shop state; panics if it is not there.
pub fn account<'a>(state: &'a pb::ShopState, account_id: &str) -> &'a pb::AccountState {
    state
        .accounts
        .iter()
        .find(|a| {
            a.account
                .as_ref()
                .is_some_and(|c| c.account_id == account_id)
        })
        .unwrap_or_else(|| panic!("no account {account_id} in {state:?}"))
}

pub fn occupancy(state: &pb::ShopState, account_id: &str) -> u32 {
    account(state, account_id).occupancy
}

/// The session ids waiting in a queue, oldest first (empty if the queue is empty).
pub fn queue(state: &pb::ShopState, name: &str) -> Vec<u64> {
    state
        .queues
        .iter()
        .find(|q| q.name == name)
        .map(|q| q.sessions.iter().map(|s| s.session_id).collect())
        .unwrap_or_default()
}

/// The session ids in the message pool, in order.
pub fn pool(state: &pb::ShopState) -> Vec<u64> {
    state.pool.iter().map(|s| s.session_id).collect()
}

/// A shop state with what changes by the clock alone taken out (`now_ms`,
/// presence deadlines, and the wait estimates of queued sessions, which follow a
/// rate that decays with time, R20), so that two reads of an unchanged shop
/// compare equal.
pub fn comparable(mut state: pb::ShopState) -> pb::ShopState {
    state.now_ms = 0;
    for account in &mut state.accounts {
        account.presence_expires_at_ms = 0;
    }
    for queue in &mut state.queues {
        for session in &mut queue.sessions {
            session.wait_estimate = None;
        }
    }
    state
}

/// Asserts a refusal with this code whose message names `field`; returns it.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    field: &str,
) -> Status {
    let status = match result {
        Ok(value) => panic!("expected {code:?} naming {field}, got Ok({value:?})"),
        Err(status) => status,
    };
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(field),
        "the message should name {field:?}: {:?}",
        status.message()
    );
    status
}

/// Asserts that a route assigned the buyer to `account_id` for `reason`.
#[track_caller]
pub fn assert_assigned(routed: &Routed, account_id: &str, reason: pb::RouteReason) {
    assert_eq!(routed.reason, reason, "{routed:?}");
    assert_eq!(routed.state(), pb::SessionState::Assigned, "{routed:?}");
    assert_eq!(routed.account(), account_id, "{routed:?}");
    assert_eq!(routed.session.queue, "", "{routed:?}");
    assert!(!routed.explanation.is_empty(), "{routed:?}");
}

/// Asserts that a route left the buyer waiting in `queue` at `position`.
#[track_caller]
pub fn assert_queued(routed: &Routed, queue: &str, position: u32) {
    assert_eq!(routed.reason, pb::RouteReason::Queued, "{routed:?}");
    assert_eq!(routed.state(), pb::SessionState::Queued, "{routed:?}");
    assert_eq!(routed.account(), "", "{routed:?}");
    assert_eq!(routed.session.queue, queue, "{routed:?}");
    assert_eq!(routed.session.queue_position, position, "{routed:?}");
    assert!(!routed.explanation.is_empty(), "{routed:?}");
}

/// Checks the shop's state through `client`: no session is held by two accounts,
/// every held session is, per GetSession, held by that account; no account holds
/// more than its capacity; queued sessions are held by nobody. Returns every
/// session id found (held or queued) and panics with the state otherwise.
pub async fn check_shop_invariants(client: &mut Client, shop: &str) -> Vec<u64> {
    let state = try_shop_state(client, shop)
        .await
        .unwrap_or_else(|s| panic!("GetShopState {shop}: {s:?}"));
    let mut holder: BTreeMap<u64, String> = BTreeMap::new();
    for account in &state.accounts {
        let id = &account.account.as_ref().expect("account config").account_id;
        let max = account
            .account
            .as_ref()
            .map(|a| a.effective_max_concurrent)
            .unwrap_or(0);
        assert!(
            account.occupancy <= max,
            "{shop}: account {id} holds {} sessions, above its max_concurrent {max}: {account:?}",
            account.occupancy
        );
        assert!(
            account.session_ids.len() as u32 <= max,
            "{shop}: account {id} lists {} sessions, above its max_concurrent {max}: {account:?}",
            account.session_ids.len()
        );
        for session_id in &account.session_ids {
            if let Some(other) = holder.insert(*session_id, id.clone()) {
                panic!("{shop}: session {session_id} is held by both {other} and {id}");
            }
        }
    }
    for (session_id, account) in &holder {
        let session = try_get_session(client, shop, *session_id)
            .await
            .unwrap_or_else(|s| panic!("GetSession {shop}/{session_id}: {s:?}"));
        assert_eq!(
            &session.account_id, account,
            "{shop}: GetShopState lists session {session_id} under {account}, GetSession says {session:?}"
        );
        assert!(
            matches!(
                pb::SessionState::try_from(session.state),
                Ok(pb::SessionState::Assigned | pb::SessionState::Ended)
            ),
            "{shop}: held session {session_id} is {session:?}"
        );
    }
    let mut all: Vec<u64> = holder.keys().copied().collect();
    for queue in &state.queues {
        for session in &queue.sessions {
            assert!(
                !holder.contains_key(&session.session_id),
                "{shop}: session {} is both queued in {} and held by {}",
                session.session_id,
                queue.name,
                holder[&session.session_id]
            );
            assert!(
                !all.contains(&session.session_id),
                "{shop}: session {} is queued twice",
                session.session_id
            );
            all.push(session.session_id);
        }
    }
    all
}

/// How long a refusal asks its caller to wait before retrying
/// (`fenliu-retry-after-ms`); panics when it does not say.
pub fn retry_after(status: &Status) -> Duration {
    let millis: u64 = status
        .metadata()
        .get(RETRY_AFTER_METADATA)
        .unwrap_or_else(|| panic!("no {RETRY_AFTER_METADATA} on {status:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    Duration::from_millis(millis)
}
