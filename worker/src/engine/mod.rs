//! The routing engine: every rule of `routing-rules.md` (R1–R25) as plain functions of
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
//!
//! Beyond the two platforms (R20–R25), each off until a shop turns it on:
//! - R20 (wait estimates): [`estimate`], its arithmetic in [`free_rate`]
//! - R21, R22 (queue and reply timeouts, `RecordReply`): [`timeouts`], fired by
//!   [`lifecycle`] like R15; their indexes: `follow_ups`, kept by `follow_up_index`
//! - R23 (priority and aging): [`priority`]
//! - R24 (the full explanation): [`explain`]
//! - R25 (fairness and overflow accounting): [`tally`]; R21–R23's settings:
//!   `settings_beyond`

mod accounts;
pub mod admin;
pub mod distribution;
pub mod error;
pub mod estimate;
pub mod events;
pub mod explain;
mod follow_up_index;
mod follow_ups;
pub mod free_rate;
mod invariants;
pub mod lifecycle;
pub mod limits;
pub mod manual;
pub mod model;
pub mod priority;
pub mod queues;
mod reading;
mod request_log;
pub mod route;
pub mod route_call;
pub mod settings;
mod settings_beyond;
pub mod snapshot;
pub mod state;
pub mod tally;
pub mod timeouts;

#[cfg(test)]
mod rule_tests;

pub use admin::{AccountUpsert, GroupUpsert};
pub use error::EngineError;
pub use events::{ShopEvent, TimedEvent, WriteSet};
pub use free_rate::{EstimateAccuracy, FreeRate, WaitRange, wait_range};
pub use limits::ShopLimits;
pub use model::*;
pub use route_call::{Candidate, RouteOptions, RouteOutcome, RouteRequest, Why};
pub use settings::{
    Distribution, OfflinePolicy, Profile, QueueTimeoutAction, RoutingMode, SettingsPatch,
    ShopSettings,
};
pub use snapshot::{ShopCounters, ShopSnapshot};
pub use state::ShopState;
pub use tally::{AssignTally, CauseKind, OverflowRule};
