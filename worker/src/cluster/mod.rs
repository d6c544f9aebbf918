//! Running as one of many workers: which shards exist ([`sharding`]), who is alive
//! and who holds which shard ([`registry`], in Redis), and this worker's share
//! ([`ownership`]).

pub mod ownership;
pub mod registry;
pub mod sharding;
