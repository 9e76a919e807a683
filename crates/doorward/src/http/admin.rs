//! The admin API: users (list, search, view, disable/enable, roles,
//! delete, forced reset). Every route needs the `admin` role.

use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use doorward_core::accounts::ROLE_ADMIN;
use doorward_core::admin::DEFAULT_PAGE;
use doorward_core::store::{UserPatch, UserRecord};
use doorward_core::types::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Accepted;
use super::extract::{ApiQuery, Caller, Client};
use super::problem::{ApiResult, Problem};
use super::rfc3339;
use crate::app::AppState;

/// A caller with the `admin` role (from the verified token; changing a
/// user's roles revokes their sessions, so the claim is current).
pub struct Admin(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    doorward_guard::Guard: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if caller.claims.roles.iter().any(|r| r == ROLE_ADMIN) {
            Ok(Admin(caller))
        } else {
            Err(Problem::from(doorward_core::Error::Forbidden).into_response())
        }
    }
}

/// A user as an administrator sees it.
#[derive(Serialize, ToSchema)]
pub struct AdminUserBody {
    pub id: String,
    pub email: String,
    pub username: Option<String>,
    pub email_verified: bool,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UserRecord> for AdminUserBody {
    fn from(u: &UserRecord) -> Self {
        AdminUserBody {
            id: u.id.to_string(),
            email: u.email.clone(),
            username: u.username.clone(),
            email_verified: u.email_verified,
            roles: u.roles.clone(),
            disabled: u.disabled,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

/// One page of users.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<AdminUserBody>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Query parameters (`parameter_in = Query`: without it utoipa documents
/// the fields as required path parameters, which no client can send).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    /// Substring of the email or username (case-insensitive).
    pub q: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    /// Disabling ends every session of the user at once.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// The complete new set (`user` is always kept); a change ends every
    /// session of the user at once.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

fn invalid(field: &'static str, code: &'static str, message: &'static str) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        "A query parameter is not valid; see `errors`.",
    )
    .with_errors(vec![FieldError::new(field, code, message)])
}

pub(super) fn page_limit(limit: Option<u32>) -> Result<u32, Problem> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=doorward_core::admin::MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(invalid("limit", "out_of_range", "`limit` is 1 to 200.")),
    }
}

fn user_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw)
        .map_err(|_| Problem::new(StatusCode::NOT_FOUND, "not_found", "No such user."))
}

/// Users in creation order, with search and paging.
#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", security(("bearer" = [])),
    params(UserListQuery), responses(
    (status = 200, body = UserList), (status = 401, body = Problem),
    (status = 403, body = Problem, description = "`forbidden`: not an administrator"),
    (status = 422, body = Problem), (status = 503, body = Problem),
))]
pub async fn list_users(
    State(app): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<UserListQuery>,
) -> ApiResult<Json<UserList>> {
    let limit = page_limit(query.limit)?;
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(Uuid::parse_str(c).map_err(|_| {
            invalid(
                "cursor",
                "invalid_cursor",
                "Pass the `next_cursor` of the previous page.",
            )
        })?),
    };
    let q = query.q.as_deref();
    if q.is_some_and(|q| q.chars().count() > 256) {
        return Err(invalid("q", "too_long", "Search for at most 256 characters.").into());
    }
    // No address or username holds a control character, and PostgreSQL
    // refuses NUL in text (a 500 before this check).
    if q.is_some_and(|q| q.chars().any(char::is_control)) {
        return Err(invalid(
            "q",
            "invalid_query",
            "Search text cannot hold control characters.",
        )
        .into());
    }
    let page = app.accounts.admin_list_users(q, after, limit).await?;
    Ok(Json(UserList {
        items: page.items.iter().map(AdminUserBody::from).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

/// One user.
#[utoipa::path(get, path = "/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), responses(
    (status = 200, body = AdminUserBody), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 503, body = Problem),
))]
pub async fn get_user(
    State(app): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<AdminUserBody>> {
    let user = app.accounts.admin_user(user_id(&id)?).await?;
    Ok(Json((&user).into()))
}

/// Disable/enable a user or set their roles.
#[utoipa::path(patch, path = "/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), request_body = UserPatchBody, responses(
    (status = 200, body = AdminUserBody), (status = 400, body = Problem), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "`own_account`: administrators cannot disable or demote themselves"),
    (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
    (status = 503, body = Problem),
))]
pub async fn update_user(
    State(app): State<AppState>,
    Admin(admin): Admin,
    Client(client): Client,
    Path(id): Path<String>,
    super::extract::ApiJson(body): super::extract::ApiJson<UserPatchBody>,
) -> ApiResult<Json<AdminUserBody>> {
    let id = user_id(&id)?;
    let patch = UserPatch {
        disabled: body.disabled,
        roles: body.roles,
    };
    let user = app
        .accounts
        .admin_update_user(admin.user_id, id, patch, &client, app.clock.now())
        .await?;
    Ok(Json((&user).into()))
}

