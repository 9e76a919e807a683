//! `/admin/users/{id}`: one account, its recent events, and the forms that
//! act on it (disable/enable, roles, forced reset, delete after the
//! confirmation page). Refusals (an administrator's own account, a bad role
//! name) show on the page; an unknown id gets a 404 page.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use doorward_core::audit::AuditFilter;
use doorward_core::store::UserPatch;
use doorward_core::Error;
use serde::Deserialize;
use uuid::Uuid;

use super::events::{event_rows, EventRow};
use super::{day_minute, no_such_user, require_admin, UserRow};
use crate::app::AppState;
use crate::http::extract::Client;
use crate::web::error::{Nav, WebError};
use crate::web::forms::{feedback, query, Feedback, PageForm};
use crate::web::session::{Viewer, WebSession};
use crate::web::{render, see_other};

/// Events shown on a user's page (the audit page has the rest).
const RECENT_EVENTS: u32 = 10;

#[derive(Template)]
#[template(path = "admin_user.html")]
pub struct UserPage {
    nav: Nav,
    tab: &'static str,
    csrf: String,
    user: UserRow,
    updated_at: String,
    /// The viewer's own account.
    own: bool,
    /// The roles field (the current roles, or what was typed).
    roles_value: String,
    events: Vec<EventRow>,
    notice: Option<&'static str>,
    fb: Feedback,
}

#[derive(Template)]
#[template(path = "admin_delete.html")]
pub struct DeletePage {
    nav: Nav,
    tab: &'static str,
    csrf: String,
    user: UserRow,
    own: bool,
    fb: Feedback,
}

/// What the user page shows besides the user.
#[derive(Default)]
struct Shown {
    status: StatusCode,
    notice: Option<&'static str>,
    fb: Feedback,
    /// What was typed in the roles field (else the current roles).
    roles_value: Option<String>,
}

/// The user page.
async fn user_page(
    app: &AppState,
    viewer: &Viewer,
    s: WebSession,
    id: Uuid,
    shown: Shown,
) -> Result<Response, WebError> {
    let Shown {
        status,
        notice,
        fb,
        roles_value,
    } = shown;
    let user = match app.accounts.admin_user(id).await {
        Ok(u) => u,
        Err(Error::NotFound) => return Ok(no_such_user(viewer)),
        Err(e) => return Err(e.into()),
    };
    let filter = AuditFilter {
        user_id: Some(id),
        ..AuditFilter::default()
    };
    let events = app
        .accounts
        .store
        .audit_page(&filter, None, RECENT_EVENTS)
        .await
        .map_err(Error::from)?
        .events;
    let page = UserPage {
        nav: viewer.nav(),
        tab: "users",
        csrf: viewer.csrf(),
        updated_at: day_minute(user.updated_at),
        own: user.id == s.user_id,
        roles_value: roles_value.unwrap_or_else(|| {
            user.roles
                .iter()
                .filter(|r| *r != doorward_core::accounts::ROLE_USER)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        }),
        user: UserRow::from(&user),
        events: event_rows(app, events).await?,
        notice,
        fb,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DoneQuery {
    done: String,
}

/// The administrator and the user id from the path; a malformed id is the
/// "No such user" page, as an unknown one is.
fn target(viewer: &Viewer, id: &str) -> Result<(WebSession, Uuid), Response> {
    let s = require_admin(viewer, &format!("/admin/users/{}", path_safe(id)))?;
    match Uuid::parse_str(id) {
        Ok(id) => Ok((s, id)),
        Err(_) => Err(no_such_user(viewer)),
    }
}

/// `id` when it is a plain id (it goes back into a link), else empty.
fn path_safe(id: &str) -> &str {
    if id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        id
    } else {
        ""
    }
}

/// `GET /admin/users/{id}`.
pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let (s, id) = match target(&viewer, &id) {
        Ok(t) => t,
        Err(res) => return Ok(res),
    };
    let q: DoneQuery = query(raw);
    let notice = match q.done.as_str() {
        "disabled" => Some("The account is disabled and every session of it has ended."),
        "enabled" => Some("The account is enabled again; its owner can log in."),
        "roles" => {
            Some("The roles are saved. The user's sessions ended so the change applies at once.")
        }
        "roles_unchanged" => Some("The roles were already these; nothing changed."),
        "reset" => {
            Some("Every session of the user ended and a password reset link is on its way to them.")
        }
        _ => None,
    };
    let shown = Shown {
        notice,
        ..Shown::default()
    };
    user_page(&app, &viewer, s, id, shown).await
}

/// What a refused action says on the user page.
fn refusal(e: Error, own_account: &'static str) -> Result<(StatusCode, Feedback), WebError> {
    match e {
        Error::OwnAccount => Ok((StatusCode::CONFLICT, Feedback::alert(own_account))),
        e => feedback(e, "roles"),
    }
}

/// Disable or enable; the page again with a notice, or with the refusal.
async fn set_disabled(
    app: AppState,
    viewer: Viewer,
    client: doorward_core::audit::ClientInfo,
    id: String,
    disabled: bool,
) -> Result<Response, WebError> {
    let (s, id) = match target(&viewer, &id) {
        Ok(t) => t,
        Err(res) => return Ok(res),
    };
    let patch = UserPatch {
        disabled: Some(disabled),
        roles: None,
    };
    match app
        .accounts
        .admin_update_user(s.user_id, id, patch, &client, app.clock.now())
        .await
    {
        Ok(_) => {
            let done = if disabled { "disabled" } else { "enabled" };
            Ok(see_other(&format!("/admin/users/{id}?done={done}")))
        }
        Err(Error::NotFound) => Ok(no_such_user(&viewer)),
        Err(e) => {
            let (status, fb) = refusal(
                e,
                "You cannot disable your own account: it would lock you out. \
                 Another administrator can do it.",
            )?;
            let shown = Shown {
                status,
                fb,
                ..Shown::default()
            };
            user_page(&app, &viewer, s, id, shown).await
        }
    }
}

