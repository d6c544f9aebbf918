//! Why the engine refuses a call. Each error names the request field at fault, so the
//! gRPC layer can map it one-to-one to a status whose message names that field.

/// A refused call. A refused call has changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The field's value is malformed or out of range.
    #[error("{field}: {message}")]
    InvalidArgument {
        field: &'static str,
        message: String,
    },
    /// The field names something that does not exist in this shop.
    #[error("{field}: {message}")]
    NotFound {
        field: &'static str,
        message: String,
    },
    /// Valid, but the shop's state or settings forbid it.
    #[error("{field}: {message}")]
    FailedPrecondition {
        field: &'static str,
        message: String,
    },
    /// The acting account may not do this (R19).
    #[error("{field}: {message}")]
    PermissionDenied {
        field: &'static str,
        message: String,
    },
    /// The call would grow the shop past one of its caps
    /// ([`super::limits::ShopLimits`]); `field` names the cap.
    #[error("{field}: {message}")]
    ResourceExhausted {
        field: &'static str,
        message: String,
    },
}

impl EngineError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        EngineError::InvalidArgument {
            field,
            message: message.into(),
        }
    }

    pub fn not_found(field: &'static str, message: impl Into<String>) -> Self {
        EngineError::NotFound {
            field,
            message: message.into(),
        }
    }

    pub fn failed_precondition(field: &'static str, message: impl Into<String>) -> Self {
        EngineError::FailedPrecondition {
            field,
            message: message.into(),
        }
    }

    pub fn permission_denied(field: &'static str, message: impl Into<String>) -> Self {
        EngineError::PermissionDenied {
            field,
            message: message.into(),
        }
    }

    pub fn resource_exhausted(cap: &'static str, message: impl Into<String>) -> Self {
        EngineError::ResourceExhausted {
            field: cap,
            message: message.into(),
        }
    }

    /// The request field this error is about (for a cap: the cap's name).
    pub fn field(&self) -> &'static str {
        match self {
            EngineError::InvalidArgument { field, .. }
            | EngineError::NotFound { field, .. }
            | EngineError::FailedPrecondition { field, .. }
            | EngineError::PermissionDenied { field, .. }
            | EngineError::ResourceExhausted { field, .. } => field,
        }
    }
}
