//! Access tokens as a verifier sees them, and the forgeries it must refuse:
//! discovery documents and the token's header and claims; then `alg: none`,
//! HS256 keyed with the public key, tampered claims, cut signatures, unknown
//! keys, tokens in the query string, other schemes, refresh tokens used as
//! access tokens, expired tokens (beyond the 5 s leeway) and tokens meant for
//! another issuer or audience. Every refusal is 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use doorward_token::{Algorithm, Claims, SigningKey};
use serde_json::{json, Value};

use crate::helpers::*;

async fn jwks(app: &TestApp) -> Value {
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// A signed-up user's access token.
async fn token(app: &TestApp, email: &str) -> String {
    s(&app.signed_up(email).await["access_token"]).to_owned()
}

/// The claims of a real token, to re-sign changed.
fn real_claims(token: &str) -> Claims {
    serde_json::from_value(claims_of(token)).unwrap()
}

/// Re-sign `claims` with the server's own current signing key.
fn server_signed(app: &TestApp, claims: &Claims) -> String {
    app.state
        .accounts
        .issuer
        .keyring()
        .signer
        .sign(claims)
        .unwrap()
}

fn hs256(claims: &Claims, kid: &str, secret: &[u8]) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn discovery_names_the_issuer_and_keys() {
    let app = TestApp::spawn().await;
    let res = app.get("/.well-known/openid-configuration").await;
    assert_eq!(res.status(), 200);
    let conf: Value = res.json().await.unwrap();
    assert_eq!(conf["issuer"], app.addr.as_str());
    assert_eq!(
        conf["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.addr)
    );

    let keys = jwks(&app).await;
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(URL_SAFE_NO_PAD.decode(s(&key["x"])).unwrap().len(), 32);
    assert!(!s(&key["kid"]).is_empty());
    // Public parts only: no private key material of any kind.
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(
            key.get(private).is_none(),
            "JWKS publishes `{private}`: {key}"
        );
    }
}

#[tokio::test]
async fn access_token_header_and_claims() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("amy@example.com").await;
    let token = s(&body["access_token"]);
    assert_eq!(token.split('.').count(), 3);
    let header = jwt_segment(token, 0);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let jwks = jwks(&app).await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"]),
        "kid {} not in {jwks}",
        header["kid"]
    );

    let claims = claims_of(token);
    for key in ["iss", "sub", "aud", "exp", "iat", "jti", "sid", "roles"] {
        assert!(claims.get(key).is_some(), "`{key}` missing in {claims}");
    }
    assert_eq!(claims["iss"], app.addr.as_str());
    assert_eq!(claims["aud"], app.addr.as_str());
    assert_eq!(claims["sub"], body["user"]["id"]);
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(app.settings.access_ttl.whole_seconds(), 900);
    assert!((claims["iat"].as_i64().unwrap() - unix_now()).abs() < 60);
    // Every token has its own id.
    let again = app.logged_in("amy@example.com").await;
    assert_ne!(claims_of(s(&again["access_token"]))["jti"], claims["jti"]);
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let app = TestApp::spawn().await;
    let res = app.signup("ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let res = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = app.refresh(s(&body["refresh_token"])).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let app = TestApp::spawn().await;
    let token = token(&app, "ben@example.com").await;
    let kid = jwt_segment(&token, 0)["kid"].clone();
    let payload = token.split('.').nth(1).unwrap();
    let signature = token.split('.').nth(2).unwrap();
    for alg in ["none", "None", "NONE"] {
        let header = b64_json(&json!({"alg": alg, "typ": "at+jwt", "kid": kid}));
        invalid_token(app.me(&format!("{header}.{payload}.")).await).await;
        invalid_token(app.me(&format!("{header}.{payload}.{signature}")).await).await;
    }
    // The untouched token works: the refusals are about the header.
    assert_eq!(app.me(&token).await.status(), 200);
}

/// The classic key-confusion attack: HS256 with the published public key as
/// the HMAC secret.
#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    let app = TestApp::spawn().await;
    let token = token(&app, "cal@example.com").await;
    let claims = real_claims(&token);
    let jwks = jwks(&app).await;
    let key = &jwks["keys"][0];
    let kid = s(&key["kid"]);
    let x = s(&key["x"]);
    let secrets: [Vec<u8>; 3] = [
        URL_SAFE_NO_PAD.decode(x).unwrap(),
        x.as_bytes().to_vec(),
        key.to_string().into_bytes(),
    ];
    for secret in &secrets {
        invalid_token(app.me(&hs256(&claims, kid, secret)).await).await;
    }
}

