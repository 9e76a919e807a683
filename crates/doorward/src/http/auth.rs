//! Sign up, log in, refresh, log out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use doorward_core::accounts::{LoginId, LogoutScope, SignupInput, SignupOutcome};
use doorward_core::store::UserRecord;
use doorward_core::tokens::TokenPair;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ApiJson, Caller, Client, OptionalJson};
use super::problem::{ApiResult, Problem};
use super::rfc3339;
use crate::app::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 8 to 256 characters; must not contain the email or username.
    pub password: String,
    /// 3 to 32 of `[a-z0-9_.-]`.
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Give `email` or `username`, not both.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    pub password: String,
}

/// What `POST /v1/login` takes, as documented: exactly one of `email` and
/// `username`, with `password`. The handler reads `LoginRequest` (both
/// optional) so that a wrong combination gets a clear 422.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LoginBody {
    Email(LoginByEmail),
    Username(LoginByUsername),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginByEmail {
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginByUsername {
    pub username: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// This session only.
    #[default]
    Local,
    /// Every session of the user.
    Global,
    /// Every session but this one.
    Others,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    #[serde(default)]
    pub scope: Scope,
}

/// An account as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct UserBody {
    pub id: String,
    pub email: String,
    pub username: Option<String>,
    pub email_verified: bool,
    pub roles: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&UserRecord> for UserBody {
    fn from(u: &UserRecord) -> Self {
        UserBody {
            id: u.id.to_string(),
            email: u.email.clone(),
            username: u.username.clone(),
            email_verified: u.email_verified,
            roles: u.roles.clone(),
            created_at: rfc3339(u.created_at),
        }
    }
}

/// A new token pair.
#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl From<TokenPair> for TokenBody {
    fn from(p: TokenPair) -> Self {
        TokenBody {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: "Bearer",
            expires_in: p.expires_in,
        }
    }
}

/// The account and a new token pair.
#[derive(Serialize, ToSchema)]
pub struct AuthBody {
    pub user: UserBody,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

impl AuthBody {
    fn new(user: &UserRecord, pair: TokenPair) -> Self {
        let t = TokenBody::from(pair);
        AuthBody {
            user: user.into(),
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            token_type: t.token_type,
            expires_in: t.expires_in,
        }
    }
}

/// Create an account; answers with the account and a first token pair, or,
/// when email verification is required, 202 (the same for an address that
/// has an account already) and a mail.
#[utoipa::path(post, path = "/v1/signup", tag = "auth", request_body = SignupRequest, responses(
    (status = 201, body = AuthBody, description = "Account created and signed in"),
    (status = 202, body = Accepted, description = "Verification required: a mail went out"),
    (status = 400, body = Problem, description = "Malformed JSON"),
    (status = 409, body = Problem, description = "`email_taken` or `username_taken`"),
    (status = 413, body = Problem), (status = 415, body = Problem),
    (status = 422, body = Problem, description = "`invalid_request` or `weak_password`"),
    (status = 503, body = Problem, description = "Busy or database down; see Retry-After"),
))]
pub async fn signup(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SignupRequest>,
) -> ApiResult<Response> {
    let input = SignupInput {
        email: &body.email,
        password: &body.password,
        username: body.username.as_deref(),
    };
    match app.accounts.signup(input, &client, app.clock.now()).await? {
        SignupOutcome::SignedIn(user, pair) => {
            Ok((StatusCode::CREATED, Json(AuthBody::new(&user, pair))).into_response())
        }
        SignupOutcome::VerificationSent => Ok((
            StatusCode::ACCEPTED,
            Json(Accepted {
                status: "verification_sent",
                detail: "Check your mailbox for a link to confirm your email address.",
            }),
        )
            .into_response()),
    }
}

/// The body of a 202: the request was taken; what happens next is by mail.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// `verification_sent`, `mail_sent` or `accepted`.
    pub status: &'static str,
    pub detail: &'static str,
}

/// Log in with email or username and password.
#[utoipa::path(post, path = "/v1/login", tag = "auth", request_body = LoginBody, responses(
    (status = 200, body = AuthBody),
    (status = 400, body = Problem), (status = 401, body = Problem, description = "`invalid_credentials`, the same for unknown users and wrong passwords"),
    (status = 403, body = Problem, description = "`account_disabled` or `email_not_verified` (only after the right password)"),
    (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
    (status = 429, body = Problem, description = "`too_many_attempts`; see Retry-After"),
    (status = 503, body = Problem),
))]
pub async fn login(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<AuthBody>> {
    let id = match (&body.email, &body.username) {
        (Some(e), None) => LoginId::Email(e),
        (None, Some(u)) => LoginId::Username(u),
        _ => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "Give either `email` or `username`, and `password`.",
            )
            .into())
        }
    };
    let (user, pair) = app
        .accounts
        .login(id, &body.password, &client, app.clock.now())
        .await?;
    Ok(Json(AuthBody::new(&user, pair)))
}

/// Exchange a refresh token for a new pair. The presented token is rotated.
#[utoipa::path(post, path = "/v1/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenBody),
    (status = 400, body = Problem),
    (status = 401, body = Problem, description = "`invalid_refresh_token`, or `refresh_token_reused` (the session is revoked)"),
    (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
))]
pub async fn refresh(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenBody>> {
    let pair = app
        .accounts
        .refresh(&body.refresh_token, &client, app.clock.now())
        .await?;
    Ok(Json(pair.into()))
}

/// End this session (`local`, the default), all of the user's (`global`) or all others (`others`).
#[utoipa::path(post, path = "/v1/logout", tag = "auth", request_body(content = Option<LogoutRequest>, description = "optional"), security(("bearer" = [])), responses(
    (status = 204, description = "Logged out"),
    (status = 400, body = Problem), (status = 401, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
    (status = 422, body = Problem), (status = 503, body = Problem),
))]
pub async fn logout(
    State(app): State<AppState>,
    caller: Caller,
    Client(client): Client,
    OptionalJson(body): OptionalJson<LogoutRequest>,
) -> ApiResult<StatusCode> {
    let scope = match body.unwrap_or_default().scope {
        Scope::Local => LogoutScope::Local,
        Scope::Global => LogoutScope::Global,
        Scope::Others => LogoutScope::Others,
    };
    app.accounts
        .logout(
            caller.user_id,
            caller.session_id,
            scope,
            &client,
            app.clock.now(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
