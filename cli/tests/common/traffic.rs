//! Client traffic against a deployment while a worker fails: one task per shop
//! routing new buyers one after the other, every Route recorded with when it
//! was sent and answered, and what it came to.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fenliu_tests::{Client, check_shop_invariants, pb, try_get_session};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::Code;

use super::{CALL_DEADLINE, FAILOVER_MARGIN, LEASE_TTL, route_within};

/// What one Route of the client came to.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub shop: String,
    pub buyer: String,
    pub request_id: String,
    pub sent_at: Instant,
    pub answered_at: Instant,
    pub result: Result<pb::Session, (Code, String)>,
}

impl Attempt {
    /// Routes a buyer's message within [`CALL_DEADLINE`] and records it.
    pub async fn send(
        client: &mut Client,
        shop: String,
        buyer: String,
        request_id: String,
    ) -> Self {
        let sent_at = Instant::now();
        let result = route_within(client, &shop, &buyer, &request_id, CALL_DEADLINE).await;
        let answered_at = Instant::now();
        let result = match result {
            Ok(response) => Ok(response.session.expect("a routed session")),
            Err(status) => Err((status.code(), status.message().to_owned())),
        };
        Attempt {
            shop,
            buyer,
            request_id,
            sent_at,
            answered_at,
            result,
        }
    }
}

/// Every Route sent so far, in the order they were answered.
pub type Attempts = Arc<Mutex<Vec<Attempt>>>;

/// One task per shop routing new buyers, one after the other, with unique
/// request ids (`<shop>-req-<n>`), until stopped.
#[derive(Debug)]
pub struct Traffic {
    pub attempts: Attempts,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Traffic {
    pub fn start(client: &Client, shops: &[String]) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let attempts: Attempts = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for shop in shops {
            let shop = shop.clone();
            let mut client = client.clone();
            let stop = stop.clone();
            let attempts = attempts.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let buyer = format!("buyer-{n}");
                    let request_id = format!("{shop}-req-{n}");
                    let attempt = Attempt::send(&mut client, shop.clone(), buyer, request_id).await;
                    attempts.lock().unwrap().push(attempt);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        Traffic {
            attempts,
            stop,
            tasks,
        }
    }

    /// Waits (at most 10 s) until every shop has had 3 routes acknowledged.
    pub async fn flowing_on(&self, shops: &[String]) -> bool {
        fenliu_testkit::wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            let attempts = self.attempts.lock().unwrap();
            shops.iter().all(|shop| {
                attempts
                    .iter()
                    .filter(|a| &a.shop == shop && a.result.is_ok())
                    .count()
                    >= 3
            })
        })
        .await
    }

    /// Sends one more route, in a task of its own, recorded with the others; the
    /// task returns what it came to.
    pub fn send_one(
        &self,
        client: &Client,
        shop: String,
        buyer: String,
        request_id: String,
    ) -> JoinHandle<Attempt> {
        let mut client = client.clone();
        let attempts = self.attempts.clone();
        tokio::spawn(async move {
            let attempt = Attempt::send(&mut client, shop, buyer, request_id).await;
            attempts.lock().unwrap().push(attempt.clone());
            attempt
        })
    }

    /// Stops every task after its current route; returns the record, to which
    /// routes sent by [`Traffic::send_one`] may still be added.
    pub async fn stop(self) -> Attempts {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("client task");
        }
        self.attempts
    }
}

// ------------------------------------------------------------------ checks

/// Failover: waits for the first decision on each of the victim's shops asked
/// for after the kill, prints how long each took, and asserts each came within
/// the lease TTL and [`FAILOVER_MARGIN`].
pub async fn assert_served_again_within_the_lease(
    attempts: &Attempts,
    victim_shops: &[String],
    killed_at: Instant,
    victim: &str,
) {
    let first_after_kill = |attempts: &[Attempt], shop: &str| {
        attempts
            .iter()
            .filter(|a| a.shop == shop && a.sent_at >= killed_at && a.result.is_ok())
            .map(|a| a.answered_at - killed_at)
            .min()
    };
    let served = fenliu_testkit::wait_until(
        LEASE_TTL + FAILOVER_MARGIN + Duration::from_secs(5),
        Duration::from_millis(10),
        || {
            let attempts = attempts.lock().unwrap();
            victim_shops
                .iter()
                .all(|shop| first_after_kill(&attempts, shop).is_some())
        },
    )
    .await;
    let failover: Vec<(String, Option<Duration>)> = {
        let attempts = attempts.lock().unwrap();
        victim_shops
            .iter()
            .map(|shop| (shop.clone(), first_after_kill(&attempts, shop)))
            .collect()
    };
    let first = failover.iter().filter_map(|(_, d)| *d).min();
    eprintln!(
        "FAILOVER (SIGKILL of {victim}, lease TTL {LEASE_TTL:?}): first successful decision on a moved shard {first:?} after the kill; per shop: {failover:?}"
    );
    assert!(
        served,
        "a shop of the killed worker was never served again: {failover:?}"
    );
    for (shop, took) in &failover {
        let took = took.expect("checked above");
        assert!(
            took <= LEASE_TTL + FAILOVER_MARGIN,
            "{shop} was served again only {took:?} after the kill (lease TTL {LEASE_TTL:?} + margin {FAILOVER_MARGIN:?})"
        );
    }
}

