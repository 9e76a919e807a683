//! Form bodies, and core errors as what the re-rendered form shows: a
//! message next to each field at fault, or one alert above the form.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use doorward_core::Error;
use serde::de::DeserializeOwned;

use super::error::WebError;

/// A `application/x-www-form-urlencoded` body (the CSRF layer has checked
/// it already). Every field of `T` should default, so a missing field is
/// an empty value the core reports on, not a parse failure.
pub struct PageForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for PageForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| WebError::BadRequest)?;
        serde_urlencoded::from_bytes(&bytes)
            .map(PageForm)
            .map_err(|_| WebError::BadRequest)
    }
}

/// What a re-rendered form tells its user.
#[derive(Debug, Default)]
pub struct Feedback {
    /// `(field name, message)`.
    pub fields: Vec<(&'static str, String)>,
    /// A message about the whole form.
    pub alert: Option<String>,
}

impl Feedback {
    pub fn alert(message: impl Into<String>) -> Feedback {
        Feedback {
            fields: Vec::new(),
            alert: Some(message.into()),
        }
    }

    pub fn field(name: &'static str, message: impl Into<String>) -> Feedback {
        Feedback {
            fields: vec![(name, message.into())],
            alert: None,
        }
    }

    /// The message for `name`, if it is at fault (for the templates).
    pub fn error(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.alert.is_none()
    }
}

fn minutes(secs: u64) -> u64 {
    secs.div_ceil(60).max(1)
}

/// A core error as the form's status and feedback; errors that are no
/// fault of the form (database down, busy, internal) become error pages.
/// `password_field` is the field a weak password is reported on.
pub fn feedback(
    e: Error,
    password_field: &'static str,
) -> Result<(StatusCode, Feedback), WebError> {
    let out = match e {
        Error::Invalid(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Feedback {
                fields: errors.into_iter().map(|e| (e.field, e.message)).collect(),
                alert: None,
            },
        ),
        Error::WeakPassword { reason, .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Feedback::field(password_field, reason),
        ),
        Error::EmailTaken => (
            StatusCode::CONFLICT,
            Feedback::field(
                "email",
                "An account already uses this email address. Log in, or reset its password.",
            ),
        ),
        Error::UsernameTaken => (
            StatusCode::CONFLICT,
            Feedback::field("username", "This username is taken. Choose another one."),
        ),
        Error::InvalidCredentials => (
            StatusCode::UNAUTHORIZED,
            Feedback::alert("Wrong email, username or password. Check them and try again."),
        ),
        Error::AccountDisabled => (
            StatusCode::FORBIDDEN,
            Feedback::alert("This account is disabled. Ask your administrator."),
        ),
        Error::EmailNotVerified => (
            StatusCode::FORBIDDEN,
            Feedback::alert(
                "Confirm your email address first: open the link in the mail we sent you.",
            ),
        ),
        Error::InvalidOrExpiredToken => (
            StatusCode::BAD_REQUEST,
            Feedback::alert(
                "This link is invalid, was used already or has expired. Ask for a new one.",
            ),
        ),
        Error::RateLimited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            Feedback::alert(format!(
                "Too many mails of this kind were sent. Try again in {} minutes.",
                minutes(retry_after_secs)
            )),
        ),
        Error::InvalidRefreshToken | Error::RefreshReused => (
            StatusCode::UNAUTHORIZED,
            Feedback::alert("Your session has ended. Log in again."),
        ),
        Error::Forbidden => (
            StatusCode::FORBIDDEN,
            Feedback::alert("You are not allowed to do this."),
        ),
        Error::TooManyAttempts { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            Feedback::alert(format!(
                "Too many failed attempts. Try again in {retry_after_secs} seconds, \
                 or reset your password."
            )),
        ),
        Error::OwnAccount => (
            StatusCode::CONFLICT,
            Feedback::alert("You cannot do this to your own account."),
        ),
        e @ (Error::NotFound | Error::Busy { .. } | Error::Unavailable | Error::Internal(_)) => {
            return Err(WebError::from(e))
        }
    };
    Ok(out)
}

/// A query string as `T`; a malformed one counts as empty.
pub fn query<T: DeserializeOwned + Default>(raw: Option<String>) -> T {
    raw.and_then(|q| serde_urlencoded::from_str(&q).ok())
        .unwrap_or_default()
}
