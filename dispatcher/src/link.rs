//! The dispatcher's end of the link to one worker: every unary `Routing` call to
//! that worker travels on one long-lived `WorkerLink.Exchange` stream, tagged with
//! an id, and its answer is matched back by that id.
//!
//! The stream is opened by the first call that needs it and again by the first
//! call after it broke. When it breaks (the worker died, stopped, or the
//! connection failed) every call waiting on it fails with UNAVAILABLE, exactly as
//! a direct call whose connection broke; the forwarder then decides, per method,
//! whether to send it again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fenliu_node::link::{
    LinkedCall, agreed_link_version, entries_of, metadata_from, offer_link_versions,
};
use fenliu_node::metrics::meters::link_call_in_flight;
use fenliu_node::tracing_context;
use fenliu_node::versions::Window;
use fenliu_proto::internal::v1 as link;
use fenliu_proto::internal::v1::worker_link_client::WorkerLinkClient;
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Code, Response, Status, Streaming};

/// Calls that may wait to be written to the stream before callers block.
const CALL_BUFFER: usize = 1024;
/// The largest answer a worker may send on the link. The worker is trusted,
/// and an answer too large to decode would break the stream for every call on
/// it; a shop at its caps (100,000 open sessions) reads back in a few MB, over
/// tonic's default of 4 MiB.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The link to one worker, over its channel.
#[derive(Debug)]
pub struct Link {
    /// The worker's HTTP/2 connection the stream is opened on.
    channel: Channel,
    /// The open stream, if any; replaced when it breaks.
    open: RwLock<Option<Arc<LinkStream>>>,
    /// Held while a stream is being opened, so that a burst of calls opens one.
    opening: tokio::sync::Mutex<()>,
    /// The id the next call is tagged with, to match its answer back.
    next_id: AtomicU64,
    /// With TLS: a stream this old takes no new calls, so that the link moves to
    /// a fresh connection (with fresh certificates) once the worker has closed
    /// the old one. The old stream ends when its connection is closed; its calls
    /// were answered long before.
    max_age: Option<Duration>,
    /// The link versions offered when a stream opens; the worker answers with
    /// the one agreed, or refuses a dispatcher it shares none with.
    versions: Window,
}

/// One open `Exchange` stream and the calls waiting for their answers on it.
#[derive(Debug)]
struct LinkStream {
    /// Calls to write to the stream, in order.
    calls: mpsc::Sender<link::LinkCall>,
    /// When the stream was opened, for `Link::max_age`.
    opened_at: tokio::time::Instant,
    /// The calls sent and not yet answered, by id.
    waiting: Mutex<Waiting>,
}

#[derive(Debug, Default)]
struct Waiting {
    /// Set once the stream broke: no call may wait on it any more.
    broken: bool,
    /// Where each waiting call's answer goes, by the call's id.
    answers: HashMap<u64, oneshot::Sender<link::LinkAnswer>>,
}

/// Takes a call off the waiting list when it ends without its answer (its
/// attempt timed out), so the list does not keep it.
struct StopWaiting<'a> {
    /// The stream the call waits on.
    stream: &'a LinkStream,
    /// The call's id on that stream.
    id: u64,
}

impl Drop for StopWaiting<'_> {
    fn drop(&mut self) {
        let mut waiting = self.stream.waiting.lock().expect("waiting lock");
        waiting.answers.remove(&self.id);
    }
}

fn link_lost() -> Status {
    Status::unavailable("the link to the worker was lost before the call was answered")
}

/// The stream could not be opened, so the call was never sent. tonic reports a
/// connection that failed or was reset as UNKNOWN "transport error" or
/// CANCELLED "operation was canceled"; say it in the code callers retry on, as
/// for a link lost mid-call. A refusal from the worker itself keeps its code.
fn not_opened(status: Status) -> Status {
    match status.code() {
        Code::Unknown | Code::Cancelled => Status::unavailable(format!(
            "the link to the worker could not be opened: {}",
            status.message()
        )),
        _ => status,
    }
}

impl Link {
    /// A link over `channel`; with `max_age`, each stream takes new calls for
    /// that long. Each stream offers the link versions of `versions`.
    pub fn new(channel: Channel, max_age: Option<Duration>, versions: Window) -> Link {
        Link {
            channel,
            open: RwLock::new(None),
            opening: tokio::sync::Mutex::new(()),
            next_id: AtomicU64::new(1),
            max_age,
            versions,
        }
    }