#[tokio::test]
async fn tampered_claims_are_refused() {
    let app = TestApp::spawn().await;
    let victim = app.signed_up("dee@example.com").await;
    let token = token(&app, "eli@example.com").await;
    let [header, payload, signature] =
        <[&str; 3]>::try_from(token.split('.').collect::<Vec<_>>()).unwrap();
    let mut claims = claims_of(&token);
    claims["sub"] = victim["user"]["id"].clone();
    let forged = format!("{header}.{}.{signature}", b64_json(&claims));
    let body = invalid_token(app.me(&forged).await).await;
    assert!(!body.to_string().contains("dee@example.com"));

    let mut claims = claims_of(&token);
    claims["roles"] = json!(["user", "admin"]);
    invalid_token(
        app.me(&format!("{header}.{}.{signature}", b64_json(&claims)))
            .await,
    )
    .await;
    let mut claims = claims_of(&token);
    claims["exp"] = json!(unix_now() + 86_400 * 365);
    invalid_token(
        app.me(&format!("{header}.{}.{signature}", b64_json(&claims)))
            .await,
    )
    .await;
    // A changed header breaks the signature too.
    let mut h = jwt_segment(&token, 0);
    h["typ"] = json!("application/at+jwt");
    invalid_token(
        app.me(&format!("{}.{payload}.{signature}", b64_json(&h)))
            .await,
    )
    .await;
}

#[tokio::test]
async fn cut_or_malformed_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let token = token(&app, "fay@example.com").await;
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let cases = [
        format!("{signing_input}.{}", &signature[..signature.len() - 4]),
        format!("{signing_input}."),
        signing_input.to_owned(),
        format!("{signing_input}.{signature}.{signature}"),
        format!("{token}="),
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode([0u8; 64])),
        token[..token.len() / 2].to_owned(),
        "a.b.c".to_owned(),
        "x".repeat(10_000),
    ];
    for case in cases {
        invalid_token(app.me(&case).await).await;
    }
    assert_eq!(app.me(&token).await.status(), 200);
}

#[tokio::test]
async fn tokens_of_keys_not_in_the_jwks_are_refused() {
    let app = TestApp::spawn().await;
    let token = token(&app, "gus@example.com").await;
    let claims = real_claims(&token);
    let kid = s(&jwt_segment(&token, 0)["kid"]).to_owned();
    // A fresh key with an unknown kid.
    let (stranger, _) =
        SigningKey::generate(Algorithm::EdDSA, "not-a-doorward-key".into()).unwrap();
    invalid_token(app.me(&stranger.sign(&claims).unwrap()).await).await;
    // A fresh key claiming the server's kid.
    let (impostor, _) = SigningKey::generate(Algorithm::EdDSA, kid.clone()).unwrap();
    invalid_token(app.me(&impostor.sign(&claims).unwrap()).await).await;
    // The real token with its kid changed or removed.
    let [_, payload, signature] =
        <[&str; 3]>::try_from(token.split('.').collect::<Vec<_>>()).unwrap();
    for header in [
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "unknown"}),
        json!({"alg": "EdDSA", "typ": "at+jwt"}),
    ] {
        invalid_token(
            app.me(&format!("{}.{payload}.{signature}", b64_json(&header)))
                .await,
        )
        .await;
    }
    // A key offered inside the token (`jwk`, `jku`) is never trusted, even under the server's kid.
    let (_, pkcs8) = SigningKey::generate(Algorithm::EdDSA, "attacker".into()).unwrap();
    let attacker = SigningKey::from_pkcs8(Algorithm::EdDSA, "attacker".into(), &pkcs8).unwrap();
    let header = json!({
        "alg": "EdDSA", "typ": "at+jwt", "kid": kid,
        "jwk": attacker.public_jwk(), "jku": "https://evil.example/jwks.json",
    });
    let signing_input = format!(
        "{}.{}",
        b64_json(&header),
        b64_json(&serde_json::to_value(&claims).unwrap())
    );
    let key = jsonwebtoken::EncodingKey::from_ed_der(&pkcs8);
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &key,
        jsonwebtoken::Algorithm::EdDSA,
    )
    .unwrap();
    invalid_token(app.me(&format!("{signing_input}.{signature}")).await).await;
}

