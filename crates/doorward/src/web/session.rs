//! The browser session: one cookie, `dw_session` (`__Host-dw_session` over
//! TLS or when the issuer is `https://`), holding the normal token pair of a session as
//! `<access token>~<refresh token>`; `HttpOnly`, `SameSite=Lax`, `Path=/`,
//! `Secure` over TLS, kept as long as the refresh token lives.
//!
//! Every page request goes through [`layer`]: the access token is checked by
//! the guard the API uses (so a session revoked anywhere — API logout, page
//! logout, admin — is refused here too); when it has expired, the refresh
//! token is rotated (`Accounts::refresh`, the same session row) and the new
//! pair set; when that fails too, the cookie is cleared and the request is
//! anonymous. The layer also checks the CSRF token of every POST
//! (`csrf.rs`) before any handler runs.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use doorward_core::tokens::TokenPair;
use doorward_guard::{GuardError, TokenError};
use uuid::Uuid;

use super::csrf;
use super::error::WebError;
use crate::app::{AppState, BODY_LIMIT};
use crate::config::{Settings, TlsMode};
use crate::http::extract::Client;

/// The signed-in browser's user and session (a request extension).
#[derive(Clone, Copy, Debug)]
pub struct WebSession {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// The token carries the `admin` role (a role change revokes the
    /// session, so the claim is current; as in the admin API).
    pub admin: bool,
}

/// Who is looking at a page: the session (when signed in) and the CSRF
/// token for its forms. Set up by [`layer`].
pub struct Viewer {
    pub session: Option<WebSession>,
    pub csrf: csrf::CsrfToken,
}

impl Viewer {
    pub fn nav(&self) -> super::error::Nav {
        super::error::Nav {
            signed_in: self.session.is_some(),
            admin: self.session.is_some_and(|s| s.admin),
            csrf: self.csrf.as_str().to_owned(),
        }
    }

    pub fn csrf(&self) -> String {
        self.csrf.as_str().to_owned()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(csrf) = parts.extensions.get::<csrf::CsrfToken>().cloned() else {
            // Only pages behind `layer` ask for a viewer.
            return Err(WebError::Internal);
        };
        Ok(Viewer {
            session: parts.extensions.get::<WebSession>().copied(),
            csrf,
        })
    }
}

/// Whether cookies get `Secure` (and the `__Host-` prefix) and answers HSTS:
/// when this server speaks TLS itself (`--tls-cert`, `--dev-tls`), or when
/// its public URL, the issuer, is `https://` (TLS ended by a proxy in front).
pub fn secure(settings: &Settings) -> bool {
    settings.tls.is_some() || settings.issuer.starts_with("https://")
}

/// The `Strict-Transport-Security` value when [`secure`]: a year; five
/// minutes with the `--dev-tls` certificate, whose host (`localhost`) every
/// other local server shares: a browser trusting that certificate would
/// otherwise refuse plain HTTP to all of them for a year.
pub fn hsts(settings: &Settings) -> Option<HeaderValue> {
    if !secure(settings) {
        return None;
    }
    Some(HeaderValue::from_static(
        if settings.tls == Some(TlsMode::Dev) {
            "max-age=300"
        } else {
            "max-age=31536000"
        },
    ))
}

/// The session cookie's name.
pub fn session_name(secure: bool) -> &'static str {
    if secure {
        "__Host-dw_session"
    } else {
        "dw_session"
    }
}

/// The value of cookie `name` in the request (the first one, if several).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Lax; Path=/`, `Secure` over TLS.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The cookie that signs the browser in with `pair`.
pub fn sign_in_cookie(settings: &Settings, pair: &TokenPair) -> HeaderValue {
    let secure = secure(settings);
    let value = format!("{}~{}", pair.access_token, pair.refresh_token);
    set_cookie(
        session_name(secure),
        &value,
        settings.refresh_ttl.whole_seconds(),
        secure,
    )
}

/// The cookie that signs the browser out.
pub fn sign_out_cookie(settings: &Settings) -> HeaderValue {
    let secure = secure(settings);
    set_cookie(session_name(secure), "", 0, secure)
}

