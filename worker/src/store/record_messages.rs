//! The protobuf records (prost) a shop's entities are stored as in Redis. A field
//! is only ever added, under a new tag, so that what an older node stored still
//! reads (a missing field reads as its default); a field a newer node added is
//! skipped by an older one (protobuf's unknown-field rule). What those two rules
//! cannot carry (a field whose meaning changed) is what the shop record's
//! `format` is for. [`super::records`] converts them to and from the engine's
//! values.

use prost::Message;

/// What a shop is: written when it is created and when its settings change.
///
/// Its counters, which move with nearly every new session, are kept apart in a
/// [`CountersRecord`] so that they do not rewrite this record each time. Tags 5-7
/// held the counters before they moved out; nothing stored that way needs reading
/// (pre-1.0: no stored data was migrated), but the tags stay unused.
#[derive(Clone, PartialEq, Message)]
pub struct ShopRecord {
    #[prost(string, tag = "1")]
    pub shop_id: String,
    #[prost(int32, tag = "2")]
    pub profile: i32,
    #[prost(string, tag = "3")]
    pub main_account: String,
    #[prost(message, optional, tag = "4")]
    pub settings: Option<SettingsRecord>,
    /// The newest record format any of the shop's records was written in
    /// (`fenliu_node::versions`), so that a worker of an older release refuses
    /// the shop at load instead of misreading it or overwriting it with an older
    /// format. 0: written before formats existed, which reads as format 1.
    #[prost(uint32, tag = "8")]
    pub format: u32,
}

