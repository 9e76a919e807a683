//! The axum side: the `Authenticated` and `AuthenticatedShared` extractors, the
//! `Authorization: Bearer` parser they use, and `GuardRejection`, the 401 problem+json every
//! refusal becomes.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use doorward_token::{Claims, TokenError};
use serde::Serialize;

use crate::{Guard, GuardError};

/// The claims of a valid, unrevoked access token from `Authorization: Bearer <token>`.
///
/// Needs `Guard: FromRef<S>` for the router state `S`. A refused request never reaches the
/// handler; it gets a [`GuardRejection`] (401).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated(pub Claims);

impl<S> FromRequestParts<S> for Authenticated
where
    Guard: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = GuardRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let guard = Guard::from_ref(state);
        match bearer_token(&parts.headers).and_then(|token| guard.check_now(token)) {
            Ok(claims) => Ok(Authenticated(claims)),
            Err(error) => {
                tracing::debug!(reason = error.kind(), "bearer token refused");
                Err(GuardRejection(error))
            }
        }
    }
}

/// Like [`Authenticated`], but the claims are shared with the guard's cache of verified
/// tokens: for a token seen before, the check allocates nothing (no copy of the claims'
/// strings). Prefer it on hot routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatedShared(pub Arc<Claims>);

impl<S> FromRequestParts<S> for AuthenticatedShared
where
    Guard: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = GuardRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let guard = Guard::from_ref(state);
        match bearer_token(&parts.headers).and_then(|token| guard.check_shared_now(token)) {
            Ok(claims) => Ok(AuthenticatedShared(claims)),
            Err(error) => {
                tracing::debug!(reason = error.kind(), "bearer token refused");
                Err(GuardRejection(error))
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1).
///
/// The scheme matches case-insensitively (RFC 7235 §2.1), followed by exactly one space and a
/// non-empty token without whitespace. Only the header counts: tokens in the query string or
/// body are never read (they end up in logs and `Referer`s). No header, or another scheme,
/// is [`GuardError::Missing`]; several `Authorization` headers or a malformed bearer value is
/// `Invalid(Malformed)`.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, GuardError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(GuardError::Missing)?;
    if values.next().is_some() {
        return Err(GuardError::Invalid(TokenError::Malformed));
    }
    let value = value
        .to_str()
        .map_err(|_| GuardError::Invalid(TokenError::Malformed))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(GuardError::Missing);
    }
    if token.is_empty() || token.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(GuardError::Invalid(TokenError::Malformed));
    }
    Ok(token)
}

/// A refused request: always 401 with `WWW-Authenticate: Bearer error="invalid_token"` and
/// an `application/problem+json` body (RFC 9457) with `code` `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardRejection(pub GuardError);

impl From<GuardError> for GuardRejection {
    fn from(error: GuardError) -> Self {
        GuardRejection(error)
    }
}

#[derive(Serialize)]
struct Problem {
    r#type: &'static str,
    title: &'static str,
    status: u16,
    detail: &'static str,
    code: &'static str,
}

/// A short explanation for the client; never the token, never key material.
fn detail(error: &GuardError) -> &'static str {
    match error {
        GuardError::Missing => "The request has no bearer token.",
        GuardError::Revoked => "The session of this access token has been revoked.",
        GuardError::Invalid(e) => match e {
            TokenError::Malformed => "The bearer token is malformed.",
            TokenError::Expired => "The access token has expired.",
            TokenError::NotYetValid => "The access token is not valid yet.",
            TokenError::UnknownKey => "The access token is signed with an unknown key.",
            TokenError::WrongIssuer | TokenError::WrongAudience => {
                "The access token is not meant for this service."
            }
            TokenError::UnsupportedAlgorithm
            | TokenError::WrongType
            | TokenError::BadSignature
            | TokenError::Key(_) => "The access token is invalid.",
        },
    }
}

impl IntoResponse for GuardRejection {
    fn into_response(self) -> Response {
        let status = StatusCode::UNAUTHORIZED;
        let problem = Problem {
            r#type: "about:blank",
            title: "Unauthorized",
            status: status.as_u16(),
            detail: detail(&self.0),
            code: "invalid_token",
        };
        // Serializing a struct of strings and a number cannot fail.
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        (
            status,
            [
                (
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                ),
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                ),
            ],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests;
