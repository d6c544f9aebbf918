//! Handshakes between real sockets on loopback, with throwaway certificates:
//! who gets in, who does not, and certificates rotated by rewriting the files.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_stream::StreamExt;
use tower_service::Service;

use super::acceptor::tls_incoming;
use super::connector::WorkerConnector;
use super::generate::{PemPair, TestCa};
use super::identity::{Callers, NodeTls, TlsFiles, crypto_provider};
use super::*;

/// Writes a node identity (its pair, and `ca` as the fleet CA) into `dir`.
fn write_identity(dir: &Path, pair: &PemPair, ca: &TestCa) -> TlsFiles {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("node.pem"), &pair.cert_pem).unwrap();
    std::fs::write(dir.join("node-key.pem"), &pair.key_pem).unwrap();
    std::fs::write(dir.join("ca.pem"), &ca.pair.cert_pem).unwrap();
    TlsFiles {
        cert: dir.join("node.pem"),
        key: dir.join("node-key.pem"),
        ca: dir.join("ca.pem"),
    }
}

fn temp_dir(label: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "fenliu-tls-{label}-{}-{}",
        std::process::id(),
        rand_core::RngCore::next_u64(&mut rand_core::OsRng)
    ))
}

/// A node identity signed by `ca`, named as a worker and for loopback.
fn identity(label: &str, ca: &TestCa) -> Arc<NodeTls> {
    let pair = ca.issue(&[DEFAULT_WORKER_NAME, "127.0.0.1"]).unwrap();
    let files = write_identity(&temp_dir(label), &pair, ca);
    Arc::new(NodeTls::open(files, false, DEFAULT_WORKER_NAME).unwrap())
}

/// A server on loopback taking TLS connections from `callers`; the number of
/// handshakes it completed is read from the returned stream.
async fn serve(
    tls: Arc<NodeTls>,
    callers: Callers,
) -> (
    std::net::SocketAddr,
    tokio_stream::wrappers::ReceiverStream<
        std::io::Result<tokio_rustls::server::TlsStream<TcpStream>>,
    >,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    (address, tls_incoming(listener, tls, callers))
}

/// A client handshake with `config`, naming the server `name`.
async fn connect_with(
    address: std::net::SocketAddr,
    config: rustls::ClientConfig,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// A client that trusts `ca` and presents no certificate.
fn anonymous_client(ca: &TestCa) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca.pair.cert_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

use rustls_pki_types::pem::PemObject;

#[tokio::test]
async fn a_peer_with_a_fleet_certificate_gets_in_and_anyone_else_is_refused_at_the_handshake() {
    let fleet = TestCa::generate("fleet").unwrap();
    let stranger_ca = TestCa::generate("stranger").unwrap();
    let worker = identity("worker", &fleet);
    let (address, mut accepted) = serve(worker, Callers::Peers).await;

    // A dispatcher of the fleet: its connector presents its certificate.
    let dispatcher = identity("dispatcher", &fleet);
    let uri: tonic::codegen::http::Uri = format!("http://{address}").parse().unwrap();
    WorkerConnector::new(dispatcher)
        .call(uri.clone())
        .await
        .unwrap();
    assert!(accepted.next().await.unwrap().is_ok(), "handshake done");

    // No client certificate, or one of another CA: refused at the handshake.
    let anonymous = connect_with(address, anonymous_client(&fleet), DEFAULT_WORKER_NAME).await;
    let refused_anonymous = match anonymous {
        // TLS 1.3 reports the server's refusal on the first read.
        Ok(mut stream) => {
            use tokio::io::AsyncReadExt;
            stream.read(&mut [0u8; 1]).await.is_err()
        }
        Err(_) => true,
    };
    assert!(refused_anonymous, "a client without a certificate got in");
    let outsider = identity("outsider", &stranger_ca);
    let outsider_client = (*outsider.client_config()).clone();
    let outsider_attempt = connect_with(address, outsider_client, DEFAULT_WORKER_NAME).await;
    assert!(
        outsider_attempt.is_err(),
        "it does not even trust the worker"
    );
    // A plaintext client: not TLS at all.
    let mut plaintext = TcpStream::connect(address).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    plaintext
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 64];
    let read = plaintext.read(&mut buffer).await.unwrap_or(0);
    assert!(
        read == 0 || buffer[0] == 0x15,
        "a plaintext client is answered by a closed connection or a TLS alert"
    );
    let more = tokio::time::timeout(std::time::Duration::from_millis(200), accepted.next()).await;
    assert!(more.is_err(), "no refused connection reached the server");
}

