//! The rule scenarios (see `scenarios/rules.rs`) on the distributed core: a sharded
//! dispatcher in front of 3 workers keeping state in one real redis-server.

mod backend {
    pub async fn start() -> fenliu_tests::TestNode {
        fenliu_tests::TestNode::start_on_redis(3).await
    }
}

#[path = "scenarios/rules.rs"]
mod rules;
