//! Every request body and query of the API, and the page forms, through
//! the code that reads them: `http::extract::parse_json` (what `ApiJson` and
//! `OptionalJson` run), axum's query parser (`serde_urlencoded`, what
//! `ApiQuery` runs) and the page forms' `serde_urlencoded`; then the pure
//! checks the core runs on what parsed (email, username, password, roles,
//! opaque tokens, cursors, times).
//!
//! Input: line 1 names the body (`signup`, `login`, ..., see `KINDS`; an
//! unknown name picks one by its bytes), line 2 is the `Content-Type`, the
//! rest is the body (or the query string).
//!
//! Properties: a refused body is a 400, 413, 415 or 422 problem whose
//! detail quotes at most a field name (never a value); what parses passes
//! the core's parsers without panicking; cursors round-trip.

use axum::http::{header, HeaderMap, HeaderValue};
use doorward::http::admin::{AuditQuery, UserListQuery, UserPatchBody};
use doorward::http::auth::{LoginRequest, LogoutRequest, RefreshRequest, SignupRequest};
use doorward::http::extract::parse_json;
use doorward::http::lifecycle::{ChangePasswordRequest, ForgotRequest, ResetRequest, TokenRequest};
use doorward::http::problem::Problem;
use doorward_core::accounts::Accounts;
use doorward_core::audit::{AuditCursor, AuditKind};
use doorward_core::passwords::PasswordPolicy;
use doorward_core::tokens::{hash_token, plausible_opaque_token};
use doorward_core::types::{Email, Password, Username};
use serde::de::DeserializeOwned;

pub const KINDS: [&str; 17] = [
    "signup",
    "login",
    "refresh",
    "logout",
    "verify_email",
    "forgot",
    "reset",
    "change_password",
    "admin_patch",
    "query_users",
    "query_audit",
    "form_signup",
    "form_login",
    "form_password",
    "form_email",
    "form_token",
    "page_query",
];

