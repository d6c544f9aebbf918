//! The random concurrent workload: client tasks, each with a generator of its
//! own from the run's seed and a shop of its own (client `i` calls shop
//! `i % shops`, so that a shop stuck behind a fault does not starve the others
//! of calls, and each shop's unavailability is its own), sending one call after
//! another:
//! `Route` with fresh request ids (returning buyers, some addressed, order
//! statuses in group shops) and with request ids sent before (retries, possibly
//! while the first is still in flight from another client), `EndSession`,
//! `Transfer`, `PullQueued` and status changes. What the answers reveal (sessions,
//! queues) is shared, so later calls name real sessions.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fenliu_tests::pb;

use crate::client::Caller;
use crate::history::{Call, History, Op, RouteCall};
use crate::rng::Rng;
use crate::shops::{ORDER_STATUSES, ShopSpec};

/// How many recent routes and sessions of a shop calls pick from.
const RECENT: usize = 48;

/// What the clients have learnt of one shop.
#[derive(Debug, Default)]
struct ShopMemory {
    /// Sessions answered, most recent last.
    sessions: Vec<u64>,
    /// Routes sent, most recent last (retries pick from them).
    routes: Vec<RouteCall>,
    /// Queues seen in answers.
    queues: BTreeSet<String>,
}

/// The workload's shared state.
#[derive(Debug)]
pub struct Workload {
    pub specs: Vec<ShopSpec>,
    pub history: Arc<History>,
    /// One per spec.
    memory: Mutex<Vec<ShopMemory>>,
    /// Set to end every client after its current call.
    stop: AtomicBool,
}

/// The kinds of call, and how often each is drawn.
const WEIGHTS: [(Kind, u64); 6] = [
    (Kind::Fresh, 40),
    (Kind::Retry, 12),
    (Kind::End, 18),
    (Kind::Transfer, 8),
    (Kind::Pull, 8),
    (Kind::Status, 14),
];

#[derive(Clone, Copy, Debug)]
enum Kind {
    Fresh,
    Retry,
    End,
    Transfer,
    Pull,
    Status,
}

impl Workload {
    pub fn new(specs: Vec<ShopSpec>, history: Arc<History>) -> Arc<Workload> {
        let memory = specs.iter().map(|_| ShopMemory::default()).collect();
        Arc::new(Workload {
            specs,
            history,
            memory: Mutex::new(memory),
            stop: AtomicBool::new(false),
        })
    }

    /// Starts `clients` client tasks on the dispatchers at `urls`.
    pub fn start(
        self: &Arc<Self>,
        clients: usize,
        urls: &[String],
        seed: u64,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..clients)
            .map(|id| {
                let workload = self.clone();
                let mut caller = Caller::new(id, urls);
                let mut rng = Rng::fork(seed, 1 + id as u64);
                tokio::spawn(async move { workload.client_loop(&mut caller, &mut rng).await })
            })
            .collect()
    }

    /// Ends every client after its current call.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    async fn client_loop(&self, caller: &mut Caller, rng: &mut Rng) {
        let mut sent = 0u64;
        let shop = caller.id % self.specs.len();
        while !self.stop.load(Ordering::SeqCst) {
            sent += 1;
            let call = self.choose(shop, caller.id, sent, rng);
            let op = caller
                .send(&self.history, &self.specs[shop].id.clone(), call)
                .await;
            self.learn(shop, &op);
            tokio::time::sleep(Duration::from_millis(rng.between(10, 40))).await;
        }
    }

    /// Draws the next call on `shop`.
    fn choose(&self, shop: usize, client: usize, sent: u64, rng: &mut Rng) -> Call {
        let spec = &self.specs[shop];
        let mut memory = self.memory.lock().expect("workload memory");
        let memory = &mut memory[shop];
        let weights: Vec<u64> = WEIGHTS.iter().map(|(_, w)| *w).collect();
        let kind = WEIGHTS[rng.weighted(&weights)].0;
        let session = recent(&memory.sessions, rng);
        match (kind, session) {
            (Kind::Retry, _) if !memory.routes.is_empty() => {
                let mut route = recent(&memory.routes, rng).expect("not empty").clone();
                route.retry = true;
                Call::Route(route)
            }
            (Kind::End, Some(session_id)) => Call::End { session_id },
            (Kind::Transfer, Some(session_id)) => {
                let to = if rng.chance(10) {
                    fenliu_tests::MAIN
                } else {
                    *rng.pick(&spec.cs_ids())
                };
                Call::Transfer {
                    session_id,
                    to: to.to_owned(),
                }
            }
            (Kind::Pull, _) => {
                let seen: Vec<String> = memory.queues.iter().cloned().collect();
                let queue = if !seen.is_empty() && rng.chance(70) {
                    rng.pick(&seen).clone()
                } else {
                    rng.pick(&spec.queue_names()).clone()
                };
                Call::Pull {
                    account: (*rng.pick(&spec.account_ids())).to_owned(),
                    queue,
                }
            }
            (Kind::Status, _) => {
                let status = [
                    pb::AccountStatus::Online,
                    pb::AccountStatus::Suspended,
                    pb::AccountStatus::Offline,
                ][rng.weighted(&[60, 20, 20])];
                Call::SetStatus {
                    account: (*rng.pick(&spec.cs_ids())).to_owned(),
                    status,
                }
            }
            _ => {
                let route = fresh_route(spec, client, sent, rng);
                memory.routes.push(route.clone());
                Call::Route(route)
            }
        }
    }

    /// Keeps what an answer reveals: its session and queue.
    fn learn(&self, shop: usize, op: &Op) {
        let session = op
            .routed()
            .map(|(session, _, _)| session)
            .or(op.answered_session());
        if let Some(session) = session {
            let mut memory = self.memory.lock().expect("workload memory");
            let memory = &mut memory[shop];
            if !memory.sessions.contains(&session.session_id) {
                memory.sessions.push(session.session_id);
            }
            if !session.queue.is_empty() {
                memory.queues.insert(session.queue.clone());
            }
        }
    }
}

/// One of the last [`RECENT`] items, if any.
fn recent<T: Clone>(items: &[T], rng: &mut Rng) -> Option<T> {
    let window = &items[items.len().saturating_sub(RECENT)..];
    (!window.is_empty()).then(|| rng.pick(window).clone())
}

/// A `Route` with a request id never sent before: a buyer of the shop (they
/// come back), an order status in group shops, sometimes addressed.
fn fresh_route(spec: &ShopSpec, client: usize, sent: u64, rng: &mut Rng) -> RouteCall {
    let order_status = if spec.mode == pb::RoutingMode::Group {
        *rng.pick(&ORDER_STATUSES)
    } else {
        pb::OrderStatus::Unspecified
    };
    let addressed = if rng.chance(8) {
        (*rng.pick(&spec.account_ids())).to_owned()
    } else {
        String::new()
    };
    RouteCall {
        buyer: spec.buyer(rng.below(spec.buyers as u64) as usize),
        request_id: format!("{}.c{client}.r{sent}", spec.id),
        order_status,
        addressed,
        retry: false,
    }
}
