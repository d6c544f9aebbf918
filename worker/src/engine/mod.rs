//! The routing engine: every rule of `routing-rules.md` (R1–R19) as plain functions of
//! a shop's state, a call and the time. No I/O, no clock, no async: the server tells
//! it the time and persists what it changed ([`WriteSet`]), and reports what happened
//! ([`ShopEvent`]).
//!
//! Where each rule lives:
//! - R1–R13 (`Route`): [`route`]; R9 (even distribution): [`distribution`]
//! - `Route`'s request and answer, and the answer kept for R1's retries:
//!   [`route_call`] (remembered by request id in `request_log`)
//! - R14 (queues drain by themselves): [`queues`]
//! - R15 (close delay) and presence TTLs: [`lifecycle`] and [`state`]
//! - R16–R19 (manual work and permissions): [`manual`]
//! - settings and R12's constraint on them: [`settings`]; accounts, groups,
//!   statuses: [`admin`]
//! - the caps on a shop's accounts, groups and sessions: [`limits`]

mod accounts;
pub mod admin;
pub mod distribution;
pub mod error;
pub mod events;
mod invariants;
pub mod lifecycle;
pub mod limits;
pub mod manual;
pub mod model;
pub mod queues;
mod reading;
mod request_log;
pub mod route;
pub mod route_call;
pub mod settings;
pub mod snapshot;
pub mod state;

#[cfg(test)]
mod rule_tests;

pub use admin::{AccountUpsert, GroupUpsert};
pub use error::EngineError;
pub use events::{ShopEvent, TimedEvent, WriteSet};
pub use limits::ShopLimits;
pub use model::*;
pub use route_call::{RouteOutcome, RouteRequest};
pub use settings::{
    Distribution, OfflinePolicy, Profile, RoutingMode, SettingsPatch, ShopSettings,
};
pub use snapshot::{ShopCounters, ShopSnapshot};
pub use state::ShopState;
