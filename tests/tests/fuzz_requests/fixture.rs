//! The world a fuzzed call lands in: a real deployment (dispatcher and worker), a
//! fresh shop per case with some of everything (accounts of every role, a group,
//! assigned and queued or pooled sessions) and a neighbour shop whose id extends
//! its id, the ids that name them, and snapshots of a shop to tell whether a call
//! changed it.

use std::sync::atomic::{AtomicU64, Ordering};

use fenliu_tests::*;
use pb::{OrderStatus, Role};
use tonic::{Code, Status};

use crate::requests::Via;

/// Stands for the case's own shop in a drawn request; replaced by its real id
/// (fresh per case) before the request is sent.
pub const THIS_SHOP: &str = "<this shop>";
/// Stands for the neighbour shop: its id is the case shop's followed by
/// [`Setup::neighbour_suffix`].
pub const NEIGHBOUR: &str = "<neighbour shop>";
/// Suffixes of the neighbour's id: made of the pieces of the Redis key layout
/// (`<namespace>:{<shop>}:<key>`, `presence:<account>`, `affinity:<buyer>`,
/// `request:<request id>`), where one shop's keys could meet another's.
pub const NEIGHBOUR_SUFFIXES: &[&str] = &["}:request:r1", "}:affinity:b1", "}:presence:a", "}"];
/// Tails that make an id end like a key of a shop (`…}:fence`, `…}:shop`).
pub const KEY_TAILS: &[&str] = &["}:fence", "}:shop", "}:accounts", "}:sessions"];
/// The accounts every case's shop has ("ghost" and "a}:fence", well-formed ids,
/// it lacks).
pub const ACCOUNTS: &[&str] = &[
    "main", "a", "b", "admin", "ops", "pooler", "ghost", "a}:fence",
];
/// Group names: the shop's group, and one it lacks.
pub const GROUPS: &[&str] = &["g1", "g2"];
/// Buyers with sessions in the shop, and ones without (the last two end like
/// keys of the Redis layout).
pub const BUYERS: &[&str] = &["b1", "b2", "b3", "b4", "b5", "b1}:fence", "b1}:shop"];
/// Request ids: a few plain ones (repeated, so that some routes are replays, R1),
/// and ones that end like keys of the Redis layout.
pub const REQUEST_IDS: &[&str] = &["r1", "r2", "r3", "r4", "r1}:fence", "r1}:shop"];
/// Session ids start at 1 in every shop; these cover the fixture's and a few new.
pub const SESSION_IDS: std::ops::RangeInclusive<u64> = 1..=6;
/// Queue names that exist.
pub const QUEUES: &[&str] = &["shop", "AFTER_SALES", "NO_ACTIVE_ORDER", "PAID_NOT_SHIPPED"];
/// Queue names that do not, though they look as if they might.
pub const NOT_QUEUES: &[&str] = &[
    "ORDER_STATUS_AFTER_SALES",
    "after_sales",
    "Shop",
    "UNSPECIFIED",
    "ORDER_STATUS_UNSPECIFIED",
];

/// How the case's shops are set up, drawn with the case.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// R12: the bot on sends buyers nobody can take to the message pool.
    pub bot_enabled: bool,
    /// R7: group routing, so that order statuses choose the group.
    pub group_mode: bool,
    /// What the neighbour shop's id adds to the case shop's (one of
    /// [`NEIGHBOUR_SUFFIXES`]).
    pub neighbour_suffix: &'static str,
}

impl Setup {
    /// The basic routing of a shop without the bot, and a neighbour named as
    /// one of the shop's request keys.
    pub fn plain() -> Setup {
        Setup {
            bot_enabled: false,
            group_mode: false,
            neighbour_suffix: NEIGHBOUR_SUFFIXES[0],
        }
    }
}

/// The case's two shops' ids.
#[derive(Clone, Debug)]
pub struct Shops {
    /// The shop with some of everything, where most calls go.
    pub this: String,
    /// The shop whose id is `this`'s and a suffix: it must never be touched by a
    /// call about `this`, nor `this` by a call about it.
    pub neighbour: String,
}

impl Shops {
    pub fn fresh(setup: Setup) -> Shops {
        let this = fresh_shop_id();
        let neighbour = format!("{this}{}", setup.neighbour_suffix);
        Shops { this, neighbour }
    }

    /// An id as drawn, with the shops' real ids put in for their placeholders.
    pub fn place(&self, drawn: &str) -> String {
        drawn
            .replace(NEIGHBOUR, &self.neighbour)
            .replace(THIS_SHOP, &self.this)
    }
}

/// A case's shops, and a client to read them with.
pub struct Case {
    /// What the drawn placeholders stand for.
    pub shops: Shops,
    /// Reads the shops for snapshots (through the dispatcher).
    reader: Client,
}

impl Case {
    /// Both shops as they are now: the case's own, then the neighbour.
    pub async fn snapshots(&mut self) -> Result<[Snapshot; 2], Status> {
        Ok([
            snapshot(&mut self.reader, &self.shops.this).await?,
            snapshot(&mut self.reader, &self.shops.neighbour).await?,
        ])
    }

    pub fn shop_ids(&self) -> [&str; 2] {
        [&self.shops.this, &self.shops.neighbour]
    }
}

/// A dispatcher in front of a worker, and a client of each.
pub struct Deployment {
    /// The servers (their addresses, for raw calls and the link).
    pub node: TestNode,
    /// Calls as the platforms make them: forwarded over the link.
    pub dispatcher: Client,
    /// Calls straight to the worker's `Routing` service.
    pub worker: Client,
}

