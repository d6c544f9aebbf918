//! `fenliu state` and `fenliu watch`: what an operator looks at.

use fenliu_proto::v1 as pb;
use fenliu_proto::v1::routing_client::RoutingClient;

use crate::print;

#[derive(Debug, clap::Args)]
pub struct ShopArgs {
    /// The shop to look at.
    #[arg(long)]
    pub shop: String,
    /// A dispatcher or worker URL.
    #[arg(long, env = "FENLIU_ADDR", default_value = "http://127.0.0.1:50051")]
    pub addr: String,
}

pub async fn state(args: ShopArgs) -> anyhow::Result<()> {
    let mut client = RoutingClient::connect(args.addr).await?;
    let state = client
        .get_shop_state(pb::GetShopStateRequest { shop_id: args.shop })
        .await?
        .into_inner();
    print!("{}", print::shop_state(&state));
    Ok(())
}

pub async fn watch(args: ShopArgs) -> anyhow::Result<()> {
    let mut client = RoutingClient::connect(args.addr).await?;
    let mut events = client
        .watch_shop(pb::WatchShopRequest { shop_id: args.shop })
        .await?
        .into_inner();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            event = events.message() => match event? {
                Some(event) => println!("{}", print::event(&event)),
                None => return Ok(()),
            },
        }
    }
}
