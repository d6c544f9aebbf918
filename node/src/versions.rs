//! The versions a node speaks and stores, and the one rule for meeting another:
//! Kubernetes replaces pods one at a time, so dispatchers and workers one release
//! apart meet on the link, and a worker reads what a worker of another release
//! stored. Each build speaks a window of versions (the newest it writes, the
//! oldest it still understands); two windows that overlap interoperate at the
//! newest version both speak, and anything outside is told apart from corruption
//! and refused as retryable (`UNAVAILABLE`): a node of the other release may
//! take the call soon.
//!
//! Two things carry a version: the dispatcher–worker link (agreed when a stream
//! opens, see [`crate::link`]) and the records a worker stores in Redis (the shop
//! record's `format`, read at load). The next release that changes either bumps
//! the newest number here and keeps the oldest where it is for one release.

/// The link protocol version this build speaks at best.
pub const LINK_VERSION: u32 = 1;
/// The oldest link protocol version this build still speaks.
pub const OLDEST_LINK_VERSION: u32 = 1;
/// The format of the records this build writes.
pub const RECORD_FORMAT: u32 = 1;
/// The oldest record format this build still reads. A record that names no
/// format was written before formats existed and reads as format 1.
pub const OLDEST_RECORD_FORMAT: u32 = 1;

/// For tests only: set to `1`, a node claims the next release's versions (link
/// and record format one higher, still understanding this release's), so that a
/// mixed fleet and a rolling upgrade can be tested without building a second
/// binary. Read once, when a worker or dispatcher starts.
pub const VERSION_BUMP_ENV: &str = "FENLIU_TEST_VERSION_BUMP";

/// A range of versions, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The oldest version understood.
    pub oldest: u32,
    /// The newest version understood, and the one written or offered.
    pub newest: u32,
}

impl Window {
    /// The newest version both `self` and `theirs` speak, if any.
    pub fn agree(self, theirs: Window) -> Option<u32> {
        let agreed = self.newest.min(theirs.newest);
        (agreed >= self.oldest.max(theirs.oldest)).then_some(agreed)
    }

    /// Whether `version` is in the window.
    pub fn understands(self, version: u32) -> bool {
        (self.oldest..=self.newest).contains(&version)
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.oldest == self.newest {
            write!(f, "{}", self.newest)
        } else {
            write!(f, "{} to {}", self.oldest, self.newest)
        }
    }
}

/// What a node speaks on the link and reads and writes in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// The link protocol versions, offered by a dispatcher, accepted by a worker.
    pub link: Window,
    /// The record formats a worker reads; it writes the newest.
    pub records: Window,
}

impl Versions {
    /// This build's versions.
    pub const CURRENT: Versions = Versions {
        link: Window {
            oldest: OLDEST_LINK_VERSION,
            newest: LINK_VERSION,
        },
        records: Window {
            oldest: OLDEST_RECORD_FORMAT,
            newest: RECORD_FORMAT,
        },
    };

    /// The next release's, as tests stand it in ([`VERSION_BUMP_ENV`]): one
    /// higher on the link and in the records, still understanding this
    /// release's (the oldest stays).
    pub const BUMPED: Versions = Versions {
        link: Window {
            oldest: OLDEST_LINK_VERSION,
            newest: LINK_VERSION + 1,
        },
        records: Window {
            oldest: OLDEST_RECORD_FORMAT,
            newest: RECORD_FORMAT + 1,
        },
    };

    /// [`Versions::BUMPED`] when [`VERSION_BUMP_ENV`] is `1`, else this build's;
    /// read once, when a node starts. A bump is logged: no production node
    /// should run with it.
    pub fn from_env() -> Versions {
        let versions =
            Self::bumped_if(std::env::var(VERSION_BUMP_ENV).is_ok_and(|value| value == "1"));
        if versions != Versions::CURRENT {
            tracing::warn!(
                link = %versions.link,
                records = %versions.records,
                "{VERSION_BUMP_ENV}: claiming the next release's versions (for tests only)"
            );
        }
        versions
    }

    /// [`Versions::BUMPED`] if `bumped`, else [`Versions::CURRENT`].
    pub fn bumped_if(bumped: bool) -> Versions {
        if bumped {
            Versions::BUMPED
        } else {
            Versions::CURRENT
        }
    }
}

impl Default for Versions {
    fn default() -> Versions {
        Versions::CURRENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_windows_agree_on_the_newest_version_both_speak() {
        let current = Versions::CURRENT.link;
        let next = Versions::BUMPED.link;
        assert_eq!(current.agree(current), Some(LINK_VERSION));
        assert_eq!(next.agree(next), Some(LINK_VERSION + 1));
        // Either way round: the older end's newest.
        assert_eq!(current.agree(next), Some(LINK_VERSION));
        assert_eq!(next.agree(current), Some(LINK_VERSION));
    }

    #[test]
    fn windows_apart_do_not_agree() {
        let current = Versions::CURRENT.link;
        let far = Window {
            oldest: LINK_VERSION + 2,
            newest: LINK_VERSION + 3,
        };
        assert_eq!(current.agree(far), None);
        assert_eq!(far.agree(current), None);
    }

    #[test]
    fn the_next_release_still_reads_this_releases_records_and_not_the_reverse() {
        let (current, next) = (Versions::CURRENT.records, Versions::BUMPED.records);
        assert!(next.understands(current.newest));
        assert!(!current.understands(next.newest));
        assert!(!current.understands(OLDEST_RECORD_FORMAT - 1));
    }

    #[test]
    fn a_window_names_its_versions() {
        assert_eq!(Versions::CURRENT.link.to_string(), "1");
        assert_eq!(Versions::BUMPED.link.to_string(), "1 to 2");
    }
}
