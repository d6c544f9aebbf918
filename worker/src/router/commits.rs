//! Group commits: per shop at most one commit is in flight, sent by a committer
//! task (not by a caller, whose future may be dropped mid-way). While it is in
//! flight, the calls that come are decided on the state as it will be once it
//! lands and gather in the shop's [`PendingCommit`]; the committer sends them
//! together next. Commits of a shop land in the order they were decided, and one
//! commit of many calls costs Redis about what one call's commit costs, which is
//! what lets a busy shop go faster than one round trip per decision.
//!
//! Each commit is traced when a call it carries is: its span is the child of the
//! first traced call it carries and linked to the others, with the number of calls
//! it carries (`fenliu.commit.calls`).
//!
//! If a commit fails, the in-memory shop is dropped and every call decided on it
//! fails with it, so a decision that was not stored is never answered nor built
//! upon; the next call reloads the truth.
//!
//! A commit stores the events of the calls it carries in the shop's stream, in
//! their public form (`fenliu.v1.ShopEvent`, which any version of a reader
//! decodes); they are published to the live watchers once it has landed.
//!
//! [`PendingCommit`]: super::shop_cell::PendingCommit

use std::sync::Arc;

use fenliu_node::tracing_context;
use tracing::Instrument;

use super::deadlines::Deadlines;
use super::error::RouterError;
use super::feed::SequencedEvent;
use super::measures;
use super::seams::Clock;
use super::shop_cell::{ShopCell, Verdict};
use crate::engine::{ShopId, ShopState};
use crate::grpc::wire::wire_event;
use crate::store::RedisStore;
use crate::store::redis_store::{CommitExtras, CommitOutcome, StoredEvent};

/// What a shop's committer task needs: it outlives the call that started it.
#[derive(Debug, Clone)]
pub struct Committer {
    /// Where the commits go.
    pub store: RedisStore,
    /// The time each commit is stamped with (TTLs are computed from it).
    pub clock: Arc<dyn Clock>,
    /// Re-armed with the shop's next deadline once a commit has landed: a
    /// deadline of a decision not stored yet must not fire.
    pub deadlines: Arc<Deadlines>,
    /// The shop whose commits it sends (for logs and deadlines).
    pub shop_id: ShopId,
    /// The shop's cell: its pending commit and its state.
    pub cell: Arc<ShopCell>,
    /// The generation of the shop state whose commits it sends.
    pub generation: u64,
}

impl Committer {
    /// Sends the shop's pending commits one after another until none is left, or
    /// until one fails (the state is then dropped, with every call decided on it).
    pub async fn run(self) {
        loop {
            let (prepared, mut pending) = {
                let mut loaded = self.cell.loaded.lock().await;
                if loaded.generation != self.generation {
                    return;
                }
                let Some(pending) = loaded.pending.take() else {
                    loaded.committing = false;
                    return;
                };
                let state = loaded.state.as_ref().expect("a committing shop is loaded");
                let events = stored_events(&pending.events);
                let extras = CommitExtras {
                    routes: &pending.routes,
                    events: &events,
                };
                let prepared = self.store.prepare_commit(
                    state,
                    &pending.writes,
                    loaded.token,
                    self.clock.now(),
                    extras,
                    false,
                );
                (prepared, pending)
            };
            let calls = pending.waiters.len();
            let span = tracing_context::commit_span(self.shop_id.as_str(), calls, &pending.traces);
            let outcome = measures::timed_commit(
                calls,
                self.store.send_commit(prepared).instrument(span.clone()),
            )
            .await;
            if let Err(error) = &outcome {
                tracing_context::record_failure(&span);
                // Logged in the commit's span: an event of the traces it carries.
                span.in_scope(|| {
                    tracing::warn!(shop = %self.shop_id, %error, "commit failed; dropping the shop from memory");
                });
            }
            drop(span);
            let mut loaded = self.cell.loaded.lock().await;
            let current = loaded.generation == self.generation;
            match outcome {
                Ok(CommitOutcome::Committed) => {
                    for decided in std::mem::take(&mut pending.measures) {
                        decided.record();
                    }
                    if current {
                        let next = loaded.state.as_ref().and_then(ShopState::next_deadline);
                        let events = std::mem::take(&mut pending.events);
                        self.cell.events.publish(events, &self.shop_id, 0);
                        self.deadlines.arm(&self.shop_id, next);
                    }
                    drop(loaded);
                    pending.answer_all(&Verdict::Committed);
                    if !current {
                        return;
                    }
                }
                Ok(CommitOutcome::Replay {
                    route,
                    buyer,
                    outcome,
                }) => {
                    // The state was decided without that earlier answer: it goes,
                    // and the other calls it carried are decided again on the truth.
                    if current {
                        loaded.discard(&Verdict::Retry);
                        self.cell.gauges.clear();
                    }
                    drop(loaded);
                    let replayed = pending.route_waiters.get(route).copied();
                    for (index, waiter) in pending.waiters.into_iter().enumerate() {
                        let verdict = if Some(index) == replayed {
                            Verdict::Replayed(buyer.clone(), outcome.clone())
                        } else {
                            Verdict::Retry
                        };
                        let _ = waiter.send(verdict);
                    }
                    return;
                }
                // Nothing was written: the calls are decided again on the
                // stored truth, numbering their events on from the stream.
                Ok(CommitOutcome::Behind) => {
                    if current {
                        loaded.discard(&Verdict::Retry);
                        self.cell.gauges.clear();
                    }
                    drop(loaded);
                    pending.answer_all(&Verdict::Retry);
                    return;
                }
                Ok(CommitOutcome::AlreadyExists) => unreachable!("not a creation"),
                Err(error) => {
                    let verdict = Verdict::Failed(RouterError::Store(error));
                    if current {
                        loaded.discard(&verdict);
                        self.cell.gauges.clear();
                    }
                    drop(loaded);
                    pending.answer_all(&verdict);
                    return;
                }
            }
        }
    }
}

/// The events as the store keeps them: numbered, in their public wire form.
fn stored_events(events: &[SequencedEvent]) -> Vec<StoredEvent> {
    events
        .iter()
        .map(|event| StoredEvent {
            sequence: event.sequence,
            bytes: prost::Message::encode_to_vec(&wire_event(event.sequence, &event.event)),
        })
        .collect()
}