#[tokio::test]
async fn callers_of_a_dispatcher_need_no_certificate_unless_it_is_required() {
    let fleet = TestCa::generate("fleet").unwrap();
    let dispatcher = identity("dispatcher", &fleet);
    let (address, mut accepted) = serve(dispatcher.clone(), Callers::Anyone).await;
    connect_with(address, anonymous_client(&fleet), DEFAULT_WORKER_NAME)
        .await
        .unwrap();
    assert!(accepted.next().await.unwrap().is_ok());
    // A client that trusts another CA does not trust the dispatcher.
    let other = TestCa::generate("other").unwrap();
    assert!(
        connect_with(address, anonymous_client(&other), DEFAULT_WORKER_NAME)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_worker_whose_certificate_lacks_the_configured_name_is_not_trusted() {
    let fleet = TestCa::generate("fleet").unwrap();
    let pair = fleet.issue(&["some-other-service"]).unwrap();
    let files = write_identity(&temp_dir("misnamed"), &pair, &fleet);
    let misnamed = Arc::new(NodeTls::open(files, false, DEFAULT_WORKER_NAME).unwrap());
    let (address, _accepted) = serve(misnamed, Callers::Peers).await;
    let dispatcher = identity("dispatcher", &fleet);
    let uri: tonic::codegen::http::Uri = format!("http://{address}").parse().unwrap();
    assert!(WorkerConnector::new(dispatcher).call(uri).await.is_err());
}

#[tokio::test]
async fn rewritten_files_are_used_from_the_next_connection_on() {
    let old_ca = TestCa::generate("old").unwrap();
    let new_ca = TestCa::generate("new").unwrap();
    let dir = temp_dir("rotating");
    let old_pair = old_ca.issue(&[DEFAULT_WORKER_NAME]).unwrap();
    let files = write_identity(&dir, &old_pair, &old_ca);
    let server = Arc::new(NodeTls::open(files, false, DEFAULT_WORKER_NAME).unwrap());
    let (address, _accepted) = serve(server, Callers::Anyone).await;
    let presented = |stream: &tokio_rustls::client::TlsStream<TcpStream>| {
        stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    };
    let first = connect_with(address, anonymous_client(&old_ca), DEFAULT_WORKER_NAME)
        .await
        .unwrap();
    let old_der = rustls_pki_types::CertificateDer::from_pem_slice(old_pair.cert_pem.as_bytes())
        .unwrap()
        .to_vec();
    assert_eq!(presented(&first), old_der);
    // Rotate: a certificate of a new CA, and the new CA bundle.
    let new_pair = new_ca.issue(&[DEFAULT_WORKER_NAME]).unwrap();
    write_identity(&dir, &new_pair, &new_ca);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = connect_with(address, anonymous_client(&new_ca), DEFAULT_WORKER_NAME)
        .await
        .unwrap();
    let new_der = rustls_pki_types::CertificateDer::from_pem_slice(new_pair.cert_pem.as_bytes())
        .unwrap()
        .to_vec();
    assert_eq!(
        presented(&second),
        new_der,
        "the new certificate is presented"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_three_files_go_together_and_a_bad_one_names_its_flag() {
    assert!(
        TlsOptions::default().tls().unwrap().is_none(),
        "off by default"
    );
    let partial = TlsOptions {
        tls_cert: Some("/x/node.pem".into()),
        ..TlsOptions::default()
    };
    let refused = partial.tls().unwrap_err().to_string();
    assert!(refused.contains("go together"), "{refused}");
    let missing = TlsOptions {
        tls_cert: Some("/nonexistent/node.pem".into()),
        tls_key: Some("/nonexistent/key.pem".into()),
        tls_ca: Some("/nonexistent/ca.pem".into()),
        ..TlsOptions::default()
    };
    let refused = format!("{:#}", missing.tls().unwrap_err());
    assert!(
        refused.contains("--tls-cert /nonexistent/node.pem"),
        "{refused}"
    );
    let fleet = TestCa::generate("fleet").unwrap();
    let pair = fleet.issue(&["n"]).unwrap();
    let dir = temp_dir("mismatch");
    let mut files = write_identity(&dir, &pair, &fleet);
    // A key that is not the certificate's.
    let other = fleet.issue(&["n"]).unwrap();
    std::fs::write(&files.key, &other.key_pem).unwrap();
    files.key = dir.join("node-key.pem");
    let refused = format!("{:#}", NodeTls::open(files, false, "n").unwrap_err());
    assert!(refused.contains("--tls-key"), "{refused}");
    std::fs::remove_dir_all(&dir).unwrap();
}
