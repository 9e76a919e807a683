//! `GET /admin/users`: every account in creation order, searched by email or
//! username, a page at a time.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::{here, limit_param, page_size, require_admin, with_query, UserRow};
use crate::app::AppState;
use crate::web::error::{Nav, WebError};
use crate::web::forms::{query, Feedback};
use crate::web::render;
use crate::web::session::Viewer;

/// Longest search, in characters (as the API).
const MAX_QUERY: usize = 256;

#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    nav: Nav,
    tab: &'static str,
    q: String,
    users: Vec<UserRow>,
    /// The link to the next page, when there is one.
    next: Option<String>,
    /// The link to the first page, when this is a later one.
    first: Option<String>,
    notice: Option<&'static str>,
    fb: Feedback,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UsersQuery {
    q: String,
    cursor: String,
    limit: String,
    done: String,
}

/// `GET /admin/users?q=&cursor=&limit=`.
pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    if let Err(res) = require_admin(&viewer, &here(&uri)) {
        return Ok(res);
    }
    let q: UsersQuery = query(raw);
    let limit = page_size(&q.limit);
    let search = q.q.trim().to_owned();
    let mut fb = Feedback::default();
    let mut status = StatusCode::OK;
    let after = match q.cursor.as_str() {
        "" => None,
        c => match Uuid::parse_str(c) {
            Ok(id) => Some(id),
            Err(_) => {
                fb = Feedback::alert("That page link is not valid; this is the first page.");
                None
            }
        },
    };
    let page = if search.chars().count() > MAX_QUERY {
        status = StatusCode::UNPROCESSABLE_ENTITY;
        fb = Feedback::field("q", format!("Search for at most {MAX_QUERY} characters."));
        None
    } else {
        let query = Some(search.as_str()).filter(|s| !s.is_empty());
        Some(app.accounts.admin_list_users(query, after, limit).await?)
    };
    let limit = limit_param(limit);
    let next = page.as_ref().and_then(|p| p.next).map(|c| {
        with_query(
            "/admin/users",
            &[
                ("q", search.as_str()),
                ("limit", limit.as_str()),
                ("cursor", c.to_string().as_str()),
            ],
        )
    });
    let first = after.map(|_| {
        with_query(
            "/admin/users",
            &[("q", search.as_str()), ("limit", limit.as_str())],
        )
    });
    let notice = match q.done.as_str() {
        "deleted" => Some("The account is deleted; its sessions ended at once."),
        _ => None,
    };
    let page = UsersPage {
        nav: viewer.nav(),
        tab: "users",
        q: search,
        users: page
            .map(|p| p.items.iter().map(UserRow::from).collect())
            .unwrap_or_default(),
        next,
        first,
        notice,
        fb,
    };
    Ok(render(status, &page))
}
