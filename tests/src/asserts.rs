//! Reading and asserting on state: the parts of a shop state tests look at,
//! state comparable across reads, and the shape of refusals and route answers.

use tonic::{Code, Status};

use crate::{Routed, pb};

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

/// A shop state with what changes by the clock alone taken out (`now_ms` and
/// presence deadlines), so that two reads of an unchanged shop compare equal.
pub fn comparable(mut state: pb::ShopState) -> pb::ShopState {
    state.now_ms = 0;
    for account in &mut state.accounts {
        account.presence_expires_at_ms = 0;
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
