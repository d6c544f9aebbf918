//! `fenliu state` and `fenliu watch`: what an operator looks at.

use crate::client::{self, CallerArgs};
use crate::print;
use fenliu_proto::v1 as pb;

#[derive(Debug, clap::Args)]
pub struct ShopArgs {
    /// The shop to look at.
    #[arg(long)]
    pub shop: String,
    /// A dispatcher or worker URL.
    #[arg(long, env = "FENLIU_ADDR", default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    #[command(flatten)]
    pub caller: CallerArgs,
}

pub async fn state(args: ShopArgs) -> anyhow::Result<()> {
    let mut client = client::connect(&args.addr, &args.caller).await?;
    let state = client
        .get_shop_state(pb::GetShopStateRequest { shop_id: args.shop })
        .await?
        .into_inner();
    print!("{}", print::shop_state(&state));
    Ok(())
}

pub async fn watch(args: ShopArgs) -> anyhow::Result<()> {
    let mut client = client::connect(&args.addr, &args.caller).await?;
    let mut events = client
        .watch_shop(pb::WatchShopRequest {
            shop_id: args.shop,
            from_sequence: None,
        })
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
