//! Verifying a bearer token: its signature with a key of the JWKS (the key, not
//! the token's header, decides the algorithm: RS256 or ES256), `exp` required and
//! not past, `iss` and `aud` as configured; then its claims become a
//! [`Principal`].
//!
//! A platform backend sends the same token with thousands of calls, and checking
//! a signature costs tens of microseconds, so verified tokens are remembered by
//! their exact bytes until they expire. The memory is emptied whenever the keys
//! change, so a key removed from the JWKS stops working at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::error::AuthError;
use super::jwks::{KeyRing, VerificationKey};
use super::principal::{Principal, ShopGrant};
use super::scopes::ScopeSet;

/// Verified tokens remembered at most; past it the memory starts over.
const REMEMBERED_TOKENS: usize = 16_384;
/// Clock skew allowed on `exp`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// The claims fenliu reads (names fixed: platform clients code against them).
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: String,
    #[serde(default)]
    shops: Vec<String>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    account: Option<String>,
    exp: u64,
}

/// A token verified once, and what it grants.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The caller.
    pub principal: Arc<Principal>,
    /// The principal as a dispatcher attaches it to forwarded calls, encoded
    /// once per token rather than once per call.
    pub principal_metadata: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    /// When the token expires, seconds since the epoch.
    pub expires_at: u64,
}

/// Verifies tokens against a JWKS file, an issuer and an audience.
#[derive(Debug)]
pub struct Verifier {
    /// The keys, kept in step with the file.
    keys: KeyRing,
    /// `iss`, `aud`, `exp` required and checked; the algorithm is set per key.
    validation: Validation,
    /// Tokens verified already, by their exact text.
    verified: Mutex<HashMap<String, Arc<VerifiedToken>>>,
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl Verifier {
    pub fn new(keys: KeyRing, issuer: &str, audience: &str) -> Verifier {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = LEEWAY_SECONDS;
        Verifier {
            keys,
            validation,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The principal of `token`, or why it is refused (`UNAUTHENTICATED`).
    pub fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, AuthError> {
        if self.keys.refresh_if_due() {
            self.forget_verified();
        }
        let now = now_seconds();
        if let Some(known) = self.verified.lock().expect("verified lock").get(token)
            && known.expires_at + LEEWAY_SECONDS > now
        {
            return Ok(known.clone());
        }
        let verified = Arc::new(self.verify_signature_and_claims(token)?);
        let mut remembered = self.verified.lock().expect("verified lock");
        if remembered.len() >= REMEMBERED_TOKENS {
            remembered.retain(|_, known| known.expires_at + LEEWAY_SECONDS > now);
            if remembered.len() >= REMEMBERED_TOKENS {
                remembered.clear();
            }
        }
        remembered.insert(token.to_owned(), verified.clone());
        Ok(verified)
    }

    fn forget_verified(&self) {
        self.verified.lock().expect("verified lock").clear();
    }

    fn key_for(&self, kid: Option<&str>) -> Result<VerificationKey, AuthError> {
        let Some(kid) = kid else {
            return self.keys.keys().sole.clone().ok_or_else(|| {
                AuthError::unauthenticated(
                    "the token names no key id (kid) and the JWKS has several keys",
                )
            });
        };
        if let Some(key) = self.keys.keys().by_kid.get(kid) {
            return Ok(key.clone());
        }
        // A key published just now: look at the file again before refusing.
        if self.keys.refresh_for_unknown_kid() {
            self.forget_verified();
            if let Some(key) = self.keys.keys().by_kid.get(kid) {
                return Ok(key.clone());
            }
        }
        Err(AuthError::unauthenticated(format!(
            "the token's key id {kid:?} is not in the JWKS"
        )))
    }

    fn verify_signature_and_claims(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| AuthError::unauthenticated(format!("malformed token: {error}")))?;
        let key = self.key_for(header.kid.as_deref())?;
        if header.alg != key.algorithm {
            return Err(AuthError::unauthenticated(format!(
                "the token says {:?} but its key is for {:?}",
                header.alg, key.algorithm
            )));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![key.algorithm];
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|error| AuthError::unauthenticated(refusal(error.kind())))?
            .claims;
        let principal = Principal {
            subject: claims.sub,
            shops: ShopGrant::from_claim(&claims.shops),
            scopes: ScopeSet::from_claim(&claims.scope),
            account: claims.account,
        };
        let principal_metadata = principal
            .to_metadata()
            .parse()
            .map_err(|_| AuthError::unauthenticated("the token's claims cannot be forwarded"))?;
        Ok(VerifiedToken {
            principal: Arc::new(principal),
            principal_metadata,
            expires_at: claims.exp,
        })
    }
}

/// Why a token was refused, in words that help its owner and reveal nothing else.
fn refusal(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
        ErrorKind::InvalidIssuer => "the token's issuer (iss) is not the one configured".to_owned(),
        ErrorKind::InvalidAudience => {
            "the token's audience (aud) is not the one configured".to_owned()
        }
        ErrorKind::InvalidSignature => "the token's signature does not verify".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not its key's".to_owned(),
        other => format!("invalid token: {other:?}"),
    }
}
