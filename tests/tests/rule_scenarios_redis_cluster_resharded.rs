//! The rule scenarios (`scenarios/rules.rs`, `scenarios/beyond.rs`) on a Redis
//! Cluster whose slot map changed live: before the first scenario, 1,000 hash
//! slots of the master holding `{meta}` move to another master (`redis-cli
//! --cluster reshard`); every scenario then runs on the cluster as the migration
//! left it, a sharded dispatcher in front of 3 workers, each in a namespace of
//! its own.

mod backend {
    pub async fn start() -> fenliu_tests::TestNode {
        fenliu_tests::TestNode::start_on_resharded_redis_cluster(3).await
    }
}

#[path = "scenarios/rules.rs"]
mod rules;

#[path = "scenarios/beyond.rs"]
mod beyond;
