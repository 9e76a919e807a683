//! The pages (CONTRACT "Pages"): server-rendered HTML that works without
//! JavaScript, on the same core calls as the JSON API in `http/`.
//!
//! - `session.rs`: the browser session cookie and the layer that resolves it
//!   (and checks CSRF) before every page handler.
//! - `csrf.rs`: the double-submit CSRF token.
//! - `return_to.rs`: where a login may send the browser afterwards.
//! - `auth.rs`, `account.rs`, `lifecycle.rs`, `admin/`: the page handlers.
//! - `forms.rs`: form bodies and core errors as inline field messages.
//! - `error.rs`: failures as HTML pages.

pub mod account;
pub mod admin;
pub mod auth;
pub mod csrf;
pub mod error;
pub mod forms;
pub mod lifecycle;
pub mod return_to;
pub mod session;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::AppState;
use error::WebError;

/// The Content-Security-Policy of every page: only this origin's stylesheet
/// and script, no inline script or style, no framing, forms post here only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
base-uri 'none'";

const STYLESHEET: &str = include_str!("../../assets/doorward.css");
const SCRIPT: &str = include_str!("../../assets/doorward.js");

/// The page routes with their layers (session + CSRF, security headers).
pub fn routes(state: &AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/account") }))
        .route("/signup", get(auth::signup_page).post(auth::signup))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route("/account/sessions/others", post(account::sign_out_others))
        .route("/account/sessions/{id}", post(account::sign_out_session))
        .route("/account/verify-email", post(account::resend_verification))
        .route(
            "/forgot-password",
            get(lifecycle::forgot_page).post(lifecycle::forgot),
        )
        .route(
            "/reset-password",
            get(lifecycle::reset_page).post(lifecycle::reset),
        )
        .route(
            "/verify-email",
            get(lifecycle::verify_page).post(lifecycle::verify),
        )
        .route("/admin", get(admin::index))
        .route("/admin/users", get(admin::users::page))
        .route("/admin/users/{id}", get(admin::user::page))
        .route("/admin/users/{id}/disable", post(admin::user::disable))
        .route("/admin/users/{id}/enable", post(admin::user::enable))
        .route("/admin/users/{id}/roles", post(admin::user::set_roles))
        .route(
            "/admin/users/{id}/password-reset",
            post(admin::user::force_reset),
        )
        .route(
            "/admin/users/{id}/delete",
            get(admin::user::confirm_delete).post(admin::user::delete),
        )
        .route("/admin/audit", get(admin::audit::page))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::layer,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let assets = Router::new()
        .route("/assets/doorward.css", get(stylesheet))
        .route("/assets/doorward.js", get(script));
    let mut router = Router::new()
        .merge(pages)
        .merge(assets)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ));
    if let Some(hsts) = session::hsts(&state.settings) {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ));
    }
    router
}

/// Assets change only with the binary; their URL carries no version, so a
/// day of caching (not a year) keeps upgrades visible soon.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// A template as an HTML response with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            WebError::Internal.into_response()
        }
    }
}

/// 303 See Other: after a POST, the browser GETs `to`.
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}