/// Awaits the Routes that were in flight at the victim when it was killed, and
/// prints what they came to.
pub async fn answers_to_routes_in_flight(
    in_flight: Vec<JoinHandle<Attempt>>,
    killed_at: Instant,
) -> Vec<Attempt> {
    let mut answers = Vec::new();
    for call in in_flight {
        answers.push(call.await.expect("in-flight call"));
    }
    eprintln!(
        "SIGKILL: Routes in flight at the victim when it was killed came to: {:?}",
        answers
            .iter()
            .map(|a| (
                &a.shop,
                a.result.as_ref().map(|s| s.session_id),
                a.answered_at.saturating_duration_since(killed_at)
            ))
            .collect::<Vec<_>>()
    );
    answers
}

/// Prints how many routes were sent, acknowledged and failed (and how).
pub fn print_traffic(attempts: &[Attempt]) {
    let failures: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_err()).collect();
    let acks = attempts.iter().filter(|a| a.result.is_ok()).count();
    eprintln!(
        "SIGKILL traffic: {} routes, {} acknowledged, {} failed ({:?})",
        attempts.len(),
        acks,
        failures.len(),
        failures
            .iter()
            .map(|a| a.result.as_ref().unwrap_err())
            .collect::<Vec<_>>()
    );
}

/// The routes that failed otherwise than UNAVAILABLE or their deadline, each
/// described with when it was sent. A Route is idempotent, so the dispatcher
/// retries it on the shop's new owner when its worker dies mid-call: the caller
/// sees at most UNAVAILABLE (or its deadline), never another failure.
pub fn failures_other_than_unavailable(attempts: &[Attempt], killed_at: Instant) -> Vec<String> {
    attempts
        .iter()
        .filter(|a| a.result.is_err())
        .filter(|a| {
            !matches!(
                a.result.as_ref().unwrap_err().0,
                Code::Unavailable | Code::DeadlineExceeded
            )
        })
        .map(|a| {
            format!(
                "{} {} sent {} the SIGKILL, failed after {:?}: {:?}",
                a.shop,
                a.request_id,
                if a.sent_at < killed_at {
                    format!("{:?} before", killed_at - a.sent_at)
                } else {
                    format!("{:?} after", a.sent_at - killed_at)
                },
                a.answered_at - a.sent_at,
                a.result.as_ref().unwrap_err()
            )
        })
        .collect()
}

/// Every acknowledged session is there, with the same account and buyer, and no
/// two buyers were given the same session. Returns the acknowledged sessions of
/// each shop: session id to buyer.
pub async fn assert_acknowledged_sessions_kept<'a>(
    client: &mut Client,
    acks: &[&'a Attempt],
) -> BTreeMap<&'a str, BTreeMap<u64, &'a str>> {
    let mut ids_per_shop: BTreeMap<&str, BTreeMap<u64, &str>> = BTreeMap::new();
    for ack in acks {
        let session = ack.result.as_ref().unwrap();
        if let Some(other) = ids_per_shop
            .entry(&ack.shop)
            .or_default()
            .insert(session.session_id, &ack.buyer)
        {
            panic!(
                "{}: session {} was given to both {other} and {}",
                ack.shop, session.session_id, ack.buyer
            );
        }
        let now = try_get_session(client, &ack.shop, session.session_id)
            .await
            .unwrap_or_else(|s| {
                panic!("acknowledged session lost: {ack:?}: GetSession says {s:?}")
            });
        assert_eq!(now.buyer_id, ack.buyer, "{ack:?} vs {now:?}");
        assert_eq!(
            now.account_id, session.account_id,
            "acknowledged session changed account: {ack:?} now {now:?}"
        );
        assert_eq!(now.state, session.state, "{ack:?} now {now:?}");
    }
    ids_per_shop
}

/// No session is held twice, nobody is over capacity, and every acknowledged
/// session is in the shop's state.
pub async fn assert_shops_hold_every_acknowledged_session(
    client: &mut Client,
    shops: &[String],
    acknowledged: &BTreeMap<&str, BTreeMap<u64, &str>>,
) {
    for shop in shops {
        let found: BTreeSet<u64> = check_shop_invariants(client, shop)
            .await
            .into_iter()
            .collect();
        for (session_id, buyer) in &acknowledged[shop.as_str()] {
            assert!(
                found.contains(session_id),
                "{shop}: acknowledged session {session_id} of {buyer} is neither held nor queued"
            );
        }
    }
}

/// Idempotency across the failover: every acknowledged Route, retried with its
/// request id, returns its session. Returns how many of those were acknowledged
/// by the killed worker (on its shops, before the kill).
pub async fn assert_acknowledged_routes_replay(
    client: &mut Client,
    acks: &[&Attempt],
    victim_shops: &[String],
    killed_at: Instant,
) -> usize {
    let mut replayed_across_failover = 0;
    for ack in acks {
        let first = ack.result.as_ref().unwrap();
        let again = route_within(
            client,
            &ack.shop,
            &ack.buyer,
            &ack.request_id,
            CALL_DEADLINE,
        )
        .await
        .unwrap_or_else(|s| panic!("retry of {ack:?}: {s:?}"));
        let session = again.session.as_ref().expect("session");
        assert_eq!(
            session.session_id, first.session_id,
            "retry of an acknowledged route gave another session: {ack:?} then {again:?}"
        );
        assert!(again.replayed, "retry not marked replayed: {again:?}");
        if victim_shops.contains(&ack.shop) && ack.answered_at < killed_at {
            replayed_across_failover += 1;
        }
    }
    replayed_across_failover
}
