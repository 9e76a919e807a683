//! `web::return_to::safe` and `target`: where a login may send the browser
//! (`?return_to=`), checked against the `url` crate (the WHATWG URL parser,
//! as browsers resolve a `Location`).
//!
//! Input: the `return_to` value (lossy UTF-8: it arrives percent-decoded
//! from a query string or form).
//!
//! Properties: an accepted value is returned unchanged; it is a valid
//! header value (`Redirect::to` panics on one that is not); resolved
//! against the issuer the way a browser does, it lands on the issuer's
//! origin or an allowed one; the fallback is `/account`.

use std::sync::LazyLock;

use axum::http::HeaderValue;
use doorward::web::return_to::{origin_of, safe, target, DEFAULT};
use url::Url;

pub const ISSUER: &str = "https://auth.example.com";

pub fn allowed() -> Vec<String> {
    vec![
        "https://app.example.com".to_owned(),
        "http://localhost:3000".to_owned(),
        "http://[::1]:8080".to_owned(),
    ]
}

struct Fixture {
    allowed: Vec<String>,
    base: Url,
    /// The origins a browser may be sent to, as the `url` crate spells them.
    origins: Vec<String>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let allowed = allowed();
    let origins = std::iter::once(ISSUER)
        .chain(allowed.iter().map(String::as_str))
        .map(|o| Url::parse(o).unwrap().origin().ascii_serialization())
        .collect();
    Fixture {
        allowed,
        base: Url::parse(ISSUER).unwrap(),
        origins,
    }
});

pub fn check(data: &[u8]) {
    let fx = &*FIXTURE;
    let raw = String::from_utf8_lossy(data);
    let raw = raw.as_ref();
    let accepted = safe(raw, ISSUER, &fx.allowed);
    let next = target(Some(raw), ISSUER, &fx.allowed);
    match &accepted {
        Some(s) => {
            assert_eq!(s, raw);
            assert_eq!(&next, raw);
            assert!(HeaderValue::from_str(s).is_ok(), "not a header value");
            if let Ok(resolved) = fx.base.join(s) {
                let origin = resolved.origin().ascii_serialization();
                assert!(
                    fx.origins.contains(&origin),
                    "{raw:?} sends the browser to {origin}"
                );
            }
        }
        None => assert_eq!(next, DEFAULT),
    }
    if let Some(origin) = origin_of(raw) {
        assert!(origin.starts_with("http://") || origin.starts_with("https://"));
        assert!(!origin.contains('@'));
        assert_eq!(origin, origin.to_ascii_lowercase());
    }
}
