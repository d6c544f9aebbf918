//! What a failed Redis call means ([`RedisFailure`]), and the words it is
//! reported in.
//!
//! Error policy: a Redis that cannot be reached, is loading, is failing over, or is
//! too slow is *transient* ([`RedisFailure::Unavailable`], which callers report as
//! `UNAVAILABLE`, never `INVALID_ARGUMENT`: clients retry transient codes and give
//! up on the others). So is a Redis that refuses fenliu's credentials
//! (`WRONGPASS`, `NOAUTH`) or a command or key its ACL user may not use
//! (`NOPERM`): the caller did nothing wrong, and an operator who fixes the
//! password, the certificates or the ACL brings the deployment back without a
//! restart. A script or protocol error is a bug of ours, or data this version
//! cannot read ([`RedisFailure::Corrupt`], `INTERNAL`).

use redis::{ErrorKind, RedisError, ServerErrorKind};

/// Why a call to Redis failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RedisFailure {
    /// Redis is unreachable, loading, failing over, too slow, or refuses our
    /// credentials or permissions: try again (after an operator's fix).
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// A reply this version cannot read, or a script that failed.
    #[error("stored state unreadable: {0}")]
    Corrupt(String),
}

/// The Redis error codes that mean "not allowed": wrong credentials, none, or a
/// command or key outside the ACL user's rights.
const REFUSAL_CODES: [&str; 3] = ["WRONGPASS", "NOAUTH", "NOPERM"];

/// How Redis words a command a script called that the ACL user may not run,
/// or a key it may not touch (an `ERR`, not `NOPERM`, from inside a script).
const SCRIPT_REFUSAL: &str = "The user executing the script can't";

/// Whether Redis refused `error` for want of rights or credentials.
fn is_refusal(error: &RedisError) -> bool {
    matches!(error.kind(), ErrorKind::Server(ServerErrorKind::NoPerm))
        || error
            .code()
            .is_some_and(|code| REFUSAL_CODES.contains(&code))
        || error
            .detail()
            .is_some_and(|detail| detail.contains(SCRIPT_REFUSAL))
}

/// Where an operator looks when Redis refuses fenliu.
const REFUSAL_HINT: &str = "check the ACL user of --redis-url, the password of --redis-password-file, and the user's rights against the README's ACL rule (Security, Redis)";

/// `error` in Redis' own words for a server error (`NOPERM User fenliu has no
/// permissions ...`, as redis-cli shows it), else as the client renders it.
fn described(error: &RedisError) -> String {
    match (error.kind(), error.code(), error.detail()) {
        (ErrorKind::Server(_) | ErrorKind::Extension, Some(code), Some(detail)) => {
            format!("{code} {detail}")
        }
        _ => error.to_string(),
    }
}

/// The `kind` label of `fenliu_redis_errors_total` for a failed call (one of
/// `metrics::names::REDIS_ERROR_KINDS`), or `None` when the error is part of
/// normal work: a Redis that does not know a script yet (`NOSCRIPT`) is sent
/// it, and the call again.
pub fn error_kind(error: &RedisError) -> Option<&'static str> {
    let kind = match error.kind() {
        ErrorKind::Server(ServerErrorKind::NoScript) => return None,
        ErrorKind::AuthenticationFailed => "refused",
        _ if is_refusal(error) => "refused",
        _ if error.is_timeout() => "timeout",
        ErrorKind::Server(
            ServerErrorKind::BusyLoading | ServerErrorKind::TryAgain | ServerErrorKind::MasterDown,
        ) => "loading",
        ErrorKind::Server(ServerErrorKind::ClusterDown) => "cluster",
        _ if error.is_cluster_error() => "cluster",
        ErrorKind::Io | ErrorKind::ClusterConnectionNotFound => "connection",
        _ if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal() =>
        {
            "connection"
        }
        _ => "other",
    };
    Some(kind)
}

