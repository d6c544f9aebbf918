//! `fenliu dev`: everything in one process, for trying fenliu out. The worker listens
//! on an ephemeral loopback port; the dispatcher on `--listen`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use fenliu_worker::recording::Recorder;

use tokio::net::TcpListener;

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Address the dispatcher serves fenliu.v1.Routing on.
    #[arg(long, env = "FENLIU_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
}

/// A running all-in-one node.
#[derive(Debug)]
pub struct DevNode {
    /// Where the dispatcher serves.
    pub address: SocketAddr,
    /// Raised to stop both servers.
    stop: tokio::sync::watch::Sender<bool>,
    /// Ends once both servers have stopped.
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl DevNode {
    /// Starts a worker and a dispatcher in this process.
    pub async fn start(listen: SocketAddr) -> anyhow::Result<DevNode> {
        Self::start_recording(listen, None).await
    }

    /// [`DevNode::start`], its worker recording what `recorder` chooses (R26).
    pub async fn start_recording(
        listen: SocketAddr,
        recorder: Option<Arc<Recorder>>,
    ) -> anyhow::Result<DevNode> {
        let worker_listener = TcpListener::bind("127.0.0.1:0").await?;
        let worker_url = format!("http://{}", worker_listener.local_addr()?);
        let dispatcher_listener = TcpListener::bind(listen)
            .await
            .map_err(|error| anyhow::anyhow!("--listen {listen}: {error}"))?;
        let address = dispatcher_listener.local_addr()?;
        // One signal stops both: each ends its event streams, so neither waits
        // on the other.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut worker_stopped = stopped.clone();
        let mut dispatcher_stopped = stopped;
        let router = fenliu_worker::server::embedded_router();
        if let Some(recorder) = recorder {
            router.record_to(recorder)?;
        }
        let worker = tokio::spawn(fenliu_worker::server::serve(
            worker_listener,
            router,
            async move {
                let _ = worker_stopped.wait_for(|stop| *stop).await;
            },
        ));
        let channel = fenliu_dispatcher::worker_channel(&worker_url)?;
        let done = tokio::spawn(async move {
            fenliu_dispatcher::serve(dispatcher_listener, channel, async move {
                let _ = dispatcher_stopped.wait_for(|stop| *stop).await;
            })
            .await?;
            worker.await??;
            Ok(())
        });
        Ok(DevNode {
            address,
            stop,
            done,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops the dispatcher, then the worker, and waits for both.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.done.await?
    }
}

pub async fn run(args: DevArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let node = DevNode::start(args.listen).await?;
    tracing::info!(
        "authentication off: fenliu dev is zero-config, any caller may call (`fenliu worker` and `fenliu dispatcher` take --auth-jwks-file)"
    );
    tracing::info!(
        address = %node.address,
        "fenliu dev: dispatcher and worker running, state in memory; try `fenliu demo --addr {}`",
        node.url()
    );
    shutdown.await;
    node.stop().await
}
