//! The rule scenarios (see `scenarios/rules.rs`, and `scenarios/beyond.rs` for
//! R20–R25) with authentication on: a sharded
//! dispatcher in front of 3 workers on one real redis-server, every call carrying
//! a platform backend's token (every shop, every scope), verified by the
//! dispatcher and admitted by the worker.

mod backend {
    pub async fn start() -> fenliu_tests::TestNode {
        let auth = std::sync::Arc::new(fenliu_tests::TestAuth::new());
        fenliu_tests::TestNode::start_on_redis_with_auth(3, auth).await
    }
}

#[path = "scenarios/rules.rs"]
mod rules;

#[path = "scenarios/beyond.rs"]
mod beyond;
