//! How fenliu proves itself to Redis and checks Redis in turn: the ACL user's
//! password and the TLS files ([`RedisAccess`]), read into [`AccessMaterial`]
//! (again whenever they change), and URLs with their passwords hidden for every
//! log line and error ([`redact_url`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use redis::{ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsCertificates};

use super::failure::RedisFailure;

/// How often the files of a [`RedisAccess`] are looked at for a change.
pub const DEFAULT_REREAD_EVERY: Duration = Duration::from_secs(2);

/// Where the credentials and certificates for Redis come from: files that an
/// operator (or a secret store) can replace while fenliu runs. Connections made
/// after a change use the new content; nothing is read from the files per call.
#[derive(Clone, Debug)]
pub struct RedisAccess {
    /// A file whose content, trimmed, is the password of the ACL user named in
    /// the URL (or of `default`); wins over a password in the URL, which would
    /// otherwise sit in the process' arguments or environment.
    pub password_file: Option<PathBuf>,
    /// PEM bundle of the CAs that sign the Redis servers' certificates
    /// (`rediss://` only). Unset: the system's roots, as a managed Redis with a
    /// public certificate needs.
    pub ca_file: Option<PathBuf>,
    /// PEM certificate (chain) shown to a Redis with `tls-auth-clients`; with
    /// `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub client_key_file: Option<PathBuf>,
    /// How often the files are looked at for a change.
    pub reread_every: Duration,
}

impl Default for RedisAccess {
    fn default() -> Self {
        RedisAccess {
            password_file: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            reread_every: DEFAULT_REREAD_EVERY,
        }
    }
}

/// What the files of a [`RedisAccess`] held when last read: compared with a
/// fresh read to see whether anything changed. Never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct AccessMaterial {
    /// The password file's content, trimmed.
    password: Option<String>,
    /// The CA bundle (PEM).
    ca: Option<Vec<u8>>,
    /// The client certificate and key (PEM).
    client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for AccessMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessMaterial")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca", &self.ca.as_ref().map(Vec::len))
            .field("client", &self.client.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Reads `path`, the file of `flag`, naming both (never the content) on failure.
fn read_file(flag: &str, path: &Path) -> Result<Vec<u8>, RedisFailure> {
    std::fs::read(path).map_err(|error| {
        RedisFailure::Unavailable(format!("{flag} {}: cannot read: {error}", path.display()))
    })
}

impl RedisAccess {
    /// Whether anything is read from files (and so may change while running).
    pub fn reads_files(&self) -> bool {
        self.password_file.is_some()
            || self.ca_file.is_some()
            || self.client_cert_file.is_some()
            || self.client_key_file.is_some()
    }

    /// Reads every file now.
    pub(super) fn read(&self) -> Result<AccessMaterial, RedisFailure> {
        let password = match &self.password_file {
            None => None,
            Some(path) => {
                let bytes = read_file("--redis-password-file", path)?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    RedisFailure::Unavailable(format!(
                        "--redis-password-file {}: not UTF-8 text",
                        path.display()
                    ))
                })?;
                let password = text.trim();
                if password.is_empty() {
                    return Err(RedisFailure::Unavailable(format!(
                        "--redis-password-file {}: is empty",
                        path.display()
                    )));
                }
                Some(password.to_owned())
            }
        };
        let ca = match &self.ca_file {
            None => None,
            Some(path) => Some(read_file("--redis-ca", path)?),
        };
        let client = match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => Some((
                read_file("--redis-client-cert", cert)?,
                read_file("--redis-client-key", key)?,
            )),
            (None, None) => None,
            _ => {
                return Err(RedisFailure::Unavailable(
                    "--redis-client-cert and --redis-client-key go together".to_owned(),
                ));
            }
        };
        Ok(AccessMaterial {
            password,
            ca,
            client,
        })
    }
}

impl AccessMaterial {
    /// How to reach `url`: its host, user and TLS mode, with the password of the
    /// password file if there is one.
    pub(super) fn connection_info(&self, url: &str) -> Result<ConnectionInfo, RedisFailure> {
        let info = url.into_connection_info().map_err(|_| {
            RedisFailure::Unavailable(format!("{} is not a valid Redis URL", redact_url(url)))
        })?;
        // No `CLIENT SETINFO` on connect: one command fewer that the ACL user
        // would need (Redis 7.2 and later know it; a refusal only fills ACL LOG).
        let mut settings = info.redis_settings().clone().set_skip_set_lib_name();
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        Ok(info.set_redis_settings(settings))
    }

