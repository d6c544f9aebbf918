//! The shops of the run: small capacities so that queues fill and overflow
//! rules fire, basic and group routing, and every offline policy that places a
//! buyer somewhere (queue, main account, offline list, proxy, message pool).
//! Each shop's shard is owned by a different worker at the start, so every fault
//! on a worker hits some shop.
//!
//! Presence lasts an hour, so statuses change only by the workload's calls; the
//! affinity window is the profile's (days), so returning buyers go back to their
//! account even when it is full (R5): overflows the checker must attribute.

use fenliu_node::sharding::shard_of;
use fenliu_tests::{Client, ShopBuilder, TEST_SHARDS, pb};

use crate::leases::rendezvous;

/// A group: its name, members and order statuses.
pub type GroupSpec = (&'static str, Vec<&'static str>, Vec<pb::OrderStatus>);

/// One shop as the run sets it up.
#[derive(Clone, Debug)]
pub struct ShopSpec {
    pub id: String,
    /// What kind of shop it is, for the report.
    pub label: &'static str,
    pub profile: pb::Profile,
    pub mode: pb::RoutingMode,
    pub policy: pb::OfflinePolicy,
    /// Customer-service accounts and their capacities.
    pub accounts: Vec<(&'static str, u32)>,
    pub groups: Vec<GroupSpec>,
    pub offline_list: Vec<&'static str>,
    pub proxy: Option<&'static str>,
    pub distribution: pb::Distribution,
    pub close_delay_seconds: u32,
    /// How many buyers write to it (they come back, so R1 and R5 fire).
    pub buyers: usize,
}

/// The order statuses a group shop's buyers have (`TRADE_SUCCEEDED` has no
/// group: R7c).
pub const ORDER_STATUSES: [pb::OrderStatus; 6] = [
    pb::OrderStatus::NoActiveOrder,
    pb::OrderStatus::OrderedNotPaid,
    pb::OrderStatus::PaidNotShipped,
    pb::OrderStatus::ShippedNotReceived,
    pb::OrderStatus::TradeSucceeded,
    pb::OrderStatus::AfterSales,
];

impl ShopSpec {
    /// Every account of the shop, the main account first.
    pub fn account_ids(&self) -> Vec<&'static str> {
        std::iter::once(fenliu_tests::MAIN)
            .chain(self.accounts.iter().map(|(id, _)| *id))
            .collect()
    }

    pub fn cs_ids(&self) -> Vec<&'static str> {
        self.accounts.iter().map(|(id, _)| *id).collect()
    }

    /// Buyer `n` of this shop: its ids carry the shop's, so that anything of one
    /// shop seen in another is recognised.
    pub fn buyer(&self, n: usize) -> String {
        format!("{}.b{n}", self.id)
    }

    /// The queues a buyer may wait in: the shop's, or one per order status in
    /// group mode.
    pub fn queue_names(&self) -> Vec<String> {
        if self.mode == pb::RoutingMode::Group {
            ORDER_STATUSES.iter().map(|s| queue_name(*s)).collect()
        } else {
            vec!["shop".to_owned()]
        }
    }

    fn builder(&self) -> ShopBuilder {
        let mut shop = ShopBuilder::new(&self.id, self.profile)
            .routing_mode(self.mode)
            .offline_policy(self.policy)
            .distribution(self.distribution)
            .close_delay(self.close_delay_seconds)
            .presence_ttl(3600);
        for (id, capacity) in &self.accounts {
            shop = shop.cs(id, *capacity);
        }
        if !self.offline_list.is_empty() {
            shop = shop.offline_list(&self.offline_list);
        }
        if let Some(proxy) = self.proxy {
            shop = shop.proxy_account(proxy);
        }
        for (name, members, statuses) in &self.groups {
            shop = shop.group(name, members, statuses);
        }
        shop.online(&self.cs_ids())
    }

    /// Creates the shop through the API; returns it as stored.
    pub async fn create(&self, client: &mut Client) -> pb::Shop {
        self.builder().create(client).await
    }
}

/// The queue of an order status, as the API names it (`PAID_NOT_SHIPPED`).
pub fn queue_name(status: pb::OrderStatus) -> String {
    status
        .as_str_name()
        .trim_start_matches("ORDER_STATUS_")
        .to_owned()
}

fn groups() -> Vec<GroupSpec> {
    use pb::OrderStatus::*;
    vec![
        (
            "pre",
            vec!["cs-0", "cs-1"],
            vec![NoActiveOrder, OrderedNotPaid],
        ),
        (
            "post",
            vec!["cs-2", "cs-3"],
            vec![PaidNotShipped, ShippedNotReceived, AfterSales],
        ),
    ]
}

/// The run's shops, each on a shard of its own whose owner among `workers` is a
/// different worker in turn.
pub fn shop_specs(workers: &[String]) -> Vec<ShopSpec> {
    use pb::OfflinePolicy::*;
    let basic = |label, profile, policy, accounts: Vec<(&'static str, u32)>| ShopSpec {
        id: String::new(),
        label,
        profile,
        mode: pb::RoutingMode::Basic,
        policy,
        accounts,
        groups: Vec::new(),
        offline_list: Vec::new(),
        proxy: None,
        distribution: pb::Distribution::LeastLoaded,
        close_delay_seconds: 0,
        buyers: 20,
    };
    let three = |capacity| vec![("cs-0", capacity), ("cs-1", capacity), ("cs-2", capacity)];
    let four = |capacity| {
        let mut accounts = three(capacity);
        accounts.push(("cs-3", capacity));
        accounts
    };
    let mut specs = vec![
        basic("basic, queue", pb::Profile::Kuaishou, Queue, three(2)),
        ShopSpec {
            close_delay_seconds: 2,
            ..basic(
                "basic, main account",
                pb::Profile::Taobao,
                MainAccount,
                three(1),
            )
        },
        ShopSpec {
            mode: pb::RoutingMode::Group,
            groups: groups(),
            ..basic("group, queue", pb::Profile::Kuaishou, Queue, four(1))
        },
        ShopSpec {
            mode: pb::RoutingMode::Group,
            groups: groups(),
            offline_list: vec!["cs-0", "cs-2"],
            close_delay_seconds: 1,
            ..basic(
                "group, offline list",
                pb::Profile::Kuaishou,
                OfflineList,
                four(2),
            )
        },
        ShopSpec {
            proxy: Some("cs-0"),
            distribution: pb::Distribution::RoundRobin,
            ..basic(
                "basic, proxy",
                pb::Profile::Kuaishou,
                ProxyAccount,
                three(2),
            )
        },
        basic(
            "basic, message pool",
            pb::Profile::Kuaishou,
            MessagePool,
            vec![("cs-0", 1), ("cs-1", 1)],
        ),
    ];
    let ids: Vec<&str> = workers.iter().map(String::as_str).collect();
    let mut shards = Vec::new();
    for (index, spec) in specs.iter_mut().enumerate() {
        let owner = ids[index % ids.len()];
        let slug: String = spec
            .label
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        for attempt in 0.. {
            let id = format!("chaos-{slug}-{attempt}");
            let shard = shard_of(&id, TEST_SHARDS).0;
            if rendezvous(shard, &ids).as_deref() == Some(owner) && !shards.contains(&shard) {
                shards.push(shard);
                spec.id = id;
                break;
            }
        }
    }
    specs
}
