//! `fenliu tls gen`: a throwaway fleet CA and one node certificate it signs, for
//! trying TLS on every hop. Production certificates come from the operator's own
//! CA (cert-manager on Kubernetes: `deploy/kubernetes/certificates.yaml`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fenliu_node::tls::DEFAULT_WORKER_NAME;
use fenliu_node::tls::generate::TestCa;

#[derive(Debug, clap::Subcommand)]
pub enum TlsCommand {
    /// Write ca.pem, ca-key.pem, node.pem and node-key.pem into DIR.
    Gen(GenArgs),
}

#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Where to write the files (created if missing; existing files are not
    /// overwritten).
    pub dir: PathBuf,
    /// More names (DNS or IP) the node certificate carries, besides
    /// fenliu-worker, fenliu-dispatcher, localhost and 127.0.0.1.
    #[arg(long = "name")]
    pub names: Vec<String>,
}

/// The names every generated node certificate carries: what dispatchers check
/// workers against by default, and loopback for trying it on one machine.
const BASE_NAMES: [&str; 4] = [
    DEFAULT_WORKER_NAME,
    "fenliu-dispatcher",
    "localhost",
    "127.0.0.1",
];

pub fn run(command: TlsCommand) -> anyhow::Result<()> {
    match command {
        TlsCommand::Gen(args) => generate(&args.dir, &args.names),
    }
}

fn generate(dir: &Path, extra_names: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let files = ["ca.pem", "ca-key.pem", "node.pem", "node-key.pem"].map(|name| dir.join(name));
    for path in &files {
        if path.exists() {
            bail!(
                "{} exists already; choose another directory",
                path.display()
            );
        }
    }
    let ca = TestCa::generate("fenliu fleet CA")?;
    let mut names: Vec<&str> = BASE_NAMES.to_vec();
    names.extend(extra_names.iter().map(String::as_str));
    let node = ca.issue(&names)?;
    write(&files[0], &ca.pair.cert_pem, false)?;
    write(&files[1], &ca.pair.key_pem, true)?;
    write(&files[2], &node.cert_pem, false)?;
    write(&files[3], &node.key_pem, true)?;
    println!(
        "wrote {} (CA), {} (node, for: {})",
        files[0].display(),
        files[2].display(),
        names.join(", ")
    );
    println!(
        "start nodes with --tls-cert {} --tls-key {} --tls-ca {}",
        files[2].display(),
        files[3].display(),
        files[0].display()
    );
    Ok(())
}

/// Writes `content` to a new file; keys are readable by their owner only.
fn write(path: &Path, content: &str, secret: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    file.write_all(content.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_make_a_working_identity_and_are_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("fenliu-cli-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        generate(&dir, &["fenliu.example.com".to_owned()]).unwrap();
        assert!(generate(&dir, &[]).is_err(), "never overwrites");
        let options = fenliu_node::tls::TlsOptions {
            tls_cert: Some(dir.join("node.pem")),
            tls_key: Some(dir.join("node-key.pem")),
            tls_ca: Some(dir.join("ca.pem")),
            ..fenliu_node::tls::TlsOptions::default()
        };
        assert!(
            options.tls().unwrap().is_some(),
            "the files load as an identity"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("node-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is private");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
