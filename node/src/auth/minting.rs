//! Keys and tokens for trying authentication out and for tests: `fenliu auth
//! keygen` and `fenliu auth token` are built on this. Production tokens come
//! from the platform's own identity provider; fenliu only verifies them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde::Serialize;

/// A signing key and the JWKS that verifies its tokens.
#[derive(Debug)]
pub struct SigningKey {
    /// The private key, PKCS#8 PEM: what `fenliu auth token --key` reads.
    pub private_pem: String,
    /// The key id tokens name in their header (`kid`).
    pub kid: String,
    /// The algorithm of the key.
    pub algorithm: Algorithm,
    /// The public key as a JWK, with `kid`, `alg` and `use: sig`.
    pub public_jwk: Jwk,
}

impl SigningKey {
    /// A fresh ES256 (P-256) key; its key id is its JWK thumbprint.
    pub fn generate_es256() -> anyhow::Result<SigningKey> {
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let private_pem = secret.to_pkcs8_pem(LineEnding::LF)?.to_string();
        SigningKey::from_pem(&private_pem, Algorithm::ES256, None)
    }

    /// A key from its PKCS#8 PEM (ES256: P-256; RS256: RSA), with `kid` or else
    /// its JWK thumbprint as key id.
    pub fn from_pem(
        private_pem: &str,
        algorithm: Algorithm,
        kid: Option<&str>,
    ) -> anyhow::Result<SigningKey> {
        let encoding = encoding_key(private_pem, algorithm)?;
        let mut public_jwk = Jwk::from_encoding_key(&encoding, algorithm)?;
        let kid = match kid {
            Some(kid) => kid.to_owned(),
            None => public_jwk.thumbprint(ThumbprintHash::SHA256),
        };
        public_jwk.common.key_id = Some(kid.clone());
        public_jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(SigningKey {
            private_pem: private_pem.to_owned(),
            kid,
            algorithm,
            public_jwk,
        })
    }

    /// Signs `claims` with this key, naming its key id.
    pub fn sign(&self, claims: &TokenClaims) -> anyhow::Result<String> {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        let key = encoding_key(&self.private_pem, self.algorithm)?;
        Ok(jsonwebtoken::encode(&header, claims, &key)?)
    }
}

fn encoding_key(private_pem: &str, algorithm: Algorithm) -> anyhow::Result<EncodingKey> {
    let key = match algorithm {
        Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem.as_bytes())?,
        Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem.as_bytes())?,
        other => anyhow::bail!("--alg: {other:?} is not supported; use ES256 or RS256"),
    };
    Ok(key)
}

/// A JWKS document of these keys' public halves, as `--auth-jwks-file` reads.
pub fn jwks_json(keys: &[&SigningKey]) -> String {
    let set = JwkSet {
        keys: keys.iter().map(|key| key.public_jwk.clone()).collect(),
    };
    serde_json::to_string_pretty(&set).expect("a JWKS serialises")
}

/// The claims of a fenliu token (names fixed: platform clients code against them).
#[derive(Clone, Debug, Serialize)]
pub struct TokenClaims {
    /// Who the token is for, named in logs of refused calls.
    pub sub: String,
    /// Checked against `--auth-issuer`.
    pub iss: String,
    /// Checked against `--auth-audience`.
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch (required).
    pub exp: u64,
    /// The shops it may act on; `["*"]` for every shop.
    pub shops: Vec<String>,
    /// Space-separated scopes (`fenliu:admin fenliu:route fenliu:act fenliu:read`).
    pub scope: String,
    /// The account an agent's token is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl TokenClaims {
    /// Claims valid from now for `ttl`.
    pub fn new(
        subject: &str,
        issuer: &str,
        audience: &str,
        shops: Vec<String>,
        scope: &str,
        ttl: Duration,
    ) -> TokenClaims {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        TokenClaims {
            sub: subject.to_owned(),
            iss: issuer.to_owned(),
            aud: audience.to_owned(),
            iat: now,
            exp: now + ttl.as_secs(),
            shops,
            scope: scope.to_owned(),
            account: None,
        }
    }

    /// The same claims for an agent's app: the token is `account`.
    pub fn as_account(mut self, account: &str) -> TokenClaims {
        self.account = Some(account.to_owned());
        self
    }
}
