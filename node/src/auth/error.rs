//! Why a call was refused by authentication or authorization, and the status the
//! caller sees: `UNAUTHENTICATED` for no token or a bad one, `PERMISSION_DENIED`
//! for a token that does not allow the call, naming what is missing.

use tonic::Status;

/// A refused call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token, or one that does not verify.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid token that does not allow this call.
    #[error("{0}")]
    PermissionDenied(String),
}

impl AuthError {
    pub fn unauthenticated(why: impl Into<String>) -> AuthError {
        AuthError::Unauthenticated(why.into())
    }

    pub fn permission_denied(why: impl Into<String>) -> AuthError {
        AuthError::PermissionDenied(why.into())
    }

    pub fn to_status(&self) -> Status {
        match self {
            AuthError::Unauthenticated(why) => Status::unauthenticated(why.clone()),
            AuthError::PermissionDenied(why) => Status::permission_denied(why.clone()),
        }
    }
}
