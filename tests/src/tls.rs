//! TLS for test deployments: a throwaway fleet CA and one node certificate (for
//! every node: named as a worker, `localhost` and `127.0.0.1`), written to a
//! directory of the test's own, and clients that trust that CA.

use std::path::PathBuf;
use std::sync::Arc;

use fenliu_node::tls::generate::{PemPair, TestCa};
use fenliu_node::tls::{DEFAULT_WORKER_NAME, Tls, TlsOptions};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A fleet CA and the node identity every test node uses, on disk.
#[derive(Debug)]
pub struct TestTls {
    /// The fleet CA (kept to issue more certificates, e.g. for a rotation).
    pub ca: TestCa,
    /// A directory of the test's own holding `node.pem`, `node-key.pem`, `ca.pem`.
    pub dir: PathBuf,
    /// How long a node keeps a connection before closing it gracefully.
    pub max_connection_age_ms: u64,
}

/// The names every test node's certificate carries.
pub const TEST_NODE_NAMES: [&str; 3] = [DEFAULT_WORKER_NAME, "localhost", "127.0.0.1"];

impl TestTls {
    /// A fresh CA and node identity.
    pub fn new() -> TestTls {
        let ca = TestCa::generate("fenliu test fleet").expect("a CA");
        let dir = fenliu_testkit::unique_temp_dir("tls").expect("a temp dir");
        let tls = TestTls {
            ca,
            dir,
            max_connection_age_ms: 600_000,
        };
        let node = tls.ca.issue(&TEST_NODE_NAMES).expect("a node certificate");
        tls.install(&node, &tls.ca.pair.cert_pem);
        tls
    }

    /// Writes `node` and the CA bundle `ca_pem` as the nodes' files (what a
    /// rotation does).
    pub fn install(&self, node: &PemPair, ca_pem: &str) {
        std::fs::write(self.dir.join("node.pem"), &node.cert_pem).expect("write node.pem");
        std::fs::write(self.dir.join("node-key.pem"), &node.key_pem).expect("write the key");
        std::fs::write(self.dir.join("ca.pem"), ca_pem).expect("write ca.pem");
    }

    /// The options a node is started with.
    pub fn options(&self) -> TlsOptions {
        TlsOptions {
            tls_cert: Some(self.dir.join("node.pem")),
            tls_key: Some(self.dir.join("node-key.pem")),
            tls_ca: Some(self.dir.join("ca.pem")),
            tls_max_connection_age_ms: self.max_connection_age_ms,
            ..TlsOptions::default()
        }
    }

    /// A node's TLS (one per node, as each process has its own).
    pub fn tls(&self) -> Tls {
        self.options().tls().expect("TLS options").expect("TLS on")
    }

    /// A client that trusts the fleet CA (read now from `ca.pem`) and presents
    /// no certificate.
    pub fn client_config(&self) -> ClientTlsConfig {
        let ca = std::fs::read_to_string(self.dir.join("ca.pem")).expect("read ca.pem");
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca))
    }

    /// The node identity on disk now (what a dispatcher presents to workers).
    pub fn node_identity(&self) -> PemPair {
        PemPair {
            cert_pem: std::fs::read_to_string(self.dir.join("node.pem")).expect("read node.pem"),
            key_pem: std::fs::read_to_string(self.dir.join("node-key.pem")).expect("read the key"),
        }
    }

    /// A client that also presents `identity` (a certificate and key).
    pub fn client_config_with(&self, identity: &PemPair) -> ClientTlsConfig {
        self.client_config()
            .identity(Identity::from_pem(&identity.cert_pem, &identity.key_pem))
    }
}

impl Default for TestTls {
    fn default() -> Self {
        TestTls::new()
    }
}

impl Drop for TestTls {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Shared by the nodes of a deployment and its clients.
pub type SharedTls = Arc<TestTls>;
