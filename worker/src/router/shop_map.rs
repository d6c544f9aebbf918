//! The shops a router has touched, by id: each one's [`ShopCell`], which exists
//! even while the shop is not in memory, so that a load and the calls waiting
//! for it share one lock.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::gauges::{self, ShopGauges};
use super::shop_cell::ShopCell;
use crate::engine::{ShopId, Timestamp};

/// The cells by shop id.
#[derive(Debug, Default)]
pub struct ShopMap {
    /// Read on every call, written only when a shop comes or goes.
    cells: RwLock<HashMap<ShopId, Arc<ShopCell>>>,
}

impl ShopMap {
    /// The shop's cell, made (admitting at most `max_in_flight` calls at once)
    /// if it has none yet; `true` with a cell made by this call.
    pub fn cell(&self, shop_id: &ShopId, max_in_flight: usize) -> (Arc<ShopCell>, bool) {
        if let Some(cell) = self.cells.read().expect("shop map lock").get(shop_id) {
            return (cell.clone(), false);
        }
        let mut cells = self.cells.write().expect("shop map lock");
        let mut made = false;
        let cell = cells
            .entry(shop_id.clone())
            .or_insert_with(|| {
                made = true;
                ShopCell::new(max_in_flight)
            })
            .clone();
        (cell, made)
    }

    /// Forgets the shops `moved` selects; how many there were.
    pub fn drop_where(&self, moved: impl Fn(&ShopId) -> bool) -> usize {
        let mut cells = self.cells.write().expect("shop map lock");
        let before = cells.len();
        cells.retain(|shop_id, _| !moved(shop_id));
        before - cells.len()
    }

    /// Drops an empty cell left by a lookup of a shop that does not exist.
    pub fn forget_if_absent(&self, shop_id: &ShopId) {
        let mut cells = self.cells.write().expect("shop map lock");
        let unused = cells.get(shop_id).is_some_and(|cell| {
            cell.events.watchers() == 0
                && cell
                    .loaded
                    .try_lock()
                    .is_ok_and(|loaded| loaded.state.is_none())
        });
        if unused {
            cells.remove(shop_id);
        }
    }

    /// Sets the gauges over the shops (queued sessions, the longest wait,
    /// message pools) as of `now`.
    pub fn publish_gauges(&self, now: Timestamp) {
        let cells = self.cells.read().expect("shop map lock");
        gauges::publish(cells.values().map(|cell| &cell.gauges as &ShopGauges), now);
    }
}
