//! Forgot password, reset password, verify email: the pages the mailed
//! links open. Links only show a form; the change happens on its POST (mail
//! scanners open links).

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use doorward_core::accounts::Accounts;
use serde::Deserialize;

use super::error::{Nav, WebError};
use super::forms::{feedback, query, Feedback, PageForm};
use super::session::{sign_out_cookie, Viewer};
use super::{render, see_other};
use crate::app::AppState;
use crate::http::extract::Client;

#[derive(Template)]
#[template(path = "forgot.html")]
pub struct ForgotPage {
    nav: Nav,
    csrf: String,
    email: String,
    sent: bool,
    fb: Feedback,
}

#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage {
    nav: Nav,
    csrf: String,
    token: String,
    fb: Feedback,
}

#[derive(Template)]
#[template(path = "verify.html")]
pub struct VerifyPage {
    nav: Nav,
    csrf: String,
    token: String,
    fb: Feedback,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
}

/// `?token=` of a link, and the same field of its form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    token: String,
    new_password: String,
}

fn no_token() -> Feedback {
    Feedback::alert("This link is incomplete. Open the link from the mail again, whole.")
}

pub async fn forgot_page(viewer: Viewer) -> Response {
    let page = ForgotPage {
        nav: viewer.nav(),
        csrf: viewer.csrf(),
        email: String::new(),
        sent: false,
        fb: Feedback::default(),
    };
    render(StatusCode::OK, &page)
}

/// The answer is the same whether or not the address has an account: the
/// lookup and the mail happen after it is sent (as `POST /v1/password/forgot`).
pub async fn forgot(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    PageForm(form): PageForm<EmailForm>,
) -> Result<Response, WebError> {
    let email = match Accounts::parse_forgot_email(&form.email) {
        Ok(e) => e,
        Err(e) => {
            let (status, fb) = feedback(e, "email")?;
            let page = ForgotPage {
                nav: viewer.nav(),
                csrf: viewer.csrf(),
                email: form.email,
                sent: false,
                fb,
            };
            return Ok(render(status, &page));
        }
    };
    let accounts = app.accounts.clone();
    let now = app.clock.now();
    tokio::spawn(async move {
        if let Err(e) = accounts.forgot_password(&email, &client, now).await {
            tracing::warn!(error = %e, "password reset request not completed");
        }
    });
    let page = ForgotPage {
        nav: viewer.nav(),
        csrf: viewer.csrf(),
        email: String::new(),
        sent: true,
        fb: Feedback::default(),
    };
    Ok(render(StatusCode::OK, &page))
}

pub async fn reset_page(viewer: Viewer, RawQuery(q): RawQuery) -> Response {
    let q: TokenForm = query(q);
    let (status, fb) = if q.token.is_empty() {
        (StatusCode::BAD_REQUEST, no_token())
    } else {
        (StatusCode::OK, Feedback::default())
    };
    let page = ResetPage {
        nav: viewer.nav(),
        csrf: viewer.csrf(),
        token: q.token,
        fb,
    };
    render(status, &page)
}

/// Every session of the account ends, this browser's included.
pub async fn reset(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, WebError> {
    let result = app
        .accounts
        .reset_password(&form.token, &form.new_password, &client, app.clock.now())
        .await;
    match result {
        Ok(()) => {
            let mut res = see_other("/login?done=password_set");
            res.headers_mut()
                .append(header::SET_COOKIE, sign_out_cookie(&app.settings));
            Ok(res)
        }
        Err(e) => {
            let (status, fb) = feedback(e, "new_password")?;
            let page = ResetPage {
                nav: viewer.nav(),
                csrf: viewer.csrf(),
                token: form.token,
                fb,
            };
            Ok(render(status, &page))
        }
    }
}

pub async fn verify_page(viewer: Viewer, RawQuery(q): RawQuery) -> Response {
    let q: TokenForm = query(q);
    let (status, fb) = if q.token.is_empty() {
        (StatusCode::BAD_REQUEST, no_token())
    } else {
        (StatusCode::OK, Feedback::default())
    };
    let page = VerifyPage {
        nav: viewer.nav(),
        csrf: viewer.csrf(),
        token: q.token,
        fb,
    };
    render(status, &page)
}

pub async fn verify(
    State(app): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, WebError> {
    match app
        .accounts
        .verify_email(&form.token, &client, app.clock.now())
        .await
    {
        Ok(_) if viewer.session.is_some() => Ok(see_other("/account?done=verified")),
        Ok(_) => Ok(see_other("/login?done=verified")),
        Err(e) => {
            let (status, fb) = feedback(e, "token")?;
            let page = VerifyPage {
                nav: viewer.nav(),
                csrf: viewer.csrf(),
                token: form.token,
                fb,
            };
            Ok(render(status, &page))
        }
    }
}
