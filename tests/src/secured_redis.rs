//! Redis as a production deployment should run it for fenliu: TLS only, client
//! certificates required, and fenliu connecting as an ACL user of its own with
//! exactly the rights the README's ACL rule gives ([`README_ACL_RULE`]), its
//! password in a file. [`SecuredRedis`] is one such redis-server;
//! [`SecuredCluster`] a Redis Cluster of them. Both hand out the
//! [`RedisAccess`] (password file, CA, client certificate) fenliu reaches them
//! with, and let a test rotate or revoke what fenliu holds.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use fenliu_node::redis_connection::RedisAccess;
use fenliu_testkit::tls::{copy_file, write_file};
use fenliu_testkit::{CertFiles, ClientCerts, RedisCluster, RedisServer, RedisTls, TestCa};

/// The ACL rule of fenliu's Redis user exactly as the README gives it (Security,
/// Redis), for the user `fenliu`, the password `PASSWORD` and the namespace
/// `fenliu`. A test checks that the README holds this very text, and every
/// secured Redis here creates its user from it.
pub const README_ACL_RULE: &str = "ACL SETUSER fenliu reset on >PASSWORD ~fenliu:* resetchannels -@all +evalsha +script|load +get +set +del +exists +incr +pttl +pexpire +hset +hdel +hgetall +sadd +srem +smembers +xadd +xrange +xrevrange +wait +ping +cluster|slots";

/// How often fenliu looks at its Redis files in tests (production: 2 s).
pub const TEST_REREAD_EVERY: Duration = Duration::from_millis(200);

/// The `ACL SETUSER` arguments of [`README_ACL_RULE`] for `user`, `password` and
/// `namespace`, without the rights in `without` (e.g. `+evalsha`: a user
/// lacking a command fenliu needs).
pub fn acl_setuser(user: &str, password: &str, namespace: &str, without: &[&str]) -> Vec<String> {
    README_ACL_RULE
        .split_whitespace()
        .enumerate()
        .filter(|(_, word)| !without.contains(word))
        .map(|(index, word)| match (index, word) {
            (2, _) => user.to_owned(),
            (_, ">PASSWORD") => format!(">{password}"),
            (_, "~fenliu:*") => format!("~{namespace}:*"),
            (_, word) => word.to_owned(),
        })
        .collect()
}

/// What fenliu holds to reach a secured Redis: its own copies of the CA, a
/// client certificate and the password file, in the CA's temp dir.
#[derive(Debug)]
pub struct FenliuFiles {
    /// The CA bundle fenliu checks Redis' certificate against.
    pub ca_file: PathBuf,
    /// fenliu's client certificate and key.
    pub client: CertFiles,
    /// The file holding the ACL user's password.
    pub password_file: PathBuf,
}

impl FenliuFiles {
    fn issued_by(ca: &TestCa, password: &str) -> anyhow::Result<FenliuFiles> {
        let files = FenliuFiles {
            ca_file: ca.dir().join("fenliu-ca.pem"),
            client: ca.issue("fenliu-client")?,
            password_file: ca.dir().join("fenliu-redis-password"),
        };
        copy_file(&ca.ca_file(), &files.ca_file)?;
        write_file(&files.password_file, format!("{password}\n").as_bytes())?;
        Ok(files)
    }

    /// What fenliu connects with: these files, looked at every
    /// [`TEST_REREAD_EVERY`].
    pub fn access(&self) -> RedisAccess {
        RedisAccess {
            password_file: Some(self.password_file.clone()),
            ca_file: Some(self.ca_file.clone()),
            client_cert_file: Some(self.client.cert.clone()),
            client_key_file: Some(self.client.key.clone()),
            reread_every: TEST_REREAD_EVERY,
        }
    }

    /// Writes `password` into the password file (a rotation in place).
    pub fn write_password(&self, password: &str) -> anyhow::Result<()> {
        write_file(&self.password_file, format!("{password}\n").as_bytes())
    }

    /// Replaces fenliu's CA bundle and client certificate with `ca`'s (a new
    /// client certificate issued by it), in place.
    pub fn rotate_to(&self, ca: &TestCa) -> anyhow::Result<()> {
        copy_file(&ca.ca_file(), &self.ca_file)?;
        ca.issue("fenliu-client-next")?.copy_over(&self.client)
    }
}

