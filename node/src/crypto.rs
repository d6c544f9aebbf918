//! The one TLS crypto provider of a fenliu process: rustls' `ring`.
//!
//! rustls picks a process-wide provider by itself only when exactly one provider
//! feature is compiled in; a dependency that turns on `aws-lc-rs` as well would
//! make every TLS config (Redis' and gRPC's) panic at its first use. Installing
//! `ring` explicitly, once, before any TLS config is built, rules that out:
//! `runtime::build` calls [`install_crypto_provider`], and so do tests that build
//! TLS configs without a runtime of ours.

/// Makes `ring` the process' default rustls provider. Idempotent: a provider
/// already installed (by an earlier call) is left as it is.
pub fn install_crypto_provider() {
    // `Err` means a default is installed already: nothing to do.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_provider_is_ring_and_installing_twice_is_harmless() {
        install_crypto_provider();
        install_crypto_provider();
        let installed = rustls::crypto::CryptoProvider::get_default().expect("a default provider");
        let ring = rustls::crypto::ring::default_provider();
        assert_eq!(
            installed.cipher_suites.len(),
            ring.cipher_suites.len(),
            "the installed provider is ring's"
        );
    }
}
