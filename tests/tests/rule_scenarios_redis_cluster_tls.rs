//! The rule scenarios (see `scenarios/rules.rs`, and `scenarios/beyond.rs` for
//! R20–R25) on a Redis Cluster as production
//! should run it: a sharded dispatcher in front of 3 workers on a Redis Cluster of
//! 3 TLS-only masters (the cluster bus over TLS too) that require client
//! certificates, every node logging in as fenliu's ACL user (the README's rule,
//! keys limited to the test namespaces) with its password in a file.

mod backend {
    pub async fn start() -> fenliu_tests::TestNode {
        fenliu_tests::TestNode::start_on_secured_redis_cluster(3).await
    }
}

#[path = "scenarios/rules.rs"]
mod rules;

#[path = "scenarios/beyond.rs"]
mod beyond;
