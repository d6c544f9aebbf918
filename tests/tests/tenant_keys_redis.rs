//! The tenant key scenarios (see `scenarios/tenant_keys.rs`) on 3 workers
//! keeping state in one real redis-server, behind a sharded dispatcher.

mod backend {
    pub async fn start() -> fenliu_tests::TestNode {
        fenliu_tests::TestNode::start_on_redis(3).await
    }
}

#[path = "scenarios/tenant_keys.rs"]
mod tenant_keys;