    /// The CA and client certificate to use on `rediss://` connections; `None`:
    /// the system's roots and no client certificate.
    pub(super) fn tls_certificates(&self, info: &ConnectionInfo) -> Option<TlsCertificates> {
        let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        (tls && (self.ca.is_some() || self.client.is_some())).then(|| TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            root_cert: self.ca.clone(),
        })
    }

    /// The passwords in play (the file's, and any in `urls`, as written and as
    /// decoded): what an error message must never show.
    pub(super) fn secrets(&self, urls: &[String]) -> Vec<String> {
        let mut secrets: Vec<String> = self.password.iter().cloned().collect();
        for url in urls {
            if let Some(raw) = url_password(url) {
                secrets.push(raw.to_owned());
            }
            if let Ok(info) = url.as_str().into_connection_info()
                && let Some(decoded) = info.redis_settings().password()
            {
                secrets.push(decoded.to_owned());
            }
        }
        secrets.retain(|secret| !secret.is_empty());
        secrets
    }
}

/// Where the password of `url` is, if it has one: the part of the user info
/// (before the last `@` of the authority) after its first `:`. Without a
/// `://`, the whole text before any `?` or `#` is taken as the authority: a
/// malformed URL loses more than its password, never less.
fn password_span(url: &str) -> Option<(usize, usize)> {
    let (authority_start, ends) = match url.find("://") {
        Some(at) => (at + 3, &['/', '?', '#'][..]),
        None => (0, &['?', '#'][..]),
    };
    let rest = &url[authority_start..];
    let authority_end = rest.find(ends).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let colon = rest[..at].find(':')?;
    Some((authority_start + colon + 1, authority_start + at))
}

fn url_password(url: &str) -> Option<&str> {
    password_span(url).map(|(start, end)| &url[start..end])
}

/// `url` with its password, if any, replaced by `***`: the only form of a Redis
/// URL that goes into a log line or an error.
pub fn redact_url(url: &str) -> String {
    match password_span(url) {
        Some((start, end)) => format!("{}***{}", &url[..start], &url[end..]),
        None => url.to_owned(),
    }
}

/// `text` with every one of `secrets` replaced by `***`.
pub(super) fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "***")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        for (url, shown) in [
            (
                "rediss://fenliu:s3cr%40t@redis:6380/0",
                "rediss://fenliu:***@redis:6380/0",
            ),
            (
                "redis://:only-password@127.0.0.1:6379",
                "redis://:***@127.0.0.1:6379",
            ),
            (
                "redis://fenliu@127.0.0.1:6379/",
                "redis://fenliu@127.0.0.1:6379/",
            ),
            (
                "redis://127.0.0.1:6379/?a=b@c",
                "redis://127.0.0.1:6379/?a=b@c",
            ),
            ("redis:/user:pw@host", "redis:***@host"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn secrets_are_the_file_password_and_the_url_password_raw_and_decoded() {
        let material = AccessMaterial {
            password: Some("from-file".to_owned()),
            ..AccessMaterial::default()
        };
        let secrets = material.secrets(&["rediss://u:p%40ss@h:1".to_owned()]);
        assert_eq!(secrets, ["from-file", "p%40ss", "p@ss"]);
        assert_eq!(scrub("x p@ss from-file y", &secrets), "x *** *** y");
    }

    #[test]
    fn the_password_file_is_trimmed_wins_over_the_url_and_must_not_be_empty() {
        let dir = std::env::temp_dir().join(format!("fenliu-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "  rotated\n").unwrap();
        let access = RedisAccess {
            password_file: Some(file.clone()),
            ..RedisAccess::default()
        };
        let material = access.read().unwrap();
        let info = material
            .connection_info("redis://fenliu:old@127.0.0.1:6379")
            .unwrap();
        assert_eq!(info.redis_settings().password(), Some("rotated"));
        assert_eq!(info.redis_settings().username(), Some("fenliu"));
        std::fs::write(&file, "\n").unwrap();
        let refused = access.read().unwrap_err().to_string();
        assert!(
            refused.contains("--redis-password-file") && refused.contains("empty"),
            "{refused}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = access.read().unwrap_err().to_string();
        assert!(missing.contains("cannot read"), "{missing}");
    }
}
