//! Every API error as `application/problem+json` (RFC 9457) with a stable
//! `code`. `From<core::Error>` is the one place that picks status and code,
//! in an exhaustive match: a new error variant does not compile until it is
//! given a status here (a catch-all is how new errors silently become 500s).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use doorward_core::types::FieldError;
use doorward_core::Error;
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field of a 422 answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: `code` is what clients switch on.
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case code.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// For 5xx: quote this to the operator; the log has the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            type_: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            errors: Vec::new(),
            request_id: None,
            retry_after: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Problem {
        self.errors = errors
            .into_iter()
            .map(|e| FieldProblem {
                field: e.field.to_owned(),
                code: e.code.to_owned(),
                message: e.message,
            })
            .collect();
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Problem {
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = retry {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// Core errors as problems. 5xx causes are logged by the caller
/// (`ApiError::into_response`), never put in the body.
impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        match e {
            Error::Invalid(errors) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", "Some fields are not valid; see `errors`.")
                    .with_errors(errors)
            }
            Error::WeakPassword { field, reason } => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", reason.clone())
                .with_errors(vec![FieldError::new(field, "weak_password", reason)]),
            Error::EmailTaken => {
                Problem::new(StatusCode::CONFLICT, "email_taken", "An account with this email address exists already.")
            }
            Error::UsernameTaken => Problem::new(StatusCode::CONFLICT, "username_taken", "This username is taken."),
            Error::InvalidCredentials => {
                Problem::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "The email, username or password is not right.")
            }
            Error::AccountDisabled => Problem::new(StatusCode::FORBIDDEN, "account_disabled", "This account is disabled."),
            Error::InvalidRefreshToken => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "The refresh token is unknown, expired or revoked: log in again.",
            ),
            Error::RefreshReused => Problem::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "This refresh token was used before; the session has been ended for safety: log in again.",
            ),
            Error::NotFound => Problem::new(StatusCode::NOT_FOUND, "not_found", "No such resource."),
            Error::Busy { retry_after_secs } => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "server_busy", "The server is busy; try again shortly.")
                    .retry_after(retry_after_secs)
            }
            Error::Unavailable => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The database cannot be reached; try again shortly.",
            )
            .retry_after(1),
            Error::Internal(_) => {
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side.")
            }
            // Account lifecycle (issue 4)
            Error::EmailNotVerified => Problem::new(
                StatusCode::FORBIDDEN,
                "email_not_verified",
                "Confirm your email address first: follow the link in the mail we sent.",
            ),
            Error::InvalidOrExpiredToken => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_or_expired_token",
                "This link is invalid, was used already, or has expired: ask for a new one.",
            ),
            Error::RateLimited { retry_after_secs } => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many mails were sent; try again later.")
                    .retry_after(retry_after_secs)
            }
            Error::Forbidden => Problem::new(StatusCode::FORBIDDEN, "forbidden", "This needs the `admin` role."),
            Error::OwnAccount => Problem::new(
                StatusCode::CONFLICT,
                "own_account",
                "Administrators cannot disable, delete or remove the admin role from their own account.",
            ),
            // Login throttling (issue 4)
            Error::TooManyAttempts { retry_after_secs } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many failed logins; try again after the time in Retry-After.",
            )
            .retry_after(retry_after_secs),
        }
    }
}

/// What handlers return on failure: a core error (logged when it is a 5xx)
/// or a ready problem.
#[derive(Debug)]
pub enum ApiError {
    Core(Error),
    Problem(Problem),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Core(e)
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError::Problem(p)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Core(e) => {
                if let Error::Internal(cause) = &e {
                    // Inside the request span, so the line carries the request id.
                    tracing::error!(cause = %cause, "internal error");
                }
                Problem::from(e).into_response()
            }
            ApiError::Problem(p) => p.into_response(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_detail_never_reaches_the_body() {
        let p = Problem::from(Error::Internal(
            "SELECT * FROM users; secret=hunter2".into(),
        ));
        let body = serde_json::to_string(&p).unwrap();
        assert!(
            !body.contains("hunter2") && !body.contains("SELECT"),
            "{body}"
        );
        assert_eq!(p.status, 500);
    }

    #[test]
    fn too_many_attempts_is_429_with_retry_after() {
        let res = Problem::from(Error::TooManyAttempts {
            retry_after_secs: 30,
        })
        .into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "30");
    }

    #[test]
    fn busy_has_retry_after() {
        let res = Problem::from(Error::Busy {
            retry_after_secs: 2,
        })
        .into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "2");
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