impl From<RedisError> for RedisFailure {
    /// Every error reaching here is of the transient kind except a script or
    /// protocol error, which is a bug of ours: reported as `Corrupt` (INTERNAL).
    fn from(error: RedisError) -> Self {
        if is_refusal(&error) {
            return RedisFailure::Unavailable(format!(
                "Redis refused fenliu: {}; {REFUSAL_HINT}",
                described(&error)
            ));
        }
        if error.kind() == ErrorKind::AuthenticationFailed {
            // The client hides the server's reply to AUTH; with a password
            // given, Redis (6 and later) answers WRONGPASS.
            return RedisFailure::Unavailable(format!(
                "Redis refused fenliu's credentials: WRONGPASS (a wrong password, or an unknown or disabled ACL user); {REFUSAL_HINT}"
            ));
        }
        let transient = error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_cluster_error()
            || matches!(
                error.kind(),
                ErrorKind::Io
                    | ErrorKind::ClusterConnectionNotFound
                    | ErrorKind::Server(
                        ServerErrorKind::BusyLoading
                            | ServerErrorKind::TryAgain
                            | ServerErrorKind::MasterDown
                            | ServerErrorKind::ClusterDown
                    )
            );
        if transient {
            RedisFailure::Unavailable(described(&error))
        } else {
            RedisFailure::Corrupt(described(&error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(reply: &str) -> RedisError {
        // A reply as Redis sends it, parsed as the client parses one.
        let bytes = format!("-{reply}\r\n");
        let value = redis::parse_redis_value(bytes.as_bytes()).expect("a RESP error reply");
        value.extract_error().expect_err("an error reply")
    }

    #[test]
    fn refusals_are_unavailable_and_name_the_redis_error() {
        for reply in [
            "NOPERM User fenliu has no permissions to run the 'evalsha' command",
            "NOAUTH Authentication required.",
            "WRONGPASS invalid username-password pair or user is disabled.",
            // A command a script called, outside the user's rights (an ERR).
            "ERR The user executing the script can't run this command or subcommand script: 40368e94, on @user_script:8.",
        ] {
            let failure = RedisFailure::from(server_error(reply));
            let RedisFailure::Unavailable(message) = &failure else {
                panic!("{reply}: {failure:?}");
            };
            assert!(message.contains(reply), "{message}");
            assert!(message.contains("--redis-password-file"), "{message}");
        }
    }

    #[test]
    fn a_refused_password_is_unavailable_and_says_wrongpass() {
        let error = RedisError::from((
            ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        let message = RedisFailure::from(error).to_string();
        assert!(
            message.starts_with("state store unavailable: "),
            "{message}"
        );
        assert!(message.contains("WRONGPASS"), "{message}");
    }

    #[test]
    fn each_failure_is_counted_under_its_kind() {
        let timed_out = RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "redis call took longer than 300 ms",
        ));
        assert_eq!(error_kind(&timed_out), Some("timeout"));
        let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(error_kind(&reset), Some("connection"));
        assert_eq!(
            error_kind(&server_error("NOPERM User fenliu has no permissions")),
            Some("refused")
        );
        assert_eq!(
            error_kind(&server_error("WRONGPASS invalid username-password pair")),
            Some("refused")
        );
        assert_eq!(
            error_kind(&server_error("LOADING Redis is loading")),
            Some("loading")
        );
        assert_eq!(
            error_kind(&server_error("CLUSTERDOWN The cluster is down")),
            Some("cluster")
        );
        assert_eq!(
            error_kind(&server_error("ERR user_script:1: boom")),
            Some("other")
        );
        assert_eq!(
            error_kind(&server_error("NOSCRIPT No matching script")),
            None
        );
        for kind in [timed_out, reset].iter().filter_map(error_kind) {
            assert!(crate::metrics::names::REDIS_ERROR_KINDS.contains(&kind));
        }
    }

    #[test]
    fn a_script_error_is_corrupt_and_loading_is_unavailable() {
        let failure = RedisFailure::from(server_error("ERR user_script:1: boom"));
        assert!(matches!(failure, RedisFailure::Corrupt(_)), "{failure:?}");
        let failure = RedisFailure::from(server_error("LOADING Redis is loading"));
        assert!(
            matches!(failure, RedisFailure::Unavailable(_)),
            "{failure:?}"
        );
    }
}
