//! CSRF protection of every page form: a double-submit token. The layer in
//! `session.rs` gives each browser a random 256-bit value in the cookie
//! `dw_csrf` (`__Host-dw_csrf` over TLS; `HttpOnly`, `SameSite=Lax`); every
//! form carries the same value in the hidden field `csrf`; a POST whose field
//! does not equal the cookie (compared in constant time) is refused with 403
//! before any handler runs. This covers anonymous forms (login CSRF) and
//! needs no shared state between instances. A POST a browser marks
//! `Sec-Fetch-Site: cross-site` is refused as well.
//!
//! A cross-site page can neither read the cookie nor set it (`__Host-` over
//! TLS keeps sibling subdomains from planting one), so it cannot fill in the
//! field.

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use super::session::{cookie, set_cookie};

/// The form field that carries the token.
pub const FIELD: &str = "csrf";

/// This browser's CSRF token (a request extension for the pages to embed).
#[derive(Clone, Debug)]
pub struct CsrfToken(String);

pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-dw_csrf"
    } else {
        "dw_csrf"
    }
}

/// 32 random bytes, base64url: 43 characters.
const LEN: usize = 43;

impl CsrfToken {
    pub fn generate() -> CsrfToken {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        CsrfToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cookie holding it; a year, like a browser preference.
    pub fn cookie(&self, secure: bool) -> axum::http::HeaderValue {
        set_cookie(cookie_name(secure), &self.0, 365 * 24 * 3600, secure)
    }
}

fn well_formed(v: &str) -> bool {
    v.len() == LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The browser's token, when its cookie holds a well-formed one.
pub fn from_cookie(headers: &HeaderMap, secure: bool) -> Option<CsrfToken> {
    cookie(headers, cookie_name(secure))
        .filter(|v| well_formed(v))
        .map(|v| CsrfToken(v.to_owned()))
}

#[derive(Deserialize)]
struct Field {
    #[serde(default)]
    csrf: String,
}

/// Whether a form POST carries `token`; the reason when not (for the log).
pub fn check(
    headers: &HeaderMap,
    body: &[u8],
    token: &CsrfToken,
    secure: bool,
) -> Result<(), &'static str> {
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site {
        return Err("cross-site request");
    }
    // The cookie was there before this request: a token minted just now
    // (no cookie sent) can match no form.
    if from_cookie(headers, secure).is_none() {
        return Err("no CSRF cookie");
    }
    let Ok(field) = serde_urlencoded::from_bytes::<Field>(body) else {
        return Err("not a form body");
    };
    if field.csrf.as_bytes().ct_eq(token.0.as_bytes()).into() {
        Ok(())
    } else if field.csrf.is_empty() {
        Err("no CSRF field")
    } else {
        Err("wrong CSRF field")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, HeaderValue};

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("dw_csrf={v}")).unwrap(),
        );
        h
    }

    #[test]
    fn the_field_must_equal_the_cookie() {
        let t = CsrfToken::generate();
        let h = with_cookie(t.as_str());
        let ok = format!("email=a%40b.co&csrf={}", t.as_str());
        assert_eq!(check(&h, ok.as_bytes(), &t, false), Ok(()));
        assert!(check(&h, b"email=a%40b.co", &t, false).is_err());
        assert!(check(&h, b"csrf=", &t, false).is_err());
        let other = CsrfToken::generate();
        let wrong = format!("csrf={}", other.as_str());
        assert!(check(&h, wrong.as_bytes(), &t, false).is_err());
        // No cookie sent: nothing matches, not even the fresh token.
        assert!(check(&HeaderMap::new(), ok.as_bytes(), &t, false).is_err());
        // Cross-site POSTs are refused whatever they carry.
        let mut cross = h.clone();
        cross.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check(&cross, ok.as_bytes(), &t, false).is_err());
    }

    #[test]
    fn malformed_cookies_are_replaced() {
        assert!(from_cookie(&with_cookie("short"), false).is_none());
        assert!(from_cookie(&with_cookie(&"a".repeat(43)), false).is_some());
        assert!(from_cookie(&with_cookie(&"a".repeat(43)), true).is_none());
    }
}
