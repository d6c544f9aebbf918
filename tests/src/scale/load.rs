//! A load through several dispatchers, as platforms send it: `Route` calls for
//! new buyers spread over many shops, each retried with the same request id
//! on the next dispatcher when it fails `UNAVAILABLE` (as a client of a
//! retryable code does), every acknowledged answer kept for the audit, every
//! failure counted by code, and the longest time one call kept failing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tonic::Code;

use fenliu_proto::v1 as pb;

use crate::calls::{Client, Routed, route_request};
use crate::connect::connect;

/// How long one call is retried before the load gives up on it (counted in
/// [`LoadReport::abandoned`]).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(20);
/// The deadline each attempt carries (the dispatcher retries within it): the
/// dispatcher's own when a caller sets none. Past it, tonic answers
/// `CANCELLED` ("Timeout expired"), which counts as a failure here.
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(10);
/// The pause before a failed attempt is sent again.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// An acknowledged `Route`: what the audit checks is still there.
#[derive(Debug, Clone)]
pub struct Acknowledged {
    /// The shop.
    pub shop_id: String,
    /// The buyer routed.
    pub buyer_id: String,
    /// The request id, which a retry must replay.
    pub request_id: String,
    /// The answer.
    pub routed: Routed,
}

/// What a load saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Calls acknowledged (after retries).
    pub acknowledged: Vec<Acknowledged>,
    /// Failed attempts, by gRPC code.
    pub failures: BTreeMap<String, u64>,
    /// The first message of each code that is not `UNAVAILABLE`, to say why.
    pub examples: BTreeMap<String, String>,
    /// Calls that failed at least once before they were acknowledged.
    pub retried_calls: u64,
    /// The longest time from a call's first failed attempt to its answer.
    pub longest_failing: Duration,
    /// The longest time from a call's first send to its answer: what the
    /// dispatcher's own retries (hidden from the caller) cost.
    pub slowest_call: Duration,
    /// Calls given up after [`GIVE_UP_AFTER`] or refused with a code that is
    /// not retryable.
    pub abandoned: u64,
    /// How long the load ran.
    pub ran_for: Duration,
}

impl LoadReport {
    /// Failed attempts of any code but `UNAVAILABLE`, bar a lost connection.
    pub fn non_retryable_failures(&self) -> u64 {
        self.failures
            .iter()
            .filter(|(code, _)| !matches!(code.as_str(), "Unavailable" | LOST_CONNECTION))
            .map(|(_, count)| count)
            .sum()
    }

    /// One line for the test's output (and the README's figures).
    pub fn summary(&self) -> String {
        format!(
            "{} calls acknowledged in {:.1?} ({:.0}/s); failed attempts by code {:?}; {} calls retried, the longest failing for {:?}; the slowest answered in {:?}; {} abandoned; {:?}",
            self.acknowledged.len(),
            self.ran_for,
            self.acknowledged.len() as f64 / self.ran_for.as_secs_f64().max(0.001),
            self.failures,
            self.retried_calls,
            self.longest_failing,
            self.slowest_call,
            self.abandoned,
            self.examples,
        )
    }
}

/// The clients the load spreads its calls over: one per dispatcher a load
/// balancer would send to.
type Targets = Arc<Mutex<Vec<(SocketAddr, Client)>>>;

/// A running load.
#[derive(Debug)]
pub struct Load {
    /// Asks the callers to finish their call and stop.
    stopping: Arc<AtomicBool>,
    /// The callers, each handing back its part of the report.
    callers: Vec<JoinHandle<LoadReport>>,
    /// Where calls go: dispatchers are taken out when they die.
    targets: Targets,
    /// When the load started.
    started: Instant,
}

impl Load {
    /// Starts `callers` concurrent callers over `dispatchers`, each sending
    /// one call after another about the shops of `shops` in turn.
    pub async fn start(dispatchers: &[SocketAddr], shops: &[String], callers: usize) -> Load {
        let mut clients = Vec::new();
        for &address in dispatchers {
            clients.push((address, connect(address).await));
        }
        let targets: Targets = Arc::new(Mutex::new(clients));
        let stopping = Arc::new(AtomicBool::new(false));
        let next_target = Arc::new(AtomicUsize::new(0));
        let callers = (0..callers)
            .map(|caller| {
                let caller_shops: Vec<String> = shops
                    .iter()
                    .skip(caller % shops.len())
                    .chain(shops.iter())
                    .take(shops.len())
                    .cloned()
                    .collect();
                tokio::spawn(run_caller(
                    caller,
                    caller_shops,
                    targets.clone(),
                    next_target.clone(),
                    stopping.clone(),
                ))
            })
            .collect();
        Load {
            stopping,
            callers,
            targets,
            started: Instant::now(),
        }
    }

