//! TLS on every gRPC hop. Off unless a node is given its identity (certificate,
//! key and the fleet's CA bundle); then:
//!
//! - callers → dispatcher: TLS with the node's certificate; a client certificate
//!   is verified when presented and required with `--tls-require-client-cert`;
//! - dispatcher → worker (the link and `WatchShop`): mutual TLS. The worker
//!   accepts only client certificates signed by the fleet CA, so a caller that is
//!   not a dispatcher cannot even finish the handshake, let alone forward a
//!   principal; the dispatcher checks the worker's certificate against the CA
//!   and `--tls-worker-name`.
//!
//! Certificate, key and CA files are read again when they change ([`identity`]);
//! new connections use the new ones, and servers close connections after
//! `--tls-max-connection-age-ms` (gracefully) so that long-lived HTTP/2
//! connections pick them up too.
//!
//! - [`identity`]: the files, and the rustls configurations built from them.
//! - [`acceptor`]: serving TLS on a bound listener.
//! - [`connector`]: a dispatcher's connections to workers.
//! - [`generate`]: throwaway certificates (`fenliu tls gen`, tests).

pub mod acceptor;
pub mod connector;
pub mod generate;
pub mod identity;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use self::identity::{NodeTls, TlsFiles};

/// The name workers' certificates carry unless configured otherwise.
pub const DEFAULT_WORKER_NAME: &str = "fenliu-worker";

/// TLS flags, the same for both roles.
#[derive(Debug, Clone, clap::Args)]
pub struct TlsOptions {
    /// This node's certificate chain (PEM). With --tls-key and --tls-ca, every
    /// gRPC hop is TLS; without them, plaintext (the embedded default).
    #[arg(long, env = "FENLIU_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// This node's private key (PEM).
    #[arg(long, env = "FENLIU_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The fleet's CA bundle (PEM): what workers and dispatchers verify each
    /// other's certificates (and callers' client certificates) against.
    #[arg(long, env = "FENLIU_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Dispatcher: callers must present a client certificate signed by the CA.
    #[arg(long, env = "FENLIU_TLS_REQUIRE_CLIENT_CERT")]
    pub tls_require_client_cert: bool,
    /// Dispatcher: the name workers' certificates must carry (workers are
    /// dialled by pod IP, which their certificates do not name).
    #[arg(long, env = "FENLIU_TLS_WORKER_NAME", default_value = DEFAULT_WORKER_NAME)]
    pub tls_worker_name: String,
    /// With TLS: connections are closed (gracefully) after this long, so that
    /// rotated certificates reach long-lived connections too, in ms.
    #[arg(
        long,
        env = "FENLIU_TLS_MAX_CONNECTION_AGE_MS",
        default_value_t = 600_000
    )]
    pub tls_max_connection_age_ms: u64,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            tls_require_client_cert: false,
            tls_worker_name: DEFAULT_WORKER_NAME.to_owned(),
            tls_max_connection_age_ms: 600_000,
        }
    }
}

/// A node's TLS: its identity and how long a connection may live.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The certificates, kept in step with their files.
    pub identity: Arc<NodeTls>,
    /// Connections older than this are closed gracefully.
    pub max_connection_age: Duration,
}

impl Tls {
    /// How long a dispatcher keeps one link stream to a worker: half the
    /// connection age, so that the link moves to a fresh connection (and fresh
    /// certificates) before the worker closes the old one.
    pub fn link_max_age(&self) -> Duration {
        self.max_connection_age / 2
    }

    /// How long a closed connection's calls in flight may take to finish.
    pub fn connection_age_grace(&self) -> Duration {
        self.max_connection_age / 2
    }
}

impl TlsOptions {
    /// The TLS these options configure (`None`: plaintext), or why they cannot
    /// work, naming the flag.
    pub fn tls(&self) -> anyhow::Result<Option<Tls>> {
        let files = (&self.tls_cert, &self.tls_key, &self.tls_ca);
        let (cert, key, ca) = match files {
            (None, None, None) => return Ok(None),
            (Some(cert), Some(key), Some(ca)) => (cert, key, ca),
            _ => bail!(
                "--tls-cert, --tls-key and --tls-ca (FENLIU_TLS_CERT, FENLIU_TLS_KEY, FENLIU_TLS_CA) go together"
            ),
        };
        if self.tls_max_connection_age_ms < 1000 {
            bail!(
                "--tls-max-connection-age-ms (FENLIU_TLS_MAX_CONNECTION_AGE_MS) must be at least 1000"
            );
        }
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            ca: ca.clone(),
        };
        let identity = NodeTls::open(files, self.tls_require_client_cert, &self.tls_worker_name)?;
        Ok(Some(Tls {
            identity: Arc::new(identity),
            max_connection_age: Duration::from_millis(self.tls_max_connection_age_ms),
        }))
    }

    /// Says at start-up whether the node speaks TLS.
    pub fn log_mode(&self, role: &str) {
        match &self.tls_cert {
            Some(cert) => tracing::info!(role, cert = %cert.display(), "TLS on every gRPC hop"),
            None => tracing::info!(
                role,
                "TLS off: plaintext gRPC (no --tls-cert, --tls-key, --tls-ca)"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
