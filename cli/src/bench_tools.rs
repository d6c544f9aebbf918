//! Measurements the benchmark needs beyond the load generator:
//!
//! - `fenliu bench-drain`: how long after a slot frees (a close delay running out,
//!   with nobody calling) the oldest queued session is assigned. Many shops run at
//!   once; each round ends a session with a one-second close delay while a buyer
//!   waits, and the delay is measured from the session's `closes_at_ms` to the
//!   moment the `SessionAssigned` (cause QUEUE) event reaches this client — an
//!   upper bound, since it includes the event's trip through the dispatcher. The
//!   shops start spread over one second, so that their slots free at different
//!   moments, as they do in a real deployment, rather than all in one
//!   millisecond (`--burst` measures that case instead).
//! - `fenliu bench-populate`: creates shops with accounts online, so that a
//!   worker's memory can be read with them all loaded.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_client::RoutingClient;
use tokio::sync::Semaphore;
use tonic::transport::Channel;

#[derive(Debug, clap::Args)]
pub struct DrainArgs {
    /// A dispatcher or worker URL.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// Shops measured at once.
    #[arg(long, default_value_t = 100)]
    pub shops: usize,
    /// Rounds per shop (each takes a little over a second).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Start every shop at once, so that all slots free in the same millisecond.
    #[arg(long)]
    pub burst: bool,
}

#[derive(Debug, clap::Args)]
pub struct PopulateArgs {
    /// A dispatcher or worker URL.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    #[arg(long, default_value_t = 10_000)]
    pub shops: usize,
    #[arg(long, default_value_t = 20)]
    pub accounts: usize,
    /// Calls in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Prefix of the shop ids.
    #[arg(long, default_value = "populate")]
    pub prefix: String,
}

fn wall_clock_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

async fn connect(addr: &str) -> anyhow::Result<RoutingClient<Channel>> {
    RoutingClient::connect(addr.to_owned())
        .await
        .with_context(|| format!("--addr {addr}"))
}

/// Creates a shop whose one agent has one slot.
async fn one_slot_shop(client: &mut RoutingClient<Channel>, shop: &str) -> anyhow::Result<()> {
    client
        .upsert_shop(pb::UpsertShopRequest {
            shop_id: shop.to_owned(),
            profile: pb::Profile::Kuaishou as i32,
            main_account_id: "main".to_owned(),
            close_delay_seconds: Some(1),
            ..Default::default()
        })
        .await?;
    client
        .upsert_account(pb::UpsertAccountRequest {
            shop_id: shop.to_owned(),
            account_id: "agent".to_owned(),
            roles: vec![pb::Role::CustomerService as i32],
            max_concurrent: 1,
            ..Default::default()
        })
        .await?;
    client
        .set_account_status(pb::SetAccountStatusRequest {
            shop_id: shop.to_owned(),
            account_id: "agent".to_owned(),
            status: pb::AccountStatus::Online as i32,
        })
        .await?;
    Ok(())
}

async fn route(
    client: &mut RoutingClient<Channel>,
    shop: &str,
    buyer: &str,
    request: &str,
) -> anyhow::Result<pb::Session> {
    let response = client
        .route(pb::RouteRequest {
            shop_id: shop.to_owned(),
            buyer_id: buyer.to_owned(),
            request_id: request.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    response.session.context("a route answer without a session")
}

/// One shop's rounds: returns the delays in milliseconds.
async fn drain_rounds(
    addr: String,
    shop: String,
    rounds: usize,
    start_after: Duration,
) -> anyhow::Result<Vec<u64>> {
    tokio::time::sleep(start_after).await;
    let mut client = connect(&addr).await?;
    one_slot_shop(&mut client, &shop).await?;
    let mut events = client
        .watch_shop(pb::WatchShopRequest {
            shop_id: shop.clone(),
            from_sequence: None,
        })
        .await?
        .into_inner();
    let mut serving = route(&mut client, &shop, "buyer-0", "r-0").await?;
    let mut delays = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let waiting = route(
            &mut client,
            &shop,
            &format!("buyer-{round}"),
            &format!("r-{round}"),
        )
        .await?;
        if waiting.state != pb::SessionState::Queued as i32 {
            bail!("shop {shop}: round {round} expected a queued session");
        }
        let ended = client
            .end_session(pb::EndSessionRequest {
                shop_id: shop.clone(),
                session_id: serving.session_id,
                actor_account_id: String::new(),
            })
            .await?
            .into_inner();
        let frees_at = ended.closes_at_ms;
        let assigned_at = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(event) = events.message().await? {
                if let Some(pb::shop_event::Event::SessionAssigned(assigned)) = event.event
                    && assigned.session_id == waiting.session_id
                    && assigned.cause == pb::AssignCause::Queue as i32
                {
                    return Ok::<u64, anyhow::Error>(wall_clock_ms());
                }
            }
            bail!("the event stream ended")
        })
        .await
        .context("no assignment within 5 s of the slot freeing")??;
        delays.push(assigned_at.saturating_sub(frees_at));
        serving = waiting;
    }
    Ok(delays)
}

pub async fn drain(args: DrainArgs) -> anyhow::Result<()> {
    let run = wall_clock_ms();
    let spread_ms = if args.burst {
        0
    } else {
        1000 / args.shops.max(1) as u64
    };
    let tasks: Vec<_> = (0..args.shops)
        .map(|n| {
            let start_after = Duration::from_millis(spread_ms * n as u64);
            tokio::spawn(drain_rounds(
                args.addr.clone(),
                format!("drain-{run}-{n}"),
                args.rounds,
                start_after,
            ))
        })
        .collect();
    let mut delays = Vec::new();
    for task in tasks {
        delays.extend(task.await??);
    }
    delays.sort_unstable();
    let at = |q: f64| delays[((delays.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "queued session assigned after its slot freed: samples {} p50 {} ms p99 {} ms max {} ms",
        delays.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    println!(
        "{{\"samples\":{},\"p50_ms\":{},\"p99_ms\":{},\"max_ms\":{}}}",
        delays.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

pub async fn populate(args: PopulateArgs) -> anyhow::Result<()> {
    let client = connect(&args.addr).await?;
    let limit = Arc::new(Semaphore::new(args.concurrency));
    let started = std::time::Instant::now();
    let mut tasks = Vec::with_capacity(args.shops);
    for n in 0..args.shops {
        let permit = limit.clone().acquire_owned().await?;
        let mut client = client.clone();
        let shop = format!("{}-{n}", args.prefix);
        let accounts = args.accounts;
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            client
                .upsert_shop(pb::UpsertShopRequest {
                    shop_id: shop.clone(),
                    profile: pb::Profile::Kuaishou as i32,
                    main_account_id: "main".to_owned(),
                    ..Default::default()
                })
                .await?;
            for a in 0..accounts {
                let account = format!("agent-{a}");
                client
                    .upsert_account(pb::UpsertAccountRequest {
                        shop_id: shop.clone(),
                        account_id: account.clone(),
                        display_name: account.clone(),
                        roles: vec![pb::Role::CustomerService as i32],
                        max_concurrent: 10,
                        ..Default::default()
                    })
                    .await?;
                client
                    .set_account_status(pb::SetAccountStatusRequest {
                        shop_id: shop.clone(),
                        account_id: account,
                        status: pb::AccountStatus::Online as i32,
                    })
                    .await?;
            }
            Ok::<(), tonic::Status>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    println!(
        "populated {} shops of {} accounts in {:.1} s",
        args.shops,
        args.accounts,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
