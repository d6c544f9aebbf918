//! `fenliu demo`: a shop's morning, played through the public API. Accounts come
//! online, new and returning buyers arrive, a group fills and buyers queue, a slot
//! frees and the queue drains by itself, a manager transfers a session, everyone
//! goes offline. Then a second shop's afternoon with the rules beyond the two
//! platforms on: a waiting buyer told how long (R20), an unanswered buyer
//! reminded and moved (R22), a wait running out into the message pool (R21).
//! Every decision is printed with the rule that made it, and the shop's event
//! stream is printed as it happens.

use std::time::Duration;

use fenliu_proto::v1 as pb;

use crate::client::{self, ApiClient, CallerArgs};
use crate::dev::DevNode;
use crate::print;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// A running dispatcher or worker (e.g. from `fenliu dev`). Without it the demo
    /// starts a node of its own on an ephemeral loopback port.
    #[arg(long, env = "FENLIU_ADDR")]
    pub addr: Option<String>,
    /// The shop id to play with; it must not exist yet (default: a new one per run).
    #[arg(long)]
    pub shop: Option<String>,
    #[command(flatten)]
    pub caller: CallerArgs,
}

/// Seconds an ended session keeps its slot in the demo (20 minutes in real shops).
const CLOSE_DELAY_SECONDS: u32 = 2;

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let own_node = match &args.addr {
        Some(_) => None,
        None => Some(DevNode::start("127.0.0.1:0".parse()?).await?),
    };
    let url = match (&args.addr, &own_node) {
        (Some(addr), _) => addr.clone(),
        (None, Some(node)) => node.url(),
        (None, None) => unreachable!("a node was started"),
    };
    println!("fenliu demo against {url}\n");
    let client = client::connect(&url, &args.caller).await?;
    let shop = args.shop.unwrap_or_else(|| {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!("demo-{}", since_epoch.as_secs())
    });
    let mut demo = Demo {
        client,
        shop,
        next_request: 0,
    };
    demo.play().await?;
    if let Some(node) = own_node {
        node.stop().await?;
    }
    Ok(())
}

/// The demo's client and shop: each step is a call through the public API.
struct Demo {
    /// The node the demo talks to.
    client: ApiClient,
    /// The demo's own shop, unique per run.
    shop: String,
    /// Numbers each Route's request id.
    next_request: u64,
}

impl Demo {
    async fn play(&mut self) -> anyhow::Result<()> {
        use pb::OrderStatus::{AfterSales, NoActiveOrder, OrderedNotPaid};

        self.set_up_shop().await?;
        self.watch_events().await?;

        chapter(
            "08:55  Nobody is in yet. A buyer writes (Kuaishou: nobody available → queue, R13a)",
        );
        self.route("buyer-01", NoActiveOrder).await?;

        chapter("09:00  The team comes online; the waiting buyer is taken at once (R14)");
        for account in ["xiaomei", "ajie", "lili"] {
            self.status(account, pb::AccountStatus::Online).await?;
        }
        pause().await;

        chapter("09:05  New pre-sale buyers: group 'presale' shares them evenly (R7a, R9)");
        self.route("buyer-02", NoActiveOrder).await?;
        self.route("buyer-03", OrderedNotPaid).await?;
        self.route("buyer-04", NoActiveOrder).await?;
        chapter(
            "       The presale group is full: the next pre-sale buyer waits in its status queue (R7b)",
        );
        self.route("buyer-09", NoActiveOrder).await?;

        chapter(
            "09:10  After-sales buyers: lili's group takes one, then the status queue (R7a, R7b)",
        );
        let lili_session = self.route("buyer-05", AfterSales).await?;
        self.route("buyer-06", AfterSales).await?;

        chapter("09:12  buyer-02 writes again: same session (R1)");
        self.route("buyer-02", NoActiveOrder).await?;

        chapter(&format!(
            "09:15  lili ends her session: the slot stays taken for the close delay ({CLOSE_DELAY_SECONDS} s here, 20 min in real shops), then buyer-06 is taken by itself (R15, R14)"
        ));
        self.end(lili_session).await?;
        tokio::time::sleep(Duration::from_secs(u64::from(CLOSE_DELAY_SECONDS) + 1)).await;

        chapter(
            "09:20  buyer-05 comes back: returning buyer goes to lili even though she is full (R5)",
        );
        let session = self.route("buyer-05", AfterSales).await?;

        chapter("09:25  The CS admin moves buyer-05 to ajie by hand, over his capacity (R16)");
        self.transfer(session, "zhuguan", "ajie").await?;

        chapter("09:26  A customer-service account may not move someone else's session (R19)");
        if let Err(status) = self.try_transfer(session, "xiaomei", "lili").await {
            println!("  refused: {:?}: {}", status.code(), status.message());
        }

        chapter("12:00  Lunch: everyone goes offline; a new buyer waits (R13a)");
        for account in ["xiaomei", "ajie", "lili"] {
            self.status(account, pb::AccountStatus::Offline).await?;
        }
        self.route("buyer-07", OrderedNotPaid).await?;
        chapter("       The shop switches its offline policy to the main account (R13e)");
        self.settings(pb::UpsertShopRequest {
            offline_policy: Some(pb::OfflinePolicy::MainAccount as i32),
            ..Default::default()
        })
        .await?;
        self.route("buyer-08", NoActiveOrder).await?;
        pause().await;

        chapter("The shop now");
        let state = self
            .client
            .get_shop_state(pb::GetShopStateRequest {
                shop_id: self.shop.clone(),
            })
            .await?
            .into_inner();
        print!("{}", print::shop_state(&state));
        self.afternoon().await
    }

