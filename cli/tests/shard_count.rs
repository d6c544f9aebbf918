//! The shard count is fixed for a deployment's life: the first node to start
//! records it in Redis (`{meta}:shards`), and a `fenliu worker` or `fenliu
//! dispatcher` started with another count refuses to start, naming both, rather
//! than give one shop two shards, two owners and two fencing sequences.

use std::process::Stdio;
use std::time::Duration;

use fenliu_node::redis_connection::RedisAccess;
use fenliu_node::registry::Registry;
use fenliu_tests::{redis_connection, start_redis, unique_namespace};

/// How long a node that refuses to start may take to exit.
const EXIT_LIMIT: Duration = Duration::from_secs(20);

/// Runs `fenliu <role>` with `--shards <shards>` on the namespace; its exit
/// status and stderr (it must exit by itself within [`EXIT_LIMIT`]).
fn run_node(role: &str, redis_url: &str, namespace: &str, shards: u32) -> (bool, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fenliu"))
        .args([role, "--listen", "127.0.0.1:0", "--redis-url", redis_url])
        .args([
            "--redis-namespace",
            namespace,
            "--shards",
            &shards.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fenliu");
    let deadline = std::time::Instant::now() + EXIT_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for fenliu") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("fenliu {role} --shards {shards} kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr)
        .expect("read stderr");
    (status.success(), stderr)
}

#[tokio::test]
async fn a_node_started_with_another_shard_count_than_the_deployment_refuses_to_start() {
    let redis = start_redis().await;
    let namespace = unique_namespace("shards");
    let connection = redis_connection(&[redis.url()], &RedisAccess::default()).await;
    let registry = Registry::new(connection, &namespace);

    // The first start records its count; the same count is accepted again.
    assert_eq!(registry.record_shard_count(64).await.unwrap(), 64);
    assert_eq!(
        registry.record_shard_count(128).await.unwrap(),
        64,
        "the first count stays"
    );
    registry.check_shard_count(64).await.unwrap();

    for role in ["worker", "dispatcher"] {
        let (url, ns) = (redis.url(), namespace.clone());
        let (started, stderr) = tokio::task::spawn_blocking(move || run_node(role, &url, &ns, 128))
            .await
            .expect("the run finished");
        assert!(!started, "fenliu {role} with 128 shards must not run");
        assert!(
            stderr.contains("--shards (FENLIU_SHARDS) is 128")
                && stderr.contains("started with 64 shards"),
            "fenliu {role} names both counts: {stderr}"
        );
    }
    assert_eq!(
        registry.record_shard_count(128).await.unwrap(),
        64,
        "the refused nodes changed nothing"
    );
}
