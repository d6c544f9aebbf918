//! Who may call, for which shops, and to do what. Off unless a JWKS file is
//! configured (the embedded default and `fenliu dev` stay zero-config); when on,
//! every call carries `authorization: Bearer <JWT>`.
//!
//! The dispatcher verifies the token ([`verify`]), removes whatever `authorization`
//! and `fenliu-*` metadata the caller sent ([`strip_caller_metadata`]) and
//! forwards the verified [`Principal`] in `fenliu-principal`. The worker admits
//! each call by its method's scope ([`scopes`]), its shop and, for an agent's
//! token, the account it acts as ([`authorize`]). A worker reached directly
//! verifies the token itself.
//!
//! - [`scopes`]: the scope of every RPC, in one table (deny by default).
//! - [`principal`]: a verified caller, and how it crosses to the worker.
//! - [`verify`]: tokens checked against the JWKS, issuer and audience.
//! - [`jwks`]: the keys, re-read when the file changes.
//! - [`authorize`]: scope, shop and account rules.
//! - [`client`]: the caller's side, sending a bearer token with every call.
//! - [`minting`]: keys and tokens for trying it out and for tests.
//! - [`error`]: the refusals and their status codes.

pub mod authorize;
pub mod client;
pub mod error;
pub mod jwks;
pub mod minting;
pub mod principal;
pub mod scopes;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use tonic::metadata::MetadataMap;

use self::error::AuthError;
use self::jwks::KeyRing;
use self::principal::{PRINCIPAL_METADATA, Principal};
use self::verify::Verifier;

/// Authentication flags, the same for both roles.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthOptions {
    /// A JWKS file (JSON) with the keys that sign callers' tokens (RS256, ES256).
    /// Re-read when it changes, so keys rotate without a restart. Without it,
    /// authentication is off.
    #[arg(long, env = "FENLIU_AUTH_JWKS_FILE")]
    pub auth_jwks_file: Option<PathBuf>,
    /// The issuer (`iss`) every token must name; required with a JWKS file.
    #[arg(long, env = "FENLIU_AUTH_ISSUER")]
    pub auth_issuer: Option<String>,
    /// The audience (`aud`) every token must name; required with a JWKS file.
    #[arg(long, env = "FENLIU_AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,
}

impl AuthOptions {
    /// The verifier these options configure (`None`: authentication is off), or
    /// why they cannot work, naming the flag.
    pub fn verifier(&self) -> anyhow::Result<Option<Arc<Verifier>>> {
        let Some(path) = &self.auth_jwks_file else {
            if self.auth_issuer.is_some() || self.auth_audience.is_some() {
                bail!(
                    "--auth-issuer/--auth-audience need --auth-jwks-file (FENLIU_AUTH_JWKS_FILE)"
                );
            }
            return Ok(None);
        };
        let issuer = self.auth_issuer.as_deref().filter(|v| !v.is_empty());
        let audience = self.auth_audience.as_deref().filter(|v| !v.is_empty());
        let Some(issuer) = issuer else {
            bail!("--auth-issuer (FENLIU_AUTH_ISSUER) is required with --auth-jwks-file");
        };
        let Some(audience) = audience else {
            bail!("--auth-audience (FENLIU_AUTH_AUDIENCE) is required with --auth-jwks-file");
        };
        let keys = KeyRing::open(path)?;
        Ok(Some(Arc::new(Verifier::new(keys, issuer, audience))))
    }

    /// Says at start-up whether callers are authenticated.
    pub fn log_mode(&self, role: &str) {
        match &self.auth_jwks_file {
            Some(path) => {
                tracing::info!(role, jwks = %path.display(), "authentication on: every call needs a bearer token")
            }
            None => tracing::info!(
                role,
                "authentication off: no --auth-jwks-file (FENLIU_AUTH_JWKS_FILE); any caller may call"
            ),
        }
    }
}

/// The token of `authorization: Bearer <token>`.
pub fn bearer_token(metadata: &MetadataMap) -> Result<&str, AuthError> {
    let Some(value) = metadata.get("authorization") else {
        return Err(AuthError::unauthenticated(
            "authorization: a bearer token is required",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| AuthError::unauthenticated("authorization: not text"))?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(AuthError::unauthenticated(
            "authorization: expected \"Bearer <token>\"",
        ));
    };
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::unauthenticated(
            "authorization: expected \"Bearer <token>\"",
        ));
    }
    Ok(token.trim())
}

/// Removes what only fenliu may set from a caller's metadata: its credentials
/// (once verified, the principal travels instead) and every `fenliu-*` key, so
/// that a caller cannot forge a principal or an internal marker.
pub fn strip_caller_metadata(metadata: &mut MetadataMap) {
    metadata.remove("authorization");
    let internal: Vec<String> = metadata
        .keys()
        .map(|key| match key {
            tonic::metadata::KeyRef::Ascii(key) => key.as_str(),
            tonic::metadata::KeyRef::Binary(key) => key.as_str(),
        })
        .filter(|key| key.starts_with("fenliu-"))
        .map(str::to_owned)
        .collect();
    for key in internal {
        metadata.remove(key.as_str());
        metadata.remove_bin(key.as_str());
    }
}

/// The principal of a call at a worker: the one a dispatcher forwarded, or else
/// the caller's own token verified here.
pub fn principal_at_worker(
    verifier: &Verifier,
    metadata: &MetadataMap,
) -> Result<Arc<Principal>, AuthError> {
    if let Some(forwarded) = metadata.get(PRINCIPAL_METADATA) {
        let principal = forwarded
            .to_str()
            .ok()
            .and_then(Principal::from_metadata)
            .ok_or_else(|| AuthError::unauthenticated("fenliu-principal: unreadable"))?;
        return Ok(Arc::new(principal));
    }
    let verified = verifier.verify(bearer_token(metadata)?)?;
    Ok(verified.principal.clone())
}

#[cfg(test)]
mod tests;
