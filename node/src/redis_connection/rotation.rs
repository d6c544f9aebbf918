//! Rotation: the password and TLS files of a [`RedisAccess`] are read again
//! every little while; when their content changed, a new link is connected
//! with it and swapped in, so that every call from then on (and every
//! reconnection, which the client makes with the settings it was built with)
//! uses the new credentials and certificates.
//!
//! The old link stays in place until a new one has connected: a password file
//! updated before Redis is (or a half-written certificate) costs nothing but a
//! warning, and is tried again at the next look. Calls already under way finish
//! on the link they started on.

use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::access::{AccessMaterial, RedisAccess, redact_url, scrub};
use super::link::Link;

/// The longest a new link may take to connect before the attempt is given up
/// until the next look.
const CONNECT_BOUND: Duration = Duration::from_secs(10);

/// What the task needs to connect again: the same URLs and timeout as the
/// first link, with the access material read now.
pub(super) struct Rotation {
    /// The Redis URLs, as given.
    pub(super) urls: Vec<String>,
    /// Where the files are, and how often to look.
    pub(super) access: RedisAccess,
    /// The per-call timeout, for the new link's attempts.
    pub(super) call_timeout: Duration,
    /// What the link in use was built with.
    pub(super) in_use: AccessMaterial,
}

impl Rotation {
    /// Looks at the files until every handle on `slot` is gone.
    pub(super) fn spawn(self, slot: Weak<ArcSwap<Link>>) {
        tokio::spawn(self.run(slot));
    }

    async fn run(mut self, slot: Weak<ArcSwap<Link>>) {
        let shown: Vec<String> = self.urls.iter().map(|url| redact_url(url)).collect();
        let shown = shown.join(",");
        // The last failure logged, so that one that persists is logged once.
        let mut last_failure = None;
        loop {
            tokio::time::sleep(self.access.reread_every).await;
            if slot.strong_count() == 0 {
                return;
            }
            let outcome = match self.access.read() {
                Ok(material) if material == self.in_use => Ok(None),
                Ok(material) => {
                    let connecting = Link::connect(&self.urls, &material, self.call_timeout);
                    match tokio::time::timeout(CONNECT_BOUND, connecting).await {
                        Ok(Ok(link)) => Ok(Some((link, material))),
                        Ok(Err(failure)) => {
                            Err(scrub(&failure.to_string(), &material.secrets(&self.urls)))
                        }
                        Err(_) => Err(format!("no connection within {CONNECT_BOUND:?}")),
                    }
                }
                Err(failure) => Err(failure.to_string()),
            };
            match outcome {
                Ok(None) => {}
                Ok(Some((link, material))) => {
                    let Some(slot) = slot.upgrade() else { return };
                    slot.store(Arc::new(link));
                    self.in_use = material;
                    last_failure = None;
                    tracing::info!(redis = %shown, "Redis credentials or certificates changed: calls now use a connection made with the new ones");
                }
                Err(failure) => {
                    if last_failure.as_ref() != Some(&failure) {
                        tracing::warn!(redis = %shown, error = %failure, "new Redis credentials or certificates could not be read or used; keeping the current connection and trying again");
                        last_failure = Some(failure);
                    }
                }
            }
        }
    }
}
