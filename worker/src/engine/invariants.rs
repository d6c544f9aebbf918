//! [`ShopState::check_invariants`]: every counter and index of a shop's state
//! checked against a recount from the sessions, accounts, groups and settings. Unit
//! tests and the engine's property tests call it after every step.

use super::model::SessionState;
use super::state::ShopState;

impl ShopState {
    /// Checks every counter against a recount; for tests and debug builds.
    pub fn check_invariants(&self) -> Result<(), String> {
        for account in self.accounts.values() {
            let mut assigned = 0;
            let mut ending = 0;
            for session in self.sessions.values() {
                if session.account.as_ref() != Some(&account.id) {
                    continue;
                }
                match session.state {
                    SessionState::Assigned => assigned += 1,
                    SessionState::Ended => ending += 1,
                    _ => {}
                }
            }
            if (assigned, ending) != (account.assigned, account.ending) {
                return Err(format!(
                    "account {} counts assigned {} ending {}, recount gives {assigned} {ending}",
                    account.id, account.assigned, account.ending
                ));
            }
        }
        if self.group_members != self.recount_group_members() {
            return Err("the group index does not match the groups' members".to_owned());
        }
        for (buyer, id) in &self.open_session_by_buyer {
            let session = &self.sessions[id];
            if !session.state.is_open() || &session.buyer != buyer {
                return Err(format!(
                    "buyer index points {buyer} at session {id} which is not its open session"
                ));
            }
        }
        let open = self.sessions.values().filter(|s| s.state.is_open()).count();
        if open != self.open_session_by_buyer.len() {
            return Err(format!(
                "{open} open sessions but {} buyers indexed",
                self.open_session_by_buyer.len()
            ));
        }
        for (name, queue) in &self.queues {
            for id in queue {
                let session = &self.sessions[id];
                if session.state != SessionState::Queued || session.queue != Some(*name) {
                    return Err(format!(
                        "queue {name} holds session {id} in state {:?}",
                        session.state
                    ));
                }
            }
            let ordered = queue
                .iter()
                .map(|id| self.sessions[id].enqueued_seq)
                .collect::<Vec<_>>()
                .windows(2)
                .all(|pair| pair[0] < pair[1]);
            if !ordered {
                return Err(format!("queue {name} is not in arrival order"));
            }
        }
        self.check_follow_ups()
    }

    /// R21–R23's indexes agree with a recount from the sessions and settings.
    fn check_follow_ups(&self) -> Result<(), String> {
        if self.follow_ups.queue_deadlines != self.recount_queue_deadlines() {
            return Err("the queue deadlines (R21) do not match the queued sessions".to_owned());
        }
        if self.follow_ups.reply_deadlines != self.recount_reply_deadlines() {
            return Err("the reply deadlines (R22) do not match the assigned sessions".to_owned());
        }
        if self.follow_ups.raised != self.recount_raised() {
            return Err("the raised priorities (R23) do not match the queued sessions".to_owned());
        }
        Ok(())
    }
}