/// A shop's counters (`ShopCounters`), written whenever one of them moves.
#[derive(Clone, PartialEq, Message)]
pub struct CountersRecord {
    #[prost(uint64, tag = "1")]
    pub next_session_id: u64,
    #[prost(uint64, tag = "2")]
    pub assignment_seq: u64,
    #[prost(uint64, tag = "3")]
    pub enqueue_seq: u64,
    /// R20's `EstimateAccuracy`, which moves with the assignments that move the
    /// counters; 0 in a shop stored before it existed.
    #[prost(uint64, tag = "4")]
    pub estimate_samples: u64,
    #[prost(uint64, tag = "5")]
    pub estimate_within_range: u64,
    #[prost(uint64, tag = "6")]
    pub estimate_unknown: u64,
    #[prost(uint64, tag = "7")]
    pub estimate_absolute_error_ms: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct SettingsRecord {
    #[prost(int32, tag = "1")]
    pub routing_mode: i32,
    #[prost(uint64, tag = "2")]
    pub affinity_window_ms: u64,
    #[prost(bool, tag = "3")]
    pub bot_enabled: bool,
    #[prost(int32, tag = "4")]
    pub offline_policy: i32,
    #[prost(string, repeated, tag = "5")]
    pub offline_list: Vec<String>,
    #[prost(string, optional, tag = "6")]
    pub proxy_account: Option<String>,
    #[prost(bool, tag = "7")]
    pub offline_forwarding: bool,
    #[prost(uint64, tag = "8")]
    pub close_delay_ms: u64,
    #[prost(uint32, tag = "9")]
    pub default_max_concurrent: u32,
    #[prost(int32, tag = "10")]
    pub distribution: i32,
    #[prost(uint64, tag = "11")]
    pub presence_ttl_ms: u64,
    /// 0 (also what a shop stored before the field existed reads as): the
    /// deployment's default.
    #[prost(uint32, tag = "12")]
    pub route_rate_limit_per_second: u32,
    /// R21–R23: 0 or absent (a shop stored before they existed) is off.
    #[prost(uint64, tag = "13")]
    pub max_queue_wait_ms: u64,
    /// Absent: MESSAGE_POOL.
    #[prost(int32, optional, tag = "14")]
    pub queue_timeout_action: Option<i32>,
    #[prost(uint64, tag = "15")]
    pub reply_timeout_ms: u64,
    #[prost(bool, tag = "16")]
    pub reassign_unanswered: bool,
    /// Absent: the default (`DEFAULT_MAX_REASSIGNMENTS`).
    #[prost(uint32, optional, tag = "17")]
    pub max_reassignments: Option<u32>,
    #[prost(uint64, tag = "18")]
    pub priority_aging_ms: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct AccountRecord {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub display_name: String,
    #[prost(int32, repeated, tag = "3")]
    pub roles: Vec<i32>,
    #[prost(bool, tag = "4")]
    pub non_routing: bool,
    #[prost(uint32, optional, tag = "5")]
    pub max_concurrent: Option<u32>,
    #[prost(bool, tag = "6")]
    pub pool_permission: bool,
    #[prost(bool, tag = "7")]
    pub main_account_participates: bool,
    /// The status as last set; whether it still holds is the presence key's TTL.
    #[prost(int32, tag = "8")]
    pub status: i32,
    #[prost(uint64, tag = "9")]
    pub last_assigned_seq: u64,
    /// R20's `FreeRate`: the decayed count of freed slots, in millionths, and
    /// when it was last brought up to date.
    #[prost(uint64, tag = "10")]
    pub recent_frees_micro: u64,
    #[prost(uint64, tag = "11")]
    pub recent_frees_at_ms: u64,
    /// R25's counts: (cause code, count) and (overflow rule code, count), the
    /// non-zero ones.
    #[prost(message, repeated, tag = "12")]
    pub taken_by_cause: Vec<CountRecord>,
    #[prost(message, repeated, tag = "13")]
    pub overflow_by_rule: Vec<CountRecord>,
}

/// A count of something an enum's stored code names.
#[derive(Clone, PartialEq, Message)]
pub struct CountRecord {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(uint32, tag = "2")]
    pub count: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct GroupRecord {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, repeated, tag = "2")]
    pub members: Vec<String>,
    #[prost(int32, repeated, tag = "3")]
    pub order_statuses: Vec<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SessionRecord {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "2")]
    pub buyer: String,
    #[prost(int32, tag = "3")]
    pub state: i32,
    #[prost(string, optional, tag = "4")]
    pub account: Option<String>,
    #[prost(int32, tag = "5")]
    pub order_status: i32,
    #[prost(string, optional, tag = "6")]
    pub queue: Option<String>,
    #[prost(uint64, tag = "7")]
    pub enqueued_seq: u64,
    #[prost(uint64, tag = "8")]
    pub created_at_ms: u64,
    #[prost(uint64, optional, tag = "9")]
    pub closes_at_ms: Option<u64>,
    #[prost(int32, tag = "10")]
    pub reason: i32,
    /// R23; 0 in a session stored before it existed.
    #[prost(uint32, tag = "11")]
    pub priority: u32,
    /// R20: the estimate given when it was queued, when it was known.
    #[prost(uint32, optional, tag = "12")]
    pub queued_estimate_low_seconds: Option<u32>,
    #[prost(uint32, optional, tag = "13")]
    pub queued_estimate_high_seconds: Option<u32>,
    /// R22: since when the buyer waits for a reply (the reply deadline is this
    /// plus the shop's timeout, so it survives a restart or a shard move).
    #[prost(uint64, optional, tag = "14")]
    pub reply_wait_since_ms: Option<u64>,
    #[prost(string, repeated, tag = "15")]
    pub timed_out_on: Vec<String>,
    #[prost(uint32, tag = "16")]
    pub reassignments: u32,
    #[prost(bool, tag = "17")]
    pub affinity_pending: bool,
}

/// The answer to a `Route`, kept for an hour under its request id (R1 retries).
#[derive(Clone, PartialEq, Message)]
pub struct RouteRecordProto {
    #[prost(string, tag = "1")]
    pub buyer: String,
    #[prost(message, optional, tag = "2")]
    pub session: Option<SessionRecord>,
    #[prost(int32, tag = "3")]
    pub reason: i32,
    #[prost(string, tag = "4")]
    pub explanation: String,
}
