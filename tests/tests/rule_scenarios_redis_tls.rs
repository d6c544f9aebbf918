//! The rule scenarios (see `scenarios/rules.rs`, and `scenarios/beyond.rs` for
//! R20–R25) on Redis as production should run
//! it: a sharded dispatcher in front of 3 workers on a TLS-only redis-server that
//! requires client certificates, every node logging in as fenliu's ACL user (the
//! README's rule) with its password in a file.

mod backend {
    pub async fn start() -> fenliu_tests::TestNode {
        fenliu_tests::TestNode::start_on_secured_redis(3, fenliu_tests::NodeSettings::default())
            .await
    }
}

#[path = "scenarios/rules.rs"]
mod rules;

#[path = "scenarios/beyond.rs"]
mod beyond;
