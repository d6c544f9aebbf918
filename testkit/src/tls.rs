//! Throwaway TLS material for tests: a certificate authority of a test's own
//! ([`TestCa`]) and the certificates it signs for `127.0.0.1`, as PEM files that
//! a test can hand to redis-server and to fenliu, and overwrite to rotate them.
//! Also the rustls client configuration the test's own Redis connections use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::files::unique_temp_dir;

/// A certificate and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PKCS#8 PEM).
    pub key: PathBuf,
}

impl CertFiles {
    /// Copies this certificate and key over `to`'s files (a rotation in place:
    /// the paths a server or client was given stay the same).
    pub fn copy_over(&self, to: &CertFiles) -> anyhow::Result<()> {
        copy_file(&self.cert, &to.cert)?;
        copy_file(&self.key, &to.key)
    }
}

/// Copies `from` over `to` through a temp file and a rename, as a secret
/// rotation does (a reader never sees half a file).
pub fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    write_file(to, &bytes)
}

/// Writes `to` through a temp file beside it and a rename.
pub fn write_file(to: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let staged = to.with_extension("staged");
    std::fs::write(&staged, bytes).with_context(|| format!("writing {}", staged.display()))?;
    std::fs::rename(&staged, to).with_context(|| format!("renaming onto {}", to.display()))
}

/// A certificate authority that lives as long as the test: its certificate at
/// [`TestCa::ca_file`] and the certificates it issued, in a temp dir of its own
/// (removed on drop). Keys are ECDSA P-256, made with ring.
pub struct TestCa {
    /// Signs what [`TestCa::issue`] makes.
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Holds `ca.pem` and every issued certificate and key.
    dir: PathBuf,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").field("dir", &self.dir).finish()
    }
}

impl TestCa {
    /// Makes a new CA named `name`, and writes its certificate to `ca.pem`.
    pub fn new(name: &str) -> anyhow::Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        let dir = unique_temp_dir("tls").context("creating a temp dir for certificates")?;
        let ca = TestCa { issuer, dir };
        std::fs::write(ca.ca_file(), ca.issuer.pem())?;
        Ok(ca)
    }

    /// The CA's certificate (PEM): what a client or server trusts.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The dir holding the CA's files (for files a test adds beside them).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Issues a certificate named `name` for `127.0.0.1` and `localhost`, good
    /// for a server and for a client (Redis Cluster nodes show their server
    /// certificate as a client on the cluster bus), written to `<name>.pem` and
    /// `<name>.key`.
    pub fn issue(&self, name: &str) -> anyhow::Result<CertFiles> {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let files = CertFiles {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, cert.pem())?;
        std::fs::write(&files.key, key.serialize_pem())?;
        Ok(files)
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A rustls client configuration on ring that trusts the CAs in `ca_file` and,
/// with `client`, shows that certificate. Read from the files at each call, so
/// that a connection made after a rotation uses the rotated files.
pub fn client_config(
    ca_file: &Path,
    client: Option<&CertFiles>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .with_context(|| format!("reading CA file {}", ca_file.display()))?
    {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(files) => {
            let chain =
                CertificateDer::pem_file_iter(&files.cert)?.collect::<Result<Vec<_>, _>>()?;
            let key = PrivateKeyDer::from_pem_file(&files.key)?;
            builder.with_client_auth_cert(chain, key)?
        }
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_verify_against_their_ca_only() {
        let ca = TestCa::new("test CA").unwrap();
        let other = TestCa::new("another CA").unwrap();
        let server = ca.issue("server").unwrap();
        let chain: Vec<_> = CertificateDer::pem_file_iter(&server.cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let verify = |ca_file: &Path| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca_file).unwrap() {
                roots.add(cert.unwrap()).unwrap();
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            rustls::client::danger::ServerCertVerifier::verify_server_cert(
                verifier.as_ref(),
                &chain[0],
                &[],
                &name,
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .is_ok()
        };
        assert!(verify(&ca.ca_file()));
        assert!(!verify(&other.ca_file()));
        client_config(&ca.ca_file(), Some(&server)).unwrap();
        let dir = ca.dir().to_path_buf();
        drop(ca);
        assert!(!dir.exists());
    }
}