#[tokio::test]
async fn tokens_are_only_read_from_a_bearer_header() {
    let app = TestApp::spawn().await;
    let token = token(&app, "hana@example.com").await;
    // Never from the query string.
    invalid_token(app.get(&format!("/v1/me?access_token={token}")).await).await;
    // Other schemes are no bearer token.
    let get = |value: String| {
        app.client
            .get(app.url("/v1/me"))
            .header("authorization", value)
            .send()
    };
    invalid_token(
        get(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("hana@example.com:pw")
        ))
        .await
        .unwrap(),
    )
    .await;
    invalid_token(get(format!("Token {token}")).await.unwrap()).await;
    invalid_token(get(token.clone()).await.unwrap()).await;
    invalid_token(get(format!("Bearer  {token}")).await.unwrap()).await;
    invalid_token(get(format!("Bearer {token} extra")).await.unwrap()).await;
    invalid_token(get("Bearer ".to_owned()).await.unwrap()).await;
    // Two Authorization headers are refused, even when one is valid.
    let res = app
        .client
        .get(app.url("/v1/me"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Bearer x")
        .send()
        .await
        .unwrap();
    invalid_token(res).await;
    // The scheme name is case-insensitive (RFC 7235 §2.1), as the guard implements.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        assert_eq!(
            get(format!("{scheme} {token}")).await.unwrap().status(),
            200,
            "{scheme}"
        );
    }
}

#[tokio::test]
async fn a_refresh_token_is_no_access_token() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("ian@example.com").await;
    invalid_token(app.me(s(&body["refresh_token"])).await).await;
    invalid_token(
        app.get_auth("/v1/sessions", s(&body["refresh_token"]))
            .await,
    )
    .await;
    // Nor is an access token a refresh token.
    problem(
        app.refresh(s(&body["access_token"])).await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn expiry_allows_five_seconds_of_leeway() {
    let app = TestApp::spawn().await;
    let token = token(&app, "joy@example.com").await;
    let now = unix_now();
    let claims = real_claims(&token);
    let expired = Claims {
        exp: now - 60,
        iat: now - 960,
        ..claims.clone()
    };
    invalid_token(app.me(&server_signed(&app, &expired)).await).await;
    let expired = Claims {
        exp: now - 10,
        iat: now - 910,
        ..claims.clone()
    };
    invalid_token(app.me(&server_signed(&app, &expired)).await).await;
    let within_leeway = Claims {
        exp: now - 2,
        iat: now - 902,
        ..claims.clone()
    };
    assert_eq!(
        app.me(&server_signed(&app, &within_leeway)).await.status(),
        200
    );
    // nbf: the same leeway the other way.
    let not_yet = Claims {
        nbf: Some(now + 60),
        ..claims.clone()
    };
    invalid_token(app.me(&server_signed(&app, &not_yet)).await).await;
    let nearly = Claims {
        nbf: Some(now + 2),
        ..claims
    };
    assert_eq!(app.me(&server_signed(&app, &nearly)).await.status(), 200);
}

#[tokio::test]
async fn tokens_for_another_issuer_or_audience_are_refused() {
    let app = TestApp::spawn().await;
    let token = token(&app, "kai@example.com").await;
    let claims = real_claims(&token);
    // Sanity: the server's key signs tokens it accepts.
    assert_eq!(app.me(&server_signed(&app, &claims)).await.status(), 200);
    let cases = [
        Claims {
            aud: "https://other.example".into(),
            ..claims.clone()
        },
        Claims {
            aud: format!("{}/", app.addr),
            ..claims.clone()
        },
        Claims {
            iss: "https://evil.example".into(),
            ..claims.clone()
        },
        Claims {
            iss: format!("{}/", app.addr),
            ..claims.clone()
        },
    ];
    for case in cases {
        invalid_token(app.me(&server_signed(&app, &case)).await).await;
    }
}

/// A token whose `sub`/`sid` are not ids of this server, signed with the real
/// key (a key leak, or a bug elsewhere), is still refused rather than a 500.
#[tokio::test]
async fn well_signed_nonsense_claims_are_refused() {
    let app = TestApp::spawn().await;
    let token = token(&app, "lia@example.com").await;
    let claims = real_claims(&token);
    for case in [
        Claims {
            sub: "admin".into(),
            ..claims.clone()
        },
        Claims {
            sid: "' OR 1=1 --".into(),
            ..claims.clone()
        },
    ] {
        invalid_token(app.me(&server_signed(&app, &case)).await).await;
    }
    // A well-formed but unknown user is no one: 404, not someone else's account.
    let ghost = Claims {
        sub: uuid::Uuid::now_v7().to_string(),
        ..claims
    };
    let res = app.me(&server_signed(&app, &ghost)).await;
    assert_eq!(res.status(), 404);
}
