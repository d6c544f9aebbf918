//! [`RedisCluster`]: [`RedisServer`]s in cluster mode, joined by `redis-cli
//! --cluster create` into N masters (with or without a replica each), with a
//! command helper that follows `MOVED` redirects and one that asks every
//! node. Changes to a running cluster (slots moved, failovers) are in
//! `cluster_changes`.

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use super::launch::{CLUSTER_TIMEOUT, run_redis_cli};
use super::server::RedisServer;
use super::tls::RedisTls;
use crate::files::unique_temp_dir;
use crate::resp::{self, Reply};

/// How long a node may be unreachable before the others count it failed, in a
/// cluster with replicas: short, so that tests of failover are quick.
pub const REPLICATED_NODE_TIMEOUT_MS: u64 = 1000;

/// How many nodes a cluster has and how they watch each other.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Masters, each serving a share of the slots.
    masters: usize,
    /// Replicas per master.
    replicas: usize,
    /// `--cluster-node-timeout`, ms.
    node_timeout_ms: u64,
}

/// A Redis Cluster of N masters (no replicas, or one each), each a [`RedisServer`] with
/// `--cluster-enabled yes --cluster-config-file nodes.conf
/// --cluster-node-timeout 2000` on a port whose bus port (`port + 10000`) is
/// free too. Dropping it kills every node and removes their dirs.
///
/// Timings to expect (node timeout 2 s, no replicas): a killed master makes
/// the other nodes report `cluster_state:fail` after about 4 s; once it is
/// started again ([`RedisServer::start_again`]) they report `ok` again only
/// when the FAIL flag may be cleared, 2 × node timeout after it was set, so
/// about 4 s later. Use [`RedisCluster::wait_until_ok`] rather than sleeps.
#[derive(Debug)]
pub struct RedisCluster {
    /// The member servers, in start order; dropping them kills them.
    nodes: Vec<RedisServer>,
    /// The cluster's own temp dir (`redis-cli.log` of the create step and of
    /// every reshard); removed on drop.
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3, as Redis Cluster requires), joins
    /// them with `redis-cli --cluster create ... --cluster-replicas 0
    /// --cluster-yes`, and waits until every node reports `cluster_state:ok`
    /// (each step bounded by [`CLUSTER_TIMEOUT`]).
    pub fn start(masters: usize) -> anyhow::Result<RedisCluster> {
        Self::start_on(masters, None)
    }

    /// `masters` masters with one replica each (`--cluster-replicas 1`), a node
    /// timeout of [`REPLICATED_NODE_TIMEOUT_MS`] so that a killed master's
    /// replica is promoted within about 2 s; returns once the cluster is ok
    /// and every replica is in sync with its master.
    pub fn start_with_replicas(masters: usize) -> anyhow::Result<RedisCluster> {
        let layout = Layout {
            masters,
            replicas: 1,
            node_timeout_ms: REPLICATED_NODE_TIMEOUT_MS,
        };
        let cluster = Self::start_laid_out(layout, None)?;
        cluster.wait_until_replicated(CLUSTER_TIMEOUT)?;
        Ok(cluster)
    }

    /// [`RedisCluster::start`] with every node speaking TLS only, the cluster
    /// bus included (`--tls-cluster yes`), set up as `tls` says; the nodes'
    /// URLs are `rediss://`.
    pub fn start_tls(masters: usize, tls: &RedisTls) -> anyhow::Result<RedisCluster> {
        Self::start_on(masters, Some(tls))
    }

    fn start_on(masters: usize, tls: Option<&RedisTls>) -> anyhow::Result<RedisCluster> {
        let layout = Layout {
            masters,
            replicas: 0,
            node_timeout_ms: 2000,
        };
        Self::start_laid_out(layout, tls)
    }

    fn start_laid_out(layout: Layout, tls: Option<&RedisTls>) -> anyhow::Result<RedisCluster> {
        let masters = layout.masters;
        anyhow::ensure!(
            masters >= 3,
            "a Redis Cluster needs at least 3 masters, asked for {masters}"
        );
        let dir = unique_temp_dir("redis-cluster").context("creating cluster temp dir")?;
        let count = masters * (1 + layout.replicas);
        let mut cluster = RedisCluster {
            nodes: Vec::with_capacity(count),
            dir,
        };
        let args: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            &layout.node_timeout_ms.to_string(),
        ]
        .map(String::from)
        .to_vec();
        for _ in 0..count {
            cluster
                .nodes
                .push(RedisServer::start_with(args.clone(), true, tls)?);
        }
        cluster.create(layout.replicas)?;
        cluster.wait_until_ok(CLUSTER_TIMEOUT)?;
        Ok(cluster)
    }

    /// Runs `redis-cli --cluster create` over the nodes, bounded in time: the
    /// first nodes become the masters, the others their replicas.
    fn create(&self, replicas: usize) -> anyhow::Result<()> {
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())));
        args.extend(["--cluster-replicas".into(), replicas.to_string()]);
        args.push("--cluster-yes".into());
        let tls = self.nodes.first().and_then(RedisServer::tls);
        let log_path = self.dir.join("redis-cli.log");
        run_redis_cli("--cluster create", tls, &args, &log_path, CLUSTER_TIMEOUT)
    }

    /// Waits until `CLUSTER INFO` on every running node reports
    /// `cluster_state:ok`, at most `timeout`. Use after restarting a node.
    pub fn wait_until_ok(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let not_ok: Vec<u16> = self
                .nodes
                .iter()
                .filter(|n| n.pid().is_some())
                .filter(|n| {
                    !n.command(&["CLUSTER", "INFO"])
                        .map(|info| info.lines().any(|l| l.trim() == "cluster_state:ok"))
                        .unwrap_or(false)
                })
                .map(RedisServer::port)
                .collect();
            if not_ok.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                // What the first node not ok thinks of the cluster: its state
                // and its view of every node (a restarted master that has not
                // yet learnt its slots moved shows here).
                let stuck = self
                    .nodes
                    .iter()
                    .find(|n| n.port() == not_ok[0])
                    .unwrap_or(&self.nodes[0]);
                let view = |args: &[&str]| stuck.command(args).unwrap_or_else(|e| e.to_string());
                bail!(
                    "cluster not ok within {timeout:?} on ports {not_ok:?}; port {}: CLUSTER INFO:\n{}\nCLUSTER NODES:\n{}",
                    stuck.port(),
                    view(&["CLUSTER", "INFO"]),
                    view(&["CLUSTER", "NODES"])
                );
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The nodes' URLs, `redis://127.0.0.1:PORT/` (or `rediss://`) each.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The cluster's own temp dir, where `redis-cli` logs go.
    pub(super) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The nodes' client ports.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// The nodes, e.g. to stop, kill, pause or restart one.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The nodes, mutably (for [`RedisServer::stop`], [`RedisServer::restart`], ...).
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// Sends one command to the first node that accepts a connection and, if
    /// it answers `-MOVED SLOT HOST:PORT`, sends it once more to that node.
    /// The reply is rendered as by [`RedisServer::command`]. Keys of one
    /// command must share a hash slot (else Redis answers `CROSSSLOT`).
    pub fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut last_err = anyhow!("no running cluster node");
        for node in self.nodes.iter().filter(|n| n.pid().is_some()) {
            let transport = node.transport();
            match resp::request_via(&transport, node.addr(), args) {
                Ok(Reply::Error(e)) if e.starts_with("MOVED ") => {
                    let target = e
                        .split_whitespace()
                        .nth(2)
                        .with_context(|| format!("malformed redirect {e:?}"))?;
                    let addr = target
                        .to_socket_addrs()
                        .with_context(|| format!("bad address in redirect {e:?}"))?
                        .next()
                        .with_context(|| format!("no address in redirect {e:?}"))?;
                    return resp::request_via(&transport, addr, args)?.into_text();
                }
                Ok(reply) => return reply.into_text(),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Sends one command to every running node (no redirects) and returns
    /// the replies in node order, e.g. `KEYS fenliu:*` to see every key.
    pub fn command_on_all(&self, args: &[&str]) -> anyhow::Result<Vec<String>> {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .map(|n| n.command(args))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_of_three_routes_moved_keys() {
        let cluster = RedisCluster::start(3).unwrap();
        assert_eq!(cluster.urls().len(), 3);
        for node in cluster.nodes() {
            let info = node.command(&["CLUSTER", "INFO"]).unwrap();
            assert!(info.contains("cluster_state:ok"), "{info}");
            assert!(info.contains("cluster_known_nodes:3"), "{info}");
        }
        // Pick keys owned by a node other than the first one, so that the
        // first node answers MOVED and `command` must follow it.
        let first = &cluster.nodes()[0];
        let mut moved = 0;
        for i in 0..20 {
            let key = format!("fenliu:test:{i}");
            let direct = resp::request(first.addr(), &["GET", &key]).unwrap();
            let value = format!("v{i}");
            assert_eq!(cluster.command(&["SET", &key, &value]).unwrap(), "OK");
            assert_eq!(cluster.command(&["GET", &key]).unwrap(), value);
            if matches!(&direct, Reply::Error(e) if e.starts_with("MOVED ")) {
                moved += 1;
            }
        }
        assert!(moved > 0, "no key of 20 lived on another node");
        // Every key is on exactly one node.
        let keys = cluster.command_on_all(&["KEYS", "fenliu:test:*"]).unwrap();
        let total: usize = keys.iter().map(|k| k.lines().count()).sum();
        assert_eq!(total, 20, "{keys:?}");
        assert!(keys.iter().filter(|k| !k.is_empty()).count() > 1);
    }

    #[test]
    fn cluster_needs_three_masters() {
        assert!(RedisCluster::start(2).is_err());
    }
}

#[cfg(test)]
mod cluster_restart_tests {
    use super::*;

    #[test]
    fn cluster_node_restart_rejoins() {
        let mut cluster = RedisCluster::start(3).unwrap();
        let t0 = Instant::now();
        cluster.nodes_mut()[1].kill().unwrap();
        // With no replicas, a dead master's slots are uncovered: the others
        // declare the cluster failed once node-timeout (2 s) has passed.
        let others_fail = || {
            [0, 2].iter().all(|&i| {
                cluster.nodes()[i]
                    .command(&["CLUSTER", "INFO"])
                    .map(|info| info.contains("cluster_state:fail"))
                    .unwrap_or(false)
            })
        };
        while !others_fail() {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "cluster never failed"
            );
            sleep(Duration::from_millis(50));
        }
        eprintln!("cluster_state:fail after {:?}", t0.elapsed());
        let t1 = Instant::now();
        cluster.nodes_mut()[1].start_again().unwrap();
        cluster.wait_until_ok(CLUSTER_TIMEOUT).unwrap();
        eprintln!("cluster_state:ok again after {:?}", t1.elapsed());
        assert_eq!(cluster.command(&["SET", "after", "restart"]).unwrap(), "OK");
        assert_eq!(cluster.command(&["GET", "after"]).unwrap(), "restart");
    }
}
