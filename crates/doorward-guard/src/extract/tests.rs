//! Extractor tests: a small router with one protected route, driven with `oneshot`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body};
use axum::http::{Request, Response};
use axum::routing::get;
use axum::{Json, Router};
use doorward_token::{Algorithm, Jwks, SigningKey, VerifyPolicy};
use serde_json::{json, Value};
use tower::ServiceExt as _;

use super::*;

const ISS: &str = "https://auth.example";
const AUD: &str = "https://api.example";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(sid: &str) -> Claims {
    let now = now();
    Claims {
        iss: ISS.into(),
        sub: "user-1".into(),
        aud: AUD.into(),
        exp: now + 900,
        iat: now,
        nbf: None,
        jti: "jti-1".into(),
        sid: sid.into(),
        roles: vec!["admin".into()],
    }
}

fn key(kid: &str) -> SigningKey {
    SigningKey::generate(Algorithm::EdDSA, kid.into())
        .unwrap()
        .0
}

async fn me(Authenticated(claims): Authenticated) -> Json<Claims> {
    Json(claims)
}

/// The guard is the whole state here (`Guard: FromRef<Guard>` via axum's blanket impl).
fn app(guard: Guard) -> Router {
    Router::new().route("/me", get(me)).with_state(guard)
}

fn setup() -> (SigningKey, Guard) {
    let key = key("k1");
    let guard = Guard::new(
        VerifyPolicy::new(ISS, AUD),
        &Jwks {
            keys: vec![key.public_jwk()],
        },
    );
    (key, guard)
}

