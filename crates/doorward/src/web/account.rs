//! The account page: profile, password change, sessions.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use doorward_core::accounts::LogoutScope;
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::{Nav, WebError};
use super::forms::{feedback, query, Feedback, PageForm};
use super::session::{sign_out_cookie, Viewer, WebSession};
use super::{render, see_other};
use crate::app::AppState;
use crate::http::extract::Client;

pub struct SessionRow {
    id: String,
    agent: String,
    ip: String,
    created_at: String,
    last_used_at: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    nav: Nav,
    csrf: String,
    email: String,
    username: Option<String>,
    email_verified: bool,
    roles: String,
    created_at: String,
    sessions: Vec<SessionRow>,
    notice: Option<&'static str>,
    /// About the password form.
    fb: Feedback,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AccountQuery {
    done: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
}

/// `2026-11-25 16:20 UTC`.
fn when(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// A readable name for a user agent: browser and platform, roughly.
fn agent_name(ua: Option<&str>) -> String {
    let Some(ua) = ua.filter(|u| !u.is_empty()) else {
        return "Unknown device".to_owned();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    let platform = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("Windows", "Windows"),
        ("Mac OS", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    match (browser, platform) {
        (Some(b), Some(p)) => format!("{b} on {p}"),
        (Some(b), None) => b.to_owned(),
        _ => ua.chars().take(60).collect(),
    }
}

/// The signed-in session, or the login page with a way back here.
fn require(viewer: &Viewer) -> Result<WebSession, Response> {
    viewer
        .session
        .ok_or_else(|| see_other("/login?return_to=%2Faccount"))
}

fn signed_out(app: &AppState, to: &str) -> Response {
    let mut res = see_other(to);
    res.headers_mut()
        .append(header::SET_COOKIE, sign_out_cookie(&app.settings));
    res
}

async fn account_page(
    app: &AppState,
    viewer: &Viewer,
    s: WebSession,
    status: StatusCode,
    notice: Option<&'static str>,
    fb: Feedback,
) -> Result<Response, WebError> {
    let user = match app.accounts.me(s.user_id).await {
        Ok(u) => u,
        // Deleted or disabled since the token was issued.
        Err(doorward_core::Error::NotFound) => return Ok(signed_out(app, "/login")),
        Err(e) => return Err(e.into()),
    };
    let sessions = app
        .accounts
        .sessions(s.user_id, s.session_id, app.clock.now())
        .await?
        .into_iter()
        .map(|v| SessionRow {
            id: v.record.id.to_string(),
            agent: agent_name(v.record.user_agent.as_deref()),
            ip: v.record.ip.unwrap_or_else(|| "unknown address".to_owned()),
            created_at: when(v.record.created_at),
            last_used_at: when(v.record.last_used_at),
            current: v.current,
        })
        .collect();
    let page = AccountPage {
        nav: viewer.nav(),
        csrf: viewer.csrf(),
        email: user.email,
        username: user.username,
        email_verified: user.email_verified,
        roles: user.roles.join(", "),
        created_at: when(user.created_at),
        sessions,
        notice,
        fb,
    };
    Ok(render(status, &page))
}

pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    RawQuery(q): RawQuery,
) -> Result<Response, WebError> {
    let s = match require(&viewer) {
        Ok(s) => s,
        Err(redirect) => return Ok(redirect),
    };
    let q: AccountQuery = query(q);
    let notice = match q.done.as_str() {
        "password_changed" => {
            Some("Your password is changed. Your other sessions were signed out.")
        }
        "session_ended" => Some("That session is signed out."),
        "others_ended" => Some("Every other session is signed out."),
        "verification_sent" => Some("A new confirmation mail is on its way."),
        "verified" => Some("Your email address is confirmed."),
        _ => None,
    };
    account_page(
        &app,
        &viewer,
        s,
        StatusCode::OK,
        notice,
        Feedback::default(),
    )
    .await
}

pub async fn change_password(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, WebError> {
    let s = match require(&viewer) {
        Ok(s) => s,
        Err(redirect) => return Ok(redirect),
    };
    let result = app
        .accounts
        .change_password(
            s.user_id,
            s.session_id,
            &form.current_password,
            &form.new_password,
            &client,
            app.clock.now(),
        )
        .await;
    match result {
        Ok(()) => Ok(see_other("/account?done=password_changed")),
        Err(e) => {
            let (status, fb) = feedback(e, "new_password")?;
            account_page(&app, &viewer, s, status, None, fb).await
        }
    }
}

/// Sign out one session; this browser's own means logging out.
pub async fn sign_out_session(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let s = match require(&viewer) {
        Ok(s) => s,
        Err(redirect) => return Ok(redirect),
    };
    let id = Uuid::parse_str(&id).map_err(|_| WebError::NotFound)?;
    let now = app.clock.now();
    if id == s.session_id {
        app.accounts
            .logout(s.user_id, s.session_id, LogoutScope::Local, &client, now)
            .await?;
        return Ok(signed_out(&app, "/login?done=logged_out"));
    }
    app.accounts
        .revoke_session(s.user_id, id, &client, now)
        .await?;
    Ok(see_other("/account?done=session_ended"))
}

pub async fn sign_out_others(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
) -> Result<Response, WebError> {
    let s = match require(&viewer) {
        Ok(s) => s,
        Err(redirect) => return Ok(redirect),
    };
    app.accounts
        .logout(
            s.user_id,
            s.session_id,
            LogoutScope::Others,
            &client,
            app.clock.now(),
        )
        .await?;
    Ok(see_other("/account?done=others_ended"))
}

pub async fn resend_verification(
    State(app): State<AppState>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let s = match require(&viewer) {
        Ok(s) => s,
        Err(redirect) => return Ok(redirect),
    };
    match app
        .accounts
        .resend_verification(s.user_id, app.clock.now())
        .await
    {
        Ok(()) => Ok(see_other("/account?done=verification_sent")),
        Err(e) => {
            let (status, fb) = feedback(e, "new_password")?;
            account_page(&app, &viewer, s, status, None, fb).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_get_short_names() {
        assert_eq!(agent_name(None), "Unknown device");
        assert_eq!(
            agent_name(Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")),
            "Chrome on Linux"
        );
        assert_eq!(agent_name(Some("curl/8.0")), "curl");
    }
}
