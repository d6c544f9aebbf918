//! Changes to a running [`RedisCluster`], as operators and failures make them:
//! reading who is master of what (`CLUSTER NODES`), moving slots between
//! masters with `redis-cli --cluster reshard` (keys moved by `MIGRATE`, the
//! slots `MIGRATING`/`IMPORTING` meanwhile), and waiting for a replica to be
//! promoted after its master was killed. Every wait is bounded.

use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::cluster::RedisCluster;
use super::launch::run_redis_cli;
use super::server::RedisServer;

/// One node as `CLUSTER NODES` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// The node's id (40 hex characters).
    pub id: String,
    /// Its client port on 127.0.0.1.
    pub port: u16,
    /// Whether it is a master (else a replica).
    pub master: bool,
    /// Whether the others count it failed (`fail` or `fail?`).
    pub failed: bool,
    /// For a replica: its master's id.
    pub master_id: Option<String>,
    /// How many hash slots it serves (a master's).
    pub slots: usize,
}

/// Reads `CLUSTER NODES` output into nodes.
fn parse_nodes(text: &str) -> anyhow::Result<Vec<ClusterNode>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            anyhow::ensure!(fields.len() >= 8, "short CLUSTER NODES line {line:?}");
            let port = fields[1]
                .split(['@', ','])
                .next()
                .and_then(|address| address.rsplit(':').next())
                .and_then(|port| port.parse().ok())
                .with_context(|| format!("no port in {line:?}"))?;
            let flags: Vec<&str> = fields[2].split(',').collect();
            let slots = fields[8..]
                .iter()
                .filter(|range| !range.starts_with('['))
                .map(|range| match range.split_once('-') {
                    Some((from, to)) => {
                        to.parse::<usize>().unwrap_or(0) + 1 - from.parse::<usize>().unwrap_or(0)
                    }
                    None => 1,
                })
                .sum();
            Ok(ClusterNode {
                id: fields[0].to_owned(),
                port,
                master: flags.contains(&"master"),
                failed: flags.iter().any(|f| f.starts_with("fail")),
                master_id: (fields[3] != "-").then(|| fields[3].to_owned()),
                slots,
            })
        })
        .collect()
}

impl RedisCluster {
    /// The cluster as the first running node sees it.
    pub fn topology(&self) -> anyhow::Result<Vec<ClusterNode>> {
        let node = self
            .nodes()
            .iter()
            .find(|n| n.pid().is_some())
            .context("no running cluster node")?;
        parse_nodes(&node.command(&["CLUSTER", "NODES"])?)
    }

    /// The index (into [`RedisCluster::nodes`]) of the node on `port`.
    pub fn index_of(&self, port: u16) -> anyhow::Result<usize> {
        self.nodes()
            .iter()
            .position(|n| n.port() == port)
            .with_context(|| format!("no node on port {port}"))
    }

    /// The indices of the masters that serve slots and are not failed.
    pub fn master_indices(&self) -> anyhow::Result<Vec<usize>> {
        self.topology()?
            .iter()
            .filter(|n| n.master && !n.failed && n.slots > 0)
            .map(|n| self.index_of(n.port))
            .collect()
    }

    /// The index of a replica of the master at `master`.
    pub fn replica_of(&self, master: usize) -> anyhow::Result<usize> {
        let nodes = self.topology()?;
        let port = self.nodes()[master].port();
        let id = &nodes
            .iter()
            .find(|n| n.port == port)
            .context("the master is not in the topology")?
            .id;
        let replica = nodes
            .iter()
            .find(|n| n.master_id.as_ref() == Some(id))
            .with_context(|| format!("no replica of the master on port {port}"))?;
        self.index_of(replica.port)
    }

    /// The index of the master serving `key`'s slot (the one that answers it
    /// without a redirect).
    pub fn master_of_key(&self, key: &str) -> anyhow::Result<usize> {
        self.master_indices()?
            .into_iter()
            .find(|&i| self.nodes()[i].command(&["EXISTS", key]).is_ok())
            .with_context(|| format!("no master serves {key:?}"))
    }

    /// How many slots the node at `index` serves.
    pub fn slots_of(&self, index: usize) -> anyhow::Result<usize> {
        let port = self.nodes()[index].port();
        Ok(self
            .topology()?
            .iter()
            .find(|n| n.port == port)
            .map_or(0, |n| n.slots))
    }

