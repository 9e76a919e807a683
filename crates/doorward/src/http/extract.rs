//! Extractors: they gather and check the shape of a request; the core decides.
//!
//! - `ApiJson<T>`: a JSON body whose failures are problem+json (415 wrong
//!   type, 413 too big, 400 malformed, 422 wrong fields) instead of axum's
//!   plain-text rejections.
//! - `OptionalJson<T>`: the same, but an empty body is `None`.
//! - `ApiQuery<T>`: query parameters whose failures are 422 problems.
//! - `Client`: the client's IP (socket peer, or the forwarded address when the
//!   peer is a trusted proxy) and user agent, for sessions and audit rows.
//! - `Caller`: the authenticated user, through `doorward-guard`.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use doorward_core::audit::ClientInfo;
use doorward_guard::{AuthenticatedShared, Claims, GuardError, GuardRejection, TokenError};
use ipnet::IpNet;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::problem::Problem;
use crate::app::AppState;

/// A JSON request body; see the module docs.
pub struct ApiJson<T>(pub T);

/// A JSON request body that may be absent (empty body).
pub struct OptionalJson<T>(pub Option<T>);

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// The backtick-quoted name in serde's "unknown field `x`" / "missing field `x`".
fn quoted_name(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg.get(start..)?.find('`')?;
    msg.get(start..start + len)
}

/// A JSON body that does not fit `T`, as a 422 naming the field. serde's own
/// message is never shown: it can quote the value, and a value can be a
/// password sent in the wrong shape.
fn data_problem(path: &str, msg: &str) -> Problem {
    let (field, code, message) = if msg.starts_with("unknown field") {
        (
            quoted_name(msg).unwrap_or(path).to_owned(),
            "unknown_field",
            "This field is not part of this endpoint's body.",
        )
    } else if msg.starts_with("missing field") {
        (
            quoted_name(msg).unwrap_or(path).to_owned(),
            "missing_field",
            "This field is required.",
        )
    } else if msg.starts_with("duplicate field") {
        (
            quoted_name(msg).unwrap_or(path).to_owned(),
            "duplicate_field",
            "This field appears more than once.",
        )
    } else {
        (
            path.to_owned(),
            "invalid_value",
            "This field has the wrong type or an unknown value.",
        )
    };
    let field: String = field.chars().take(64).collect();
    let detail = format!("The JSON body does not fit this endpoint: `{field}`: {message}");
    let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", detail);
    p.errors = vec![super::problem::FieldProblem {
        field,
        code: code.to_owned(),
        message: message.to_owned(),
    }];
    p
}

/// The body of `ApiJson` / `OptionalJson` as `T`, or the problem to answer.
/// Public for the fuzz target `request_bodies` (fuzz/).
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, Problem> {
    if !is_json(headers) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with `Content-Type: application/json`.",
        ));
    }
    let malformed = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON.",
        )
    };
    // Every body is an object: serde would otherwise take an array as the
    // struct's fields in order.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "The body must be a JSON object.",
            ),
            Err(_) => malformed(),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => data_problem(&path, &inner.to_string()),
            _ => malformed(),
        }
    })?;
    de.end().map_err(|_| malformed())?;
    Ok(value)
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<(HeaderMap, Bytes), Problem> {
    let headers = req.headers().clone();
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The body is larger than 64 KiB.",
            )
        } else {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed_request",
                "The request body could not be read.",
            )
        }
    })?;
    Ok((headers, bytes))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = read_body(req, state).await?;
        parse_json(&headers, &bytes).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalJson(None));
        }
        parse_json(&headers, &bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// The client's address and user agent.
pub struct Client(pub ClientInfo);

/// The client IP (CONTRACT "Abuse protection"): the socket peer, unless the
/// peer is a trusted proxy; then the right-most address in
/// `X-Forwarded-For` / `Forwarded` that is not itself a trusted proxy.
///
/// Proxies append on the right, so everything left of the first untrusted
/// address is the client's own say. Where the forwarded headers cannot be
/// read safely the answer is the peer (the proxy), never an address a client
/// could have chosen: an entry that is not an address (`for=unknown`) stops
/// the walk, and when both headers are present and disagree (a proxy that
/// appends to one passes a client's forged other one through) neither is
/// believed. When every entry is trusted, the left-most is the client.
/// IPv4-mapped IPv6 addresses count as IPv4.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<Option<IpAddr>> = header_values(headers, "forwarded")
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, val) = pair.trim().split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_forwarded_for(val.trim()))
            })
        })
        .collect();
    let x_forwarded: Vec<Option<IpAddr>> = header_values(headers, "x-forwarded-for")
        .flat_map(|v| v.split(','))
        .map(|entry| parse_forwarded_for(entry.trim()))
        .collect();
    let mut origins = [forwarded, x_forwarded]
        .into_iter()
        .filter(|chain| !chain.is_empty())
        .map(|chain| origin(&chain, &is_trusted));
    let Some(first) = origins.next() else {
        return Some(peer);
    };
    let agreed = origins.all(|other| other == first);
    Some(first.filter(|_| agreed).unwrap_or(peer))
}

