//! What people do by hand: end a session (R15), assign or transfer it (R16, R18),
//! pull from a queue (R17), each under the permission rules (R19).

use super::error::EngineError;
use super::model::{
    AccountId, AssignCause, QueueName, Session, SessionId, SessionState, Timestamp,
};
use super::state::ShopState;

impl ShopState {
    /// Ends a session. An ASSIGNED one becomes ENDED and keeps its slot for the close
    /// delay (R15); a QUEUED or POOLED one closes at once. `actor`, when given, must be
    /// the holder or a MAIN/ADMIN/CS_ADMIN account (R19).
    pub fn end_session(
        &mut self,
        id: SessionId,
        actor: Option<&AccountId>,
        now: Timestamp,
    ) -> Result<&Session, EngineError> {
        self.advance_to(now);
        let session = self.require_session(id)?;
        if let Some(actor_id) = actor {
            let actor_account = self.require_account("actor_account_id", actor_id)?;
            let holds_it = session.account.as_ref() == Some(actor_id);
            if !holds_it && !actor_account.config.manages_sessions() {
                return Err(EngineError::permission_denied(
                    "actor_account_id",
                    format!(
                        "{actor_id} neither holds session {id} nor manages the shop's sessions"
                    ),
                ));
            }
        }
        let now = self.clock;
        match session.state {
            SessionState::Assigned => self.end_assigned(id, now),
            SessionState::Queued | SessionState::Pooled => self.close(id, now),
            SessionState::Ended | SessionState::Closed => {
                return Err(EngineError::failed_precondition(
                    "session_id",
                    format!("session {id} has already ended"),
                ));
            }
        }
        self.drain_queues(now);
        Ok(&self.sessions[&id])
    }

    /// R16: manual assignment (out of a queue or, under R18, the pool) and transfer
    /// (from one account to another). Works even when the receiver is full or
    /// non-routing; the buyer's affinity follows the session.
    pub fn transfer(
        &mut self,
        id: SessionId,
        actor: &AccountId,
        to: &AccountId,
        now: Timestamp,
    ) -> Result<&Session, EngineError> {
        self.advance_to(now);
        let session = self.require_session(id)?;
        let actor_account = self.require_account("actor_account_id", actor)?;
        self.require_account("to_account_id", to)?;
        if !session.state.is_open() {
            return Err(EngineError::failed_precondition(
                "session_id",
                format!("session {id} is no longer open"),
            ));
        }
        // R18 before R16: the pool answers to the main account and pool permission.
        let allowed = if session.state == SessionState::Pooled {
            *actor == self.main_account || actor_account.config.pool_permission
        } else {
            actor_account.config.manages_sessions() || session.account.as_ref() == Some(actor)
        };
        if !allowed {
            let what = if session.state == SessionState::Pooled {
                "only the main account or an account with pool permission may assign out of the message pool"
            } else {
                "only MAIN, ADMIN, CS_ADMIN or the session's holder may transfer it"
            };
            return Err(EngineError::permission_denied(
                "actor_account_id",
                format!("{actor}: {what}"),
            ));
        }
        if session.account.as_ref() == Some(to) {
            return Err(EngineError::failed_precondition(
                "to_account_id",
                format!("{to} already holds session {id}"),
            ));
        }
        let cause = match (&session.account, session.queue) {
            (Some(from), _) => AssignCause::Transfer { from: from.clone() },
            (None, from_queue) => AssignCause::Manual { from_queue },
        };
        let now = self.clock;
        self.assign(id, to, cause, now);
        // The previous holder may now have a free slot.
        self.drain_queues(now);
        Ok(&self.sessions[&id])
    }

    /// R17: any account of the shop, non-routing ones included, takes the oldest
    /// session of the queue it names, whatever its own occupancy.
    pub fn pull_queued(
        &mut self,
        account: &AccountId,
        queue: QueueName,
        now: Timestamp,
    ) -> Result<&Session, EngineError> {
        self.advance_to(now);
        self.require_account("account_id", account)?;
        // The oldest, or the first by R23 when priorities are raised.
        let Some(oldest) = self.next_in(queue) else {
            return Err(EngineError::failed_precondition(
                "queue",
                format!("queue {queue} is empty"),
            ));
        };
        let now = self.clock;
        self.assign(oldest, account, AssignCause::Pull { from: queue }, now);
        Ok(&self.sessions[&oldest])
    }

    pub(crate) fn require_session(&self, id: SessionId) -> Result<&Session, EngineError> {
        self.sessions.get(&id).ok_or_else(|| {
            EngineError::not_found(
                "session_id",
                format!("session {id} does not exist in this shop"),
            )
        })
    }
}