    /// Waits until every running replica reports `master_link_status:up`.
    pub fn wait_until_replicated(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let in_sync = |node: &RedisServer| {
            node.command(&["INFO", "replication"]).is_ok_and(|info| {
                info.contains("role:master") || info.contains("master_link_status:up")
            })
        };
        while !self
            .nodes()
            .iter()
            .filter(|n| n.pid().is_some())
            .all(in_sync)
        {
            if Instant::now() >= deadline {
                bail!("replicas not in sync within {timeout:?}");
            }
            sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// What `redis-cli --cluster` says, refusing to start, when the nodes' views
    /// of the slot map differ.
    const NOT_AGREED: &str = "Nodes don't agree about configuration";

    /// Moves `slots` hash slots from the master at `from` to the master at
    /// `to` with `redis-cli --cluster reshard` (their keys move by `MIGRATE`,
    /// slot by slot, while clients are redirected with `ASK`), bounded by
    /// `timeout`.
    pub fn reshard(
        &self,
        from: usize,
        to: usize,
        slots: usize,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let id = |index: usize| self.nodes()[index].command(&["CLUSTER", "MYID"]);
        let (from_id, to_id) = (id(from)?, id(to)?);
        let log_path = self.dir().join(format!("reshard-{from_id}-{to_id}.log"));
        let args = [
            "--cluster".to_owned(),
            "reshard".to_owned(),
            format!("127.0.0.1:{}", self.nodes()[to].port()),
            "--cluster-from".to_owned(),
            from_id,
            "--cluster-to".to_owned(),
            to_id,
            "--cluster-slots".to_owned(),
            slots.to_string(),
            "--cluster-yes".to_owned(),
        ];
        // Right after an earlier change the nodes may not agree on the slot map
        // yet (gossip takes a moment): redis-cli then refuses before moving
        // anything, and is asked again once they do.
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match run_redis_cli("--cluster reshard", None, &args, &log_path, remaining) {
                Err(error)
                    if format!("{error:#}").contains(Self::NOT_AGREED)
                        && Instant::now() < deadline =>
                {
                    sleep(Duration::from_millis(200));
                }
                outcome => return outcome,
            }
        }
    }

    /// Kills (SIGKILL) the master at `master` and waits until its replica
    /// `replica` is promoted and every running node reports the cluster ok;
    /// returns how long that took.
    pub fn kill_master_and_wait_for_promotion(
        &mut self,
        master: usize,
        replica: usize,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.nodes_mut()[master].kill()?;
        let deadline = started + timeout;
        while !self.nodes()[replica]
            .command(&["INFO", "replication"])
            .is_ok_and(|info| info.contains("role:master"))
        {
            if Instant::now() >= deadline {
                bail!(
                    "replica on port {} not promoted within {timeout:?}",
                    self.nodes()[replica].port()
                );
            }
            sleep(Duration::from_millis(20));
        }
        self.wait_until_ok(deadline.saturating_duration_since(Instant::now()))?;
        Ok(started.elapsed())
    }

    /// Promotes the replica at `replica` without its master's consent or the
    /// other masters' vote (`CLUSTER FAILOVER TAKEOVER`), as an operator does
    /// when the master is gone and the replica cannot win an election (its
    /// data too old); waits until every running node reports the cluster ok.
    pub fn take_over(&self, replica: usize, timeout: Duration) -> anyhow::Result<()> {
        let node = &self.nodes()[replica];
        node.command(&["CLUSTER", "FAILOVER", "TAKEOVER"])?;
        let deadline = Instant::now() + timeout;
        while !node
            .command(&["INFO", "replication"])
            .is_ok_and(|info| info.contains("role:master"))
        {
            if Instant::now() >= deadline {
                bail!(
                    "node on port {} did not take over within {timeout:?}",
                    node.port()
                );
            }
            sleep(Duration::from_millis(20));
        }
        self.wait_until_ok(deadline.saturating_duration_since(Instant::now()))
    }

    /// Starts the node at `index` again (after a kill): it rejoins as a
    /// replica of whoever took its slots; waits until it is in sync.
    pub fn rejoin(&mut self, index: usize, timeout: Duration) -> anyhow::Result<()> {
        self.nodes_mut()[index].start_again()?;
        self.wait_until_ok(timeout)?;
        self.wait_until_replicated(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_lines_are_read() {
        let text = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,hostname4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 12000 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 master,fail - 1426238316232 1426238315000 5 disconnected
";
        let nodes = parse_nodes(text).unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[0].port, 30004);
        assert!(!nodes[0].master);
        assert_eq!(
            nodes[0].master_id.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        assert_eq!(nodes[1].slots, 5462);
        assert_eq!(nodes[2].slots, 5462, "a range, a single slot, no migration");
        assert!(nodes[3].failed && nodes[3].master);
    }

    #[test]
    fn a_replicated_cluster_moves_slots_and_survives_a_master_kill() {
        let mut cluster = RedisCluster::start_with_replicas(3).unwrap();
        assert_eq!(cluster.nodes().len(), 6);
        let masters = cluster.master_indices().unwrap();
        assert_eq!(masters.len(), 3, "{:?}", cluster.topology());
        for i in 0..200 {
            cluster
                .command(&["SET", &format!("k{i}"), &i.to_string()])
                .unwrap();
        }
        let (from, to) = (masters[0], masters[1]);
        let before = cluster.slots_of(to).unwrap();
        cluster
            .reshard(from, to, 1000, Duration::from_secs(30))
            .unwrap();
        assert_eq!(cluster.slots_of(to).unwrap(), before + 1000);
        let replica = cluster.replica_of(to).unwrap();
        let took = cluster
            .kill_master_and_wait_for_promotion(to, replica, Duration::from_secs(20))
            .unwrap();
        eprintln!("replica promoted and cluster ok after {took:?}");
        assert_eq!(cluster.slots_of(replica).unwrap(), before + 1000);
        for i in 0..200 {
            assert_eq!(
                cluster.command(&["GET", &format!("k{i}")]).unwrap(),
                i.to_string()
            );
        }
        // A restarted master learns that its slots moved from the others'
        // gossip; on a busy machine that once took over 20 s.
        cluster.rejoin(to, Duration::from_secs(45)).unwrap();
        assert!(!cluster.master_indices().unwrap().contains(&to));
    }
}
