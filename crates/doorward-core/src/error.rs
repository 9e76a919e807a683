//! `Error`: what happened, in the domain's words. Never an HTTP status:
//! the binary's `http/problem.rs` alone maps these to responses.

use crate::store::StoreError;
use crate::types::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input failed validation; one entry per field.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// The password policy refused `field` (`password`, `new_password`).
    #[error("weak password: {reason}")]
    WeakPassword { field: &'static str, reason: String },
    #[error("email already registered")]
    EmailTaken,
    #[error("username already taken")]
    UsernameTaken,
    /// Unknown user or wrong password: deliberately one outcome.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account disabled")]
    AccountDisabled,
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error("refresh token reused")]
    RefreshReused,
    #[error("not found")]
    NotFound,
    /// Too many password hashes queued: try again shortly.
    #[error("busy")]
    Busy { retry_after_secs: u64 },
    /// The database is unreachable.
    #[error("unavailable")]
    Unavailable,
    /// Anything else; the cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
    // Account lifecycle (issue 4)
    /// Right password, but the address is not verified yet (and
    /// `auth.require_email_verification` is on).
    #[error("email not verified")]
    EmailNotVerified,
    /// A verification or reset token that is unknown, used, superseded or expired.
    #[error("invalid or expired token")]
    InvalidOrExpiredToken,
    /// Too many mails of one kind for one account; try again later.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The caller lacks the role this needs.
    #[error("forbidden")]
    Forbidden,
    /// An administrator tried to disable, delete or demote their own account.
    #[error("cannot change own account")]
    OwnAccount,
    // Login throttling (issue 4)
    /// Too many failed logins for the account or from the client; try again
    /// after this many seconds.
    #[error("too many attempts")]
    TooManyAttempts { retry_after_secs: u64 },
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict("email") => Error::EmailTaken,
            StoreError::Conflict("username") => Error::UsernameTaken,
            StoreError::Conflict(other) => Error::Internal(format!("conflict on {other}")),
            StoreError::NotFound => Error::NotFound,
            StoreError::Unavailable(_) => Error::Unavailable,
            StoreError::Other(m) => Error::Internal(m),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
