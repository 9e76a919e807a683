//! Request headers an attacker writes: the page session cookie
//! (`web::session::cookie`), the CSRF cookie and form field
//! (`web::csrf::from_cookie`, `check`), the client IP from `Forwarded` /
//! `X-Forwarded-For` (`http::extract::client_ip`) and the bearer token
//! (`doorward_guard::bearer_token`).
//!
//! Input: header lines `Name: value`, then an empty line, then a form body
//! (for the CSRF check). Lines that are not a valid header are skipped.
//!
//! Properties: a cookie value found is the value of a `name=` pair of a
//! `Cookie` header; a CSRF check passes only for a same-site POST whose form
//! field equals a well-formed cookie; the client IP is the peer unless the
//! peer is a trusted proxy and forwarding headers are present, and is never
//! an IPv4-mapped IPv6 address; a bearer token is the whole rest of the one
//! `Authorization: Bearer` header, without whitespace.

use std::net::IpAddr;
use std::sync::LazyLock;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use doorward::http::extract::client_ip;
use doorward::web::{csrf, session};
use ipnet::IpNet;

static TRUSTED: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    ["10.0.0.0/8", "2001:db8::/32"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect()
});

/// Peers: two trusted proxies (v4, v4-mapped v6) and an untrusted client.
const PEERS: [&str; 3] = ["10.0.0.1", "::ffff:10.0.0.2", "203.0.113.9"];

/// The header map of the input's header block, and the body after it.
pub fn parse(data: &[u8]) -> (HeaderMap, &[u8]) {
    let mut headers = HeaderMap::new();
    let mut rest = data;
    loop {
        let (line, after) = crate::first_line(rest);
        rest = after;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                headers.append(n, v);
            }
        }
        if rest.is_empty() {
            break;
        }
    }
    (headers, rest)
}

pub fn check(data: &[u8]) {
    let (headers, body) = parse(data);

    // Session and CSRF cookies.
    for name in [
        "dw_session",
        "__Host-dw_session",
        "dw_csrf",
        "__Host-dw_csrf",
    ] {
        if let Some(value) = session::cookie(&headers, name) {
            let pair = format!("{name}={value}");
            let found = headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.split(';').any(|p| p.trim() == pair));
            assert!(found, "{name}: {value:?} is no cookie pair");
            // The session layer's split of the value.
            let _ = value.split_once('~');
        }
    }
    for secure in [false, true] {
        let from_cookie = csrf::from_cookie(&headers, secure);
        if let Some(t) = &from_cookie {
            assert_eq!(t.as_str().len(), 43);
            assert!(t
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        let token = from_cookie
            .clone()
            .unwrap_or_else(csrf::CsrfToken::generate);
        if csrf::check(&headers, body, &token, secure).is_ok() {
            assert!(from_cookie.is_some(), "CSRF passed without a cookie");
            let cross_site = headers
                .get("sec-fetch-site")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
            assert!(!cross_site, "CSRF passed a cross-site request");
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
            let field = fields
                .iter()
                .find(|(k, _)| k == csrf::FIELD)
                .map(|(_, v)| v);
            assert_eq!(field.map(String::as_str), Some(token.as_str()));
        }
    }

    // Client IP.
    let forwarding = headers.contains_key("forwarded") || headers.contains_key("x-forwarded-for");
    for peer in PEERS {
        let peer: IpAddr = peer.parse().unwrap();
        let ip = client_ip(Some(peer), &headers, &TRUSTED).expect("an IP for a known peer");
        assert_eq!(ip, ip.to_canonical(), "IPv4-mapped address {ip}");
        let peer = peer.to_canonical();
        let trusted = TRUSTED.iter().any(|n| n.contains(&peer));
        if !trusted || !forwarding {
            assert_eq!(ip, peer, "the client chose its IP");
        }
    }
    assert_eq!(client_ip(None, &headers, &TRUSTED), None);

    // Bearer token.
    if let Ok(token) = doorward_guard::bearer_token(&headers) {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let value = values.next().unwrap().to_str().unwrap();
        assert!(values.next().is_none(), "two Authorization headers");
        let (scheme, rest) = value.split_once(' ').unwrap();
        assert!(scheme.eq_ignore_ascii_case("bearer"));
        assert_eq!(rest, token);
        assert!(!token.is_empty() && !token.bytes().any(|b| b.is_ascii_whitespace()));
    }
}
