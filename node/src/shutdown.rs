//! Stopping a node gracefully: the signal that tells its long-lived parts the node
//! is stopping, streams that end when it is raised, and the process signals
//! (SIGTERM, how Kubernetes stops a pod; Ctrl-C) that begin it.

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

/// Tells long-lived streams (WatchShop, the worker link) and background loops that
/// the node is stopping, so that a graceful shutdown is not held open by them.
#[derive(Clone, Debug)]
pub struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// A signal and the function that raises it.
    pub fn new() -> (ShutdownSignal, impl FnOnce()) {
        let (sender, receiver) = watch::channel(false);
        (ShutdownSignal(receiver), move || {
            let _ = sender.send(true);
        })
    }

    /// Resolves once shutdown begins.
    pub async fn raised(mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// Forwards a response stream until it ends, fails, or the node begins to stop; on
/// stopping, the stream ends with `UNAVAILABLE` so that the client reconnects
/// (to this node's successor). A gRPC stream ends after its first error, so this
/// one does too.
pub fn until_shutdown<T, S>(
    mut stream: S,
    stopping: ShutdownSignal,
) -> ReceiverStream<Result<T, Status>>
where
    T: Send + 'static,
    S: Stream<Item = Result<T, Status>> + Send + Unpin + 'static,
{
    let (sender, receiver) = mpsc::channel(64);
    tokio::spawn(async move {
        let stopping = stopping.raised();
        tokio::pin!(stopping);
        loop {
            let item = tokio::select! {
                () = &mut stopping => {
                    let _ = sender
                        .send(Err(Status::unavailable("the node is shutting down; reconnect")))
                        .await;
                    return;
                }
                () = sender.closed() => return,
                item = stream.next() => item,
            };
            let Some(item) = item else { return };
            let is_error = item.is_err();
            if sender.send(item).await.is_err() || is_error {
                return;
            }
        }
    });
    ReceiverStream::new(receiver)
}

/// Resolves on SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
pub async fn requested_by_os() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_ends_with_unavailable_once_shutdown_is_raised() {
        let (stopping, raise) = ShutdownSignal::new();
        let (sender, receiver) = mpsc::channel::<Result<u32, Status>>(4);
        let mut forwarded = until_shutdown(ReceiverStream::new(receiver), stopping);
        sender.send(Ok(7)).await.unwrap();
        assert_eq!(forwarded.next().await.unwrap().unwrap(), 7);
        raise();
        let last = forwarded.next().await.unwrap().unwrap_err();
        assert_eq!(last.code(), tonic::Code::Unavailable);
        assert!(forwarded.next().await.is_none(), "nothing after the error");
        // The source is no longer read: its sender sees the stream gone.
        sender.closed().await;
    }

    #[tokio::test]
    async fn a_stream_ends_after_its_first_error() {
        let (stopping, _raise) = ShutdownSignal::new();
        let (sender, receiver) = mpsc::channel::<Result<u32, Status>>(4);
        let mut forwarded = until_shutdown(ReceiverStream::new(receiver), stopping);
        sender.send(Err(Status::internal("broken"))).await.unwrap();
        sender.send(Ok(1)).await.unwrap();
        assert_eq!(
            forwarded.next().await.unwrap().unwrap_err().code(),
            tonic::Code::Internal
        );
        assert!(forwarded.next().await.is_none());
    }
}
