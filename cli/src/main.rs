//! `fenliu`: the command for trying, demonstrating and inspecting fenliu.
//!
//! - `fenliu dev`: a dispatcher and a worker in one process on the embedded
//!   (in-memory) default, serving `127.0.0.1:50051`.
//! - `fenliu demo`: plays a shop's morning through the API and prints every
//!   decision with its reason (against `--addr`, or a node of its own).
//! - `fenliu state` / `fenliu watch`: a shop's current state, and its live events.
//! - `fenliu worker` / `fenliu dispatcher`: one role each, as the binaries of the
//!   same names (one executable to ship, and what the fault tests start).

mod demo;
mod dev;
mod inspect;
mod print;

use clap::{Parser, Subcommand};
use fenliu_worker::telemetry;

#[derive(Debug, Parser)]
#[command(version, about = "fenliu: session routing for shop customer service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a dispatcher and a worker in one process (state in memory).
    Dev(dev::DevArgs),
    /// Run a worker (as `fenliu-worker` does).
    Worker(fenliu_worker::node::WorkerConfig),
    /// Run a dispatcher (as `fenliu-dispatcher` does).
    Dispatcher(fenliu_dispatcher::node::DispatcherConfig),
    /// Play a shop's morning through the API, printing each decision and why.
    Demo(demo::DemoArgs),
    /// Print a shop's accounts, queues and message pool.
    State(inspect::ShopArgs),
    /// Print a shop's events as they happen, until Ctrl-C.
    Watch(inspect::ShopArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Dev(args) => {
            telemetry::init_logging(false);
            dev::run(args, telemetry::shutdown_signal()).await
        }
        Command::Worker(config) => fenliu_worker::node::run(config).await,
        Command::Dispatcher(config) => fenliu_dispatcher::node::run(config).await,
        Command::Demo(args) => demo::run(args).await,
        Command::State(args) => inspect::state(args).await,
        Command::Watch(args) => inspect::watch(args).await,
    }
}
