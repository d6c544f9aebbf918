//! Test nodes on Redis as production should run it: TLS only, client
//! certificates, fenliu's ACL user (see [`crate::secured_redis`]).

use super::{NodeSettings, RedisBacking, RedisHome, TestNode, unique_namespace};
use crate::secured_redis::{SecuredCluster, SecuredRedis};

impl TestNode {
    /// Starts `workers` workers and a sharded dispatcher on a TLS-only
    /// redis-server of the node's own that requires client certificates,
    /// every node logging in as fenliu's ACL user (the README's rule) with its
    /// password in a file ([`crate::secured_redis`]).
    pub async fn start_on_secured_redis(workers: usize, settings: NodeSettings) -> TestNode {
        let secured = tokio::task::spawn_blocking(|| SecuredRedis::start("fenliu"))
            .await
            .expect("start the secured redis")
            .expect("start a TLS redis-server with fenliu's ACL user");
        let settings = NodeSettings {
            redis_access: secured.files.access(),
            ..settings
        };
        let home = RedisHome {
            urls: vec![secured.url()],
            namespace: "fenliu".to_owned(),
            _backing: RedisBacking::Secured(Box::new(secured)),
        };
        Self::start_sharded(workers, home, settings).await
    }

    /// Starts `workers` workers on the TLS Redis Cluster shared by the test
    /// binary (in a namespace of the node's own), logging in as fenliu's ACL
    /// user, and a sharded dispatcher in front.
    pub async fn start_on_secured_redis_cluster(workers: usize) -> TestNode {
        static CLUSTER: std::sync::OnceLock<SecuredCluster> = std::sync::OnceLock::new();
        let cluster = tokio::task::spawn_blocking(|| {
            CLUSTER.get_or_init(|| {
                SecuredCluster::start("t-*")
                    .expect("start a TLS Redis Cluster with fenliu's ACL user")
            })
        })
        .await
        .expect("start the cluster");
        let settings = NodeSettings {
            redis_access: cluster.files.access(),
            ..NodeSettings::default()
        };
        let home = RedisHome {
            urls: cluster.urls(),
            namespace: unique_namespace("t"),
            _backing: RedisBacking::SecuredCluster(cluster),
        };
        Self::start_sharded(workers, home, settings).await
    }

    /// The node's own secured Redis ([`TestNode::start_on_secured_redis`]).
    pub fn secured_redis(&self) -> Option<&SecuredRedis> {
        match self.redis.as_ref().map(|home| &home._backing) {
            Some(RedisBacking::Secured(secured)) => Some(secured),
            _ => None,
        }
    }

    /// Every running worker's address, in start order.
    pub fn worker_addresses(&self) -> Vec<std::net::SocketAddr> {
        self.workers.iter().map(|(address, ..)| *address).collect()
    }
}
