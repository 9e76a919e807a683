//! The caller's own account: profile and sessions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::UserBody;
use super::extract::{Caller, Client};
use super::problem::{ApiResult, Problem};
use super::rfc3339;
use crate::app::AppState;

/// One active session.
#[derive(Serialize, ToSchema)]
pub struct SessionBody {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session of the token making this request.
    pub current: bool,
}

/// The caller's account.
#[utoipa::path(get, path = "/v1/me", tag = "account", security(("bearer" = [])), responses(
    (status = 200, body = UserBody), (status = 401, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
))]
pub async fn me(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<UserBody>> {
    let user = app.accounts.profile(caller.user_id).await?;
    Ok(Json(user.as_ref().into()))
}

/// The caller's active sessions, newest first.
#[utoipa::path(get, path = "/v1/sessions", tag = "account", security(("bearer" = [])), responses(
    (status = 200, body = Vec<SessionBody>), (status = 401, body = Problem), (status = 503, body = Problem),
))]
pub async fn sessions(
    State(app): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<SessionBody>>> {
    let list = app
        .accounts
        .sessions(caller.user_id, caller.session_id, app.clock.now())
        .await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionBody {
                id: s.record.id.to_string(),
                created_at: rfc3339(s.record.created_at),
                last_used_at: rfc3339(s.record.last_used_at),
                ip: s.record.ip,
                user_agent: s.record.user_agent,
                current: s.current,
            })
            .collect(),
    ))
}

/// End one of the caller's sessions. Another user's session id is 404.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")), responses(
    (status = 204), (status = 401, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
))]
pub async fn revoke_session(
    State(app): State<AppState>,
    caller: Caller,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let Ok(id) = Uuid::parse_str(&id) else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "not_found", "No such session.").into());
    };
    app.accounts
        .revoke_session(caller.user_id, id, &client, app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
