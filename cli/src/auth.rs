//! `fenliu auth`: keys and tokens for trying authentication out. `keygen` writes a
//! signing key and the JWKS a node verifies with (`--auth-jwks-file`); `token`
//! signs a token with that key. A platform's own identity provider does this in
//! production: fenliu only verifies.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use fenliu_node::auth::minting::{SigningKey, TokenClaims, jwks_json};
use jsonwebtoken::Algorithm;

#[derive(Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// Write a new ES256 signing key (DIR/private.pem) and its JWKS (DIR/jwks.json).
    Keygen(KeygenArgs),
    /// Print a token signed with a key from `keygen`.
    Token(TokenArgs),
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Where to write private.pem and jwks.json (created if missing; existing
    /// files are not overwritten).
    pub dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The private key (PKCS#8 PEM, P-256 for ES256 or RSA for RS256).
    #[arg(long)]
    pub key: PathBuf,
    /// Shops the token may act on, comma-separated; `*` for every shop.
    #[arg(long, value_delimiter = ',', required = true)]
    pub shops: Vec<String>,
    /// Space-separated scopes: fenliu:admin fenliu:route fenliu:act fenliu:read.
    #[arg(long)]
    pub scope: String,
    /// The account the token is (an agent's app): it then acts only as itself.
    #[arg(long)]
    pub account: Option<String>,
    /// How long the token is valid: a number with s, m, h or d (default 1h).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// The token's subject (who it is for, named in logs of refused calls).
    #[arg(long, default_value = "fenliu-cli")]
    pub subject: String,
    /// The issuer; the nodes' --auth-issuer.
    #[arg(long, env = "FENLIU_AUTH_ISSUER")]
    pub issuer: String,
    /// The audience; the nodes' --auth-audience.
    #[arg(long, env = "FENLIU_AUTH_AUDIENCE")]
    pub audience: String,
}

/// Reads `90s`, `15m`, `1h`, `7d` (or plain seconds).
fn parse_ttl(value: &str) -> Result<Duration, String> {
    let (digits, unit_seconds) = match value.as_bytes().last() {
        Some(b's') => (&value[..value.len() - 1], 1),
        Some(b'm') => (&value[..value.len() - 1], 60),
        Some(b'h') => (&value[..value.len() - 1], 3600),
        Some(b'd') => (&value[..value.len() - 1], 86_400),
        _ => (value, 1),
    };
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("{value:?} is not a duration such as 90s, 15m, 1h or 7d"))?;
    if amount == 0 {
        return Err("must be above 0".to_owned());
    }
    Ok(Duration::from_secs(amount * unit_seconds))
}

pub fn run(command: AuthCommand) -> anyhow::Result<()> {
    match command {
        AuthCommand::Keygen(args) => keygen(&args.dir),
        AuthCommand::Token(args) => {
            println!("{}", token(&args)?);
            Ok(())
        }
    }
}

fn keygen(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let private = dir.join("private.pem");
    let jwks = dir.join("jwks.json");
    for path in [&private, &jwks] {
        if path.exists() {
            bail!(
                "{} exists already; choose another directory",
                path.display()
            );
        }
    }
    let key = SigningKey::generate_es256()?;
    write_private(&private, &key.private_pem)?;
    std::fs::write(&jwks, jwks_json(&[&key]))
        .with_context(|| format!("write {}", jwks.display()))?;
    println!(
        "wrote {} (keep it secret) and {}",
        private.display(),
        jwks.display()
    );
    println!("key id: {}", key.kid);
    println!(
        "start nodes with --auth-jwks-file {} --auth-issuer <iss> --auth-audience <aud>",
        jwks.display()
    );
    Ok(())
}

/// Writes the private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}

fn token(args: &TokenArgs) -> anyhow::Result<String> {
    let pem = std::fs::read_to_string(&args.key)
        .with_context(|| format!("--key {}", args.key.display()))?;
    let key = SigningKey::from_pem(&pem, Algorithm::ES256, None)
        .or_else(|_| SigningKey::from_pem(&pem, Algorithm::RS256, None))
        .with_context(|| {
            format!(
                "--key {}: not a P-256 or RSA private key",
                args.key.display()
            )
        })?;
    let mut claims = TokenClaims::new(
        &args.subject,
        &args.issuer,
        &args.audience,
        args.shops.clone(),
        &args.scope,
        args.ttl,
    );
    if let Some(account) = &args.account {
        claims = claims.as_account(account);
    }
    key.sign(&claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_read_with_their_unit() {
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_ttl("120"), Ok(Duration::from_secs(120)));
        assert!(parse_ttl("soon").is_err());
        assert!(parse_ttl("0h").is_err());
    }

    #[test]
    fn a_token_from_a_keygen_key_verifies_with_its_jwks() {
        let dir = std::env::temp_dir().join(format!("fenliu-cli-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        keygen(&dir).unwrap();
        assert!(keygen(&dir).is_err(), "never overwrites a key");
        let args = TokenArgs {
            key: dir.join("private.pem"),
            shops: vec!["s1".to_owned()],
            scope: "fenliu:read".to_owned(),
            account: Some("lili".to_owned()),
            ttl: Duration::from_secs(60),
            subject: "me".to_owned(),
            issuer: "iss".to_owned(),
            audience: "aud".to_owned(),
        };
        let token = token(&args).unwrap();
        let options = fenliu_node::auth::AuthOptions {
            auth_jwks_file: Some(dir.join("jwks.json")),
            auth_issuer: Some("iss".to_owned()),
            auth_audience: Some("aud".to_owned()),
        };
        let verified = options.verifier().unwrap().unwrap().verify(&token).unwrap();
        assert_eq!(verified.principal.account.as_deref(), Some("lili"));
        assert_eq!(verified.principal.subject, "me");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
