//! `fenliu-dispatcher`: the stateless front that platform backends call.

use clap::Parser;
use fenliu_dispatcher::launch::{self, DispatcherConfig};

/// fenliu dispatcher: serves fenliu.v1.Routing and forwards each call to the
/// worker that serves the shop.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: DispatcherConfig,
}

/// mimalloc rather than the system allocator, as in the `fenliu` binary (see there).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fenliu_node::runtime::build()?.block_on(launch::run(cli.config))
}