/// Delete a user; their sessions end at once.
#[utoipa::path(delete, path = "/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 409, body = Problem, description = "`own_account`"),
    (status = 503, body = Problem),
))]
pub async fn delete_user(
    State(app): State<AppState>,
    Admin(admin): Admin,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.accounts
        .admin_delete_user(admin.user_id, user_id(&id)?, &client, app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of a user and mail them a reset link.
#[utoipa::path(post, path = "/v1/admin/users/{id}/password-reset", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id")), responses(
    (status = 202, body = Accepted), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 503, body = Problem),
))]
pub async fn force_password_reset(
    State(app): State<AppState>,
    Admin(admin): Admin,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    app.accounts
        .force_password_reset(admin.user_id, user_id(&id)?, &client, app.clock.now())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "mail_sent",
            detail: "Every session of the user ended; a reset link is on its way to them.",
        }),
    ))
}

/// One audit event.
#[derive(Serialize, ToSchema)]
pub struct AuditEventBody {
    pub id: String,
    /// RFC 3339 UTC.
    pub at: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Who acted: the administrator for admin actions, else the user (or null).
    pub actor_id: Option<String>,
    /// The account the event is about.
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
}

/// One page of audit events, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditEventBody>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only events about this account.
    pub user_id: Option<String>,
    /// Only events of this type (`login_failed`, `user_disabled`, ...).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// RFC 3339; inclusive.
    pub since: Option<String>,
    /// RFC 3339; exclusive.
    pub until: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn rfc3339_param(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<time::OffsetDateTime>, Problem> {
    raw.filter(|v| !v.is_empty())
        .map(|v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).map_err(
                |_| {
                    invalid(
                        field,
                        "invalid_time",
                        "Give an RFC 3339 time, e.g. 2030-01-01T00:00:00Z.",
                    )
                },
            )
        })
        .transpose()
}

/// The audit log, newest first, filtered by account, type and time range.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", security(("bearer" = [])),
    params(AuditQuery), responses(
    (status = 200, body = AuditList), (status = 401, body = Problem),
    (status = 403, body = Problem, description = "`forbidden`: not an administrator"),
    (status = 422, body = Problem), (status = 503, body = Problem),
))]
pub async fn list_audit(
    State(app): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditList>> {
    use doorward_core::audit::{AuditCursor, AuditFilter, AuditKind};
    let limit = page_limit(query.limit)?;
    let user_id = match query.user_id.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(
            Uuid::parse_str(v)
                .map_err(|_| invalid("user_id", "invalid_id", "Give a user id (a UUID)."))?,
        ),
    };
    let kind = match query.kind.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(AuditKind::parse(v).ok_or_else(|| {
            invalid(
                "type",
                "unknown_type",
                "Not an audit event type (see the API docs).",
            )
        })?),
    };
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(AuditCursor::decode(c).ok_or_else(|| {
            invalid(
                "cursor",
                "invalid_cursor",
                "Pass the `next_cursor` of the previous page.",
            )
        })?),
    };
    let filter = AuditFilter {
        user_id,
        kind,
        since: rfc3339_param("since", query.since.as_deref())?,
        until: rfc3339_param("until", query.until.as_deref())?,
    };
    let page = app
        .accounts
        .store
        .audit_page(&filter, after, limit)
        .await
        .map_err(doorward_core::Error::from)?;
    let id = |v: Option<Uuid>| v.map(|v| v.to_string());
    Ok(Json(AuditList {
        items: page
            .events
            .into_iter()
            .map(|e| AuditEventBody {
                id: e.id.to_string(),
                at: rfc3339(e.at),
                kind: e.kind.as_str(),
                actor_id: id(e.actor_id),
                user_id: id(e.user_id),
                session_id: id(e.session_id),
                ip: e.ip,
                user_agent: e.user_agent,
                outcome: e.outcome,
            })
            .collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}
