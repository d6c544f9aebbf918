//! The tenant key scenarios (see `scenarios/tenant_keys.rs`) on a Redis Cluster:
//! 3 workers keeping state in a real cluster of 3 masters on loopback, each
//! scenario in a namespace of its own.

mod backend {
    pub async fn start() -> fenliu_tests::TestNode {
        fenliu_tests::TestNode::start_on_redis_cluster(3).await
    }
}

#[path = "scenarios/tenant_keys.rs"]
mod tenant_keys;
