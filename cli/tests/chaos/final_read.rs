//! After the chaos: every fault undone, the deployment waits to converge (every
//! shard leased by its rendezvous owner, the close delays run out, each shop's
//! state the same on two reads in a row); then it is read back through a
//! dispatcher: every shop's state, and every session the history or the states
//! name. Last, every acknowledged `Route` is sent again with its request id (a
//! client's late retry), whose answer must be the first one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fenliu_tests::{Client, comparable, pb};
use tokio::time::Instant;
use tonic::Code;

use crate::client::{bounded, lazy_client, with_deadline};
use crate::history::{Op, RouteCall};

/// The deadline of each read after the heal.
const READ_DEADLINE: Duration = Duration::from_secs(3);
/// How many acknowledged routes are sent again at once after the heal.
const REPLAY_STREAMS: usize = 16;
/// How many times a read refused by an outage is tried again.
const READ_TRIES: usize = 10;

/// What the read-back found.
#[derive(Debug, Default)]
pub struct FinalState {
    pub shops: BTreeMap<String, pb::ShopState>,
    /// `GetSession` of each session known, by (shop, id): the session, or the
    /// refusal's code.
    pub sessions: BTreeMap<(String, u64), Result<pb::Session, Code>>,
    /// Shops whose state could not be read, with why.
    pub unreadable: Vec<String>,
}

/// An acknowledged `Route` sent again after the heal.
#[derive(Debug)]
pub struct Replay {
    pub shop: String,
    pub route: RouteCall,
    /// The answer's session and whether it was marked a replay, or the code.
    pub answer: Result<(pb::Session, bool), Code>,
}

/// Reads every shop until two reads in a row agree (at most 20 s), then every
/// session named by `ops` or by the states.
pub async fn read_back(url: &str, shops: &[String], ops: &[Op]) -> FinalState {
    let mut client = lazy_client(url);
    let mut state = FinalState::default();
    for shop in shops {
        match settled_state(&mut client, shop).await {
            Ok(found) => {
                state.shops.insert(shop.clone(), found);
            }
            Err(why) => state.unreadable.push(format!("{shop}: {why}")),
        }
    }
    let mut known: BTreeSet<(String, u64)> = BTreeSet::new();
    for op in ops {
        let answered = op.routed().map(|(s, _, _)| s).or(op.answered_session());
        let ids = answered.map(|s| s.session_id).into_iter();
        for id in ids.chain(op.target_session()) {
            known.insert((op.shop.clone(), id));
        }
    }
    for (shop, found) in &state.shops {
        for id in session_ids_in(found) {
            known.insert((shop.clone(), id));
        }
    }
    for (shop, id) in known {
        let read = get_session(&mut client, &shop, id).await;
        state.sessions.insert((shop, id), read);
    }
    state
}

/// Every session id a shop state names: held, queued or pooled.
pub fn session_ids_in(state: &pb::ShopState) -> Vec<u64> {
    let held = state.accounts.iter().flat_map(|a| a.session_ids.clone());
    let queued = state
        .queues
        .iter()
        .flat_map(|q| q.sessions.iter().map(|s| s.session_id));
    let pooled = state.pool.iter().map(|s| s.session_id);
    held.chain(queued).chain(pooled).collect()
}

async fn settled_state(client: &mut Client, shop: &str) -> Result<pb::ShopState, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last: Option<pb::ShopState> = None;
    let mut why = String::new();
    while Instant::now() < deadline {
        let request = pb::GetShopStateRequest {
            shop_id: shop.to_owned(),
        };
        match bounded(
            READ_DEADLINE,
            client.get_shop_state(with_deadline(request, READ_DEADLINE)),
        )
        .await
        {
            Ok(found) => {
                let found = comparable(found);
                if last.as_ref() == Some(&found) {
                    return Ok(found);
                }
                last = Some(found);
            }
            Err(status) => why = format!("{:?}: {}", status.code(), status.message()),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!(
        "no two equal reads within 20 s; last refusal {why}"
    ))
}

async fn get_session(client: &mut Client, shop: &str, id: u64) -> Result<pb::Session, Code> {
    let mut code = Code::Unknown;
    for _ in 0..READ_TRIES {
        let request = pb::GetSessionRequest {
            shop_id: shop.to_owned(),
            session_id: id,
        };
        match bounded(
            READ_DEADLINE,
            client.get_session(with_deadline(request, READ_DEADLINE)),
        )
        .await
        {
            Ok(session) => return Ok(session),
            Err(status) if status.code() == Code::NotFound => return Err(Code::NotFound),
            Err(status) => code = status.code(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(code)
}

/// Sends every acknowledged `Route` of `ops` again (each request id once), in
/// [`REPLAY_STREAMS`] concurrent streams spread over the dispatchers at `urls`;
/// returns the answers.
pub async fn replay_acknowledged(urls: &[String], ops: &[Op]) -> Vec<Replay> {
    let mut seen = BTreeSet::new();
    let routes: Vec<(String, RouteCall)> = ops
        .iter()
        .filter(|op| op.is_ok())
        .filter_map(|op| op.route().map(|r| (op.shop.clone(), r.clone())))
        .filter(|(_, route)| seen.insert(route.request_id.clone()))
        .collect();
    let streams = REPLAY_STREAMS;
    let mut tasks = Vec::new();
    for stream in 0..streams {
        let mine: Vec<(String, RouteCall)> = routes
            .iter()
            .skip(stream)
            .step_by(streams)
            .cloned()
            .collect();
        let mut client = lazy_client(&urls[stream % urls.len()]);
        tasks.push(tokio::spawn(async move {
            let mut replays = Vec::new();
            for (shop, route) in mine {
                let answer = replay(&mut client, &shop, &route).await;
                replays.push(Replay {
                    shop,
                    route,
                    answer,
                });
            }
            replays
        }));
    }
    let mut replays = Vec::new();
    for task in tasks {
        replays.extend(task.await.expect("replay task"));
    }
    replays
}

async fn replay(
    client: &mut Client,
    shop: &str,
    route: &RouteCall,
) -> Result<(pb::Session, bool), Code> {
    let mut code = Code::Unknown;
    for _ in 0..READ_TRIES {
        let request = with_deadline(route.request(shop), READ_DEADLINE);
        match bounded(READ_DEADLINE, client.route(request)).await {
            Ok(answer) => return Ok((answer.session.unwrap_or_default(), answer.replayed)),
            Err(status) if crate::history::Outcome::from_status(&status).label() == "fail" => {
                return Err(status.code());
            }
            Err(status) => code = status.code(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(code)
}
