//! Verifying tokens end to end with real keys: what is refused, and why.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use tonic::metadata::MetadataMap;

use super::minting::{SigningKey, TokenClaims, jwks_json};
use super::principal::{PRINCIPAL_METADATA, ShopGrant};
use super::scopes::Scope;
use super::*;

/// A throwaway RSA key for the RS256 tests (generating one in a debug build
/// takes seconds).
const RSA_TEST_KEY: &str = include_str!("testdata/rsa-test-key.pem");
const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "fenliu";

/// A JWKS file in a fresh directory, and a verifier reading it.
struct Fixture {
    dir: std::path::PathBuf,
    verifier: Arc<Verifier>,
}

impl Fixture {
    fn with_keys(keys: &[&SigningKey]) -> Fixture {
        let dir = std::env::temp_dir().join(format!(
            "fenliu-auth-{}-{}",
            std::process::id(),
            rand_core::RngCore::next_u64(&mut rand_core::OsRng)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("jwks.json"), jwks_json(keys)).unwrap();
        let options = AuthOptions {
            auth_jwks_file: Some(dir.join("jwks.json")),
            auth_issuer: Some(ISSUER.to_owned()),
            auth_audience: Some(AUDIENCE.to_owned()),
        };
        let verifier = options.verifier().unwrap().expect("auth on");
        Fixture { dir, verifier }
    }

    fn rewrite(&self, keys: &[&SigningKey]) {
        std::fs::write(self.dir.join("jwks.json"), jwks_json(keys)).unwrap();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn claims() -> TokenClaims {
    TokenClaims::new(
        "backend",
        ISSUER,
        AUDIENCE,
        vec!["s1".to_owned()],
        "fenliu:route fenliu:read",
        Duration::from_secs(600),
    )
}

fn refusal(result: Result<Arc<verify::VerifiedToken>, AuthError>) -> String {
    match result {
        Err(AuthError::Unauthenticated(why)) => why,
        other => panic!("expected UNAUTHENTICATED, got {other:?}"),
    }
}

#[test]
fn a_good_token_gives_its_principal_with_either_algorithm() {
    let es = SigningKey::generate_es256().unwrap();
    let rs = SigningKey::from_pem(RSA_TEST_KEY, Algorithm::RS256, Some("rsa-1")).unwrap();
    let fixture = Fixture::with_keys(&[&es, &rs]);
    for key in [&es, &rs] {
        let token = key.sign(&claims().as_account("lili")).unwrap();
        let verified = fixture.verifier.verify(&token).unwrap();
        let principal = &verified.principal;
        assert_eq!(principal.subject, "backend");
        assert_eq!(principal.shops, ShopGrant::Only(["s1".to_owned()].into()));
        assert!(principal.scopes.contains(Scope::Route));
        assert!(!principal.scopes.contains(Scope::Admin));
        assert_eq!(principal.account.as_deref(), Some("lili"));
    }
}

#[test]
fn expired_wrong_issuer_wrong_audience_and_missing_exp_are_refused() {
    let key = SigningKey::generate_es256().unwrap();
    let fixture = Fixture::with_keys(&[&key]);
    let mut expired = claims();
    expired.exp = expired.iat - 3600;
    assert!(refusal(fixture.verifier.verify(&key.sign(&expired).unwrap())).contains("expired"));
    let mut issuer = claims();
    issuer.iss = "https://someone.else".to_owned();
    assert!(refusal(fixture.verifier.verify(&key.sign(&issuer).unwrap())).contains("iss"));
    let mut audience = claims();
    audience.aud = "another-service".to_owned();
    assert!(refusal(fixture.verifier.verify(&key.sign(&audience).unwrap())).contains("aud"));
    let no_exp = serde_json::json!({"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "shops": ["*"], "scope": "fenliu:read"});
    let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    let encoding = jsonwebtoken::EncodingKey::from_ec_pem(key.private_pem.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, &no_exp, &encoding).unwrap();
    assert!(refusal(fixture.verifier.verify(&token)).contains("exp"));
}

#[test]
fn a_wrong_signature_an_unknown_key_and_garbage_are_refused() {
    let known = SigningKey::generate_es256().unwrap();
    let stranger = SigningKey::generate_es256().unwrap();
    let fixture = Fixture::with_keys(&[&known]);
    // Signed by another key but claiming the known key's id.
    let forged = SigningKey::from_pem(&stranger.private_pem, Algorithm::ES256, Some(&known.kid))
        .unwrap()
        .sign(&claims())
        .unwrap();
    assert!(refusal(fixture.verifier.verify(&forged)).contains("signature"));
    let unknown = stranger.sign(&claims()).unwrap();
    assert!(refusal(fixture.verifier.verify(&unknown)).contains("key id"));
    assert!(refusal(fixture.verifier.verify("not.a.token")).contains("malformed"));
    // A payload altered after signing.
    let good = known.sign(&claims()).unwrap();
    let mut parts: Vec<&str> = good.split('.').collect();
    let altered = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#"{"sub":"x","iss":"https://id.example.test","aud":"fenliu","exp":9999999999,"shops":["*"],"scope":"fenliu:admin"}"#,
    );
    parts[1] = &altered;
    assert!(refusal(fixture.verifier.verify(&parts.join("."))).contains("signature"));
}

#[test]
fn keys_rotate_by_rewriting_the_jwks_file() {
    let old = SigningKey::generate_es256().unwrap();
    let new = SigningKey::generate_es256().unwrap();
    let fixture = Fixture::with_keys(&[&old]);
    let old_token = old.sign(&claims()).unwrap();
    let new_token = new.sign(&claims()).unwrap();
    fixture.verifier.verify(&old_token).unwrap();
    fixture.rewrite(&[&new]);
    // The new key is used as soon as a token names it (the file is read again).
    std::thread::sleep(Duration::from_millis(150));
    fixture.verifier.verify(&new_token).unwrap();
    // The old key stops working within the file's check interval, even for a
    // token verified (and remembered) before.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(refusal(fixture.verifier.verify(&old_token)).contains("key id"));
}

#[test]
fn options_without_issuer_or_audience_are_refused_naming_the_flag() {
    let options = AuthOptions {
        auth_jwks_file: Some("/nonexistent/jwks.json".into()),
        auth_issuer: None,
        auth_audience: Some(AUDIENCE.to_owned()),
    };
    let refused = options.verifier().unwrap_err().to_string();
    assert!(
        refused.contains("--auth-issuer (FENLIU_AUTH_ISSUER)"),
        "{refused}"
    );
    let unreadable = AuthOptions {
        auth_issuer: Some(ISSUER.to_owned()),
        ..options
    };
    let refused = unreadable.verifier().unwrap_err().to_string();
    assert!(
        refused.contains("--auth-jwks-file /nonexistent/jwks.json"),
        "{refused}"
    );
    assert!(
        AuthOptions::default().verifier().unwrap().is_none(),
        "off by default"
    );
}

#[test]
fn bearer_tokens_are_read_and_anything_else_is_unauthenticated() {
    let mut metadata = MetadataMap::new();
    assert!(bearer_token(&metadata).is_err());
    metadata.insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
    assert!(bearer_token(&metadata).is_err());
    metadata.insert("authorization", "bearer abc.def.ghi".parse().unwrap());
    assert_eq!(bearer_token(&metadata), Ok("abc.def.ghi"));
}

#[test]
fn a_callers_credentials_and_internal_markers_are_stripped() {
    let mut metadata = MetadataMap::new();
    metadata.insert("authorization", "Bearer x".parse().unwrap());
    metadata.insert(PRINCIPAL_METADATA, "forged".parse().unwrap());
    metadata.insert("fenliu-not-owner", "3".parse().unwrap());
    metadata.insert_bin(
        "fenliu-extra-bin",
        tonic::metadata::MetadataValue::from_bytes(b"x"),
    );
    metadata.insert("traceparent", "00-abc-def-01".parse().unwrap());
    strip_caller_metadata(&mut metadata);
    let left: Vec<String> = metadata
        .keys()
        .map(|key| match key {
            tonic::metadata::KeyRef::Ascii(key) => key.to_string(),
            tonic::metadata::KeyRef::Binary(key) => key.to_string(),
        })
        .collect();
    assert_eq!(left, ["traceparent"]);
}

#[test]
fn a_worker_takes_the_forwarded_principal_or_verifies_the_token_itself() {
    let key = SigningKey::generate_es256().unwrap();
    let fixture = Fixture::with_keys(&[&key]);
    let token = key.sign(&claims()).unwrap();
    let mut direct = MetadataMap::new();
    direct.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let principal = principal_at_worker(&fixture.verifier, &direct).unwrap();
    assert_eq!(principal.subject, "backend");
    let mut forwarded = MetadataMap::new();
    let verified = fixture.verifier.verify(&token).unwrap();
    forwarded.insert(PRINCIPAL_METADATA, verified.principal_metadata.clone());
    assert_eq!(
        *principal_at_worker(&fixture.verifier, &forwarded).unwrap(),
        *verified.principal
    );
    assert!(principal_at_worker(&fixture.verifier, &MetadataMap::new()).is_err());
}
