//! The shop's configuration and presence: settings, accounts, groups, statuses and
//! heartbeats. Each call checks everything before changing anything, then lets the
//! queues drain (R14), since most of these can make an account able to serve.

use std::collections::BTreeSet;

use super::error::EngineError;
use super::free_rate::FreeRate;
use super::model::{
    Account, AccountConfig, AccountId, AccountStatus, Group, GroupName, OrderStatus, Role,
    SessionState, Timestamp,
};
use super::settings::{MAX_CONCURRENT_RANGE, SettingsPatch};
use super::state::ShopState;
use super::tally::AssignTally;

/// An account's configuration as the caller gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountUpsert {
    pub id: AccountId,
    pub config: AccountConfig,
}

/// A group as the caller gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupUpsert {
    pub name: GroupName,
    pub members: BTreeSet<AccountId>,
    pub order_statuses: BTreeSet<OrderStatus>,
}

impl ShopState {
    /// Changes the settings given, all or nothing.
    pub fn update_settings(
        &mut self,
        patch: &SettingsPatch,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        self.advance_to(now);
        let next = patch.apply_to(&self.settings, |id| self.accounts.contains_key(id))?;
        if next != self.settings {
            let old = std::mem::replace(&mut self.settings, next);
            self.write_set.settings = true;
            self.refollow_after_settings(&old, self.clock);
            // A maximum wait set below what buyers have waited already: they
            // leave their queue now (R21).
            self.advance_to(self.clock);
            self.drain_queues(self.clock);
        }
        Ok(())
    }

    /// Creates an account (OFFLINE) or replaces its configuration, keeping its status
    /// and sessions.
    pub fn upsert_account(
        &mut self,
        upsert: AccountUpsert,
        now: Timestamp,
    ) -> Result<&Account, EngineError> {
        self.advance_to(now);
        self.check_account_config(&upsert)?;
        if !self.accounts.contains_key(&upsert.id) {
            self.limits.admit_account(self.accounts.len())?;
        }
        let id = upsert.id.clone();
        match self.accounts.get_mut(&id) {
            Some(existing) => existing.config = upsert.config,
            None => self.insert_account(Account {
                id: id.clone(),
                config: upsert.config,
                status: AccountStatus::Offline,
                presence_expires_at: None,
                assigned: 0,
                ending: 0,
                last_assigned_seq: 0,
                frees: FreeRate::default(),
                tally: AssignTally::default(),
            }),
        }
        self.write_set.accounts.insert(id.clone());
        self.drain_queues(self.clock);
        Ok(&self.accounts[&id])
    }

    fn check_account_config(&self, upsert: &AccountUpsert) -> Result<(), EngineError> {
        let config = &upsert.config;
        let is_main = upsert.id == self.main_account;
        if config.roles.is_empty() {
            return Err(EngineError::invalid(
                "roles",
                "an account needs at least one role",
            ));
        }
        if config.roles.contains(&Role::Main) && !is_main {
            return Err(EngineError::failed_precondition(
                "roles",
                format!(
                    "the shop's main account is {}; a shop has exactly one MAIN account",
                    self.main_account
                ),
            ));
        }
        if is_main && !config.roles.contains(&Role::Main) {
            return Err(EngineError::failed_precondition(
                "roles",
                "the main account must keep the MAIN role",
            ));
        }
        if let Some(max) = config.max_concurrent
            && !MAX_CONCURRENT_RANGE.contains(&max)
        {
            return Err(EngineError::invalid(
                "max_concurrent",
                format!("must be between 1 and 500, got {max}"),
            ));
        }
        if config.main_account_participates && !is_main {
            return Err(EngineError::invalid(
                "main_account_participates",
                "only the main account can be set to participate this way; give the account the CUSTOMER_SERVICE role",
            ));
        }
        Ok(())
    }