/// `POST /admin/users/{id}/disable`: every session of the user ends.
pub async fn disable(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    set_disabled(app, viewer, client, id, true).await
}

/// `POST /admin/users/{id}/enable`.
pub async fn enable(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    set_disabled(app, viewer, client, id, false).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RolesForm {
    /// Role names separated by spaces or commas (`user` is always kept).
    roles: String,
}

/// `POST /admin/users/{id}/roles`.
pub async fn set_roles(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path(id): Path<String>,
    PageForm(form): PageForm<RolesForm>,
) -> Result<Response, WebError> {
    let (s, id) = match target(&viewer, &id) {
        Ok(t) => t,
        Err(res) => return Ok(res),
    };
    let roles: Vec<String> = form
        .roles
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    let before = match app.accounts.admin_user(id).await {
        Ok(u) => u.roles,
        Err(Error::NotFound) => return Ok(no_such_user(&viewer)),
        Err(e) => return Err(e.into()),
    };
    let patch = UserPatch {
        disabled: None,
        roles: Some(roles),
    };
    match app
        .accounts
        .admin_update_user(s.user_id, id, patch, &client, app.clock.now())
        .await
    {
        Ok(user) => {
            let done = if user.roles == before {
                "roles_unchanged"
            } else {
                "roles"
            };
            Ok(see_other(&format!("/admin/users/{id}?done={done}")))
        }
        Err(Error::NotFound) => Ok(no_such_user(&viewer)),
        Err(e) => {
            let (status, fb) = refusal(
                e,
                "You cannot remove the admin role from your own account: it would lock you out. \
                 Another administrator can do it.",
            )?;
            let shown = Shown {
                status,
                fb,
                roles_value: Some(form.roles),
                ..Shown::default()
            };
            user_page(&app, &viewer, s, id, shown).await
        }
    }
}

/// `POST /admin/users/{id}/password-reset`: every session ends and the
/// owner is mailed a reset link.
pub async fn force_reset(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (s, id) = match target(&viewer, &id) {
        Ok(t) => t,
        Err(res) => return Ok(res),
    };
    match app
        .accounts
        .force_password_reset(s.user_id, id, &client, app.clock.now())
        .await
    {
        Ok(()) => Ok(see_other(&format!("/admin/users/{id}?done=reset"))),
        Err(Error::NotFound) => Ok(no_such_user(&viewer)),
        Err(e) => {
            let (status, fb) = refusal(e, "You cannot do this to your own account.")?;
            let shown = Shown {
                status,
                fb,
                ..Shown::default()
            };
            user_page(&app, &viewer, s, id, shown).await
        }
    }
}

async fn delete_page(
    app: &AppState,
    viewer: &Viewer,
    s: WebSession,
    id: Uuid,
    status: StatusCode,
    fb: Feedback,
) -> Result<Response, WebError> {
    let user = match app.accounts.admin_user(id).await {
        Ok(u) => u,
        Err(Error::NotFound) => return Ok(no_such_user(viewer)),
        Err(e) => return Err(e.into()),
    };
    let page = DeletePage {
        nav: viewer.nav(),
        tab: "users",
        csrf: viewer.csrf(),
        own: user.id == s.user_id,
        user: UserRow::from(&user),
        fb,
    };
    Ok(render(status, &page))
}

/// `GET /admin/users/{id}/delete`: the confirmation step.
pub async fn confirm_delete(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (s, id) = match target(&viewer, &id) {
        Ok(t) => t,
        Err(res) => return Ok(res),
    };
    delete_page(&app, &viewer, s, id, StatusCode::OK, Feedback::default()).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteForm {
    /// `yes` from the confirmation page.
    confirm: String,
}

/// `POST /admin/users/{id}/delete`: only from the confirmation page (its
/// `confirm=yes`); anything else shows that page.
pub async fn delete(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path(id): Path<String>,
    PageForm(form): PageForm<DeleteForm>,
) -> Result<Response, WebError> {
    let (s, id) = match target(&viewer, &id) {
        Ok(t) => t,
        Err(res) => return Ok(res),
    };
    if form.confirm != "yes" {
        return Ok(see_other(&format!("/admin/users/{id}/delete")));
    }
    match app
        .accounts
        .admin_delete_user(s.user_id, id, &client, app.clock.now())
        .await
    {
        Ok(()) => Ok(see_other("/admin/users?done=deleted")),
        Err(Error::NotFound) => Ok(no_such_user(&viewer)),
        Err(e) => {
            let (status, fb) = refusal(
                e,
                "You cannot delete your own account: it would lock you out. \
                 Another administrator can do it.",
            )?;
            delete_page(&app, &viewer, s, id, status, fb).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_go_back_into_links() {
        assert_eq!(path_safe("../x"), "");
        assert_eq!(path_safe("a?b"), "");
        let id = Uuid::now_v7().to_string();
        assert_eq!(path_safe(&id), id);
    }
}