    /// Sends `request` and waits for its answer. `timeout` (what is left of the
    /// caller's deadline) is enforced by the worker as well.
    pub async fn call<R: LinkedCall>(
        &self,
        request: &R,
        metadata: &MetadataMap,
        timeout: Duration,
    ) -> Result<Response<R::Response>, Status> {
        let stream = self.stream().await?;
        let _in_flight = link_call_in_flight();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer_to, answer) = oneshot::channel();
        {
            let mut waiting = stream.waiting.lock().expect("waiting lock");
            if waiting.broken {
                return Err(link_lost());
            }
            waiting.answers.insert(id, answer_to);
        }
        let _stop_waiting = StopWaiting {
            stream: &stream,
            id,
        };
        let mut metadata = entries_of(metadata);
        // The worker's span is a child of this dispatcher's, not of the caller's.
        tracing_context::inject_current(&mut metadata);
        let call = link::LinkCall {
            id,
            method: R::METHOD as i32,
            request: request.encode_to_vec(),
            timeout_us: u64::try_from(timeout.as_micros()).unwrap_or(u64::MAX),
            metadata,
        };
        stream.calls.send(call).await.map_err(|_| link_lost())?;
        let answer = answer.await.map_err(|_| link_lost())?;
        if answer.code == Code::Ok as i32 {
            let response = R::Response::decode(answer.response.as_slice()).map_err(|error| {
                Status::internal(format!("undecodable answer from the worker: {error}"))
            })?;
            return Ok(Response::new(response));
        }
        Err(Status::with_metadata(
            Code::from_i32(answer.code),
            answer.message,
            metadata_from(&answer.metadata),
        ))
    }

    /// The open stream, opening one if there is none or it broke.
    async fn stream(&self) -> Result<Arc<LinkStream>, Status> {
        if let Some(stream) = self.usable() {
            return Ok(stream);
        }
        let _opening = self.opening.lock().await;
        // Opened by another call meanwhile.
        if let Some(stream) = self.usable() {
            return Ok(stream);
        }
        let (calls, outgoing) = mpsc::channel(CALL_BUFFER);
        let mut client =
            WorkerLinkClient::new(self.channel.clone()).max_decoding_message_size(MAX_ANSWER_BYTES);
        let mut opening = tonic::Request::new(ReceiverStream::new(outgoing));
        offer_link_versions(self.versions, opening.metadata_mut());
        // A refusal for versions (UNAVAILABLE, naming both ends') keeps its code:
        // the forwarder retries as on any worker that cannot serve the call yet.
        let answers = client.exchange(opening).await.map_err(not_opened)?;
        let version = agreed_link_version(answers.metadata());
        tracing::debug!(?version, "worker link opened");
        let answers = answers.into_inner();
        let stream = Arc::new(LinkStream {
            calls,
            opened_at: tokio::time::Instant::now(),
            waiting: Mutex::new(Waiting::default()),
        });
        tokio::spawn(deliver_answers(stream.clone(), answers));
        *self.open.write().expect("link lock") = Some(stream.clone());
        Ok(stream)
    }

    fn usable(&self) -> Option<Arc<LinkStream>> {
        let open = self.open.read().expect("link lock");
        open.as_ref()
            .filter(|stream| !stream.waiting.lock().expect("waiting lock").broken)
            .filter(|stream| {
                self.max_age
                    .is_none_or(|max_age| stream.opened_at.elapsed() < max_age)
            })
            .cloned()
    }
}

/// Hands each answer to the call waiting for it, until the stream ends; then
/// fails every call still waiting.
async fn deliver_answers(stream: Arc<LinkStream>, mut answers: Streaming<link::LinkAnswer>) {
    loop {
        match answers.message().await {
            Ok(Some(answer)) => {
                let waiter = {
                    let mut waiting = stream.waiting.lock().expect("waiting lock");
                    waiting.answers.remove(&answer.id)
                };
                // A call that gave up meanwhile no longer waits.
                if let Some(waiter) = waiter {
                    let _ = waiter.send(answer);
                }
            }
            Ok(None) => break,
            Err(status) => {
                tracing::debug!(code = ?status.code(), message = status.message(), "worker link broke");
                break;
            }
        }
    }
    let mut waiting = stream.waiting.lock().expect("waiting lock");
    waiting.broken = true;
    // Dropping the senders fails the calls still waiting (`link_lost`).
    waiting.answers.clear();
}
