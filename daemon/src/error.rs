//! The daemon's service errors and the one place they become gRPC statuses.
//!
//! Messages are user-facing and follow huggingface_hub's wording; none of them ever contains a
//! token (the types that could carry one only hold masks or paths).

use crate::hub::HubError;
use crate::resolve::{Source, TokenFileError};
use crate::store::disk::StoreError;
use crate::store::ini::NameError;
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad request: token name, org token, malformed context. Python raises ValueError.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Not logged in. Run `hf-auth login` first.")]
    NotLoggedIn,
    #[error(transparent)]
    TokenFile(#[from] TokenFileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS keyring failed (missing, locked, slow): the message says how to fix it.
    #[error(transparent)]
    Keyring(#[from] crate::store::keyring::KeyringError),
    /// A Hub error, with the source of the token it was about (for the 401 wording).
    #[error("{}", hub_message(.error, *.token_source))]
    Hub { error: HubError, token_source: Source },
    /// The Hub (or the flow) failed in a way the caller may retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The request cannot be served in the current setup (the message says what to change).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Not allowed for this caller (a forwarded request outside `[forward]`'s policy).
    #[error("{0}")]
    PermissionDenied(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::store::ops::OpError> for Error {
    fn from(e: crate::store::ops::OpError) -> Self {
        match e {
            crate::store::ops::OpError::NotFound { .. } => Error::NotFound(e.to_string()),
            crate::store::ops::OpError::Store(s) => Error::Store(s),
            crate::store::ops::OpError::Keyring(k) => Error::Keyring(k),
        }
    }
}

impl From<crate::hub::oidc::OidcError> for Error {
    fn from(e: crate::hub::oidc::OidcError) -> Self {
        Error::FailedPrecondition(e.to_string())
    }
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        Error::InvalidArgument(e.to_string())
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("worker task failed: {e}"))
    }
}

/// huggingface_hub's 401 suffixes, chosen by where the token came from.
fn hub_message(error: &HubError, source: Source) -> String {
    let suffix = match (error, source) {
        (HubError::Unauthorized, Source::Env(var)) => format!(
            " The token from {} environment variable is invalid. Note that {} takes precedence over `hf-auth login`.",
            var.name(),
            var.name()
        ),
        (HubError::Unauthorized, Source::File | Source::Keyring) => {
            " The token stored is invalid. Please run `hf-auth login --force` to set a new token.".to_owned()
        }
        _ => String::new(),
    };
    format!("{error}{suffix}")
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::NotLoggedIn => Code::FailedPrecondition,
            Error::TokenFile(_) => Code::FailedPrecondition,
            Error::Store(StoreError::Name(_)) => Code::InvalidArgument,
            Error::Store(StoreError::Fs(crate::secure_fs::FsError::LockTimeout { .. })) => Code::Unavailable,
            Error::Store(_) => Code::FailedPrecondition,
            // Not Unavailable: clients read that as "the daemon is not running".
            Error::Keyring(_) => Code::FailedPrecondition,
            Error::Hub { error, .. } => match error {
                HubError::Unauthorized => Code::Unauthenticated,
                HubError::RateLimited => Code::ResourceExhausted,
                HubError::Offline { .. } | HubError::Unreachable { .. } => Code::Unavailable,
                HubError::Status { status, .. } if *status >= 500 => Code::Unavailable,
                HubError::Status { .. } | HubError::BadResponse { .. } => Code::FailedPrecondition,
            },
            Error::Unavailable(_) => Code::Unavailable,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::Internal(_) => Code::Internal,
        };
        Status::new(code, e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