impl Deployment {
    pub async fn start(on_redis: bool) -> Deployment {
        let node = if on_redis {
            TestNode::start_on_redis(1).await
        } else {
            TestNode::start().await
        };
        let dispatcher = node.client().await;
        let worker = node.worker_client().await;
        Deployment {
            node,
            dispatcher,
            worker,
        }
    }

    /// Makes the case's two shops (see [`make_shops`]).
    pub async fn start_case(&self, setup: Setup) -> Case {
        let shops = Shops::fresh(setup);
        let mut reader = self.dispatcher.clone();
        make_shops(&mut reader, &shops, setup).await;
        Case { shops, reader }
    }

    pub fn client(&self, via: Via) -> Client {
        match via {
            Via::Dispatcher => self.dispatcher.clone(),
            Via::Worker => self.worker.clone(),
        }
    }
}

/// A shop id no other case of this process uses.
fn fresh_shop_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("fuzz-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Makes the case's shop: a main account, two customer-service accounts online
/// (a holds 1, b 2), an admin, an operations account, an account with pool
/// permission, group g1 of b for after-sales, and buyers b1..b4 routed (b4 waits
/// in the shop queue, or in the pool with the bot on). Then the neighbour: a main
/// account and account a online, holding buyer b1.
async fn make_shops(client: &mut Client, shops: &Shops, setup: Setup) {
    make_shop(client, &shops.this, setup).await;
    ShopBuilder::taobao(&shops.neighbour)
        .cs("a", 2)
        .online(&["a"])
        .create(client)
        .await;
    route_new(client, &shops.neighbour, "b1").await;
}

async fn make_shop(client: &mut Client, shop_id: &str, setup: Setup) {
    let pooler = pb::UpsertAccountRequest {
        pool_permission: true,
        ..cs_account(shop_id, "pooler", 1)
    };
    let mode = if setup.group_mode {
        pb::RoutingMode::Group
    } else {
        pb::RoutingMode::Basic
    };
    ShopBuilder::kuaishou(shop_id)
        .cs("a", 1)
        .cs("b", 2)
        .with_roles("admin", &[Role::Admin])
        .with_roles("ops", &[Role::Operations])
        .account(pooler)
        .group("g1", &["b"], &[OrderStatus::AfterSales])
        .routing_mode(mode)
        .bot_enabled(setup.bot_enabled)
        .online(&["a", "b"])
        .create(client)
        .await;
    for buyer in &BUYERS[..4] {
        route_new(client, shop_id, buyer).await;
    }
}

/// What a refused call must leave as it was: the shop state (clock taken out) and
/// every session it has or had among [`SESSION_IDS`] and those it holds.
#[derive(Debug)]
pub struct Snapshot {
    /// The shop state, the clock taken out ([`comparable`]).
    pub state: pb::ShopState,
    /// Each session id read, with the session (`None`: NOT_FOUND): ended and
    /// closed sessions are in no shop state.
    pub sessions: Vec<(u64, Option<pb::Session>)>,
    /// Each account's presence deadline: a refused heartbeat must not move it.
    pub presence: Vec<(String, u64)>,
    /// When the reads began and ended (the wall clock, which the servers of this
    /// process read too), and the deadlines the shop was waiting for (presence
    /// expiries, close delays): a deadline passing between two snapshots changes
    /// the shop with nobody calling.
    pub started_ms: u64,
    pub finished_ms: u64,
    pub deadlines_ms: Vec<u64>,
}

impl Snapshot {
    /// Whether the shop is the same in both (the times of reading aside).
    pub fn same_shop_as(&self, other: &Snapshot) -> bool {
        self.state == other.state
            && self.sessions == other.sessions
            && self.presence == other.presence
    }

    /// Whether a deadline of `self` fell due by the time of `later`: then the shop
    /// may have changed by itself in between, and the two say nothing about a call.
    pub fn clock_moved_it(&self, later: &Snapshot) -> bool {
        // A millisecond each side for reads that round the clock differently.
        let window = self.started_ms.saturating_sub(1)..=later.finished_ms.saturating_add(1);
        self.deadlines_ms
            .iter()
            .any(|deadline| window.contains(deadline))
    }
}

fn wall_clock_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("milliseconds fit")
}

async fn snapshot(client: &mut Client, shop_id: &str) -> Result<Snapshot, Status> {
    let started_ms = wall_clock_ms();
    let state = try_shop_state(client, shop_id).await?;
    let mut ids: Vec<u64> = SESSION_IDS.collect();
    for account in &state.accounts {
        ids.extend(&account.session_ids);
    }
    ids.sort_unstable();
    ids.dedup();
    let mut sessions = Vec::new();
    let mut deadlines_ms = Vec::new();
    for id in ids {
        let session = match try_get_session(client, shop_id, id).await {
            Ok(session) => Some(session),
            Err(status) if status.code() == Code::NotFound => None,
            Err(status) => return Err(status),
        };
        if let Some(session) = &session
            && session.closes_at_ms > 0
        {
            deadlines_ms.push(session.closes_at_ms);
        }
        sessions.push((id, session));
    }
    let presence: Vec<(String, u64)> = state
        .accounts
        .iter()
        .map(|a| {
            let id = a.account.as_ref().map(|c| c.account_id.clone());
            (id.unwrap_or_default(), a.presence_expires_at_ms)
        })
        .collect();
    deadlines_ms.extend(presence.iter().map(|(_, at)| *at).filter(|at| *at > 0));
    Ok(Snapshot {
        state: comparable(state),
        sessions,
        presence,
        started_ms,
        finished_ms: wall_clock_ms(),
        deadlines_ms,
    })
}
