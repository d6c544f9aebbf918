//! Calling a worker over mutual TLS: a connector for tonic's channels that makes
//! each new connection with the identity's configuration of the moment (so that
//! rotated certificates are used from the next connection on), presents this
//! node's certificate, and checks the worker's against the fleet CA and the
//! configured worker name (workers are dialled by pod IP, which no certificate
//! names).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::codegen::http::Uri;

use super::identity::NodeTls;

/// Makes TLS connections to workers, for `Endpoint::connect_with_connector`.
#[derive(Clone, Debug)]
pub struct WorkerConnector {
    /// This node's identity and the fleet CA.
    tls: Arc<NodeTls>,
}

impl WorkerConnector {
    pub fn new(tls: Arc<NodeTls>) -> WorkerConnector {
        WorkerConnector { tls }
    }
}

impl tower_service::Service<Uri> for WorkerConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            let connector = TlsConnector::from(tls.client_config());
            let stream = connector.connect(tls.worker_name(), tcp).await?;
            Ok(TokioIo::new(stream))
        })
    }
}
