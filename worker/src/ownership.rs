//! Which shards this worker serves: membership heartbeats, rendezvous over the live
//! workers, and leases claimed and renewed in Redis.
//!
//! The loop ([`ShardOwnership::run`]) ticks every third of the lease TTL:
//! 1. refresh this worker's membership key;
//! 2. read the live workers and compute, by rendezvous, the shards that are ours;
//! 3. stop serving shards that are no longer ours, then release their leases (the
//!    old owner stops first, so the new one never overlaps with it);
//! 4. claim or renew the leases of our shards; a shard is served only until the
//!    lease could have run out, measured from *before* the renewal was sent, minus
//!    a safety margin — a worker that cannot renew stops before anyone may take
//!    over;
//! 5. load the shops of newly acquired shards, so their timers run at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use fenliu_node::registry::{LeaseState, Member, Registry};
use fenliu_node::sharding::{ShardId, owner_of, shard_of};

use crate::engine::ShopId;
use crate::lease_measures::{LeaseOp, LeaseResult, LeaseTally};
use crate::router::{NotOwner, Ownership, Router};
use crate::store::StoreError;
use crate::store::redis_store::Replication;

/// Timing of membership and leases.
#[derive(Clone, Copy, Debug)]
pub struct LeaseTiming {
    /// How long a lease lasts without renewal.
    pub lease_ttl: Duration,
    /// Stop serving this long before the lease could run out (clock drift, a
    /// slow Redis reply).
    pub safety_margin: Duration,
    /// How long a worker stays a member without a heartbeat.
    pub membership_ttl: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            lease_ttl: Duration::from_millis(1500),
            safety_margin: Duration::from_millis(500),
            membership_ttl: Duration::from_millis(1500),
        }
    }
}

/// A lease this worker holds.
#[derive(Clone, Copy, Debug)]
struct HeldLease {
    /// The fencing token every write under this lease carries.
    token: u64,
    /// Serve until then (the lease's end as this worker must assume it).
    serve_until: Instant,
}

/// This worker's view of the cluster.
#[derive(Debug, Default)]
struct View {
    /// The live workers at the last tick, for the owner's address in refusals.
    members: Vec<Member>,
    /// The leases this worker holds, by shard.
    held: BTreeMap<u32, HeldLease>,
}

/// The shards this worker owns, as an [`Ownership`] for its router.
#[derive(Debug)]
pub struct ShardOwnership {
    /// This worker's name in the membership.
    worker_id: String,
    /// Where dispatchers reach this worker.
    advertised_address: String,
    /// Shards of the deployment: the same on every node.
    shard_count: u32,
    /// Lease and membership TTLs and the safety margin.
    timing: LeaseTiming,
    /// Membership and lease keys in Redis.
    registry: Registry,
    /// Replicas a new fencing token must be on before this worker serves under
    /// it (`--redis-min-replicas`; 0: the `{meta}` master suffices).
    lease_replication: Replication,
    /// Members and held leases as of the last tick; read on every call.
    view: RwLock<View>,
    /// When membership and leases were last renewed successfully.
    last_renewal: RwLock<Option<Instant>>,
    /// Why the last renewal failed, until one succeeds: named in refusals.
    renewal_failure: RwLock<Option<String>>,
}

impl Ownership for ShardOwnership {
    fn token_for(&self, shop: &ShopId) -> Result<u64, NotOwner> {
        let shard = shard_of(shop.as_str(), self.shard_count);
        let view = self.view.read().expect("view lock");
        if let Some(lease) = view.held.get(&shard.0)
            && Instant::now() < lease.serve_until
        {
            return Ok(lease.token);
        }
        let owner = owner_of(shard, view.members.iter().map(|m| m.worker_id.as_str()))
            .filter(|owner| *owner != self.worker_id)
            .and_then(|owner| view.members.iter().find(|m| m.worker_id == owner))
            .map(|m| m.address.clone());
        let renewal_failure = self.renewal_failure.read().expect("failure lock").clone();
        Err(NotOwner {
            shard: shard.0,
            owner,
            renewal_failure,
        })
    }

