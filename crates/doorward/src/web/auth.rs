//! Sign up, log in, log out.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use doorward_core::accounts::{LoginId, LogoutScope, SignupInput, SignupOutcome};
use serde::Deserialize;

use super::error::{MessagePage, Nav, WebError};
use super::forms::{feedback, query, Feedback, PageForm};
use super::session::{sign_in_cookie, sign_out_cookie, Viewer};
use super::{render, return_to, see_other};
use crate::app::AppState;
use crate::http::extract::Client;

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage {
    nav: Nav,
    csrf: String,
    email: String,
    username: String,
    return_to: String,
    return_query: String,
    fb: Feedback,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    nav: Nav,
    csrf: String,
    email: String,
    return_to: String,
    return_query: String,
    notice: Option<&'static str>,
    fb: Feedback,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PageQuery {
    return_to: String,
    done: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignupForm {
    email: String,
    username: String,
    password: String,
    return_to: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    /// Email or username.
    email: String,
    password: String,
    return_to: String,
}

/// Where a signed-in browser goes next.
fn next_page(app: &AppState, return_to: &str) -> String {
    let raw = Some(return_to).filter(|r| !r.is_empty());
    return_to::target(
        raw,
        &app.settings.issuer,
        &app.settings.allowed_return_origins,
    )
}

/// `?return_to=…` for links between the login and signup pages (only a
/// value that would be followed).
fn return_query(app: &AppState, return_to: &str) -> String {
    return_to::safe(
        return_to,
        &app.settings.issuer,
        &app.settings.allowed_return_origins,
    )
    .map(|r| {
        format!(
            "?{}",
            serde_urlencoded::to_string([("return_to", r)]).unwrap_or_default()
        )
    })
    .unwrap_or_default()
}

fn signed_in(app: &AppState, to: &str, pair: &doorward_core::tokens::TokenPair) -> Response {
    let mut res = see_other(to);
    res.headers_mut()
        .append(header::SET_COOKIE, sign_in_cookie(&app.settings, pair));
    res
}

fn signup_form(app: &AppState, viewer: &Viewer, form: SignupForm, fb: Feedback) -> SignupPage {
    SignupPage {
        nav: viewer.nav(),
        csrf: viewer.csrf(),
        return_query: return_query(app, &form.return_to),
        email: form.email,
        username: form.username,
        return_to: form.return_to,
        fb,
    }
}

pub async fn signup_page(
    State(app): State<AppState>,
    viewer: Viewer,
    RawQuery(q): RawQuery,
) -> Response {
    let q: PageQuery = query(q);
    if viewer.session.is_some() {
        return see_other(&next_page(&app, &q.return_to));
    }
    let form = SignupForm {
        return_to: q.return_to,
        ..SignupForm::default()
    };
    render(
        StatusCode::OK,
        &signup_form(&app, &viewer, form, Feedback::default()),
    )
}

pub async fn signup(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    PageForm(form): PageForm<SignupForm>,
) -> Result<Response, WebError> {
    let username = Some(form.username.trim()).filter(|u| !u.is_empty());
    let input = SignupInput {
        email: &form.email,
        password: &form.password,
        username,
    };
    match app.accounts.signup(input, &client, app.clock.now()).await {
        Ok(SignupOutcome::SignedIn(_, pair)) => {
            Ok(signed_in(&app, &next_page(&app, &form.return_to), &pair))
        }
        Ok(SignupOutcome::VerificationSent) => Ok(render(
            StatusCode::ACCEPTED,
            &MessagePage {
                nav: viewer.nav(),
                title: "Check your mailbox",
                message: "We sent a link to confirm your email address. Open it, then log in.",
                link: "/login",
                link_text: "Go to log in",
            },
        )),
        Err(e) => {
            let (status, fb) = feedback(e, "password")?;
            Ok(render(status, &signup_form(&app, &viewer, form, fb)))
        }
    }
}

fn login_form(
    app: &AppState,
    viewer: &Viewer,
    email: String,
    return_to: String,
    notice: Option<&'static str>,
    fb: Feedback,
) -> LoginPage {
    LoginPage {
        nav: viewer.nav(),
        csrf: viewer.csrf(),
        return_query: return_query(app, &return_to),
        email,
        return_to,
        notice,
        fb,
    }
}

pub async fn login_page(
    State(app): State<AppState>,
    viewer: Viewer,
    RawQuery(q): RawQuery,
) -> Response {
    let q: PageQuery = query(q);
    if viewer.session.is_some() {
        return see_other(&next_page(&app, &q.return_to));
    }
    let notice = match q.done.as_str() {
        "logged_out" => Some("You are logged out."),
        "password_set" => Some("Your new password is set. Log in with it."),
        "verified" => Some("Your email address is confirmed. Log in to continue."),
        _ => None,
    };
    let page = login_form(
        &app,
        &viewer,
        String::new(),
        q.return_to,
        notice,
        Feedback::default(),
    );
    render(StatusCode::OK, &page)
}

pub async fn login(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    PageForm(form): PageForm<LoginForm>,
) -> Result<Response, WebError> {
    let given = form.email.trim();
    let id = if given.contains('@') {
        LoginId::Email(given)
    } else {
        LoginId::Username(given)
    };
    let outcome = if given.is_empty() || form.password.is_empty() {
        let mut fb = Feedback::default();
        if given.is_empty() {
            fb.fields
                .push(("email", "Enter your email address or username.".into()));
        }
        if form.password.is_empty() {
            fb.fields.push(("password", "Enter your password.".into()));
        }
        Err((StatusCode::UNPROCESSABLE_ENTITY, fb))
    } else {
        match app
            .accounts
            .login(id, &form.password, &client, app.clock.now())
            .await
        {
            Ok((_, pair)) => Ok(pair),
            Err(e) => Err(feedback(e, "password")?),
        }
    };
    match outcome {
        Ok(pair) => Ok(signed_in(&app, &next_page(&app, &form.return_to), &pair)),
        Err((status, fb)) => {
            let page = login_form(&app, &viewer, form.email, form.return_to, None, fb);
            Ok(render(status, &page))
        }
    }
}

/// End this browser's session (the same row the API's tokens belong to).
pub async fn logout(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
) -> Result<Response, WebError> {
    if let Some(s) = viewer.session {
        app.accounts
            .logout(
                s.user_id,
                s.session_id,
                LogoutScope::Local,
                &client,
                app.clock.now(),
            )
            .await?;
    }
    let mut res = see_other("/login?done=logged_out");
    res.headers_mut()
        .append(header::SET_COOKIE, sign_out_cookie(&app.settings));
    Ok(res)
}
