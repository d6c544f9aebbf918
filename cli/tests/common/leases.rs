//! The shard leases as the workers' Redis holds them (read directly), what the
//! rendezvous says they should be, and shops picked by the shard they are on.

use std::collections::BTreeMap;
use std::time::Duration;

use fenliu_node::sharding::{ShardId, owner_of, shard_of};
use fenliu_tests::TEST_SHARDS;
use tokio::time::Instant;

use super::{LEASE_TTL, Node, redis_cmd};

/// The shard lease keys, read from Redis: `owner[shard]` (None when unleased) and
/// each lease's fencing token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseMap {
    pub owners: Vec<Option<String>>,
    pub tokens: Vec<Option<u64>>,
}

impl LeaseMap {
    pub fn all_leased(&self) -> bool {
        self.owners.iter().all(Option::is_some)
    }

    pub fn count_of(&self, worker: &str) -> usize {
        self.owners
            .iter()
            .filter(|o| o.as_deref() == Some(worker))
            .count()
    }

    /// Whether every shard is leased by its rendezvous owner among `workers`.
    pub fn matches_rendezvous(&self, workers: &[&str]) -> bool {
        self.owners
            .iter()
            .enumerate()
            .all(|(shard, owner)| owner.as_deref() == rendezvous(shard as u32, workers).as_deref())
    }

    pub fn summary(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for owner in &self.owners {
            *counts
                .entry(owner.clone().unwrap_or_else(|| "(none)".to_owned()))
                .or_insert(0) += 1;
        }
        counts
    }
}

/// `NS:{meta}:lease:<shard>`.
pub fn lease_key(namespace: &str, shard: u32) -> String {
    format!("{namespace}:{{meta}}:lease:{shard}")
}

/// Reads every shard's lease key in one MGET.
pub async fn read_leases(redis_port: u16, namespace: &str) -> anyhow::Result<LeaseMap> {
    let keys: Vec<String> = (0..TEST_SHARDS).map(|s| lease_key(namespace, s)).collect();
    let mut args: Vec<&str> = vec!["MGET"];
    args.extend(keys.iter().map(String::as_str));
    let reply = redis_cmd(redis_port, &args).await?;
    let lines: Vec<&str> = reply.lines().collect();
    anyhow::ensure!(
        lines.len() == TEST_SHARDS as usize,
        "MGET of {TEST_SHARDS} leases gave {} lines: {reply:?}",
        lines.len()
    );
    let mut owners = Vec::new();
    let mut tokens = Vec::new();
    for line in lines {
        if line == "(nil)" {
            owners.push(None);
            tokens.push(None);
        } else {
            let (owner, token) = line
                .rsplit_once(':')
                .ok_or_else(|| anyhow::anyhow!("lease value {line:?} is not worker:token"))?;
            owners.push(Some(owner.to_owned()));
            tokens.push(token.parse().ok());
        }
    }
    Ok(LeaseMap { owners, tokens })
}

/// The rendezvous owner of `shard` among `workers`.
pub fn rendezvous(shard: u32, workers: &[&str]) -> Option<String> {
    owner_of(ShardId(shard), workers.iter().copied()).map(str::to_owned)
}

/// The shard of a shop.
pub fn shard(shop: &str) -> u32 {
    shard_of(shop, TEST_SHARDS).0
}

