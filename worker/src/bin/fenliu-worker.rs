//! `fenliu-worker`: the router process. Without Redis configured it keeps its shops
//! in memory (the embedded default).

use std::net::SocketAddr;

use clap::Parser;
use fenliu_worker::{server, telemetry};

/// fenliu worker: decides which shop account serves each buyer.
#[derive(Debug, Parser)]
#[command(version)]
struct Config {
    /// Address to serve fenliu.v1.Routing on.
    #[arg(long, env = "FENLIU_LISTEN", default_value = "127.0.0.1:50061")]
    listen: SocketAddr,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "FENLIU_LOG_JSON")]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init_logging(config.log_json);
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    server::serve(
        listener,
        server::embedded_router(),
        telemetry::shutdown_signal(),
    )
    .await?;
    Ok(())
}
