//! The rule scenarios (see `scenarios/rules.rs`, and `scenarios/beyond.rs` for
//! R20–R25) with every protection on: TLS
//! from the client to the dispatcher, mutual TLS on the link to 3 workers, TLS
//! to a Redis that requires client certificates and is reached as fenliu's ACL
//! user, and a platform token on every call.

mod backend {
    use std::sync::Arc;

    pub async fn start() -> fenliu_tests::TestNode {
        let settings = fenliu_tests::NodeSettings {
            auth: Some(Arc::new(fenliu_tests::TestAuth::new())),
            tls: Some(Arc::new(fenliu_tests::TestTls::new())),
            ..fenliu_tests::NodeSettings::default()
        };
        fenliu_tests::TestNode::start_on_secured_redis(3, settings).await
    }
}

#[path = "scenarios/rules.rs"]
mod rules;

#[path = "scenarios/beyond.rs"]
mod beyond;