    /// Removes an account: refused for the main account, the proxy account, and an
    /// account that still holds assigned sessions (transfer them first).
    pub fn remove_account(&mut self, id: &AccountId, now: Timestamp) -> Result<(), EngineError> {
        self.advance_to(now);
        let account = self.require_account("account_id", id)?;
        if *id == self.main_account {
            return Err(EngineError::failed_precondition(
                "account_id",
                "the main account cannot be removed",
            ));
        }
        if self.settings.proxy_account.as_ref() == Some(id) {
            return Err(EngineError::failed_precondition(
                "account_id",
                "the account is the shop's proxy account; choose another proxy first",
            ));
        }
        if account.assigned > 0 {
            return Err(EngineError::failed_precondition(
                "account_id",
                format!(
                    "the account holds {} assigned sessions; transfer or end them first",
                    account.assigned
                ),
            ));
        }
        self.accounts.remove(id);
        self.write_set.accounts.insert(id.clone());
        self.write_set.presence.insert(id.clone());
        // Its ended sessions close as usual, with no slot left to free.
        for session in self.sessions.values_mut() {
            if session.state == SessionState::Ended && session.account.as_ref() == Some(id) {
                session.account = None;
                self.write_set.sessions.insert(session.id);
            }
        }
        if let Some(expires) = self.presence_expiry.iter().find(|(_, a)| a == id).cloned() {
            self.presence_expiry.remove(&expires);
        }
        if self.settings.offline_list.contains(id) {
            self.settings.offline_list.retain(|a| a != id);
            self.write_set.settings = true;
        }
        for group in self.groups.values_mut() {
            if group.members.remove(id) {
                self.write_set.groups.insert(group.name.clone());
            }
        }
        // It left its groups, and the accounts after it moved up one position.
        self.reindex_groups();
        let write_set = &mut self.write_set;
        self.affinities.retain(|buyer, affinity| {
            let keep = affinity.account != *id;
            if !keep {
                write_set.affinities.insert(buyer.clone());
            }
            keep
        });
        self.drain_queues(self.clock);
        Ok(())
    }

    /// Creates or replaces a group. Each order status is bound to at most one group.
    pub fn upsert_group(
        &mut self,
        upsert: GroupUpsert,
        now: Timestamp,
    ) -> Result<&Group, EngineError> {
        self.advance_to(now);
        for member in &upsert.members {
            self.require_account("member_account_ids", member)?;
        }
        if !self.groups.contains_key(&upsert.name) {
            self.limits.admit_group(self.groups.len())?;
        }
        for status in &upsert.order_statuses {
            let bound_elsewhere = self
                .groups
                .values()
                .find(|g| g.name != upsert.name && g.order_statuses.contains(status));
            if let Some(other) = bound_elsewhere {
                return Err(EngineError::failed_precondition(
                    "order_statuses",
                    format!(
                        "{} is already bound to group {}; an order status has at most one group",
                        status.name(),
                        other.name
                    ),
                ));
            }
        }
        let name = upsert.name.clone();
        self.groups.insert(
            name.clone(),
            Group {
                name: upsert.name,
                members: upsert.members,
                order_statuses: upsert.order_statuses,
            },
        );
        self.reindex_groups();
        self.write_set.groups.insert(name.clone());
        self.drain_queues(self.clock);
        Ok(&self.groups[&name])
    }

    pub fn remove_group(&mut self, name: &GroupName, now: Timestamp) -> Result<(), EngineError> {
        self.advance_to(now);
        if self.groups.remove(name).is_none() {
            return Err(EngineError::not_found(
                "name",
                format!("group {name} does not exist in this shop"),
            ));
        }
        self.reindex_groups();
        self.write_set.groups.insert(name.clone());
        self.drain_queues(self.clock);
        Ok(())
    }

    /// Sets an account's status; for ONLINE and SUSPENDED it also counts as a heartbeat.
    pub fn set_account_status(
        &mut self,
        id: &AccountId,
        status: AccountStatus,
        now: Timestamp,
    ) -> Result<&Account, EngineError> {
        self.advance_to(now);
        self.require_account("account_id", id)?;
        self.set_status(id, status, false, self.clock);
        self.drain_queues(self.clock);
        Ok(&self.accounts[id])
    }

    /// Keeps logged-in accounts' presence alive. OFFLINE accounts stay OFFLINE: a
    /// heartbeat is not a login. Unknown accounts refuse the whole call.
    pub fn heartbeat(
        &mut self,
        ids: &[AccountId],
        now: Timestamp,
    ) -> Result<Vec<&Account>, EngineError> {
        self.advance_to(now);
        for id in ids {
            self.require_account("account_ids", id)?;
        }
        for id in ids {
            let status = self.accounts[id].status;
            if status.is_logged_in() {
                self.set_status(id, status, false, self.clock);
            }
        }
        Ok(ids.iter().map(|id| &self.accounts[id]).collect())
    }

    pub(crate) fn require_account(
        &self,
        field: &'static str,
        id: &AccountId,
    ) -> Result<&Account, EngineError> {
        self.accounts.get(id).ok_or_else(|| {
            EngineError::not_found(field, format!("account {id} does not exist in this shop"))
        })
    }
}