pub fn check(data: &[u8]) {
    let (kind, rest) = crate::first_line(data);
    let (content_type, body) = crate::first_line(rest);
    let kind = std::str::from_utf8(kind)
        .ok()
        .and_then(|k| KINDS.iter().find(|n| **n == k.trim()))
        .copied()
        .unwrap_or_else(|| {
            let sum: usize = kind.iter().map(|&b| usize::from(b)).sum();
            KINDS[sum % KINDS.len()]
        });
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    match kind {
        "signup" => {
            if let Some(b) = json::<SignupRequest>(&headers, body) {
                let email = Email::parse(&b.email);
                let username = b.username.as_deref().map(Username::parse);
                let password = Password::parse(&b.password, "password");
                if let (Ok(e), Ok(p)) = (&email, &password) {
                    let u = username.as_ref().and_then(|u| u.as_ref().ok());
                    let _ = PasswordPolicy::default().check(p, e, u);
                }
            }
        }
        "login" => {
            if let Some(b) = json::<LoginRequest>(&headers, body) {
                let _ = b.email.as_deref().map(Email::parse);
                let _ = b.username.as_deref().map(Username::parse);
                let _ = Password::for_login(&b.password);
            }
        }
        "refresh" => {
            if let Some(b) = json::<RefreshRequest>(&headers, body) {
                opaque_token(&b.refresh_token);
            }
        }
        "logout" => {
            // `OptionalJson`: an empty body is no body.
            if !body.is_empty() {
                let _ = json::<LogoutRequest>(&headers, body);
            }
        }
        "verify_email" => {
            if let Some(b) = json::<TokenRequest>(&headers, body) {
                opaque_token(&b.token);
            }
        }
        "forgot" => {
            if let Some(b) = json::<ForgotRequest>(&headers, body) {
                let _ = Accounts::parse_forgot_email(&b.email);
            }
        }
        "reset" => {
            if let Some(b) = json::<ResetRequest>(&headers, body) {
                opaque_token(&b.token);
                let _ = Password::parse(&b.new_password, "new_password");
            }
        }
        "change_password" => {
            if let Some(b) = json::<ChangePasswordRequest>(&headers, body) {
                let _ = Password::for_login(&b.current_password);
                let _ = Password::parse(&b.new_password, "new_password");
            }
        }
        "admin_patch" => {
            if let Some(b) = json::<UserPatchBody>(&headers, body) {
                if let Some(raw) = &b.roles {
                    check_roles(raw);
                }
            }
        }
        "query_users" => {
            if let Ok(q) = serde_urlencoded::from_bytes::<UserListQuery>(body) {
                if let Some(c) = q.cursor.as_deref() {
                    let _ = uuid::Uuid::parse_str(c);
                }
                let _ = q.q.as_deref().map(|q| q.chars().count());
            }
        }
        "query_audit" => {
            if let Ok(q) = serde_urlencoded::from_bytes::<AuditQuery>(body) {
                let _ = q.user_id.as_deref().map(uuid::Uuid::parse_str);
                if let Some(k) = q.kind.as_deref().and_then(AuditKind::parse) {
                    assert_eq!(AuditKind::parse(k.as_str()), Some(k));
                }
                for t in [q.since.as_deref(), q.until.as_deref()]
                    .into_iter()
                    .flatten()
                {
                    let _ = time::OffsetDateTime::parse(
                        t,
                        &time::format_description::well_known::Rfc3339,
                    );
                }
                if let Some(c) = q.cursor.as_deref() {
                    audit_cursor(c);
                }
            }
        }
        "form_signup" => form::<doorward::web::auth::SignupForm>(body),
        "form_login" => form::<doorward::web::auth::LoginForm>(body),
        "form_password" => form::<doorward::web::account::PasswordForm>(body),
        "form_email" => form::<doorward::web::lifecycle::EmailForm>(body),
        "form_token" => form::<doorward::web::lifecycle::TokenForm>(body),
        _ => {
            let q = std::str::from_utf8(body).ok().map(str::to_owned);
            let _: doorward::web::auth::PageQuery = doorward::web::forms::query(q);
        }
    }
}

/// `parse_json`, asserting the shape of a refusal.
fn json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Option<T> {
    match parse_json::<T>(headers, body) {
        Ok(v) => Some(v),
        Err(p) => {
            assert_problem(&p);
            None
        }
    }
}

fn assert_problem(p: &Problem) {
    assert!(
        [400, 413, 415, 422].contains(&p.status),
        "status {}",
        p.status
    );
    serde_json::to_string(p).unwrap();
    if let [e] = p.errors.as_slice() {
        assert!(e.field.chars().count() <= 64);
        assert_eq!(
            p.detail,
            format!(
                "The JSON body does not fit this endpoint: `{}`: {}",
                e.field, e.message
            )
        );
    } else {
        assert!(p.errors.is_empty(), "{p:?}");
        assert!(!p.detail.contains('`') || p.status == 415, "{p:?}");
    }
}

fn opaque_token(t: &str) {
    if plausible_opaque_token(t) {
        assert!((20..=256).contains(&t.len()));
        let _ = hash_token(t);
    }
}

fn check_roles(raw: &[String]) {
    if let Ok(roles) = doorward_core::admin::parse_roles(raw) {
        assert_eq!(roles.first().map(String::as_str), Some("user"));
        assert!(roles.len() <= 17);
        for (i, r) in roles.iter().enumerate() {
            assert!(!roles[..i].contains(r), "duplicate role");
            assert!((1..=32).contains(&r.len()));
        }
    }
}

/// A cursor that decodes is exactly what encoding its value gives back.
pub fn audit_cursor(c: &str) {
    if let Some(cursor) = AuditCursor::decode(c) {
        assert_eq!(cursor.encode(), c);
    }
}

fn form<T: DeserializeOwned>(body: &[u8]) {
    let _ = serde_urlencoded::from_bytes::<T>(body);
}
