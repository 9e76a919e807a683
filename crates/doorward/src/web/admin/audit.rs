//! `GET /admin/audit`: the audit log, newest first, filtered by account
//! (email, username or id), event type and UTC days, a page at a time.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use doorward_core::audit::{AuditCursor, AuditFilter, AuditKind};
use doorward_core::types::{Email, Username};
use doorward_core::Error;
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::events::{event_rows, kind_label, who, EventRow, Who};
use super::{here, limit_param, page_size, require_admin, with_query};
use crate::app::AppState;
use crate::web::error::{Nav, WebError};
use crate::web::forms::{query, Feedback};
use crate::web::render;
use crate::web::session::Viewer;

pub struct KindOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AuditPage {
    nav: Nav,
    tab: &'static str,
    user: String,
    kinds: Vec<KindOption>,
    since: String,
    until: String,
    events: Vec<EventRow>,
    /// The account the `user` filter found, for a link to it.
    found: Option<Who>,
    next: Option<String>,
    first: Option<String>,
    /// Whether any filter is set (for the "Clear filters" link).
    filtered: bool,
    fb: Feedback,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuditQuery {
    /// An email, a username or a user id.
    user: String,
    #[serde(rename = "type")]
    kind: String,
    /// `YYYY-MM-DD` (UTC), inclusive; or an RFC 3339 time.
    since: String,
    /// `YYYY-MM-DD` (UTC), that whole day included; or an RFC 3339 time
    /// (exclusive).
    until: String,
    cursor: String,
    limit: String,
}

/// The account a `user` filter names: an id (also of a deleted account,
/// whose events stay), an email or a username.
async fn find_user(app: &AppState, raw: &str) -> Result<Result<Uuid, &'static str>, WebError> {
    if let Ok(id) = Uuid::parse_str(raw) {
        return Ok(Ok(id));
    }
    let store = &app.accounts.store;
    let found = if raw.contains('@') {
        match Email::parse(raw) {
            Ok(e) => store.user_by_email(e.as_str()).await,
            Err(_) => return Ok(Err("This is not an email address.")),
        }
    } else {
        match Username::parse(raw) {
            Ok(u) => store.user_by_username(u.as_str()).await,
            Err(_) => return Ok(Err("Give an email address, a username or a user id.")),
        }
    };
    match found.map_err(Error::from)? {
        Some(u) => Ok(Ok(u.id)),
        None => Ok(Err("No account has this email address or username.")),
    }
}

/// A date filter: `YYYY-MM-DD` is midnight UTC of that day (the day after,
/// for `until`, so the day is included); an RFC 3339 time as it is.
fn date_param(raw: &str, end_of_day: bool) -> Result<Option<OffsetDateTime>, ()> {
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339) {
        return Ok(Some(t));
    }
    let f = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(raw, &f).map_err(|_| ())?;
    let day = if end_of_day {
        day.next_day().ok_or(())?
    } else {
        day
    };
    Ok(Some(day.midnight().assume_utc()))
}

/// `GET /admin/audit?user=&type=&since=&until=&cursor=&limit=`.
pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    if let Err(res) = require_admin(&viewer, &here(&uri)) {
        return Ok(res);
    }
    let q: AuditQuery = query(raw);
    let limit = page_size(&q.limit);
    let user = q.user.trim().to_owned();
    let since_raw = q.since.trim().to_owned();
    let until_raw = q.until.trim().to_owned();
    let mut fb = Feedback::default();

    let mut filter = AuditFilter::default();
    if !user.is_empty() {
        match find_user(&app, &user).await? {
            Ok(id) => filter.user_id = Some(id),
            Err(m) => fb.fields.push(("user", m.to_owned())),
        }
    }
    if !q.kind.is_empty() {
        match AuditKind::parse(&q.kind) {
            Some(k) => filter.kind = Some(k),
            None => fb
                .fields
                .push(("type", "Choose an event type from the list.".to_owned())),
        }
    }
    let bad_date = "Give a date as YYYY-MM-DD.";
    match date_param(&since_raw, false) {
        Ok(t) => filter.since = t,
        Err(()) => fb.fields.push(("since", bad_date.to_owned())),
    }
    match date_param(&until_raw, true) {
        Ok(t) => filter.until = t,
        Err(()) => fb.fields.push(("until", bad_date.to_owned())),
    }
    if let (Some(a), Some(b)) = (filter.since, filter.until) {
        if b <= a {
            fb.fields
                .push(("until", "The end is before the start.".to_owned()));
        }
    }
    let after = match q.cursor.as_str() {
        "" => None,
        c => {
            let cursor = AuditCursor::decode(c);
            if cursor.is_none() && fb.is_empty() {
                fb = Feedback::alert("That page link is not valid; this is the first page.");
            }
            cursor
        }
    };

    let (status, events, next) = if fb.fields.is_empty() {
        let page = app
            .accounts
            .store
            .audit_page(&filter, after, limit)
            .await
            .map_err(Error::from)?;
        (StatusCode::OK, page.events, page.next)
    } else {
        (StatusCode::UNPROCESSABLE_ENTITY, Vec::new(), None)
    };
    let found_id = filter.user_id;
    let limit = limit_param(limit);
    let params = |cursor: &str| {
        with_query(
            "/admin/audit",
            &[
                ("user", user.as_str()),
                ("type", q.kind.as_str()),
                ("since", since_raw.as_str()),
                ("until", until_raw.as_str()),
                ("limit", limit.as_str()),
                ("cursor", cursor),
            ],
        )
    };
    let next = next.map(|c| params(&c.encode()));
    let first = after.map(|_| params(""));
    let names = match found_id {
        Some(id) => {
            let mut m = HashMap::new();
            if let Some(u) = app
                .accounts
                .store
                .user_by_id(id)
                .await
                .map_err(Error::from)?
            {
                m.insert(id, u.email);
            }
            m
        }
        None => HashMap::new(),
    };
    let page = AuditPage {
        nav: viewer.nav(),
        tab: "audit",
        kinds: AuditKind::ALL
            .into_iter()
            .map(|k| KindOption {
                value: k.as_str(),
                label: kind_label(k),
                selected: k.as_str() == q.kind,
            })
            .collect(),
        filtered: !(user.is_empty()
            && q.kind.is_empty()
            && since_raw.is_empty()
            && until_raw.is_empty()),
        found: who(found_id, &names),
        user,
        since: since_raw,
        until: until_raw,
        events: event_rows(&app, events).await?,
        next,
        first,
        fb,
    };
    Ok(render(status, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_whole_utc_days() {
        let since = date_param("2026-03-01", false).unwrap().unwrap();
        let until = date_param("2026-03-01", true).unwrap().unwrap();
        assert_eq!(since, time::macros::datetime!(2026-03-01 0:00 UTC));
        assert_eq!(until, time::macros::datetime!(2026-03-02 0:00 UTC));
        let exact = date_param("2026-03-01T10:00:00Z", true).unwrap().unwrap();
        assert_eq!(exact.hour(), 10);
        assert_eq!(date_param("", true), Ok(None));
        assert!(date_param("yesterday", false).is_err());
        assert!(date_param("2026-02-30", false).is_err());
    }
}
