//! The admin pages (CONTRACT "Pages", `GET /admin`): the user list with
//! search and paging (`users.rs`), one user with disable/enable, roles,
//! forced reset and delete after a confirmation step (`user.rs`), and the
//! audit log with filters (`audit.rs`); `events.rs` shows audit events as
//! table rows for both. They run the same core calls as the admin API
//! (`http/admin.rs`).
//!
//! Every page needs the `admin` role, read from the session's token as the
//! API does (a role change revokes the user's sessions, so it is current):
//! a signed-out browser goes to the login page with a way back, a signed-in
//! user without the role gets a 403 page. Actions are form POSTs (the CSRF
//! token is checked by the session layer before any handler runs) answered
//! with a redirect to the page and a notice, or the page again with the
//! error on it.

pub mod audit;
mod events;
pub mod user;
pub mod users;

use axum::http::{StatusCode, Uri};
use axum::response::Response;
use doorward_core::admin::{DEFAULT_PAGE, MAX_PAGE};
use doorward_core::store::UserRecord;
use time::OffsetDateTime;

use super::error::MessagePage;
use super::session::{Viewer, WebSession};
use super::{render, see_other};

// ------------------------------------------------------------------ access

/// `/login?return_to=<here>`.
fn to_login(here: &str) -> Response {
    let q = serde_urlencoded::to_string([("return_to", here)]).unwrap_or_default();
    see_other(&format!("/login?{q}"))
}

fn message(
    viewer: &Viewer,
    status: StatusCode,
    title: &str,
    message: &str,
    link: &str,
    link_text: &str,
) -> Response {
    render(
        status,
        &MessagePage {
            nav: viewer.nav(),
            title,
            message,
            link,
            link_text,
        },
    )
}

/// The signed-in administrator; anyone else gets the login page (with a
/// way back to `here`) or a 403 page.
pub(super) fn require_admin(viewer: &Viewer, here: &str) -> Result<WebSession, Response> {
    match viewer.session {
        None => Err(to_login(here)),
        Some(s) if !s.admin => Err(message(
            viewer,
            StatusCode::FORBIDDEN,
            "Administrators only",
            "This page is for administrators, and your account does not have the admin role. \
             Ask an administrator if you need access.",
            "/account",
            "Go to your account",
        )),
        Some(s) => Ok(s),
    }
}

pub(super) fn here(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned())
}

pub(super) fn no_such_user(viewer: &Viewer) -> Response {
    message(
        viewer,
        StatusCode::NOT_FOUND,
        "No such user",
        "There is no account with this id. It may have been deleted.",
        "/admin/users",
        "Back to the users",
    )
}

/// `GET /admin`.
pub async fn index() -> Response {
    see_other("/admin/users")
}

// ------------------------------------------------------------------ formatting

/// `2026-11-25 16:20 UTC`.
pub(super) fn day_minute(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// `2026-11-25 16:20:05`.
pub(super) fn day_second(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// A query string (without `?`) of the non-empty pairs.
pub(super) fn query_string(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

pub(super) fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let q = query_string(pairs);
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

/// A `limit` from a link: 1 to 200, else the default.
pub(super) fn page_size(raw: &str) -> u32 {
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PAGE).contains(n))
        .unwrap_or(DEFAULT_PAGE)
}

/// `limit` for the next page's link: only when it is not the default.
pub(super) fn limit_param(limit: u32) -> String {
    if limit == DEFAULT_PAGE {
        String::new()
    } else {
        limit.to_string()
    }
}

/// A user as the list and the user page show it.
pub struct UserRow {
    pub(super) id: String,
    pub(super) email: String,
    pub(super) username: Option<String>,
    pub(super) verified: bool,
    pub(super) disabled: bool,
    pub(super) roles: String,
    pub(super) created_at: String,
}

impl From<&UserRecord> for UserRow {
    fn from(u: &UserRecord) -> UserRow {
        UserRow {
            id: u.id.to_string(),
            email: u.email.clone(),
            username: u.username.clone(),
            verified: u.email_verified,
            disabled: u.disabled,
            roles: u.roles.join(", "),
            created_at: day_minute(u.created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_only_the_set_filters() {
        assert_eq!(
            with_query("/admin/users", &[("q", ""), ("cursor", "")]),
            "/admin/users"
        );
        assert_eq!(
            with_query("/admin/users", &[("q", "a&b c"), ("cursor", "x")]),
            "/admin/users?q=a%26b+c&cursor=x"
        );
        assert_eq!(page_size("0"), DEFAULT_PAGE);
        assert_eq!(page_size("201"), DEFAULT_PAGE);
        assert_eq!(page_size("x"), DEFAULT_PAGE);
        assert_eq!(page_size("2"), 2);
        assert_eq!(limit_param(DEFAULT_PAGE), "");
    }
}
