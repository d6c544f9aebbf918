//! A raw TLS handshake with a node, to read the certificate it presents (what a
//! client sees on a new connection).

use std::net::SocketAddr;
use std::sync::Arc;

use fenliu_node::tls::generate::PemPair;
use fenliu_node::tls::identity::crypto_provider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The DER of the (first) certificate in `pem`.
pub fn der_of(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("a PEM certificate")
        .to_vec()
}

/// The certificate the node at `address` presents to a new connection, trusting
/// the CAs of `ca_bundle` and presenting `identity` (a worker wants one).
pub async fn presented_certificate(
    address: SocketAddr,
    ca_bundle: &str,
    identity: &PemPair,
) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_bundle.as_bytes()) {
        roots.add(ca.expect("a CA")).expect("a usable CA");
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("a certificate");
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).expect("a key");
    let config = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("a client identity");
    let tcp = TcpStream::connect(address).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("a name");
    let stream = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("a handshake");
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("a certificate")[0]
        .to_vec()
}
