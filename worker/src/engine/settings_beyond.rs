//! The settings of R21–R23 in a settings change: their bounds, and R21's check that
//! a queue-timeout action has its target (a proxy account, an offline list). Apart
//! from `settings` so that the R1–R19 settings read as the rules page lists them.

use super::error::EngineError;
use super::settings::{
    MAX_PRIORITY_AGING, MAX_QUEUE_WAIT, MAX_REASSIGNMENTS_RANGE, MAX_REPLY_TIMEOUT,
    QueueTimeoutAction, SettingsPatch, ShopSettings, check_at_most,
};

impl SettingsPatch {
    /// Applies the R21–R23 fields of this change to `next` (the settings after the
    /// R1–R19 fields were applied), or refuses them.
    pub(super) fn apply_beyond_to(&self, next: &mut ShopSettings) -> Result<(), EngineError> {
        if let Some(wait) = self.max_queue_wait {
            check_at_most("max_queue_wait_seconds", wait, MAX_QUEUE_WAIT)?;
            next.max_queue_wait = wait;
        }
        if let Some(timeout) = self.reply_timeout {
            check_at_most("reply_timeout_seconds", timeout, MAX_REPLY_TIMEOUT)?;
            next.reply_timeout = timeout;
        }
        if let Some(aging) = self.priority_aging {
            check_at_most("priority_aging_seconds", aging, MAX_PRIORITY_AGING)?;
            next.priority_aging = aging;
        }
        if let Some(max) = self.max_reassignments {
            if !MAX_REASSIGNMENTS_RANGE.contains(&max) {
                return Err(EngineError::invalid(
                    "max_reassignments",
                    format!(
                        "must be between {} and {}, got {max}",
                        MAX_REASSIGNMENTS_RANGE.start(),
                        MAX_REASSIGNMENTS_RANGE.end()
                    ),
                ));
            }
            next.max_reassignments = max;
        }
        if let Some(reassign) = self.reassign_unanswered {
            next.reassign_unanswered = reassign;
        }
        if let Some(action) = self.queue_timeout_action {
            next.queue_timeout_action = action;
        }
        self.check_queue_timeout_target(next)
    }

    /// R21: an action asked for, or in force, must have its target. A target
    /// that goes away by other means (an account of the offline list removed)
    /// leaves the timeout to the message pool instead.
    fn check_queue_timeout_target(&self, next: &ShopSettings) -> Result<(), EngineError> {
        let asked = self.queue_timeout_action.is_some();
        if !asked && next.max_queue_wait.is_zero() {
            return Ok(());
        }
        let (missing, target_field) = match next.queue_timeout_action {
            QueueTimeoutAction::ProxyAccount if next.proxy_account.is_none() => {
                ("a proxy account", "proxy_account_id")
            }
            QueueTimeoutAction::OfflineList if next.offline_list.is_empty() => {
                ("an offline list", "offline_list")
            }
            _ => return Ok(()),
        };
        let field = if asked {
            "queue_timeout_action"
        } else {
            target_field
        };
        Err(EngineError::failed_precondition(
            field,
            format!(
                "the {} queue-timeout action needs {missing} (R21); set it first",
                next.queue_timeout_action.name()
            ),
        ))
    }
}