/// Every value of a header that is text; a value that is not is taken as
/// one unreadable entry.
fn header_values<'h>(headers: &'h HeaderMap, name: &str) -> impl Iterator<Item = &'h str> {
    headers
        .get_all(name)
        .into_iter()
        .map(|v| v.to_str().unwrap_or("unknown"))
}

/// The client by one header's chain (left to right, `None` for an entry that
/// is not an address): see `client_ip`.
fn origin(chain: &[Option<IpAddr>], is_trusted: &impl Fn(&IpAddr) -> bool) -> Option<IpAddr> {
    for entry in chain.iter().rev() {
        match entry {
            Some(ip) if is_trusted(ip) => continue,
            Some(ip) => return Some(*ip),
            None => return None,
        }
    }
    chain.first().copied().flatten()
}

/// `for=192.0.2.1`, `for="[2001:db8::1]:4711"`, `for="192.0.2.1:80"`, and
/// the same bare in `X-Forwarded-For`.
fn parse_forwarded_for(v: &str) -> Option<IpAddr> {
    let v = v.trim_matches('"');
    let ip = if let Some(rest) = v.strip_prefix('[') {
        rest.split(']').next()?.parse().ok()
    } else {
        v.parse()
            .ok()
            .or_else(|| v.parse::<SocketAddr>().ok().map(|s| s.ip()))
    };
    ip.map(|ip: IpAddr| ip.to_canonical())
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = client_ip(peer, &parts.headers, &state.settings.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        Ok(Client(ClientInfo {
            ip: ip.map(|i| i.to_string()),
            user_agent,
        }))
    }
}

/// Query parameters (`deny_unknown_fields` structs), with failures as 422
/// problems instead of axum's plain-text rejections. The parameter is not
/// named: serde's message may carry the value.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(_) => Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "A query parameter is not valid; see `errors`.",
            )
            .with_errors(vec![doorward_core::types::FieldError::new(
                "query",
                "invalid_parameter",
                "Unknown parameter, or a value of the wrong type (`limit` is a number).",
            )])),
        }
    }
}