/// The user fenliu connects as.
pub const FENLIU_USER: &str = "fenliu";

/// A TLS-only redis-server that requires client certificates, with fenliu's
/// ACL user (per [`README_ACL_RULE`]) for one namespace.
#[derive(Debug)]
pub struct SecuredRedis {
    /// The server; the test's own commands go to it as `default` over TLS.
    pub server: RedisServer,
    /// What fenliu connects with.
    pub files: FenliuFiles,
    /// The namespace the user's keys are limited to.
    pub namespace: String,
    /// The CA of the server's and fenliu's certificates (its dir holds them).
    pub ca: TestCa,
}

impl SecuredRedis {
    /// Starts the server and creates fenliu's user for `namespace`.
    pub fn start(namespace: &str) -> anyhow::Result<SecuredRedis> {
        let ca = TestCa::new("fenliu test Redis CA")?;
        let server = RedisServer::start_tls(&RedisTls::issued_by(&ca, ClientCerts::Required)?)?;
        let password = "fenliu-first-password";
        let files = FenliuFiles::issued_by(&ca, password)?;
        let secured = SecuredRedis {
            server,
            files,
            namespace: namespace.to_owned(),
            ca,
        };
        secured.set_user(password, &[])?;
        Ok(secured)
    }

    /// fenliu's URL: `rediss://fenliu@127.0.0.1:PORT/` (the password is in the
    /// file).
    pub fn url(&self) -> String {
        format!("rediss://{FENLIU_USER}@127.0.0.1:{}/", self.server.port())
    }

    /// (Re)defines fenliu's user with `password` and the README's rights less
    /// `without`. Open connections keep their login and get the new rights.
    pub fn set_user(&self, password: &str, without: &[&str]) -> anyhow::Result<()> {
        let args = acl_setuser(FENLIU_USER, password, &self.namespace, without);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.server.command(&args).context("ACL SETUSER")?;
        Ok(())
    }

    /// Closes every connection of fenliu's user, as a Redis restart or a
    /// network cut would: fenliu must connect (and log in) again.
    pub fn disconnect_fenliu(&self) -> anyhow::Result<()> {
        self.server
            .command(&["CLIENT", "KILL", "USER", FENLIU_USER])
            .map(|_| ())
    }
}

/// A Redis Cluster of 3 TLS-only masters that require client certificates,
/// with fenliu's ACL user on every node, limited to nothing but the namespace
/// pattern given at start.
#[derive(Debug)]
pub struct SecuredCluster {
    /// The cluster; the test's own commands go to it as `default` over TLS.
    pub cluster: RedisCluster,
    /// What fenliu connects with.
    pub files: FenliuFiles,
    /// The CA of the nodes' and fenliu's certificates.
    pub ca: TestCa,
}

impl SecuredCluster {
    /// Starts the cluster; fenliu's user may use keys of namespaces that match
    /// `namespace_pattern` (e.g. `t-*`, for the per-test namespaces of a test
    /// binary sharing the cluster).
    pub fn start(namespace_pattern: &str) -> anyhow::Result<SecuredCluster> {
        let ca = TestCa::new("fenliu test Redis Cluster CA")?;
        let cluster =
            RedisCluster::start_tls(3, &RedisTls::issued_by(&ca, ClientCerts::Required)?)?;
        let password = "fenliu-cluster-password";
        let files = FenliuFiles::issued_by(&ca, password)?;
        let args = acl_setuser(FENLIU_USER, password, namespace_pattern, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        for node in cluster.nodes() {
            node.command(&args)
                .context("ACL SETUSER on a cluster node")?;
        }
        Ok(SecuredCluster { cluster, files, ca })
    }

    /// fenliu's seed URLs: `rediss://fenliu@127.0.0.1:PORT/` for each node.
    pub fn urls(&self) -> Vec<String> {
        self.cluster
            .ports()
            .iter()
            .map(|port| format!("rediss://{FENLIU_USER}@127.0.0.1:{port}/"))
            .collect()
    }
}
