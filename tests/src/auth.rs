//! Authentication for test deployments: a fresh signing key whose JWKS the
//! node's workers and dispatcher verify with, tokens minted with it, and the
//! client side (an interceptor that sends `authorization: Bearer <token>`).

use std::sync::Arc;
use std::time::Duration;

use fenliu_node::auth::AuthOptions;
pub use fenliu_node::auth::client::BearerToken;
use fenliu_node::auth::minting::{SigningKey, TokenClaims, jwks_json};
use fenliu_node::auth::verify::Verifier;

/// The issuer and audience of test tokens.
pub const TEST_ISSUER: &str = "https://id.fenliu.test";
pub const TEST_AUDIENCE: &str = "fenliu-tests";
/// Every scope.
pub const ALL_SCOPES: &str = "fenliu:admin fenliu:route fenliu:act fenliu:read";

/// A signing key and the JWKS file a deployment verifies its tokens with.
#[derive(Debug)]
pub struct TestAuth {
    /// The key tokens are signed with.
    pub key: SigningKey,
    /// A directory of the test's own holding `jwks.json`.
    pub dir: std::path::PathBuf,
}

impl TestAuth {
    /// A fresh ES256 key and its JWKS file.
    pub fn new() -> TestAuth {
        let key = SigningKey::generate_es256().expect("generate a key");
        let dir = fenliu_testkit::unique_temp_dir("auth").expect("a temp dir");
        let auth = TestAuth { key, dir };
        auth.publish(&[&auth.key]);
        auth
    }

    /// Rewrites the JWKS file with `keys` (a rotation).
    pub fn publish(&self, keys: &[&SigningKey]) {
        std::fs::write(self.jwks_path(), jwks_json(keys)).expect("write the JWKS file");
    }

    pub fn jwks_path(&self) -> std::path::PathBuf {
        self.dir.join("jwks.json")
    }

    /// The options a node is started with.
    pub fn options(&self) -> AuthOptions {
        AuthOptions {
            auth_jwks_file: Some(self.jwks_path()),
            auth_issuer: Some(TEST_ISSUER.to_owned()),
            auth_audience: Some(TEST_AUDIENCE.to_owned()),
        }
    }

    /// A verifier of this key (one per node, as each process has its own).
    pub fn verifier(&self) -> Arc<Verifier> {
        self.options()
            .verifier()
            .expect("auth options")
            .expect("auth on")
    }

    /// Claims for `shops` and `scope`, valid for ten minutes.
    pub fn claims(&self, shops: &[&str], scope: &str) -> TokenClaims {
        TokenClaims::new(
            "tester",
            TEST_ISSUER,
            TEST_AUDIENCE,
            shops.iter().map(|shop| (*shop).to_owned()).collect(),
            scope,
            Duration::from_secs(600),
        )
    }

    /// A signed token of `claims`.
    pub fn sign(&self, claims: &TokenClaims) -> String {
        self.key.sign(claims).expect("sign a token")
    }

    /// A platform backend's token: every shop, every scope.
    pub fn platform_token(&self) -> String {
        self.sign(&self.claims(&["*"], ALL_SCOPES))
    }
}

impl Default for TestAuth {
    fn default() -> Self {
        TestAuth::new()
    }
}

impl Drop for TestAuth {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
