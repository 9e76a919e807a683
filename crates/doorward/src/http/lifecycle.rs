//! Email verification, password reset and password change.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use doorward_core::accounts::Accounts;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Accepted;
use super::extract::{ApiJson, Caller, Client};
use super::problem::{ApiResult, Problem};
use crate::app::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The `token` of the link in the mail.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The `token` of the link in the reset mail.
    pub token: String,
    pub new_password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Confirm an email address with the token from the verification mail.
#[utoipa::path(post, path = "/v1/email/verify", tag = "account", request_body = TokenRequest, responses(
    (status = 204, description = "The address is verified"),
    (status = 400, body = Problem, description = "`invalid_or_expired_token`, or malformed JSON"),
    (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
    (status = 503, body = Problem),
))]
pub async fn verify_email(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<TokenRequest>,
) -> ApiResult<StatusCode> {
    app.accounts
        .verify_email(&body.token, &client, app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send another verification mail (at most 5 an hour).
#[utoipa::path(post, path = "/v1/email/verify/resend", tag = "account", security(("bearer" = [])), responses(
    (status = 202, body = Accepted, description = "A mail went out (nothing is sent when the address is verified)"),
    (status = 401, body = Problem), (status = 404, body = Problem),
    (status = 429, body = Problem, description = "`rate_limited`; see Retry-After"),
    (status = 503, body = Problem),
))]
pub async fn resend_verification(
    State(app): State<AppState>,
    caller: Caller,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    app.accounts
        .resend_verification(caller.user_id, app.clock.now())
        .await?;
    Ok(accepted(
        "mail_sent",
        "If the address still needs confirming, a new link is on its way.",
    ))
}

/// Ask for a password reset link. The answer is the same whether or not the
/// address has an account: the lookup and the mail happen after it is sent.
#[utoipa::path(post, path = "/v1/password/forgot", tag = "account", request_body = ForgotRequest, responses(
    (status = 202, body = Accepted, description = "Always, for any well-formed address"),
    (status = 400, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
    (status = 422, body = Problem, description = "Not an email address"),
))]
pub async fn forgot_password(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ForgotRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let email = Accounts::parse_forgot_email(&body.email)?;
    let accounts = app.accounts.clone();
    let now = app.clock.now();
    // Detached: neither the answer nor its timing depends on the account.
    tokio::spawn(async move {
        if let Err(e) = accounts.forgot_password(&email, &client, now).await {
            tracing::warn!(error = %e, "password reset request not completed");
        }
    });
    Ok(accepted(
        "accepted",
        "If an account uses this address, a reset link is on its way. It works for 30 minutes.",
    ))
}

/// Set a new password with the token from the reset mail; every session ends.
#[utoipa::path(post, path = "/v1/password/reset", tag = "account", request_body = ResetRequest, responses(
    (status = 204, description = "Password set; every session was signed out"),
    (status = 400, body = Problem, description = "`invalid_or_expired_token`, or malformed JSON"),
    (status = 413, body = Problem), (status = 415, body = Problem),
    (status = 422, body = Problem, description = "`invalid_request` or `weak_password`"),
    (status = 503, body = Problem),
))]
pub async fn reset_password(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetRequest>,
) -> ApiResult<StatusCode> {
    app.accounts
        .reset_password(&body.token, &body.new_password, &client, app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password; every other session ends, this one stays.
#[utoipa::path(post, path = "/v1/me/password", tag = "account", security(("bearer" = [])),
    request_body = ChangePasswordRequest, responses(
    (status = 204, description = "Password changed; other sessions were signed out"),
    (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
    (status = 413, body = Problem), (status = 415, body = Problem),
    (status = 422, body = Problem, description = "`invalid_request` (`current_password`: `incorrect_password`) or `weak_password`"),
    (status = 429, body = Problem, description = "`too_many_attempts`: too many wrong current passwords or failed logins; see `Retry-After`"),
    (status = 503, body = Problem),
))]
pub async fn change_password(
    State(app): State<AppState>,
    caller: Caller,
    Client(client): Client,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    app.accounts
        .change_password(
            caller.user_id,
            caller.session_id,
            &body.current_password,
            &body.new_password,
            &client,
            app.clock.now(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn accepted(status: &'static str, detail: &'static str) -> (StatusCode, Json<Accepted>) {
    (StatusCode::ACCEPTED, Json(Accepted { status, detail }))
}