    /// R20–R22 in a shop of their own: short waits, so that they run out while
    /// the demo watches.
    async fn afternoon(&mut self) -> anyhow::Result<()> {
        use pb::OrderStatus::NoActiveOrder;

        self.shop = format!("{}-afternoon", self.shop);
        chapter(
            "14:00  Another shop turns on the rules beyond the platforms: waits of at most 3 s, then a message (R21); a reply within 2 s, or the buyer moves (R22)",
        );
        self.client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: self.shop.clone(),
                profile: pb::Profile::Kuaishou as i32,
                main_account_id: "owner".to_owned(),
                close_delay_seconds: Some(0),
                max_queue_wait_seconds: Some(3),
                queue_timeout_action: Some(pb::QueueTimeoutAction::MessagePool as i32),
                reply_timeout_seconds: Some(2),
                reassign_unanswered: Some(true),
                ..Default::default()
            })
            .await?;
        for (account, max) in [("xiaomei", 1), ("ajie", 1), ("lili", 2)] {
            self.account(account, pb::Role::CustomerService, max)
                .await?;
        }
        self.watch_events().await?;
        for account in ["xiaomei", "ajie"] {
            self.status(account, pb::AccountStatus::Online).await?;
        }
        chapter(
            "14:01  xiaomei and ajie answer and finish four buyers: slots free (R20 learns the pace)",
        );
        for buyer in ["buyer-10", "buyer-11", "buyer-12", "buyer-13"] {
            let session = self.route(buyer, NoActiveOrder).await?;
            let holder = self.record_reply(session, "").await?;
            println!("  {holder} replied to {buyer}");
            self.end(session).await?;
        }
        chapter("14:02  Two more buyers; the next one waits and is told how long (R20)");
        self.route("buyer-14", NoActiveOrder).await?;
        self.route("buyer-15", NoActiveOrder).await?;
        self.route("buyer-16", NoActiveOrder).await?;
        chapter("       lili comes online with two slots and takes the waiting buyer (R14)");
        self.status("lili", pb::AccountStatus::Online).await?;
        pause().await;
        chapter(
            "14:03  Nobody replies within 2 s: each buyer is reminded (unanswered) and moved, by R9, to an account with a free slot it has not timed out on (R22)",
        );
        tokio::time::sleep(Duration::from_millis(2200)).await;
        chapter(
            "       lili replies in what she now holds: only now do those buyers belong with her (R22's affinity)",
        );
        let state = self.shop_state().await?;
        let lili_sessions = state
            .accounts
            .iter()
            .find(|a| a.account.as_ref().is_some_and(|c| c.account_id == "lili"))
            .map(|a| a.session_ids.clone())
            .unwrap_or_default();
        for session in lili_sessions {
            self.record_reply(session, "lili").await?;
        }
        println!("  lili replied in her sessions");
        chapter("14:04  Everyone is busy: a buyer waits 3 s, then leaves a message (R21)");
        self.route("buyer-17", NoActiveOrder).await?;
        self.route("buyer-18", NoActiveOrder).await?;
        tokio::time::sleep(Duration::from_millis(3300)).await;
        chapter("The afternoon shop now");
        print!("{}", print::shop_state(&self.shop_state().await?));
        Ok(())
    }

    async fn shop_state(&mut self) -> anyhow::Result<pb::ShopState> {
        Ok(self
            .client
            .get_shop_state(pb::GetShopStateRequest {
                shop_id: self.shop.clone(),
            })
            .await?
            .into_inner())
    }

    /// The holder of a session replied in it (R22); `account` empty: whoever holds
    /// it. Returns the holder.
    async fn record_reply(&mut self, session_id: u64, account: &str) -> anyhow::Result<String> {
        let holder = if account.is_empty() {
            self.client
                .get_session(pb::GetSessionRequest {
                    shop_id: self.shop.clone(),
                    session_id,
                })
                .await?
                .into_inner()
                .account_id
        } else {
            account.to_owned()
        };
        self.client
            .record_reply(pb::RecordReplyRequest {
                shop_id: self.shop.clone(),
                session_id,
                account_id: holder.clone(),
            })
            .await?;
        Ok(holder)
    }

    async fn set_up_shop(&mut self) -> anyhow::Result<()> {
        chapter("Setting up: a Kuaishou shop in group mode, three agents and a CS admin");
        self.client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: self.shop.clone(),
                profile: pb::Profile::Kuaishou as i32,
                main_account_id: "owner".to_owned(),
                routing_mode: Some(pb::RoutingMode::Group as i32),
                close_delay_seconds: Some(CLOSE_DELAY_SECONDS),
                offline_policy: Some(pb::OfflinePolicy::Queue as i32),
                ..Default::default()
            })
            .await?;
        for (account, max) in [("xiaomei", 2), ("ajie", 2), ("lili", 1)] {
            self.account(account, pb::Role::CustomerService, max)
                .await?;
        }
        self.account("zhuguan", pb::Role::CsAdmin, 5).await?;
        self.group(
            "presale",
            &["xiaomei", "ajie"],
            &[
                pb::OrderStatus::NoActiveOrder,
                pb::OrderStatus::OrderedNotPaid,
            ],
        )
        .await?;
        self.group("aftersale", &["lili"], &[pb::OrderStatus::AfterSales])
            .await?;
        println!(
            "  xiaomei and ajie (presale, 2 slots each), lili (aftersale, 1 slot); zhuguan is CS admin"
        );
        Ok(())
    }

    async fn watch_events(&mut self) -> anyhow::Result<()> {
        let mut events = self
            .client
            .watch_shop(pb::WatchShopRequest {
                shop_id: self.shop.clone(),
                from_sequence: None,
            })
            .await?
            .into_inner();
        tokio::spawn(async move {
            while let Ok(Some(event)) = events.message().await {
                // Events a Route answer already shows are not repeated.
                let by_rule = matches!(
                    &event.event,
                    Some(pb::shop_event::Event::SessionAssigned(e)) if e.cause == pb::AssignCause::Rule as i32
                ) || matches!(
                    &event.event,
                    Some(pb::shop_event::Event::SessionQueued(_))
                );
                if !by_rule {
                    println!("  event {}", print::event(&event));
                }
            }
        });
        Ok(())
    }

    async fn account(&mut self, id: &str, role: pb::Role, max: u32) -> anyhow::Result<()> {
        self.client
            .upsert_account(pb::UpsertAccountRequest {
                shop_id: self.shop.clone(),
                account_id: id.to_owned(),
                display_name: id.to_owned(),
                roles: vec![role as i32],
                max_concurrent: max,
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    async fn group(
        &mut self,
        name: &str,
        members: &[&str],
        statuses: &[pb::OrderStatus],
    ) -> anyhow::Result<()> {
        self.client
            .upsert_group(pb::UpsertGroupRequest {
                shop_id: self.shop.clone(),
                name: name.to_owned(),
                member_account_ids: members.iter().map(|m| (*m).to_owned()).collect(),
                order_statuses: statuses.iter().map(|s| *s as i32).collect(),
            })
            .await?;
        Ok(())
    }

    async fn settings(&mut self, mut request: pb::UpsertShopRequest) -> anyhow::Result<()> {
        request.shop_id = self.shop.clone();
        self.client.upsert_shop(request).await?;
        Ok(())
    }

    async fn status(&mut self, account: &str, status: pb::AccountStatus) -> anyhow::Result<()> {
        self.client
            .set_account_status(pb::SetAccountStatusRequest {
                shop_id: self.shop.clone(),
                account_id: account.to_owned(),
                status: status as i32,
            })
            .await?;
        Ok(())
    }

    /// Routes a buyer's message, prints the decision, returns the session id.
    async fn route(&mut self, buyer: &str, order_status: pb::OrderStatus) -> anyhow::Result<u64> {
        self.next_request += 1;
        let response = self
            .client
            .route(pb::RouteRequest {
                shop_id: self.shop.clone(),
                buyer_id: buyer.to_owned(),
                request_id: format!("demo-{}-{}", std::process::id(), self.next_request),
                order_status: order_status as i32,
                ..Default::default()
            })
            .await?
            .into_inner();
        println!("  {}", print::decision(buyer, &response));
        pause().await;
        Ok(response.session.map(|s| s.session_id).unwrap_or_default())
    }

    async fn end(&mut self, session_id: u64) -> anyhow::Result<()> {
        let session = self
            .client
            .end_session(pb::EndSessionRequest {
                shop_id: self.shop.clone(),
                session_id,
                actor_account_id: String::new(),
            })
            .await?
            .into_inner();
        println!(
            "  session {session_id} is now {}",
            print::session_state(session.state)
        );
        Ok(())
    }

    async fn try_transfer(
        &mut self,
        session_id: u64,
        actor: &str,
        to: &str,
    ) -> Result<pb::Session, tonic::Status> {
        self.client
            .transfer(pb::TransferRequest {
                shop_id: self.shop.clone(),
                session_id,
                actor_account_id: actor.to_owned(),
                to_account_id: to.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn transfer(&mut self, session_id: u64, actor: &str, to: &str) -> anyhow::Result<()> {
        let session = self.try_transfer(session_id, actor, to).await?;
        println!(
            "  {actor} moved session {session_id} {}",
            print::placement(&session)
        );
        pause().await;
        Ok(())
    }
}

fn chapter(title: &str) {
    println!("\n{title}");
}

/// Lets the event stream catch up so that the output reads in order.
async fn pause() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}
