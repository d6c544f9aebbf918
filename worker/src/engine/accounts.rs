//! The shop's accounts, kept in one vector sorted by id.
//!
//! Why not just a map: group routing (R7) walks a group's members on every `Route`,
//! and finding each member by its id (a string) was most of a group-mode decision in
//! a large shop. In a sorted vector every account has a position, so the shop keeps
//! each group's members as positions (`ShopState::group_members`) and reaches them
//! without comparing a string; listing stays in id order, which R9's ties and RANDOM
//! picks depend on.
//!
//! A position holds only until the next [`AccountTable::insert`] of a new id or
//! [`AccountTable::remove`]: whoever calls those must rebuild what holds positions.

use std::collections::BTreeMap;
use std::ops::Index;

use super::model::{Account, AccountId};

#[derive(Clone, Debug, Default)]
pub(crate) struct AccountTable {
    /// Ascending by id, ids unique.
    sorted: Vec<Account>,
    /// Each account's position in `sorted`, to find an account by id. A tree, not a
    /// binary search of `sorted`: a binary search's string comparisons each wait for
    /// the one before, and measured slower than the tree's scans of a node (a
    /// returning buyer's route, a heartbeat of every account).
    positions: BTreeMap<AccountId, usize>,
}

impl AccountTable {
    /// Where the account with this id sits, if it exists.
    pub(crate) fn position(&self, id: &AccountId) -> Option<usize> {
        self.positions.get(id).copied()
    }

    /// The account at a position given by [`AccountTable::position`] since the last
    /// insert of a new id or removal.
    pub(crate) fn at(&self, position: usize) -> &Account {
        &self.sorted[position]
    }

    pub(crate) fn get(&self, id: &AccountId) -> Option<&Account> {
        self.position(id).map(|position| &self.sorted[position])
    }

    pub(crate) fn get_mut(&mut self, id: &AccountId) -> Option<&mut Account> {
        self.position(id).map(|position| &mut self.sorted[position])
    }

    pub(crate) fn contains_key(&self, id: &AccountId) -> bool {
        self.positions.contains_key(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Every account, in id order.
    pub(crate) fn values(&self) -> std::slice::Iter<'_, Account> {
        self.sorted.iter()
    }

    /// Adds an account, or replaces the one with the same id. A new id moves the
    /// positions of the accounts after it.
    pub(crate) fn insert(&mut self, account: Account) {
        if let Some(position) = self.position(&account.id) {
            self.sorted[position] = account;
            return;
        }
        let position = self
            .sorted
            .partition_point(|existing| existing.id < account.id);
        self.positions.insert(account.id.clone(), position);
        self.sorted.insert(position, account);
        self.renumber();
    }

    /// Removes an account; the positions of the accounts after it move.
    pub(crate) fn remove(&mut self, id: &AccountId) -> Option<Account> {
        let position = self.positions.remove(id)?;
        let account = self.sorted.remove(position);
        self.renumber();
        Some(account)
    }

    /// Both are in id order, so an account's position is its rank among the ids.
    fn renumber(&mut self) {
        for (rank, position) in self.positions.values_mut().enumerate() {
            *position = rank;
        }
    }
}

impl From<BTreeMap<AccountId, Account>> for AccountTable {
    /// A map is already sorted and unique by id.
    fn from(accounts: BTreeMap<AccountId, Account>) -> Self {
        let positions = accounts
            .keys()
            .enumerate()
            .map(|(position, id)| (id.clone(), position))
            .collect();
        AccountTable {
            sorted: accounts.into_values().collect(),
            positions,
        }
    }
}

impl Index<&AccountId> for AccountTable {
    type Output = Account;

    /// Panics when the account does not exist, as a map's index does.
    fn index(&self, id: &AccountId) -> &Account {
        self.get(id).expect("account exists")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{AccountStatus, test_account};

    fn account(id: &str, assigned: u32) -> Account {
        test_account(id, AccountStatus::Offline, assigned)
    }

    /// The ids in order, after checking that each is found at its own position.
    fn ids(table: &AccountTable) -> Vec<&str> {
        for (position, account) in table.values().enumerate() {
            assert_eq!(table.position(&account.id), Some(position));
        }
        assert_eq!(table.positions.len(), table.sorted.len());
        table.values().map(|a| a.id.as_str()).collect()
    }

    #[test]
    fn accounts_stay_sorted_by_id_and_unique() {
        let mut table = AccountTable::default();
        for id in ["m", "b", "x", "a"] {
            table.insert(account(id, 0));
        }
        table.insert(account("b", 7));
        assert_eq!(ids(&table), ["a", "b", "m", "x"]);
        assert_eq!(table[&AccountId::from("b")].assigned, 7);
        assert_eq!(table.position(&AccountId::from("m")), Some(2));
        assert_eq!(table.at(3).id.as_str(), "x");

        assert_eq!(
            table.remove(&AccountId::from("b")).map(|a| a.assigned),
            Some(7)
        );
        assert!(table.remove(&AccountId::from("b")).is_none());
        assert!(!table.contains_key(&AccountId::from("b")));
        assert_eq!(ids(&table), ["a", "m", "x"]);
        assert_eq!(table.position(&AccountId::from("m")), Some(1));
    }

    #[test]
    fn a_map_converts_in_id_order() {
        let map: BTreeMap<AccountId, Account> = ["c", "a", "b"]
            .into_iter()
            .map(|id| (AccountId::from(id), account(id, 0)))
            .collect();
        let table = AccountTable::from(map);
        assert_eq!(ids(&table), ["a", "b", "c"]);
        assert!(table.get(&AccountId::from("d")).is_none());
    }
}