/// Polls the lease keys until every shard is leased by its rendezvous owner among
/// `workers` (at most `timeout`); returns the map.
pub async fn wait_for_rendezvous_leases(
    redis_port: u16,
    namespace: &str,
    workers: &[&str],
    timeout: Duration,
) -> LeaseMap {
    let deadline = Instant::now() + timeout;
    loop {
        let map = read_leases(redis_port, namespace).await;
        if let Ok(map) = &map
            && map.matches_rendezvous(workers)
        {
            return map.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the leases never settled on the rendezvous owners among {workers:?} within {timeout:?}; last read: {:?}",
            map.map(|m| m.summary())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` shop ids (starting with `prefix`) whose shards the rendezvous gives to
/// `owner` among `workers`, each on a different shard.
pub fn shops_owned_by(prefix: &str, owner: &str, workers: &[&str], n: usize) -> Vec<String> {
    let mut shops: Vec<String> = Vec::new();
    let mut shards = Vec::new();
    for i in 0.. {
        let shop = format!("{prefix}-{i}");
        let s = shard(&shop);
        if rendezvous(s, workers).as_deref() == Some(owner) && !shards.contains(&s) {
            shards.push(s);
            shops.push(shop);
            if shops.len() == n {
                break;
            }
        }
    }
    shops
}

/// `n` shops on each of `workers`, each on a shard of its own, by the rendezvous.
pub fn shops_on_each(ns: &str, workers: &[&str], n: usize) -> Vec<String> {
    let mut shops = Vec::new();
    for id in workers {
        shops.extend(shops_owned_by(&format!("{ns}-shop"), id, workers, n));
    }
    shops
}

/// Asserts that each shop's shard is leased by `worker`.
pub async fn assert_leased_by(redis_port: u16, ns: &str, shops: &[String], worker: &str) {
    let leases = read_leases(redis_port, ns).await.unwrap();
    for shop in shops {
        assert_eq!(
            leases.owners[shard(shop) as usize].as_deref(),
            Some(worker),
            "{shop} (shard {}) is not leased by {worker}: {:?}",
            shard(shop),
            leases.summary()
        );
    }
}

/// Asserts that the shop's shard is leased by a worker other than the frozen
/// one, and that the frozen one holds no lease at all.
pub async fn assert_shard_leased_away_from(redis_port: u16, ns: &str, shop: &str, victim: &Node) {
    let leases = read_leases(redis_port, ns).await.unwrap();
    let new_owner = leases.owners[shard(shop) as usize].clone();
    assert!(
        new_owner.is_some() && new_owner.as_deref() != Some(victim.id.as_str()),
        "shard {} leased by {new_owner:?} while {} is frozen",
        shard(shop),
        victim.id
    );
    assert!(leases.count_of(&victim.id) == 0, "{:?}", leases.summary());
}

/// Waits until the map is stable after `joined` joined: every shard leased,
/// `joined` holding some, and the same map on three reads in a row (each tick is
/// a third of the lease TTL apart); at most 20 s.
pub async fn wait_for_a_stable_map_with(redis_port: u16, ns: &str, joined: &Node) -> LeaseMap {
    let mut stable_reads = 0;
    let mut last: Option<LeaseMap> = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let map = read_leases(redis_port, ns).await.unwrap();
        if map.all_leased() && map.count_of(&joined.id) > 0 && last.as_ref() == Some(&map) {
            stable_reads += 1;
        } else {
            stable_reads = 0;
        }
        if stable_reads >= 3 {
            break map;
        }
        assert!(
            Instant::now() < deadline,
            "the lease map never settled after {} joined: {:?}; {} log:\n{}",
            joined.id,
            map.summary(),
            joined.id,
            joined.process.log_tail(20)
        );
        last = Some(map);
        tokio::time::sleep(LEASE_TTL / 3).await;
    }
}

/// A shop whose shard's lease token is 1, so that the token claimed on the empty
/// Redis after the restart (INCR from nothing) is the same number again.
pub async fn shop_leased_under_token_1(port: u16, ns: &str) -> String {
    let leases = read_leases(port, ns).await.unwrap();
    let mut old_shop = None;
    for i in 0.. {
        let shop = format!("{ns}-old-{i}");
        if leases.tokens[shard(&shop) as usize] == Some(1) {
            old_shop = Some(shop);
            break;
        }
        if i > 10_000 {
            break;
        }
    }
    old_shop.expect("a shard leased under token 1")
}
