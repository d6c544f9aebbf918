//! `fenliu`: the command for trying, demonstrating and inspecting fenliu.
//!
//! - `fenliu dev`: a dispatcher and a worker in one process on the embedded
//!   (in-memory) default, serving `127.0.0.1:50051`.
//! - `fenliu demo`: plays a shop's morning through the API and prints every
//!   decision with its reason (against `--addr`, or a node of its own).
//! - `fenliu auth keygen` / `fenliu auth token`: a signing key, its JWKS and
//!   tokens, for trying authentication out.
//! - `fenliu tls gen`: a throwaway fleet CA and node certificate, for trying TLS.
//! - `fenliu state` / `fenliu watch`: a shop's current state, and its live events.
//! - `fenliu loadtest`: a shop workload against a dispatcher or worker, reporting
//!   decisions per second and Route latency.
//! - `fenliu simulate`: replays a recording of shops' calls through the engine
//!   under the recorded settings and changed ones, side by side (R26).
//! - `fenliu worker` / `fenliu dispatcher`: one role each, as the binaries of the
//!   same names (one executable to ship, and what the fault tests start).
//! - `fenliu baseline-server` / `baseline-proxy`: the speed-of-light chain the
//!   benchmark compares fenliu with; `bench-drain` / `bench-populate`: the
//!   benchmark's other measurements (`scripts/bench` runs them all).

mod auth;
mod baseline;
mod bench_tools;
mod client;
mod demo;
mod dev;
mod inspect;
mod loadtest;
mod otlp_sink;
mod print;
mod simulate;
mod tls;

use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: a decision allocates many small,
/// short-lived values, and glibc's malloc took a quarter of the worker's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use fenliu_node::telemetry;

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
    Worker(fenliu_worker::launch::WorkerConfig),
    /// Run a dispatcher (as `fenliu-dispatcher` does).
    Dispatcher(fenliu_dispatcher::launch::DispatcherConfig),
    /// Play a shop's morning through the API, printing each decision and why.
    Demo(demo::DemoArgs),
    /// Certificates for trying TLS out.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Keys and tokens for trying authentication out.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Print a shop's accounts, queues and message pool.
    State(inspect::ShopArgs),
    /// Print a shop's events as they happen, until Ctrl-C.
    Watch(inspect::ShopArgs),
    /// Load a dispatcher or worker with a shop workload; report decisions/s and latency.
    Loadtest(loadtest::LoadtestArgs),
    /// Replay a recording of shops' calls under the recorded and changed settings (R26).
    Simulate(simulate::SimulateArgs),
    /// Benchmark baseline: serve Routing with one Redis EVALSHA per call, nothing else.
    BaselineServer(baseline::ServerArgs),
    /// Benchmark baseline: forward Routing to one upstream, nothing else.
    BaselineProxy(baseline::ProxyArgs),
    /// Measure how soon a queued session is assigned after its slot frees.
    BenchDrain(bench_tools::DrainArgs),
    /// Create many shops with accounts online (to measure a worker's memory).
    BenchPopulate(bench_tools::PopulateArgs),
    /// Benchmark stand-in for an OpenTelemetry collector: takes OTLP/gRPC
    /// trace exports and counts them.
    BenchOtlpSink(otlp_sink::SinkArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fenliu_node::runtime::build()?.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dev(args) => {
            let telemetry = telemetry::init(false, "fenliu-dev");
            let ran = dev::run(args, fenliu_node::shutdown::requested_by_os()).await;
            telemetry.shutdown().await;
            ran
        }
        Command::Worker(config) => fenliu_worker::launch::run(config).await,
        Command::Dispatcher(config) => fenliu_dispatcher::launch::run(config).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Auth(command) => auth::run(command),
        Command::Tls(command) => tls::run(command),
        Command::State(args) => inspect::state(args).await,
        Command::Watch(args) => inspect::watch(args).await,
        Command::Loadtest(args) => loadtest::run(args).await,
        Command::Simulate(args) => simulate::run(&args),
        Command::BaselineServer(args) => baseline::run_server(args).await,
        Command::BaselineProxy(args) => baseline::run_proxy(args).await,
        Command::BenchDrain(args) => bench_tools::drain(args).await,
        Command::BenchPopulate(args) => bench_tools::populate(args).await,
        Command::BenchOtlpSink(args) => otlp_sink::run(args).await,
    }
}
