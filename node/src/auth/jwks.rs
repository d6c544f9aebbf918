//! The keys tokens are verified with, from a JWKS file that operators rotate by
//! rewriting it: the file is read again at most once a second when calls come
//! (and at once, at most ten times a second, when a token names a key id it does
//! not know, so that a new key works as soon as the file has it). A file that no
//! longer parses keeps the keys last read, with a warning: a bad deploy of the
//! file must not lock every caller out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

/// How often the file is looked at when calls come.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How often an unknown key id may make the file be looked at again.
const UNKNOWN_KID_INTERVAL: Duration = Duration::from_millis(100);

/// One verification key.
#[derive(Clone)]
pub struct VerificationKey {
    /// The key itself.
    pub key: DecodingKey,
    /// The one algorithm tokens signed with it may use (RS256 or ES256): the
    /// token's header never chooses it.
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The keys of one version of the file.
#[derive(Clone, Default)]
pub struct Keys {
    /// By key id (`kid`).
    pub by_kid: HashMap<String, VerificationKey>,
    /// The key a token without `kid` is verified with: the file's only key, if
    /// it has exactly one.
    pub sole: Option<VerificationKey>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.by_kid.keys().collect();
        kids.sort();
        f.debug_struct("Keys").field("kids", &kids).finish()
    }
}

/// Why a JWKS file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("--auth-jwks-file {path}: {detail}")]
    Unreadable { path: String, detail: String },
}

/// Reads a JWKS document: RSA keys (RS256) and P-256 keys (ES256); keys of other
/// kinds are left out with a warning.
pub fn parse_jwks(bytes: &[u8]) -> Result<Keys, String> {
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
    let mut keys = Keys::default();
    let mut usable = Vec::new();
    for jwk in &set.keys {
        let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                if ec.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => {
                tracing::warn!(kid = ?jwk.common.key_id, "JWKS key left out: only RS256 and ES256 (P-256) keys are used");
                continue;
            }
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|error| error.to_string())?;
        let verification = VerificationKey { key, algorithm };
        if let Some(kid) = &jwk.common.key_id {
            keys.by_kid.insert(kid.clone(), verification.clone());
        }
        usable.push(verification);
    }
    if usable.is_empty() {
        return Err("no RS256 or ES256 key in the set".to_owned());
    }
    if usable.len() == 1 {
        keys.sole = usable.pop();
    }
    Ok(keys)
}

/// What was last read from the file.
struct Loaded {
    bytes: Vec<u8>,
    keys: Arc<Keys>,
}

/// The keys of a JWKS file, kept in step with it.
pub struct KeyRing {
    /// The file operators rewrite to rotate keys.
    path: PathBuf,
    /// The keys in force, and the bytes they were read from.
    loaded: RwLock<Loaded>,
    /// When the file was last looked at.
    last_check: Mutex<Instant>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("path", &self.path)
            .field("keys", &self.keys())
            .finish()
    }
}

impl KeyRing {
    /// Reads the file; a node does not start with keys it cannot use.
    pub fn open(path: &Path) -> Result<KeyRing, JwksError> {
        let unreadable = |detail: String| JwksError::Unreadable {
            path: path.display().to_string(),
            detail,
        };
        let bytes = std::fs::read(path).map_err(|error| unreadable(error.to_string()))?;
        let keys = parse_jwks(&bytes).map_err(unreadable)?;
        Ok(KeyRing {
            path: path.to_owned(),
            loaded: RwLock::new(Loaded {
                bytes,
                keys: Arc::new(keys),
            }),
            last_check: Mutex::new(Instant::now()),
        })
    }

    /// The keys in force.
    pub fn keys(&self) -> Arc<Keys> {
        self.loaded.read().expect("keys lock").keys.clone()
    }

    /// Reads the file again if it is time to; `true` if the keys changed.
    pub fn refresh_if_due(&self) -> bool {
        self.refresh_after(CHECK_INTERVAL)
    }

    /// Reads the file again unless it was read very recently: a token named a
    /// key id that is not known (yet). `true` if the keys changed.
    pub fn refresh_for_unknown_kid(&self) -> bool {
        self.refresh_after(UNKNOWN_KID_INTERVAL)
    }

    fn refresh_after(&self, interval: Duration) -> bool {
        {
            let Ok(mut last_check) = self.last_check.try_lock() else {
                // Another call is looking at the file right now.
                return false;
            };
            if last_check.elapsed() < interval {
                return false;
            }
            *last_check = Instant::now();
        }
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "cannot read the JWKS file; keeping the keys last read");
                return false;
            }
        };
        if self.loaded.read().expect("keys lock").bytes == bytes {
            return false;
        }
        match parse_jwks(&bytes) {
            Ok(keys) => {
                tracing::info!(path = %self.path.display(), keys = ?keys, "JWKS file changed: keys reloaded");
                *self.loaded.write().expect("keys lock") = Loaded {
                    bytes,
                    keys: Arc::new(keys),
                };
                true
            }
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "the JWKS file no longer parses; keeping the keys last read");
                false
            }
        }
    }
}
