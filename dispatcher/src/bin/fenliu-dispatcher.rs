//! `fenliu-dispatcher`: the stateless front that platform backends call.

use std::net::SocketAddr;

use clap::Parser;
use fenliu_worker::telemetry;

/// fenliu dispatcher: serves fenliu.v1.Routing and forwards each call to its worker.
#[derive(Debug, Parser)]
#[command(version)]
struct Config {
    /// Address to serve fenliu.v1.Routing on.
    #[arg(long, env = "FENLIU_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// The worker to forward to, as a URL.
    #[arg(
        long,
        env = "FENLIU_WORKER_URL",
        default_value = "http://127.0.0.1:50061"
    )]
    worker_url: String,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "FENLIU_LOG_JSON")]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init_logging(config.log_json);
    let worker = fenliu_dispatcher::worker_channel(&config.worker_url)
        .map_err(|error| anyhow::anyhow!("--worker-url {}: {error}", config.worker_url))?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    fenliu_dispatcher::serve(listener, worker, telemetry::shutdown_signal()).await?;
    Ok(())
}
