//! Calls through a Redis outage and after it: what may be answered while Redis
//! is frozen or stopped (nothing), the codes the refusals bring, and the
//! recovery.

use std::time::Duration;

use fenliu_tests::{Client, MAIN, pb};
use tokio::time::Instant;
use tonic::{Code, Status};

use super::{
    CALL_DEADLINE, NewBuyers, call, redis_cmd, roomy_shop, route_within, shard, with_deadline,
};

/// Whether a failed call failed the way an unreachable state store or an
/// expired deadline may make it fail. tonic reports a deadline enforced by a
/// server from `grpc-timeout` as CANCELLED "Timeout expired"; that is counted as
/// a deadline expiry too.
pub fn is_outage_code(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded => true,
        Code::Cancelled => status.message().contains("Timeout expired"),
        _ => false,
    }
}

/// A route answered: its shop, buyer, request id and session.
pub type Answered = (String, String, String, pb::Session);

/// A route sent while Redis was out: its shop, buyer, request id and result.
pub type Refused = (String, String, String, Result<pb::RouteResponse, Status>);

/// Routes three new buyers on each shop before the outage; each must be answered.
pub async fn route_three_buyers_on_each(
    client: &mut Client,
    shops: &[String],
    buyers: &mut NewBuyers,
) -> Vec<Answered> {
    let mut answered = Vec::new();
    for shop in shops {
        for _ in 0..3 {
            let (buyer, rid) = buyers.next();
            let response = route_within(client, shop, &buyer, &rid, CALL_DEADLINE)
                .await
                .expect("route before the outage");
            answered.push((shop.clone(), buyer, rid, response.session.unwrap()));
        }
    }
    answered
}

/// Routes new buyers on the shops in turn, each with a deadline of 1 s, until
/// well past the lease TTL, each call over before the outage ends; prints what
/// they came to and returns them.
pub async fn route_through_the_outage(
    client: &mut Client,
    shops: &[String],
    buyers: &mut NewBuyers,
    paused_at: Instant,
    outage: Duration,
) -> Vec<Refused> {
    let deadline = Duration::from_millis(1000);
    let mut during: Vec<Refused> = Vec::new();
    while paused_at.elapsed() + deadline + Duration::from_millis(200) < outage {
        let shop = &shops[buyers.sent % 2];
        let (buyer, rid) = buyers.next();
        let result = route_within(client, shop, &buyer, &rid, deadline).await;
        during.push((shop.clone(), buyer, rid, result));
    }
    let calls_done_at = paused_at.elapsed();
    let codes: Vec<String> = during
        .iter()
        .map(|(_, _, _, r)| match r {
            Ok(_) => "OK".to_owned(),
            Err(s) => format!("{:?}", s.code()),
        })
        .collect();
    eprintln!(
        "REDIS PAUSE: {} routes during the outage (all over {calls_done_at:?} after SIGSTOP): {codes:?}",
        during.len()
    );
    during
}

/// Nothing was decided while Redis was frozen: every route failed, and the way an
/// outage makes calls fail.
pub fn assert_every_route_failed_as_an_outage(during: &[Refused]) {
    assert!(during.len() >= 2, "too few calls during the outage");
    for (shop, buyer, _, result) in during {
        match result {
            Ok(response) => panic!(
                "{shop}/{buyer}: a decision was answered while Redis was frozen: {response:?}"
            ),
            Err(status) => assert!(
                is_outage_code(status),
                "{shop}/{buyer}: failed otherwise than unavailable: {status:?}"
            ),
        }
    }
}

/// Recovery by itself: routes succeed again, on every shop, within 15 s of the
/// resume; prints how long each took and returns the answers.
pub async fn route_again_once_recovered(
    client: &mut Client,
    shops: &[String],
    buyers: &mut NewBuyers,
    resumed_at: Instant,
) -> Vec<Answered> {
    let mut answered = Vec::new();
    let mut recovered = Vec::new();
    for shop in shops {
        let deadline_at = Instant::now() + Duration::from_secs(15);
        loop {
            let (buyer, rid) = buyers.next();
            match route_within(client, shop, &buyer, &rid, Duration::from_secs(2)).await {
                Ok(response) => {
                    answered.push((shop.clone(), buyer, rid, response.session.unwrap()));
                    recovered.push((shop.clone(), resumed_at.elapsed()));
                    break;
                }
                Err(status) => assert!(
                    Instant::now() < deadline_at,
                    "{shop}: still failing 15 s after Redis resumed: {status:?}"
                ),
            }
        }
    }
    eprintln!("REDIS PAUSE: recovered after resume: {recovered:?}");
    answered
}