async fn call(guard: &Guard, uri: &str, authorization: &[&str]) -> Response<Body> {
    let mut request = Request::get(uri);
    for value in authorization {
        request = request.header("authorization", *value);
    }
    app(guard.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn body_json(response: Response<Body>) -> Value {
    let bytes = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Asserts the one shape every refusal has, and returns the `detail`.
async fn assert_unauthorized(response: Response<Body>) -> String {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body = body_json(response).await;
    let detail = body["detail"].as_str().unwrap().to_owned();
    assert!(!detail.is_empty());
    assert_eq!(
        body,
        json!({
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": detail,
            "code": "invalid_token",
        })
    );
    detail
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_its_claims() {
    let (key, guard) = setup();
    let c = claims("s1");
    let token = key.sign(&c).unwrap();
    let response = call(&guard, "/me", &[&format!("Bearer {token}")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await, serde_json::to_value(&c).unwrap());
}

#[tokio::test]
async fn scheme_is_case_insensitive() {
    let (key, guard) = setup();
    let token = key.sign(&claims("s1")).unwrap();
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let response = call(&guard, "/me", &[&format!("{scheme} {token}")]).await;
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn no_header_is_401() {
    let (_, guard) = setup();
    let detail = assert_unauthorized(call(&guard, "/me", &[]).await).await;
    assert_eq!(detail, "The request has no bearer token.");
}

#[tokio::test]
async fn other_schemes_are_401() {
    let (key, guard) = setup();
    let token = key.sign(&claims("s1")).unwrap();
    for value in [
        "Basic xyz".to_owned(),
        format!("Basic {token}"),
        format!("Token {token}"),
        format!("Bearer:{token}"),
        token.clone(),
    ] {
        assert_unauthorized(call(&guard, "/me", &[&value]).await).await;
    }
}

#[tokio::test]
async fn malformed_bearer_values_are_401() {
    let (key, guard) = setup();
    let token = key.sign(&claims("s1")).unwrap();
    for value in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer  ".to_owned(),
        format!("Bearer  {token}"),
        format!("Bearer {token} "),
        format!("Bearer {token} extra"),
        format!("Bearer\t{token}"),
        format!("Bearer {token}\tx"),
        "Bearer not-a-token".to_owned(),
    ] {
        assert_unauthorized(call(&guard, "/me", &[&value]).await).await;
    }
}

#[tokio::test]
async fn two_authorization_headers_are_401() {
    let (key, guard) = setup();
    let token = key.sign(&claims("s1")).unwrap();
    let value = format!("Bearer {token}");
    assert_unauthorized(call(&guard, "/me", &[&value, &value]).await).await;
}

#[tokio::test]
async fn token_in_query_string_is_ignored() {
    let (key, guard) = setup();
    let token = key.sign(&claims("s1")).unwrap();
    let uri = format!("/me?access_token={token}");
    let detail = assert_unauthorized(call(&guard, &uri, &[]).await).await;
    assert_eq!(detail, "The request has no bearer token.");
}

#[tokio::test]
async fn revoked_session_is_401() {
    let (key, guard) = setup();
    let c = claims("s1");
    let token = key.sign(&c).unwrap();
    guard.revocations().revoke("s1", c.exp);
    let detail =
        assert_unauthorized(call(&guard, "/me", &[&format!("Bearer {token}")]).await).await;
    assert_eq!(detail, "The session of this access token has been revoked.");
    // Other sessions are unaffected.
    let other = key.sign(&claims("s2")).unwrap();
    let response = call(&guard, "/me", &[&format!("Bearer {other}")]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_token_is_401() {
    let (key, guard) = setup();
    let mut c = claims("s1");
    c.exp = now() - 60;
    c.iat = c.exp - 900;
    let token = key.sign(&c).unwrap();
    let detail =
        assert_unauthorized(call(&guard, "/me", &[&format!("Bearer {token}")]).await).await;
    assert_eq!(detail, "The access token has expired.");
}

#[tokio::test]
async fn set_keys_swaps_the_trusted_keys() {
    let (old, guard) = setup();
    let new = key("k2");
    let old_token = old.sign(&claims("s1")).unwrap();
    let new_token = new.sign(&claims("s1")).unwrap();
    assert_unauthorized(call(&guard, "/me", &[&format!("Bearer {new_token}")]).await).await;

    guard.set_keys(&Jwks {
        keys: vec![new.public_jwk()],
    });
    assert_eq!(guard.kids(), vec!["k2".to_owned()]);
    let detail =
        assert_unauthorized(call(&guard, "/me", &[&format!("Bearer {old_token}")]).await).await;
    assert_eq!(detail, "The access token is signed with an unknown key.");
    let response = call(&guard, "/me", &[&format!("Bearer {new_token}")]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn rejection_never_echoes_the_token() {
    let (key, guard) = setup();
    let mut c = claims("s1");
    c.exp = now() - 60;
    let token = key.sign(&c).unwrap();
    let response = call(&guard, "/me", &[&format!("Bearer {token}")]).await;
    let bytes = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
    let body = String::from_utf8(bytes.to_vec()).unwrap();
    for part in token.split('.') {
        assert!(!body.contains(part));
    }
}

#[test]
fn bearer_token_parsing() {
    let mut headers = HeaderMap::new();
    assert_eq!(bearer_token(&headers), Err(GuardError::Missing));
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_static("Bearer abc.def.ghi"),
    );
    assert_eq!(bearer_token(&headers), Ok("abc.def.ghi"));
    headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
    assert_eq!(bearer_token(&headers), Err(GuardError::Missing));
    headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer  abc"));
    assert_eq!(
        bearer_token(&headers),
        Err(GuardError::Invalid(TokenError::Malformed))
    );
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
    );
    assert_eq!(
        bearer_token(&headers),
        Err(GuardError::Invalid(TokenError::Malformed))
    );
}

#[test]
fn every_error_has_a_kind_and_a_detail() {
    let errors = [
        GuardError::Missing,
        GuardError::Revoked,
        GuardError::Invalid(TokenError::Malformed),
        GuardError::Invalid(TokenError::UnsupportedAlgorithm),
        GuardError::Invalid(TokenError::WrongType),
        GuardError::Invalid(TokenError::UnknownKey),
        GuardError::Invalid(TokenError::BadSignature),
        GuardError::Invalid(TokenError::Expired),
        GuardError::Invalid(TokenError::NotYetValid),
        GuardError::Invalid(TokenError::WrongIssuer),
        GuardError::Invalid(TokenError::WrongAudience),
        GuardError::Invalid(TokenError::Key("secret detail".into())),
    ];
    for error in errors {
        assert!(!error.kind().is_empty());
        let d = detail(&error);
        assert!(!d.contains("secret"));
        let response = GuardRejection::from(error).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}
