//! `fenliu-worker`: the router process. Without Redis configured it keeps its shops
//! in memory (the embedded default, one worker). With `--redis-url` it is one of
//! many workers: it registers, holds leases on its share of the shards, and keeps
//! every shop's state in Redis.

use clap::Parser;
use fenliu_worker::launch::{self, WorkerConfig};

/// fenliu worker: decides which shop account serves each buyer.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: WorkerConfig,
}

/// mimalloc rather than the system allocator, as in the `fenliu` binary (see there).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fenliu_node::runtime::build()?.block_on(launch::run(cli.config))
}