    fn register_new_shop<'a>(
        &'a self,
        shop: &'a ShopId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(self.register_shop(shop))
    }
}

impl ShardOwnership {
    pub fn new(
        worker_id: String,
        advertised_address: String,
        shard_count: u32,
        timing: LeaseTiming,
        registry: Registry,
        lease_replication: Replication,
    ) -> Arc<ShardOwnership> {
        Arc::new(ShardOwnership {
            worker_id,
            advertised_address,
            shard_count,
            timing,
            registry,
            lease_replication,
            view: RwLock::new(View::default()),
            last_renewal: RwLock::new(None),
            renewal_failure: RwLock::new(None),
        })
    }

    /// Ready to serve: membership and leases were renewed within a lease TTL.
    pub fn is_ready(&self) -> bool {
        let last = *self.last_renewal.read().expect("renewal lock");
        last.is_some_and(|at| at.elapsed() < self.timing.lease_ttl)
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    pub fn shard_count(&self) -> u32 {
        self.shard_count
    }

    /// The shards served right now.
    pub fn served_shards(&self) -> Vec<u32> {
        self.served_leases()
            .into_iter()
            .map(|(shard, _)| shard)
            .collect()
    }

    /// The shards served right now, each with the fencing token its writes carry.
    pub fn served_leases(&self) -> Vec<(u32, u64)> {
        let now = Instant::now();
        let view = self.view.read().expect("view lock");
        view.held
            .iter()
            .filter(|(_, lease)| now < lease.serve_until)
            .map(|(shard, lease)| (*shard, lease.token))
            .collect()
    }

    /// Registers a new shop under its shard so that later owners load it eagerly.
    pub async fn register_shop(&self, shop: &ShopId) {
        let shard = shard_of(shop.as_str(), self.shard_count);
        if let Err(error) = self.registry.register_shop(shard.0, shop.as_str()).await {
            tracing::warn!(shop = %shop, %error, "could not index the shop under its shard");
        }
    }

    /// Keeps membership and leases until `shutdown`, then leaves gracefully:
    /// stops serving, releases every lease, and removes its membership.
    pub async fn run(
        self: Arc<Self>,
        router: Arc<Router>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let tick = self.timing.lease_ttl / 3;
        loop {
            let failure = self.tick(&router).await.err().map(|error| {
                tracing::warn!(worker = %self.worker_id, %error, "membership or lease renewal failed");
                error.to_string()
            });
            *self.renewal_failure.write().expect("failure lock") = failure;
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(tick) => {}
            }
        }
        let released: Vec<u32> = {
            let mut view = self.view.write().expect("view lock");
            std::mem::take(&mut view.held).into_keys().collect()
        };
        let mut tally = LeaseTally::default();
        tally.moved_out(released.len());
        let result = self.registry.release(&self.worker_id, &released).await;
        tally.add(LeaseOp::Release, released_result(&result), released.len());
        tally.record(0);
        if let Err(error) = result {
            tracing::warn!(%error, "could not release leases on shutdown; they expire by themselves");
        }
        if let Err(error) = self.registry.leave(&self.worker_id).await {
            tracing::warn!(%error, "could not leave the membership; it expires by itself");
        }
        tracing::info!(worker = %self.worker_id, shards = released.len(), "released shards and left");
    }

    async fn tick(&self, router: &Arc<Router>) -> Result<(), crate::store::StoreError> {
        let mut tally = LeaseTally::default();
        let ticked = self.tick_tallied(router, &mut tally).await;
        let owned = self.view.read().expect("view lock").held.len();
        tally.record(owned);
        ticked
    }