/// The authenticated caller: a verified, unrevoked access token whose
/// subject and session ids are well-formed.
pub struct Caller {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// Shared with the guard's verified-token cache: a cache hit copies nothing.
    pub claims: std::sync::Arc<Claims>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller
where
    doorward_guard::Guard: FromRef<S>,
{
    type Rejection = GuardRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthenticatedShared(claims) =
            AuthenticatedShared::from_request_parts(parts, state).await?;
        let bad = || GuardRejection(GuardError::Invalid(TokenError::Malformed));
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| bad())?;
        let session_id = Uuid::parse_str(&claims.sid).map_err(|_| bad())?;
        Ok(Caller {
            user_id,
            session_id,
            claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        let ip = client_ip(Some("9.9.9.9".parse().unwrap()), &h, &[]);
        assert_eq!(ip, Some("9.9.9.9".parse().unwrap()));
    }

    #[test]
    fn trusted_proxy_rightmost_untrusted_wins() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.7")]);
        assert_eq!(
            client_ip(Some("10.0.0.1".parse().unwrap()), &h, &trusted),
            Some("1.2.3.4".parse().unwrap())
        );
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::1]:4711\";proto=https",
        )]);
        assert_eq!(
            client_ip(Some("10.0.0.1".parse().unwrap()), &h, &trusted),
            Some("2001:db8::1".parse().unwrap())
        );
        // Nothing forwarded: the proxy itself.
        assert_eq!(
            client_ip(
                Some("10.0.0.1".parse().unwrap()),
                &HeaderMap::new(),
                &trusted
            ),
            Some("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn unreadable_or_conflicting_forwarding_falls_back_to_the_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let ip = |pairs: &[(&str, &str)]| client_ip(Some(proxy), &headers(pairs), &trusted);
        let some = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // A proxy that did not know its client: what is left of it is not believed.
        assert_eq!(
            ip(&[("forwarded", "for=6.6.6.6, for=unknown")]),
            Some(proxy)
        );
        assert_eq!(
            ip(&[("x-forwarded-for", "6.6.6.6, _hidden, 10.0.0.9")]),
            Some(proxy)
        );
        // A forged Forwarded passed through by a proxy that appends X-Forwarded-For.
        assert_eq!(
            ip(&[("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "1.2.3.4")]),
            Some(proxy)
        );
        // Both written by the proxies, agreeing.
        assert_eq!(
            ip(&[("forwarded", "for=1.2.3.4"), ("x-forwarded-for", "1.2.3.4")]),
            some("1.2.3.4")
        );
        // Several header lines are one list; ports are dropped.
        assert_eq!(
            ip(&[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "1.2.3.4:5555, 10.0.0.3")
            ]),
            some("1.2.3.4")
        );
        // Every hop trusted: the left-most is the client.
        assert_eq!(
            ip(&[("x-forwarded-for", "10.1.1.1, 10.0.0.3")]),
            some("10.1.1.1")
        );
        // IPv4-mapped addresses are IPv4, for the peer and the entries.
        assert_eq!(
            client_ip(
                Some("::ffff:10.0.0.1".parse().unwrap()),
                &headers(&[("x-forwarded-for", "::ffff:1.2.3.4")]),
                &trusted
            ),
            some("1.2.3.4")
        );
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        password: String,
    }

    fn json_headers() -> HeaderMap {
        headers(&[("content-type", "application/json")])
    }

    #[test]
    fn mistyped_values_are_never_echoed() {
        for body in [
            r#"{"email":"a@b.co","password":80085271828182}"#,
            r#"{"email":"a@b.co","password":["80085271828182"]}"#,
            r#""{\"email\":\"a@b.co\",\"password\":\"80085271828182\"}""#,
        ] {
            let p = parse_json::<Body>(&json_headers(), body.as_bytes()).unwrap_err();
            let text = serde_json::to_string(&p).unwrap();
            assert!(!text.contains("80085271828182"), "{text}");
            assert_eq!(p.status, 422, "{text}");
        }
    }

    #[test]
    fn field_errors_name_the_field() {
        let p = parse_json::<Body>(
            &json_headers(),
            br#"{"email":"a@b.co","password":"x","extra":1}"#,
        )
        .unwrap_err();
        assert_eq!(
            (p.errors[0].field.as_str(), p.errors[0].code.as_str()),
            ("extra", "unknown_field")
        );
        let p = parse_json::<Body>(&json_headers(), br#"{"email":"a@b.co"}"#).unwrap_err();
        assert_eq!(
            (p.errors[0].field.as_str(), p.errors[0].code.as_str()),
            ("password", "missing_field")
        );
        let p = parse_json::<Body>(&json_headers(), br#"{"email":1,"password":"x"}"#).unwrap_err();
        assert_eq!(
            (p.errors[0].field.as_str(), p.errors[0].code.as_str()),
            ("email", "invalid_value")
        );
        let p = parse_json::<Body>(&json_headers(), br#"["a@b.co","x"]"#).unwrap_err();
        assert_eq!(p.status, 422);
        let p = parse_json::<Body>(
            &json_headers(),
            br#"{"email":"a@b.co","password":"x"} trailing"#,
        )
        .unwrap_err();
        assert_eq!(p.code, "malformed_json");
        let p = parse_json::<Body>(&json_headers(), b"{oops").unwrap_err();
        assert_eq!(p.code, "malformed_json");
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(is_json(&headers(&[(
            "content-type",
            "application/merge-patch+json"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&HeaderMap::new()));
    }
}
