//! A node's TLS identity: its certificate chain and key, and the fleet's CA, from
//! PEM files that are read again when they change (at most once a second, when a
//! connection is made), so that certificates rotate without a restart. From them
//! come the three rustls configurations a node uses: serving its peers (client
//! certificate required: a worker, whose callers are dispatchers), serving
//! callers (client certificate optional unless required: a dispatcher), and
//! calling a peer (presenting its own certificate: a dispatcher to a worker).
//! A set of files that does not load keeps the configurations last built, with a
//! warning: a bad deploy of a certificate must not stop every connection.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// How often the files are looked at, when connections are made.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Who connects to a server, which decides whether a client certificate is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callers {
    /// The fleet only (a worker): a certificate signed by the fleet CA is required.
    Peers,
    /// Anyone (a dispatcher): a client certificate is verified when presented and
    /// required only if configured so.
    Anyone,
}

/// The PEM files of a node's identity.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The node's certificate chain.
    pub cert: PathBuf,
    /// The node's private key.
    pub key: PathBuf,
    /// The fleet's CA bundle: what peers' certificates are verified against.
    pub ca: PathBuf,
}

/// The configurations built from one version of the files.
struct Configs {
    /// The files' bytes they were built from, to tell a change.
    bytes: [Vec<u8>; 3],
    /// Serving the fleet: client certificate required.
    serve_peers: Arc<ServerConfig>,
    /// Serving callers: client certificate optional (or required).
    serve_callers: Arc<ServerConfig>,
    /// Calling a peer with this node's certificate.
    call_peers: Arc<ClientConfig>,
}

/// A node's TLS identity, kept in step with its files.
pub struct NodeTls {
    /// Where the identity is read from.
    files: TlsFiles,
    /// Whether callers of a dispatcher must present a certificate.
    require_client_cert: bool,
    /// The name a worker's certificate must carry: workers are dialled by pod
    /// IP, so their certificates are checked against a configured name.
    worker_name: ServerName<'static>,
    /// The configurations in force.
    configs: RwLock<Arc<Configs>>,
    /// When the files were last looked at.
    last_check: Mutex<Instant>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTls")
            .field("files", &self.files)
            .field("require_client_cert", &self.require_client_cert)
            .field("worker_name", &self.worker_name)
            .finish_non_exhaustive()
    }
}

/// The one cryptography rustls uses in fenliu (no C toolchain needed).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{flag} {}", path.display()))
}

impl NodeTls {
    /// Reads the files; a node does not start with an identity it cannot use.
    pub fn open(
        files: TlsFiles,
        require_client_cert: bool,
        worker_name: &str,
    ) -> anyhow::Result<NodeTls> {
        let worker_name = ServerName::try_from(worker_name.to_owned())
            .map_err(|_| anyhow!("--tls-worker-name {worker_name:?} is not a DNS name"))?;
        let bytes = [
            read(&files.cert, "--tls-cert")?,
            read(&files.key, "--tls-key")?,
            read(&files.ca, "--tls-ca")?,
        ];
        let configs = build(bytes, require_client_cert)?;
        Ok(NodeTls {
            files,
            require_client_cert,
            worker_name,
            configs: RwLock::new(Arc::new(configs)),
            last_check: Mutex::new(Instant::now()),
        })
    }

    /// The configuration to serve `callers` with now.
    pub fn server_config(&self, callers: Callers) -> Arc<ServerConfig> {
        let configs = self.current();
        match callers {
            Callers::Peers => configs.serve_peers.clone(),
            Callers::Anyone => configs.serve_callers.clone(),
        }
    }

    /// The configuration to call a peer with now.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.current().call_peers.clone()
    }

    /// The name a worker's certificate must carry.
    pub fn worker_name(&self) -> ServerName<'static> {
        self.worker_name.clone()
    }

    fn current(&self) -> Arc<Configs> {
        self.reload_if_changed();
        self.configs.read().expect("tls lock").clone()
    }

    fn reload_if_changed(&self) {
        {
            let Ok(mut last_check) = self.last_check.try_lock() else {
                return;
            };
            if last_check.elapsed() < CHECK_INTERVAL {
                return;
            }
            *last_check = Instant::now();
        }
        let read_all = || -> anyhow::Result<[Vec<u8>; 3]> {
            Ok([
                read(&self.files.cert, "--tls-cert")?,
                read(&self.files.key, "--tls-key")?,
                read(&self.files.ca, "--tls-ca")?,
            ])
        };
        let bytes = match read_all() {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "cannot read the TLS files; keeping the certificates last read");
                return;
            }
        };
        if self.configs.read().expect("tls lock").bytes == bytes {
            return;
        }
        match build(bytes, self.require_client_cert) {
            Ok(configs) => {
                tracing::info!(cert = %self.files.cert.display(), "TLS files changed: new connections use the new certificates");
                *self.configs.write().expect("tls lock") = Arc::new(configs);
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "the TLS files no longer load; keeping the certificates last read");
            }
        }
    }
}

/// Builds the three configurations from the files' bytes (cert, key, CA).
fn build(bytes: [Vec<u8>; 3], require_client_cert: bool) -> anyhow::Result<Configs> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes[0])
        .collect::<Result<_, _>>()
        .context("--tls-cert: not PEM certificates")?;
    if chain.is_empty() {
        anyhow::bail!("--tls-cert: no certificate in the file");
    }
    let key =
        PrivateKeyDer::from_pem_slice(&bytes[1]).context("--tls-key: not a PEM private key")?;
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&bytes[2]) {
        roots
            .add(ca.context("--tls-ca: not PEM certificates")?)
            .context("--tls-ca: a certificate is not a usable CA")?;
    }
    if roots.is_empty() {
        anyhow::bail!("--tls-ca: no certificate in the file");
    }
    let roots = Arc::new(roots);
    let provider = crypto_provider();
    let required = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .context("--tls-ca")?;
    let optional = if require_client_cert {
        required.clone()
    } else {
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .allow_unauthenticated()
            .build()
            .context("--tls-ca")?
    };
    let server = |verifier| -> anyhow::Result<Arc<ServerConfig>> {
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .context("--tls-cert/--tls-key: the key is not the certificate's")?;
        // gRPC speaks HTTP/2 only, and clients such as grpcurl insist on ALPN.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    };
    let mut client = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots.clone())
        .with_client_auth_cert(chain.clone(), key.clone_key())
        .context("--tls-cert/--tls-key")?;
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Configs {
        serve_peers: server(required)?,
        serve_callers: server(optional)?,
        call_peers: Arc::new(client),
        bytes,
    })
}
