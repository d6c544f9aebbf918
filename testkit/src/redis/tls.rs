//! [`RedisTls`]: how a TLS-only redis-server (`--port 0 --tls-port PORT`) is set
//! up — the certificate it serves, the CAs it trusts for client certificates,
//! whether it asks clients for one — and what the test's own connections to it
//! show.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::resp::Transport;
use crate::tls::{CertFiles, TestCa, copy_file};

/// Whether a TLS redis-server asks clients for a certificate
/// (`--tls-auth-clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCerts {
    /// Clients are not asked (`no`).
    No,
    /// A client may show one, verified if shown (`optional`).
    Optional,
    /// Every client must show one signed by a trusted CA (`yes`).
    Required,
}

impl ClientCerts {
    fn arg(self) -> &'static str {
        match self {
            ClientCerts::No => "no",
            ClientCerts::Optional => "optional",
            ClientCerts::Required => "yes",
        }
    }
}

/// How a TLS-only redis-server is set up. A server copies these files into a
/// dir of its own when it starts, so a test can rotate them
/// ([`RedisServer::rotate_tls`](super::RedisServer::rotate_tls)) without
/// touching its CAs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTls {
    /// The CAs the server trusts for client certificates
    /// (`--tls-ca-cert-file`), and that the test's own connections trust for
    /// the server's certificate.
    pub ca_file: PathBuf,
    /// The server's certificate and key (`--tls-cert-file`, `--tls-key-file`).
    pub server: CertFiles,
    /// Whether clients are asked for a certificate.
    pub client_certs: ClientCerts,
    /// The certificate the test's own connections (and `redis-cli`) show.
    pub admin_client: CertFiles,
}

impl RedisTls {
    /// A server certificate and an admin client certificate issued by `ca`
    /// (named `redis-server` and `redis-admin`), the server trusting `ca`.
    pub fn issued_by(ca: &TestCa, client_certs: ClientCerts) -> anyhow::Result<RedisTls> {
        Ok(RedisTls {
            ca_file: ca.ca_file(),
            server: ca.issue("redis-server")?,
            client_certs,
            admin_client: ca.issue("redis-admin")?,
        })
    }

    /// The same setup with its files copied into `dir` (created if missing).
    pub(super) fn copied_into(&self, dir: &Path) -> anyhow::Result<RedisTls> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let copy = RedisTls {
            ca_file: dir.join("ca.pem"),
            server: CertFiles {
                cert: dir.join("server.pem"),
                key: dir.join("server.key"),
            },
            client_certs: self.client_certs,
            admin_client: CertFiles {
                cert: dir.join("admin.pem"),
                key: dir.join("admin.key"),
            },
        };
        self.copy_over(&copy)?;
        Ok(copy)
    }

    /// Copies this setup's files over `to`'s.
    pub(super) fn copy_over(&self, to: &RedisTls) -> anyhow::Result<()> {
        copy_file(&self.ca_file, &to.ca_file)?;
        self.server.copy_over(&to.server)?;
        self.admin_client.copy_over(&to.admin_client)
    }

    /// The `redis-server` arguments: TLS only on `port`, and on the cluster bus
    /// of a cluster node.
    pub(super) fn server_args(&self, port: u16, cluster: bool) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            path_arg(&self.server.cert),
            "--tls-key-file".into(),
            path_arg(&self.server.key),
            "--tls-ca-cert-file".into(),
            path_arg(&self.ca_file),
            "--tls-auth-clients".into(),
            self.client_certs.arg().into(),
        ];
        if cluster {
            args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from));
        }
        args
    }

    /// The `redis-cli` arguments that connect with TLS as the admin.
    pub(super) fn cli_args(&self) -> Vec<String> {
        vec![
            "--tls".into(),
            "--cacert".into(),
            path_arg(&self.ca_file),
            "--cert".into(),
            path_arg(&self.admin_client.cert),
            "--key".into(),
            path_arg(&self.admin_client.key),
        ]
    }

    /// How the test's own connections reach the server.
    pub fn transport(&self) -> Transport {
        Transport::Tls {
            ca_file: self.ca_file.clone(),
            client: Some(self.admin_client.clone()),
        }
    }
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::{RedisCluster, RedisServer};
    use crate::resp::command_via;

    #[test]
    fn a_tls_server_speaks_only_tls_and_rotates_its_certificates() {
        let first = TestCa::new("first CA").unwrap();
        let redis =
            RedisServer::start_tls(&RedisTls::issued_by(&first, ClientCerts::Required).unwrap())
                .unwrap();
        assert_eq!(redis.url(), format!("rediss://127.0.0.1:{}/", redis.port()));
        assert_eq!(redis.command(&["PING"]).unwrap(), "PONG");
        assert!(
            crate::resp::command(redis.port(), &["PING"]).is_err(),
            "plain TCP answered on the TLS port"
        );
        let no_client_cert = Transport::Tls {
            ca_file: first.ca_file(),
            client: None,
        };
        assert!(command_via(&no_client_cert, redis.port(), &["PING"]).is_err());

        let second = TestCa::new("second CA").unwrap();
        redis
            .rotate_tls(&RedisTls::issued_by(&second, ClientCerts::Required).unwrap())
            .unwrap();
        let old = Transport::Tls {
            ca_file: first.ca_file(),
            client: Some(first.issue("old-client").unwrap()),
        };
        assert!(
            command_via(&old, redis.port(), &["PING"]).is_err(),
            "the old CA still verifies the rotated server"
        );
        assert_eq!(redis.command(&["PING"]).unwrap(), "PONG");
    }

    #[test]
    fn a_tls_cluster_routes_commands() {
        let ca = TestCa::new("cluster CA").unwrap();
        let tls = RedisTls::issued_by(&ca, ClientCerts::Optional).unwrap();
        let cluster = RedisCluster::start_tls(3, &tls).unwrap();
        assert!(
            cluster
                .urls()
                .iter()
                .all(|url| url.starts_with("rediss://"))
        );
        for i in 0..10 {
            let key = format!("k{i}");
            assert_eq!(cluster.command(&["SET", &key, "v"]).unwrap(), "OK");
            assert_eq!(cluster.command(&["GET", &key]).unwrap(), "v");
        }
    }
}