    /// Stops sending to `address` (a dead dispatcher, as a load balancer's
    /// health check would); calls in flight to it fail and are retried elsewhere.
    pub fn forget(&self, address: SocketAddr) {
        self.targets
            .lock()
            .expect("targets lock")
            .retain(|(a, _)| *a != address);
    }

    /// Stops the load, each caller finishing its call first; the callers' reports merged.
    pub async fn stop(self) -> LoadReport {
        self.stopping.store(true, Ordering::Relaxed);
        let mut report = LoadReport::default();
        for caller in self.callers {
            let part = caller.await.expect("a load caller panicked");
            report.acknowledged.extend(part.acknowledged);
            for (code, count) in part.failures {
                *report.failures.entry(code).or_default() += count;
            }
            report.retried_calls += part.retried_calls;
            report.longest_failing = report.longest_failing.max(part.longest_failing);
            report.slowest_call = report.slowest_call.max(part.slowest_call);
            report.abandoned += part.abandoned;
            for (code, message) in part.examples {
                report.examples.entry(code).or_insert(message);
            }
        }
        report.ran_for = self.started.elapsed();
        report
    }
}

/// The next client to send to, round robin over the live targets.
fn pick(targets: &Targets, next: &AtomicUsize) -> Client {
    let targets = targets.lock().expect("targets lock");
    assert!(!targets.is_empty(), "no dispatcher left to send to");
    let index = next.fetch_add(1, Ordering::Relaxed) % targets.len();
    targets[index].1.clone()
}

async fn run_caller(
    caller: usize,
    shops: Vec<String>,
    targets: Targets,
    next_target: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
) -> LoadReport {
    let mut report = LoadReport::default();
    let mut sent = 0usize;
    while !stopping.load(Ordering::Relaxed) {
        let shop_id = &shops[sent % shops.len()];
        let buyer_id = format!("buyer-{caller}-{sent}");
        sent += 1;
        let request = route_request(shop_id, &buyer_id, pb::OrderStatus::NoActiveOrder);
        let started = Instant::now();
        let mut first_failure = None;
        loop {
            let mut attempt = tonic::Request::new(request.clone());
            attempt.set_timeout(ATTEMPT_DEADLINE);
            let mut client = pick(&targets, &next_target);
            match client.route(attempt).await {
                Ok(response) => {
                    report.slowest_call = report.slowest_call.max(started.elapsed());
                    if let Some(failed_at) = first_failure {
                        report.retried_calls += 1;
                        report.longest_failing =
                            report.longest_failing.max(Instant::elapsed(&failed_at));
                    }
                    report.acknowledged.push(Acknowledged {
                        shop_id: shop_id.clone(),
                        buyer_id,
                        request_id: request.request_id.clone(),
                        routed: Routed::from_response(response.into_inner()),
                    });
                    break;
                }
                Err(status) => {
                    let retryable = status.code() == Code::Unavailable || lost_connection(&status);
                    let code = if lost_connection(&status) {
                        LOST_CONNECTION.to_owned()
                    } else {
                        format!("{:?}", status.code())
                    };
                    *report.failures.entry(code.clone()).or_default() += 1;
                    first_failure.get_or_insert_with(Instant::now);
                    if !retryable {
                        report
                            .examples
                            .entry(code)
                            .or_insert_with(|| status.message().to_owned());
                    }
                    if !retryable || started.elapsed() > GIVE_UP_AFTER {
                        report.abandoned += 1;
                        break;
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }
    report
}

/// How a failure by [`lost_connection`] is counted.
const LOST_CONNECTION: &str = "ConnectionLost";

/// Whether the call failed because the connection to its dispatcher broke (the
/// dispatcher died mid-call) rather than by a status any server sent. tonic
/// reports it as INTERNAL or UNKNOWN "h2 protocol error"/"transport error", or,
/// for a call still queued on the connection when it closed, as CANCELLED
/// "operation was canceled"; a status the client's own transport made carries
/// that transport error as its source, which one read off the wire never does.
/// Its outcome is unknown, as with UNAVAILABLE, and a client retries it the same
/// way (a `Route` keeps its request id, so it is decided once).
fn lost_connection(status: &tonic::Status) -> bool {
    let made_by_transport = std::error::Error::source(status).is_some()
        && matches!(
            status.code(),
            Code::Internal | Code::Unknown | Code::Cancelled
        );
    made_by_transport
        || (matches!(status.code(), Code::Internal | Code::Unknown)
            && ["h2 protocol error", "transport error"]
                .iter()
                .any(|sign| status.message().contains(sign)))
}
