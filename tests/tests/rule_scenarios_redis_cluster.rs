//! The rule scenarios (see `scenarios/rules.rs`, and `scenarios/beyond.rs` for
//! R20–R25) on a Redis Cluster: a sharded
//! dispatcher in front of 3 workers keeping state in a real cluster of 3 masters
//! on loopback, each scenario in a namespace of its own.

mod backend {
    pub async fn start() -> fenliu_tests::TestNode {
        fenliu_tests::TestNode::start_on_redis_cluster(3).await
    }
}

#[path = "scenarios/rules.rs"]
mod rules;

#[path = "scenarios/beyond.rs"]
mod beyond;
