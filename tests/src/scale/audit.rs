//! The audit of acknowledged decisions: after the changes, every session a
//! `Route` acknowledged is still there as it was answered (same buyer, same
//! account, same state), and a retry of the same request replays the same
//! session (R1) rather than deciding again.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::{Code, Status};

use fenliu_proto::v1 as pb;

use crate::calls::{Client, route_request_with_id, try_get_session, try_route};
use crate::connect::connect;
use crate::scale::load::{Acknowledged, LoadReport};

/// Concurrent auditors.
const AUDITORS: usize = 8;
/// Every this many acknowledged routes is also sent again, to see it replayed.
const REPLAY_EVERY: usize = 5;

/// What the audit found.
#[derive(Debug, Default)]
pub struct AuditReport {
    /// Acknowledged sessions read back.
    pub checked: usize,
    /// Requests sent again and replayed as first answered.
    pub replayed: usize,
    /// Every difference: a session gone, changed, or a retry decided anew.
    pub lost: Vec<String>,
    /// Acknowledged routes with at least one difference.
    pub damaged: usize,
}

/// Reads back every acknowledged session through the dispatcher at `address`.
pub async fn audit(address: SocketAddr, acknowledged: &[Acknowledged]) -> AuditReport {
    let chunk = acknowledged.len().div_ceil(AUDITORS).max(1);
    let mut auditors = Vec::new();
    for (part, acks) in acknowledged.chunks(chunk).enumerate() {
        let acks = acks.to_vec();
        auditors.push(tokio::spawn(async move {
            let mut client = connect(address).await;
            let mut report = AuditReport::default();
            for (index, ack) in acks.iter().enumerate() {
                let found = report.lost.len();
                check_one(
                    &mut client,
                    ack,
                    (part + index) % REPLAY_EVERY == 0,
                    &mut report,
                )
                .await;
                report.damaged += usize::from(report.lost.len() > found);
            }
            report
        }));
    }
    let mut report = AuditReport::default();
    for auditor in auditors {
        let part = auditor.await.expect("an auditor panicked");
        report.checked += part.checked;
        report.replayed += part.replayed;
        report.lost.extend(part.lost);
        report.damaged += part.damaged;
    }
    report
}

/// Asserts what a change under load must keep: every failed attempt was
/// `UNAVAILABLE`, no call was given up, the load was more than a trickle, and
/// every acknowledged session is intact (read through `address`). Prints the
/// load's and the audit's figures.
pub async fn assert_nothing_lost(address: SocketAddr, report: &LoadReport) {
    eprintln!("load: {}", report.summary());
    assert_eq!(report.non_retryable_failures(), 0, "{}", report.summary());
    assert_eq!(report.abandoned, 0, "{}", report.summary());
    assert!(
        report.acknowledged.len() > 500,
        "too little load to show anything: {}",
        report.summary()
    );
    let audited = audit(address, &report.acknowledged).await;
    eprintln!(
        "audit: {} sessions read back, {} retries replayed, {} lost",
        audited.checked, audited.replayed, audited.damaged
    );
    assert!(
        audited.lost.is_empty(),
        "{:#?}",
        &audited.lost[..audited.lost.len().min(10)]
    );
}

/// Retries `call` while it fails `UNAVAILABLE` (a shard still moving), up to 10 s.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match call().await {
            Err(status)
                if status.code() == Code::Unavailable && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            result => return result,
        }
    }
}

async fn check_one(
    client: &mut Client,
    ack: &Acknowledged,
    replay: bool,
    report: &mut AuditReport,
) {
    let (shop, id) = (ack.shop_id.as_str(), ack.routed.id());
    report.checked += 1;
    match retrying(|| {
        let mut client = client.clone();
        async move { try_get_session(&mut client, shop, id).await }
    })
    .await
    {
        Ok(session) => {
            let answered = &ack.routed.session;
            if session.buyer_id != ack.buyer_id
                || session.account_id != answered.account_id
                || session.state != answered.state
            {
                report.lost.push(format!(
                    "session {id} of {shop} changed: answered {answered:?}, now {session:?}"
                ));
            }
        }
        Err(status) => report.lost.push(format!(
            "session {id} of {shop} ({}): {status:?}",
            ack.buyer_id
        )),
    }
    if !replay {
        return;
    }
    let request = route_request_with_id(
        shop,
        &ack.buyer_id,
        &ack.request_id,
        pb::OrderStatus::NoActiveOrder,
    );
    match retrying(|| {
        let (mut client, request) = (client.clone(), request.clone());
        async move { try_route(&mut client, request).await }
    })
    .await
    {
        Ok(again) if again.replayed && again.id() == id => report.replayed += 1,
        other => report.lost.push(format!(
            "request {} of {shop} not replayed as session {id}: {other:?}",
            ack.request_id
        )),
    }
}
