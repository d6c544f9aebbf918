//! The rule scenarios (see `scenarios/rules.rs`, and `scenarios/beyond.rs` for
//! R20–R25) on the distributed core: a sharded
//! dispatcher in front of 3 workers keeping state in one real redis-server.

mod backend {
    pub async fn start() -> fenliu_tests::TestNode {
        fenliu_tests::TestNode::start_on_redis(3).await
    }
}

#[path = "scenarios/rules.rs"]
mod rules;

#[path = "scenarios/beyond.rs"]
mod beyond;
