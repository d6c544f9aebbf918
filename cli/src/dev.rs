//! `fenliu dev`: everything in one process, for trying fenliu out. The worker listens
//! on an ephemeral loopback port; the dispatcher on `--listen`, and its live shop
//! console on `--console-listen`.

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
    /// Address of the live shop console (`http://<address>/shops/<shop_id>`);
    /// `off`: none.
    #[arg(long, env = "FENLIU_CONSOLE_LISTEN", default_value = "127.0.0.1:50080")]
    pub console_listen: ConsoleListen,
}

/// `--console-listen`: an address, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleListen(pub Option<SocketAddr>);

impl std::str::FromStr for ConsoleListen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "off" {
            return Ok(ConsoleListen(None));
        }
        text.parse()
            .map(|address| ConsoleListen(Some(address)))
            .map_err(|error| format!("an address (host:port) or `off`: {error}"))
    }
}

/// A running all-in-one node.
#[derive(Debug)]
pub struct DevNode {
    /// Where the dispatcher serves.
    pub address: SocketAddr,
    /// Where the shop console is served, if it is.
    pub console: Option<SocketAddr>,
    /// Raised to stop both servers.
    stop: tokio::sync::watch::Sender<bool>,
    /// Ends once both servers have stopped.
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl DevNode {
    /// Starts a worker and a dispatcher in this process.
    pub async fn start(listen: SocketAddr) -> anyhow::Result<DevNode> {
        Self::start_recording(listen, None, None).await
    }

    /// [`DevNode::start`], its worker recording what `recorder` chooses (R26),
    /// with the shop console on `console_listen`, if given.
    pub async fn start_recording(
        listen: SocketAddr,
        recorder: Option<Arc<Recorder>>,
        console_listen: Option<SocketAddr>,
    ) -> anyhow::Result<DevNode> {
        let worker_listener = TcpListener::bind("127.0.0.1:0").await?;
        let worker_url = format!("http://{}", worker_listener.local_addr()?);
        let dispatcher_listener = TcpListener::bind(listen)
            .await
            .map_err(|error| anyhow::anyhow!("--listen {listen}: {error}"))?;
        let address = dispatcher_listener.local_addr()?;
        let console_listener = match console_listen {
            Some(console_listen) => {
                Some(TcpListener::bind(console_listen).await.map_err(|error| {
                    anyhow::anyhow!("--console-listen {console_listen}: {error}")
                })?)
            }
            None => None,
        };
        let console = console_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
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
            let options = fenliu_dispatcher::DispatcherOptions {
                console: console_listener,
                ..Default::default()
            };
            fenliu_dispatcher::serve_with(
                dispatcher_listener,
                fenliu_dispatcher::Workers::fixed(channel),
                options,
                async move {
                    let _ = dispatcher_stopped.wait_for(|stop| *stop).await;
                },
            )
            .await?;
            worker.await??;
            Ok(())
        });
        Ok(DevNode {
            address,
            console,
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
    let node = DevNode::start_recording(args.listen, None, args.console_listen.0).await?;
    tracing::info!(
        "authentication off: fenliu dev is zero-config, any caller may call (`fenliu worker` and `fenliu dispatcher` take --auth-jwks-file)"
    );
    tracing::info!(
        address = %node.address,
        "fenliu dev: dispatcher and worker running, state in memory; try `fenliu demo --addr {}`",
        node.url()
    );
    if let Some(console) = node.console {
        tracing::info!(
            "shop console at http://{console}/shops/<shop_id>; e.g. `fenliu demo --addr {} --shop my-shop`, then open http://{console}/shops/my-shop",
            node.url()
        );
    }
    shutdown.await;
    node.stop().await
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// The answer to a plain HTTP/1.1 GET of `path` on `address`, whole.
    async fn http_get(address: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer
    }

    #[tokio::test]
    async fn dev_serves_the_shop_console_beside_the_api_and_off_turns_it_off() {
        let loopback = "127.0.0.1:0".parse().unwrap();
        let node = DevNode::start_recording(loopback, None, Some(loopback))
            .await
            .expect("dev node");
        let console = node.console.expect("a console address");
        let page = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            http_get(console, "/shops/s1"),
        )
        .await
        .expect("the page within 10 s");
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("fenliu shop console"), "{page}");
        node.stop().await.expect("stops");

        let without = DevNode::start(loopback).await.expect("dev node");
        assert!(without.console.is_none());
        without.stop().await.expect("stops");
    }

    #[test]
    fn console_listen_is_an_address_or_off() {
        let parsed: ConsoleListen = "127.0.0.1:50080".parse().unwrap();
        assert_eq!(parsed.0, Some("127.0.0.1:50080".parse().unwrap()));
        assert!("off".parse::<ConsoleListen>().unwrap().0.is_none());
        let refused = "localhost".parse::<ConsoleListen>().unwrap_err();
        assert!(refused.contains("or `off`"), "{refused}");
    }
}
