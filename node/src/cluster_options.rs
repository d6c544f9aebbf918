//! What every node of a deployment must agree on, as flags: where the shared
//! state is (Redis), how to reach it (TLS, an ACL user and its password), under
//! which key namespace, and how many shards there are. Both roles flatten
//! [`ClusterOptions`] into their configuration.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::redis_connection::{RedisAccess, RedisConnection, redact_url};

/// The longest `--redis-namespace`, in bytes: it starts every key.
pub const MAX_NAMESPACE_BYTES: usize = 64;

/// Whether `namespace` may start key names: 1 to [`MAX_NAMESPACE_BYTES`] of
/// `A-Z a-z 0-9 . _ -`. Key names are read by their `{`, `}` and `:` (the shop's
/// hash tag, the separators; see the worker's `store/keys.rs`): a namespace
/// holding one could name another deployment's keys or move the hash tag.
pub fn namespace_is_safe(namespace: &str) -> bool {
    (1..=MAX_NAMESPACE_BYTES).contains(&namespace.len())
        && namespace
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// What every node of a deployment must agree on: where the shared state is,
/// under which key namespace, and how many shards there are. Shared by the
/// worker's and the dispatcher's configuration.
#[derive(Debug, clap::Args)]
pub struct ClusterOptions {
    /// Redis holding the shared state: one URL, or several comma-separated seed
    /// nodes of a Redis Cluster; `rediss://` for TLS, `redis[s]://USER@HOST:PORT`
    /// for an ACL user. Without it, a worker keeps its state in memory and a
    /// dispatcher forwards to --worker-url.
    #[arg(long, env = "FENLIU_REDIS_URL", value_delimiter = ',')]
    pub redis_url: Vec<String>,
    /// A file whose content (trimmed) is the password of the ACL user named in
    /// --redis-url (or of `default`); wins over a password in the URL. Re-read
    /// when it changes: new connections use the new password.
    #[arg(long, env = "FENLIU_REDIS_PASSWORD_FILE")]
    pub redis_password_file: Option<PathBuf>,
    /// PEM bundle of the CAs that sign the Redis servers' certificates
    /// (`rediss://` URLs). Unset: the system's roots. Re-read when it changes.
    #[arg(long, env = "FENLIU_REDIS_CA")]
    pub redis_ca: Option<PathBuf>,
    /// PEM client certificate (chain) for a Redis that asks for one
    /// (`tls-auth-clients`), with --redis-client-key. Re-read when it changes.
    #[arg(long, env = "FENLIU_REDIS_CLIENT_CERT")]
    pub redis_client_cert: Option<PathBuf>,
    /// The private key (PEM) of --redis-client-cert. Re-read when it changes.
    #[arg(long, env = "FENLIU_REDIS_CLIENT_KEY")]
    pub redis_client_key: Option<PathBuf>,
    /// First part of every Redis key, so that several deployments can share a
    /// Redis; every node of one deployment must use the same. 1 to 64 of
    /// `A-Z a-z 0-9 . _ -`.
    #[arg(long, env = "FENLIU_REDIS_NAMESPACE", default_value = "fenliu")]
    pub redis_namespace: String,
    /// How long a Redis call may take before it fails as UNAVAILABLE, in ms.
    #[arg(long, env = "FENLIU_REDIS_TIMEOUT_MS", default_value_t = 500)]
    pub redis_timeout_ms: u64,
    /// Number of virtual shards; must be the same on every node, for the life of
    /// the deployment.
    #[arg(long, env = "FENLIU_SHARDS", default_value_t = 1024)]
    pub shards: u32,
}

impl ClusterOptions {
    /// Refuses options that cannot work, naming the flag.
    pub fn check(&self) -> anyhow::Result<()> {
        if !(1..=65536).contains(&self.shards) {
            bail!(
                "--shards (FENLIU_SHARDS) must be between 1 and 65536, got {}",
                self.shards
            );
        }
        if self.redis_timeout_ms == 0 {
            bail!("--redis-timeout-ms (FENLIU_REDIS_TIMEOUT_MS) must be above 0");
        }
        if !namespace_is_safe(&self.redis_namespace) {
            bail!(
                "--redis-namespace (FENLIU_REDIS_NAMESPACE) must be 1 to {MAX_NAMESPACE_BYTES} of A-Z a-z 0-9 . _ -, got {:?}",
                self.redis_namespace
            );
        }
        for url in &self.redis_url {
            let shown = redact_url(url);
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                bail!(
                    "--redis-url (FENLIU_REDIS_URL): {shown:?} is not a redis:// or rediss:// URL"
                );
            }
            if url.contains("#insecure") {
                bail!(
                    "--redis-url (FENLIU_REDIS_URL): {shown:?} turns off the check of the server's certificate (#insecure); fenliu always checks it: give the CA with --redis-ca (FENLIU_REDIS_CA)"
                );
            }
        }
        if self.redis_url.is_empty() && self.redis_password_file.is_some() {
            bail!(
                "--redis-password-file (FENLIU_REDIS_PASSWORD_FILE) needs --redis-url (FENLIU_REDIS_URL)"
            );
        }
        if self.redis_client_cert.is_some() != self.redis_client_key.is_some() {
            bail!(
                "--redis-client-cert (FENLIU_REDIS_CLIENT_CERT) and --redis-client-key (FENLIU_REDIS_CLIENT_KEY) go together"
            );
        }
        let tls_files = self.redis_ca.is_some() || self.redis_client_cert.is_some();
        if tls_files
            && !self
                .redis_url
                .iter()
                .all(|url| url.starts_with("rediss://"))
        {
            bail!(
                "--redis-ca (FENLIU_REDIS_CA) and --redis-client-cert (FENLIU_REDIS_CLIENT_CERT) are for TLS: every --redis-url must be rediss://"
            );
        }
        Ok(())
    }

    /// The password and TLS files to reach Redis with.
    pub fn redis_access(&self) -> RedisAccess {
        RedisAccess {
            password_file: self.redis_password_file.clone(),
            ca_file: self.redis_ca.clone(),
            client_cert_file: self.redis_client_cert.clone(),
            client_key_file: self.redis_client_key.clone(),
            ..RedisAccess::default()
        }
    }

    /// Whether a Redis is configured (else: the embedded default).
    pub fn uses_redis(&self) -> bool {
        !self.redis_url.is_empty()
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    /// Connects to the configured Redis. A refusal at start (a wrong password,
    /// an unknown CA) stops the process with the reason, never the password.
    pub async fn connect(&self) -> anyhow::Result<RedisConnection> {
        RedisConnection::connect_with(&self.redis_url, self.redis_access(), self.redis_timeout())
            .await
            .with_context(|| {
                let shown: Vec<String> = self.redis_url.iter().map(|url| redact_url(url)).collect();
                format!("--redis-url {}: cannot connect", shown.join(","))
            })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        cluster: ClusterOptions,
    }

    fn parse(args: &[&str]) -> ClusterOptions {
        Cli::try_parse_from(std::iter::once("fenliu").chain(args.iter().copied()))
            .expect("flags parse")
            .cluster
    }

    #[test]
    fn the_default_namespace_and_the_safe_alphabet_are_accepted() {
        parse(&[]).check().unwrap();
        let longest = "n".repeat(MAX_NAMESPACE_BYTES);
        for namespace in ["fenliu", "t-123-4", "Prod_2.eu", longest.as_str()] {
            parse(&["--redis-namespace", namespace]).check().unwrap();
        }
    }

    #[test]
    fn redis_access_flags_that_cannot_work_are_refused_naming_the_flag_and_no_password() {
        for (args, flag) in [
            (
                &["--redis-password-file", "/p"][..],
                "--redis-password-file (FENLIU_REDIS_PASSWORD_FILE)",
            ),
            (
                &["--redis-url", "rediss://h:1", "--redis-client-cert", "/c"][..],
                "--redis-client-key (FENLIU_REDIS_CLIENT_KEY)",
            ),
            (
                &["--redis-url", "redis://u:hunter2@h:1", "--redis-ca", "/ca"][..],
                "--redis-ca (FENLIU_REDIS_CA)",
            ),
            (
                &["--redis-url", "rediss://u:hunter2@h:1/#insecure"][..],
                "--redis-url (FENLIU_REDIS_URL)",
            ),
            (
                &["--redis-url", "http://u:hunter2@h:1"][..],
                "--redis-url (FENLIU_REDIS_URL)",
            ),
        ] {
            let refused = parse(args).check().unwrap_err().to_string();
            assert!(refused.contains(flag), "{args:?}: {refused}");
            assert!(!refused.contains("hunter2"), "{args:?}: {refused}");
        }
        let tls = parse(&[
            "--redis-url",
            "rediss://fenliu@h:1",
            "--redis-ca",
            "/ca",
            "--redis-client-cert",
            "/c",
            "--redis-client-key",
            "/k",
            "--redis-password-file",
            "/p",
        ]);
        tls.check().unwrap();
        let access = tls.redis_access();
        assert_eq!(
            access.password_file.as_deref(),
            Some(std::path::Path::new("/p"))
        );
        assert_eq!(
            access.client_key_file.as_deref(),
            Some(std::path::Path::new("/k"))
        );
    }

    #[test]
    fn a_namespace_that_could_break_key_names_is_refused_naming_its_flag() {
        let too_long = "n".repeat(MAX_NAMESPACE_BYTES + 1);
        for namespace in [
            "",
            "a:b",
            "{meta}",
            "a}",
            "a{",
            "a b",
            "命名",
            too_long.as_str(),
        ] {
            let refused = parse(&["--redis-namespace", namespace])
                .check()
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("--redis-namespace (FENLIU_REDIS_NAMESPACE)"),
                "{namespace:?}: {refused}"
            );
        }
    }
}