/// What the session cookie stands for now.
enum Resolved {
    Valid(WebSession),
    /// Refreshed: the new pair goes back in the cookie.
    Rotated(WebSession, TokenPair),
    /// Expired, revoked or forged: the cookie goes.
    Gone,
}

fn session_of(app: &AppState, access: &str) -> Result<WebSession, GuardError> {
    let claims = app.guard.check_now(access)?;
    let bad = || GuardError::Invalid(TokenError::Malformed);
    Ok(WebSession {
        user_id: Uuid::parse_str(&claims.sub).map_err(|_| bad())?,
        session_id: Uuid::parse_str(&claims.sid).map_err(|_| bad())?,
        admin: claims
            .roles
            .iter()
            .any(|r| r == doorward_core::accounts::ROLE_ADMIN),
    })
}

async fn resolve(
    app: &AppState,
    value: &str,
    client: &doorward_core::audit::ClientInfo,
) -> Result<Resolved, WebError> {
    let Some((access, refresh)) = value.split_once('~') else {
        return Ok(Resolved::Gone);
    };
    match session_of(app, access) {
        Ok(s) => return Ok(Resolved::Valid(s)),
        Err(GuardError::Invalid(TokenError::Expired)) => {}
        Err(_) => return Ok(Resolved::Gone),
    }
    use doorward_core::Error;
    match app.accounts.refresh(refresh, client, app.clock.now()).await {
        Ok(pair) => match session_of(app, &pair.access_token) {
            Ok(s) => Ok(Resolved::Rotated(s, pair)),
            Err(_) => Ok(Resolved::Gone),
        },
        Err(Error::InvalidRefreshToken | Error::RefreshReused | Error::NotFound) => {
            Ok(Resolved::Gone)
        }
        Err(e) => Err(WebError::from(e)),
    }
}

/// Resolves the session cookie, checks CSRF on POST, runs the page and adds
/// the cookies this request changed (unless the page set its own session
/// cookie: a login or logout).
pub async fn layer(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(Client(client)) = Client::from_request_parts(&mut parts, &app).await;
    let secure = secure(&app.settings);
    let mut cookies: Vec<HeaderValue> = Vec::new();

    if let Some(value) = cookie(&parts.headers, session_name(secure)) {
        match resolve(&app, value, &client).await {
            Ok(Resolved::Valid(s)) => {
                parts.extensions.insert(s);
            }
            Ok(Resolved::Rotated(s, pair)) => {
                parts.extensions.insert(s);
                cookies.push(sign_in_cookie(&app.settings, &pair));
            }
            Ok(Resolved::Gone) => cookies.push(sign_out_cookie(&app.settings)),
            Err(e) => return e.into_response(),
        }
    }

    let token = match csrf::from_cookie(&parts.headers, secure) {
        Some(t) => t,
        None => {
            let t = csrf::CsrfToken::generate();
            cookies.push(t.cookie(secure));
            t
        }
    };

    let body = if parts.method == Method::POST {
        let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
            return WebError::BadRequest.into_response();
        };
        if let Err(e) = csrf::check(&parts.headers, &bytes, &token, secure) {
            tracing::info!(reason = e, "page form refused (CSRF)");
            return with_cookies(WebError::Csrf.into_response(), cookies, secure);
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(token);
    let res = next.run(Request::from_parts(parts, body)).await;
    with_cookies(res, cookies, secure)
}

fn with_cookies(mut res: Response, cookies: Vec<HeaderValue>, secure: bool) -> Response {
    let prefix = format!("{}=", session_name(secure));
    let page_set_session = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(prefix.as_bytes()));
    for c in cookies {
        if page_set_session && c.as_bytes().starts_with(prefix.as_bytes()) {
            continue;
        }
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("xdw_session=no; dw_session=a~b"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("dw_csrf=c"));
        assert_eq!(cookie(&h, "dw_session"), Some("a~b"));
        assert_eq!(cookie(&h, "dw_csrf"), Some("c"));
        assert_eq!(cookie(&h, "other"), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("dw_session", "v", 60, false);
        assert_eq!(
            c.to_str().unwrap(),
            "dw_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        let c = set_cookie("__Host-dw_session", "v", 60, true);
        assert!(c.to_str().unwrap().ends_with("; Secure"));
    }
}