/// The calls refused during the outage, retried with their request ids, get one
/// consistent answer each.
pub async fn assert_refused_routes_get_one_answer_each(client: &mut Client, during: &[Refused]) {
    for (shop, buyer, rid, _) in during {
        let first = route_within(client, shop, buyer, rid, CALL_DEADLINE)
            .await
            .unwrap_or_else(|s| panic!("{shop}/{buyer}: retry after recovery: {s:?}"));
        let again = route_within(client, shop, buyer, rid, CALL_DEADLINE)
            .await
            .unwrap();
        assert_eq!(
            first.session.as_ref().unwrap().session_id,
            again.session.as_ref().unwrap().session_id
        );
    }
}

/// While Redis is down, routes new buyers on `busy_shop` and creates new shops,
/// each call with `deadline` and over before Redis is back; returns what they
/// came to (a route's session, nothing for a shop created).
pub async fn call_while_redis_is_down(
    client: &mut Client,
    ns: &str,
    busy_shop: &str,
    stopped_at: Instant,
    down: Duration,
    deadline: Duration,
) -> Vec<Result<Option<pb::Session>, Status>> {
    let mut during = Vec::new();
    let mut buyers = NewBuyers::default();
    while stopped_at.elapsed() + deadline + Duration::from_millis(200) < down {
        let (buyer, rid) = buyers.next();
        let result = route_within(client, busy_shop, &buyer, &rid, deadline).await;
        during.push(result.map(|r| r.session));
        let create = pb::UpsertShopRequest {
            shop_id: format!("{ns}-created-during-{}", buyers.sent),
            main_account_id: MAIN.to_owned(),
            ..Default::default()
        };
        let result = call(
            deadline,
            client.upsert_shop(with_deadline(create, deadline)),
        )
        .await;
        during.push(result.map(|_| None));
    }
    during
}

/// Creating a shop works again, within 15 s of Redis' restart; the shop is then
/// made a [`roomy_shop`].
pub async fn create_a_shop_once_redis_is_back(
    client: &mut Client,
    new_shop: &str,
    deadline: Duration,
) {
    let recovered_deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let create = pb::UpsertShopRequest {
            shop_id: new_shop.to_owned(),
            profile: pb::Profile::Kuaishou as i32,
            main_account_id: MAIN.to_owned(),
            ..Default::default()
        };
        match call(
            deadline,
            client.upsert_shop(with_deadline(create, deadline)),
        )
        .await
        {
            Ok(_) => break,
            Err(status) => assert!(
                Instant::now() < recovered_deadline,
                "creating a shop still fails 15 s after Redis restarted: {status:?}"
            ),
        }
    }
    roomy_shop(client, new_shop).await;
}

/// A shop lost with Redis' data is never decided for: routes on it fail the way
/// an outage does (at most 5 times), then NOT_FOUND.
pub async fn assert_lost_shop_comes_to_not_found(
    client: &mut Client,
    port: u16,
    ns: &str,
    shop: &str,
    leased_under_token_1: bool,
) {
    let mut answers = Vec::new();
    let gone = loop {
        let answer = route_within(client, shop, "buyer-after", "req-after", CALL_DEADLINE).await;
        let keys = redis_cmd(port, &["KEYS", &format!("{ns}:{{{shop}}}:*")])
            .await
            .unwrap();
        match answer {
            Ok(response) => panic!(
                "{shop}: a worker decided for a shop that no longer exists in Redis (its keys now: {keys:?}): {response:?}"
            ),
            Err(status) if status.code() == Code::NotFound => break true,
            Err(status) => {
                assert!(
                    is_outage_code(&status),
                    "{shop}: lost shop answered {status:?}"
                );
                answers.push(format!("{:?}: {}", status.code(), status.message()));
            }
        }
        if answers.len() >= 5 {
            break false;
        }
    };
    eprintln!(
        "REDIS STOP: after the restart, the lost shop {shop} (shard {}, leased under token 1 before: {leased_under_token_1}) answered {answers:?} then NOT_FOUND: {gone}",
        shard(shop),
    );
    assert!(
        gone,
        "{shop}: never NOT_FOUND after the data loss: {answers:?}"
    );
}