    async fn tick_tallied(
        &self,
        router: &Arc<Router>,
        tally: &mut LeaseTally,
    ) -> Result<(), crate::store::StoreError> {
        let membership_ttl =
            u64::try_from(self.timing.membership_ttl.as_millis()).unwrap_or(u64::MAX);
        self.registry
            .heartbeat(&self.worker_id, &self.advertised_address, membership_ttl)
            .await?;
        let members = self.registry.members().await?;
        let ours: BTreeSet<u32> = (0..self.shard_count)
            .filter(|shard| {
                owner_of(
                    ShardId(*shard),
                    members.iter().map(|m| m.worker_id.as_str()),
                ) == Some(self.worker_id.as_str())
            })
            .collect();
        // Step down first from shards that moved away, then release them.
        let moved_away: Vec<u32> = {
            let mut view = self.view.write().expect("view lock");
            view.members = members;
            let moved: Vec<u32> = view
                .held
                .keys()
                .copied()
                .filter(|s| !ours.contains(s))
                .collect();
            for shard in &moved {
                view.held.remove(shard);
            }
            moved
        };
        if !moved_away.is_empty() {
            self.forget_shards(router, &moved_away);
            tally.moved_out(moved_away.len());
            let released = self.registry.release(&self.worker_id, &moved_away).await;
            tally.add(
                LeaseOp::Release,
                released_result(&released),
                moved_away.len(),
            );
            released?;
            tracing::info!(worker = %self.worker_id, shards = moved_away.len(), "handed shards over");
        }
        let wanted: Vec<u32> = ours.into_iter().collect();
        let sent_at = Instant::now();
        let lease_ttl_ms = u64::try_from(self.timing.lease_ttl.as_millis()).unwrap_or(u64::MAX);
        let registry = self.claiming_registry();
        let claims = match registry.claim(&self.worker_id, lease_ttl_ms, &wanted).await {
            Ok(claims) => claims,
            Err(error) => {
                let renewing = {
                    let view = self.view.read().expect("view lock");
                    wanted.iter().filter(|s| view.held.contains_key(s)).count()
                };
                tally.add(LeaseOp::Renew, LeaseResult::Error, renewing);
                tally.add(
                    LeaseOp::Acquire,
                    LeaseResult::Error,
                    wanted.len() - renewing,
                );
                return Err(error.into());
            }
        };
        let serve_until = sent_at
            + self
                .timing
                .lease_ttl
                .saturating_sub(self.timing.safety_margin);
        let unreplicated = self.unreplicated_new_tokens(&registry, &claims).await;
        let mut acquired = Vec::new();
        let mut lost = Vec::new();
        {
            let mut view = self.view.write().expect("view lock");
            for (shard, state) in claims {
                match state {
                    LeaseState::Held { .. } if unreplicated.contains(&shard) => {
                        // Not served until its token is on the replicas; a
                        // later tick renews the lease and waits again.
                        if view.held.remove(&shard).is_some() {
                            lost.push(shard);
                        }
                        tally.add(LeaseOp::Acquire, LeaseResult::Unreplicated, 1);
                    }
                    LeaseState::Held { token } => {
                        let previous = view.held.insert(shard, HeldLease { token, serve_until });
                        if previous.is_none_or(|p| p.token != token) {
                            acquired.push(shard);
                            tally.add(LeaseOp::Acquire, LeaseResult::Ok, 1);
                        } else {
                            tally.add(LeaseOp::Renew, LeaseResult::Ok, 1);
                        }
                    }
                    LeaseState::Taken { owner } => {
                        if view.held.remove(&shard).is_some() {
                            lost.push(shard);
                            tally.add(LeaseOp::Renew, LeaseResult::Refused, 1);
                        } else {
                            tally.add(LeaseOp::Acquire, LeaseResult::Refused, 1);
                        }
                        tracing::debug!(shard, %owner, "shard still leased by its previous owner");
                    }
                }
            }
        }
        tally.moved_in(acquired.len());
        tally.moved_out(lost.len());
        if !lost.is_empty() {
            tracing::warn!(worker = %self.worker_id, shards = lost.len(), "lost shard leases to another worker");
            self.forget_shards(router, &lost);
        }
        *self.last_renewal.write().expect("renewal lock") = Some(sent_at);
        if !acquired.is_empty() {
            tracing::info!(worker = %self.worker_id, shards = acquired.len(), "acquired shards");
            self.load_shops(router, &acquired).await;
        }
        if unreplicated.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "{} new shard leases are not on the {} Redis replicas --redis-min-replicas requires yet",
                unreplicated.len(),
                self.lease_replication.min_replicas
            )))
        }
    }

    /// The registry to claim on: with `--redis-min-replicas`, one whose
    /// connection stays put until the `WAIT` after the claim.
    fn claiming_registry(&self) -> Registry {
        if self.lease_replication.min_replicas > 0 {
            self.registry.pinned()
        } else {
            self.registry.clone()
        }
    }

    /// The shards of `claims` held under a token this worker did not serve
    /// under before and that is not on `--redis-min-replicas` replicas in
    /// time. A fencing token only the `{meta}` master has would be issued again,
    /// to another worker, by a replica promoted in its place (the `INCR` lost),
    /// and both would pass the fence; a renewal's `WAIT` also covers the
    /// claim's `INCR` before it, so a shard left out here is served once a
    /// later tick's `WAIT` succeeds.
    async fn unreplicated_new_tokens(
        &self,
        registry: &Registry,
        claims: &[(u32, LeaseState)],
    ) -> BTreeSet<u32> {
        let replicas = self.lease_replication.min_replicas;
        if replicas == 0 {
            return BTreeSet::new();
        }
        let new: BTreeSet<u32> = {
            let view = self.view.read().expect("view lock");
            claims
                .iter()
                .filter_map(|(shard, state)| match state {
                    LeaseState::Held { token } => view
                        .held
                        .get(shard)
                        .is_none_or(|held| held.token != *token)
                        .then_some(*shard),
                    LeaseState::Taken { .. } => None,
                })
                .collect()
        };
        if new.is_empty() {
            return new;
        }
        match registry
            .wait_for_replicas(replicas, self.lease_replication.timeout)
            .await
        {
            Ok(got) if got >= replicas => BTreeSet::new(),
            Ok(got) => {
                tracing::warn!(worker = %self.worker_id, shards = new.len(), got, wanted = replicas, "new shard leases not on enough Redis replicas yet: not served");
                new
            }
            Err(error) => {
                tracing::warn!(worker = %self.worker_id, shards = new.len(), %error, "waiting for Redis replicas to have new shard leases failed: not served");
                new
            }
        }
    }

    /// Frees the memory of shards this worker no longer serves and ends their
    /// event streams.
    fn forget_shards(&self, router: &Router, shards: &[u32]) {
        let shards: BTreeSet<u32> = shards.iter().copied().collect();
        let shard_count = self.shard_count;
        router.drop_shops(|shop| shards.contains(&shard_of(shop.as_str(), shard_count).0));
    }

    /// Loads the shops of newly acquired shards so their deadlines are armed.
    async fn load_shops(&self, router: &Arc<Router>, shards: &[u32]) {
        for shard in shards {
            let shops = match self.registry.shops_of(*shard).await {
                Ok(shops) => shops,
                Err(error) => {
                    tracing::warn!(shard, %error, "could not list the shard's shops");
                    continue;
                }
            };
            for shop in shops {
                let shop_id = ShopId(shop);
                if let Err(error) = router.read_shop(&shop_id, |_| ()).await {
                    tracing::warn!(shard, shop = %shop_id, %error, "could not load shop of an acquired shard");
                }
            }
        }
    }
}

/// How a release of leases went, for the tally.
fn released_result<T, E>(result: &Result<T, E>) -> LeaseResult {
    match result {
        Ok(_) => LeaseResult::Ok,
        Err(_) => LeaseResult::Error,
    }
}
