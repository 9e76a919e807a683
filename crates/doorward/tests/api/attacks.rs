//! The attack suite (issue 7): what `tokens.rs`, `errors.rs` and
//! `enumeration.rs` leave out. Forged token headers (`kid` injection, `x5u`
//! and `x5c`), borrowed signatures, tokens of one kind presented as another,
//! the ES256 "psychic signature" (CVE-2022-21449); hostile values (SQL
//! metacharacters, 10k characters, 1 MiB, Unicode look-alikes) in every field
//! of every endpoint and page form; what the email normalisation makes of
//! look-alike addresses; and user enumeration through status and body.
//!
//! Every refusal must be a 4xx `application/problem+json` (an HTML page on
//! page routes), never a 5xx, and must change nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use doorward_token::{Algorithm, Jwk, Jwks, SigningKey, Verifier, VerifyPolicy};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

// ------------------------------------------------------------ helpers

/// Every account as stored, password hash and roles included: "nothing
/// changed" is this list being equal before and after.
async fn accounts(app: &TestApp) -> Vec<String> {
    let page = app
        .state
        .accounts
        .admin_list_users(None, None, 200)
        .await
        .unwrap();
    page.items
        .iter()
        .map(|u| {
            format!(
                "{} {} {:?} {:?} verified={} disabled={} {} {}",
                u.id,
                u.email,
                u.username,
                u.roles,
                u.email_verified,
                u.disabled,
                u.password_hash,
                u.updated_at
            )
        })
        .collect()
}

/// A refusal as the contract wants it: 4xx, problem+json with a code. Returns
/// the status and body.
async fn refused(res: Response, what: &str) -> (u16, Value) {
    let status = res.status().as_u16();
    assert!((400..500).contains(&status), "{what}: status {status}");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json", "{what}: content type");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status, "{what}: {body}");
    assert!(body["code"].is_string(), "{what}: {body}");
    (status, body)
}

/// Any answer but a 5xx; errors are problem+json. Returns the status.
async fn no_5xx(res: Response, what: &str) -> u16 {
    let status = res.status().as_u16();
    if status >= 400 {
        refused(res, what).await.0
    } else {
        status
    }
}

/// Hostile strings: SQL, LIKE wildcards, NUL, markup, header injection,
/// 10k characters, and Unicode look-alikes of `admin@example.com`.
fn hostile() -> Vec<(&'static str, String)> {
    vec![
        ("sql quote", "' OR '1'='1".into()),
        ("sql comment", "admin@example.com'--".into()),
        ("sql stacked", "x'); DROP TABLE users; SELECT ('".into()),
        (
            "sql union",
            "\" UNION SELECT password_hash FROM users --".into(),
        ),
        ("like wildcards", "%_%".into()),
        ("backslashes", "\\'\\\"\\\\\\0".into()),
        ("nul byte", "admin\u{0}@example.com".into()),
        ("markup", "<script>alert(1)</script>@example.com".into()),
        ("crlf", "a@example.com\r\nBcc: all@example.com".into()),
        ("10k characters", "a".repeat(10_000)),
        ("30k two-byte characters", "é".repeat(30_000)),
        ("cyrillic a", "\u{430}dmin@example.com".into()),
        (
            "fullwidth",
            "\u{FF41}\u{FF44}\u{FF4D}\u{FF49}\u{FF4E}@example.com".into(),
        ),
        ("zero-width joiner", "ad\u{200D}min@example.com".into()),
        ("rtl override", "\u{202E}moc.elpmaxe@nimda".into()),
        ("nfkc ligature", "\u{FB01}@example.com".into()),
        ("emoji", "\u{1F600}@example.com".into()),
        ("empty", String::new()),
    ]
}

/// Values of the wrong JSON type, including operator objects.
fn hostile_json() -> Vec<Value> {
    vec![
        Value::Null,
        json!(0),
        json!(true),
        json!(["admin@example.com"]),
        json!({"$ne": null}),
        json!({"$gt": ""}),
    ]
}

/// A JSON body over the 64 KiB limit: one field of 1 MiB.
fn mib() -> String {
    "a".repeat(1 << 20)
}

fn forge_eddsa(header: &Value, claims: &Value, pkcs8: &[u8]) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let key = jsonwebtoken::EncodingKey::from_ed_der(pkcs8);
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::EdDSA).unwrap();
    format!("{input}.{sig}")
}

fn forge_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{input}.{sig}")
}

// ------------------------------------------------------------ token headers

/// `kid` is looked up in the key set, never used as a path, a query or a
/// file: traversal to `/dev/null` (an empty HMAC key), SQL, a huge value,
/// NUL, and the real kid with something appended are all unknown keys.
#[tokio::test]
async fn injected_kid_values_are_refused() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("kim@example.com").await;
    let token = s(&body["access_token"]).to_owned();
    let claims = claims_of(&token);
    let kid = s(&jwt_segment(&token, 0)["kid"]).to_owned();
    let (_, pkcs8) = SigningKey::generate(Algorithm::EdDSA, "attacker".into()).unwrap();
    let injected = [
        "../../../../../../dev/null".to_owned(),
        "/dev/null".to_owned(),
        "' OR '1'='1".to_owned(),
        format!("{kid}' OR '1'='1"),
        "' UNION SELECT 'secret' --".to_owned(),
        "k".repeat(4_000),
        "k".repeat(100_000),
        "\u{0}".to_owned(),
        format!("{kid}\u{0}"),
        format!("{kid}\u{0}../../dev/null"),
        format!("{kid} "),
        kid.to_uppercase(),
        "%".to_owned(),
    ];
    for bad in &injected {
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": bad});
        // Signed by a key of the attacker's, by HMAC with an empty key (what
        // reading `/dev/null` would give) and with the kid as the secret.
        for forged in [
            forge_eddsa(&header, &claims, &pkcs8),
            forge_hs256(
                &json!({"alg": "HS256", "typ": "at+jwt", "kid": bad}),
                &claims,
                b"",
            ),
            forge_hs256(
                &json!({"alg": "HS256", "typ": "at+jwt", "kid": bad}),
                &claims,
                bad.as_bytes(),
            ),
        ] {
            invalid_token(app.me(&forged).await).await;
        }
        // The real signature under the injected kid.
        let [_, payload, signature] =
            <[&str; 3]>::try_from(token.split('.').collect::<Vec<_>>()).unwrap();
        invalid_token(
            app.me(&format!("{}.{payload}.{signature}", b64_json(&header)))
                .await,
        )
        .await;
    }
    // The server still serves the real tokens, and its key set is unchanged.
    assert_eq!(app.me(&token).await.status(), 200);
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
}

/// A certificate chain (`x5c`) or a certificate URL (`x5u`) in the header is
/// never a source of keys, with the server's own kid or without a kid.
#[tokio::test]
async fn x5u_and_x5c_headers_are_not_trusted() {
    let app = TestApp::spawn().await;
    let token = s(&app.signed_up("xan@example.com").await["access_token"]).to_owned();
    let claims = claims_of(&token);
    let kid = s(&jwt_segment(&token, 0)["kid"]).to_owned();
    let (attacker, pkcs8) = SigningKey::generate(Algorithm::EdDSA, "attacker".into()).unwrap();
    // Not a real certificate: the point is that none is ever parsed.
    let x5c = base64::engine::general_purpose::STANDARD.encode(attacker.public_jwk().x.unwrap());
    for extra in [
        json!({"x5u": "https://evil.example/cert.pem"}),
        json!({"x5c": [x5c]}),
        json!({"x5u": "https://evil.example/cert.pem", "x5c": [x5c], "x5t": "AAAA", "x5t#S256": "AAAA"}),
        json!({"jku": format!("{}/.well-known/jwks.json", app.addr)}),
    ] {
        for with_kid in [true, false] {
            let mut header = json!({"alg": "EdDSA", "typ": "at+jwt"});
            if with_kid {
                header["kid"] = json!(kid);
            }
            for (k, v) in extra.as_object().unwrap() {
                header[k] = v.clone();
            }
            invalid_token(app.me(&forge_eddsa(&header, &claims, &pkcs8)).await).await;
        }
    }
    assert_eq!(app.me(&token).await.status(), 200);
}

/// A signature is bound to its own header and payload: one taken from
/// another token (of another user, or of the same user's other session),
/// or none at all, does not verify.
#[tokio::test]
async fn stripped_or_borrowed_signatures_are_refused() {
    let app = TestApp::spawn().await;
    let mine = s(&app.signed_up("mia@example.com").await["access_token"]).to_owned();
    let theirs = s(&app.signed_up("ned@example.com").await["access_token"]).to_owned();
    let again = s(&app.logged_in("mia@example.com").await["access_token"]).to_owned();
    let (mine_input, _) = mine.rsplit_once('.').unwrap();
    let (_, their_sig) = theirs.rsplit_once('.').unwrap();
    let (_, again_sig) = again.rsplit_once('.').unwrap();
    for forged in [
        format!("{mine_input}.{their_sig}"),
        format!("{mine_input}.{again_sig}"),
        format!("{mine_input}."),
        format!("{mine_input}.."),
        format!("{mine_input}.{}", URL_SAFE_NO_PAD.encode(b"")),
    ] {
        invalid_token(app.me(&forged).await).await;
    }
    // Their payload under my header and signature: not me, not them.
    let their_payload = theirs.split('.').nth(1).unwrap();
    let [mine_header, _, mine_sig] =
        <[&str; 3]>::try_from(mine.split('.').collect::<Vec<_>>()).unwrap();
    invalid_token(
        app.me(&format!("{mine_header}.{their_payload}.{mine_sig}"))
            .await,
    )
    .await;
    for t in [&mine, &theirs, &again] {
        assert_eq!(app.me(t).await.status(), 200);
    }
}

/// Access, refresh, verification and reset tokens are four kinds; each is
/// refused where another kind is expected, and the refusal spends nothing
/// (the presented token still works where it belongs).
#[tokio::test]
async fn a_token_of_one_kind_is_no_token_of_another() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("tia@example.com").await;
    let access = s(&body["access_token"]).to_owned();
    let refresh = s(&body["refresh_token"]).to_owned();
    let verify = app
        .nth_mail_to("tia@example.com", 1)
        .await
        .token("/verify-email");
    let res = app
        .post("/v1/password/forgot", json!({"email": "tia@example.com"}))
        .await;
    assert_eq!(res.status(), 202);
    let reset = app
        .nth_mail_to("tia@example.com", 2)
        .await
        .token("/reset-password");

    for t in [&refresh, &verify, &reset] {
        invalid_token(app.me(t).await).await;
    }
    for t in [&access, &verify, &reset] {
        problem(app.refresh(t).await, 401, "invalid_refresh_token").await;
    }
    for t in [&access, &refresh, &reset] {
        let res = app.post("/v1/email/verify", json!({"token": t})).await;
        problem(res, 400, "invalid_or_expired_token").await;
    }
    for t in [&access, &refresh, &verify] {
        let res = app
            .post(
                "/v1/password/reset",
                json!({"token": t, "new_password": "a brand new passphrase"}),
            )
            .await;
        problem(res, 400, "invalid_or_expired_token").await;
    }
    // Each still works where it belongs.
    assert_eq!(app.me(&access).await.status(), 200);
    assert_eq!(
        app.post("/v1/email/verify", json!({"token": verify}))
            .await
            .status(),
        204
    );
    assert_eq!(app.refresh(&refresh).await.status(), 200);
    let res = app
        .post(
            "/v1/password/reset",
            json!({"token": reset, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(res.status(), 204);
}

/// CVE-2022-21449 ("psychic signatures"): some ECDSA verifiers accepted r = s
/// = 0 for any message. Doorward signs and verifies EdDSA only, so an ES256
/// token is refused by its `alg` before any signature math, even under the
/// kid of the real key; and the verifier never trusts a P-256 key, so even a
/// key set that publishes one (a client's, misconfigured) makes no ES256
/// token valid.
#[tokio::test]
async fn es256_with_a_zero_signature_is_refused() {
    let app = TestApp::spawn().await;
    let token = s(&app.signed_up("eve@example.com").await["access_token"]).to_owned();
    let claims = claims_of(&token);
    let kid = s(&jwt_segment(&token, 0)["kid"]).to_owned();
    let zero_signatures = [
        URL_SAFE_NO_PAD.encode([0u8; 64]), // JOSE: r || s, 32 bytes each
        URL_SAFE_NO_PAD.encode([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]), // DER
        URL_SAFE_NO_PAD.encode([0x30, 0x00]),
        String::new(),
    ];
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": kid});
    let forged: Vec<String> = zero_signatures
        .iter()
        .map(|sig| format!("{}.{}.{sig}", b64_json(&header), b64_json(&claims)))
        .collect();
    for t in &forged {
        invalid_token(app.me(t).await).await;
    }

    // The verifier of `doorward-token` (what `doorward-guard` uses in other
    // services) with a key set holding the server's key and a P-256 key
    // under that same kid and under its own.
    let mut jwks: Jwks = serde_json::from_value(
        app.get("/.well-known/jwks.json")
            .await
            .json::<Value>()
            .await
            .unwrap(),
    )
    .unwrap();
    let p256 = |kid: &str| Jwk {
        kty: "EC".into(),
        crv: Some("P-256".into()),
        x: Some(URL_SAFE_NO_PAD.encode([7u8; 32])),
        kid: kid.into(),
        alg: "ES256".into(),
        use_: "sig".into(),
    };
    jwks.keys.insert(0, p256(&kid));
    jwks.keys.push(p256("ec-1"));
    let mut policy = VerifyPolicy::new(app.addr.clone(), app.addr.clone());
    policy.algorithms = vec![Algorithm::EdDSA];
    let verifier = Verifier::new(policy, &jwks);
    assert_eq!(verifier.kids(), vec![kid.clone()]);
    let now = unix_now();
    let ec_header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "ec-1"});
    for t in forged.iter().cloned().chain(
        zero_signatures
            .iter()
            .map(|sig| format!("{}.{}.{sig}", b64_json(&ec_header), b64_json(&claims))),
    ) {
        assert!(verifier.verify(&t, now).is_err(), "{t} verified");
    }
    // The real token verifies with that key set: the refusals are about ES256.
    assert!(verifier.verify(&token, now).is_ok());
}

// ------------------------------------------------------------ hostile input: API

/// Signup and login with a hostile value in each field: 4xx problem+json or
/// (for a value that is a valid address, username or password) success;
/// never a 5xx, and a refused signup creates nothing.
#[tokio::test]
async fn hostile_values_in_signup_and_login_fields() {
    let app = TestApp::spawn().await;
    app.signed_up("admin@example.com").await;
    let mut n = 0;
    let mut unique = || {
        n += 1;
        format!("hostile{n}@example.com")
    };
    let mut cases: Vec<(String, Value)> = Vec::new();
    for (name, v) in hostile() {
        cases.push((
            format!("signup email {name}"),
            json!({"email": v, "password": PASSWORD}),
        ));
        cases.push((
            format!("signup password {name}"),
            json!({"email": unique(), "password": v}),
        ));
        cases.push((
            format!("signup username {name}"),
            json!({"email": unique(), "password": PASSWORD, "username": v}),
        ));
    }
    for v in hostile_json() {
        for field in ["email", "password", "username"] {
            let mut body = json!({"email": unique(), "password": PASSWORD});
            body[field] = v.clone();
            cases.push((format!("signup {field} = {v}"), body));
        }
    }
    for field in ["email", "password", "username"] {
        let mut body = json!({"email": unique(), "password": PASSWORD});
        body[field] = json!(mib());
        cases.push((format!("signup {field} 1 MiB"), body));
    }
    for (what, body) in cases {
        let before = accounts(&app).await;
        let res = app.post("/v1/signup", body.clone()).await;
        let status = no_5xx(res, &what).await;
        if status != 201 {
            assert_eq!(accounts(&app).await, before, "{what} changed something");
        } else {
            // Accepted: exactly one new account, and the old ones untouched.
            let after = accounts(&app).await;
            assert_eq!(after.len(), before.len() + 1, "{what}");
            assert!(before.iter().all(|a| after.contains(a)), "{what}");
        }
    }

    // Login: never a 5xx, never a session for admin@example.com without
    // its password.
    let before = accounts(&app).await;
    for (name, v) in hostile() {
        for body in [
            json!({"email": v, "password": "not the password"}),
            json!({"username": v, "password": "not the password"}),
            json!({"email": "admin@example.com", "password": v}),
        ] {
            let res = app.post("/v1/login", body).await;
            let (status, _) = refused(res, &format!("login {name}")).await;
            assert!([401, 422, 429].contains(&status), "login {name}: {status}");
        }
    }
    for v in hostile_json() {
        for body in [
            json!({"email": v, "password": PASSWORD}),
            json!({"email": "admin@example.com", "password": v}),
        ] {
            refused(app.post("/v1/login", body).await, "login json").await;
        }
    }
    let res = app
        .post(
            "/v1/login",
            json!({"email": "admin@example.com", "password": mib()}),
        )
        .await;
    problem(res, 413, "payload_too_large").await;
    assert_eq!(accounts(&app).await, before);
}

/// Every other JSON field: refresh, logout, forgot, reset, verify, password
/// change, session ids. Nothing is refreshed, ended, mailed or changed.
#[tokio::test]
async fn hostile_values_in_token_and_password_fields() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("ann@example.com").await;
    let access = s(&body["access_token"]).to_owned();
    let refresh = s(&body["refresh_token"]).to_owned();
    let before = accounts(&app).await;
    let mails = app.mails_now().len();

    let mut values: Vec<(String, Value)> = hostile()
        .into_iter()
        .map(|(n, v)| (n.to_owned(), json!(v)))
        .collect();
    values.extend(hostile_json().into_iter().map(|v| (v.to_string(), v)));
    values.push(("1 MiB".into(), json!(mib())));
    for (name, v) in &values {
        let cases = [
            ("refresh", "/v1/refresh", json!({"refresh_token": v}), false),
            ("logout", "/v1/logout", json!({"scope": v}), true),
            (
                "reset token",
                "/v1/password/reset",
                json!({"token": v, "new_password": "a brand new passphrase"}),
                false,
            ),
            (
                "reset password",
                "/v1/password/reset",
                json!({"token": "x".repeat(43), "new_password": v}),
                false,
            ),
            ("verify", "/v1/email/verify", json!({"token": v}), false),
            (
                "change current",
                "/v1/me/password",
                json!({"current_password": v, "new_password": "a brand new passphrase"}),
                true,
            ),
            (
                "change new",
                "/v1/me/password",
                json!({"current_password": "wrong password", "new_password": v}),
                true,
            ),
        ];
        for (what, path, body, auth) in cases {
            let res = if auth {
                app.post_auth(path, &access, Some(body)).await
            } else {
                app.post(path, body).await
            };
            refused(res, &format!("{what} {name}")).await;
        }
        // Forgot answers 202 to any well-formed address (known or not) and
        // a problem to anything else; the hostile ones send no mail.
        let res = app.post("/v1/password/forgot", json!({"email": v})).await;
        no_5xx(res, &format!("forgot {name}")).await;
        // Path segments (the 1 MiB one would be refused by the HTTP
        // parser before any route: that is hyper's, not ours).
        let id = urlencoding(&v.to_string());
        if id.len() > 60_000 {
            continue;
        }
        let res = app
            .client
            .delete(app.url(&format!("/v1/sessions/{id}")))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        refused(res, &format!("session id {name}")).await;
    }
    let res = app
        .post_auth(
            "/v1/email/verify/resend",
            &access,
            Some(json!({"x": mib()})),
        )
        .await;
    // Resend reads no body, so its size is never checked (axum applies the
    // 64 KiB limit when a body is read): answered as if it were empty.
    no_5xx(res, "resend with a 1 MiB body").await;

    assert_eq!(accounts(&app).await, before);
    assert_eq!(app.sessions(&access).await.len(), 1);
    assert_eq!(app.refresh(&refresh).await.status(), 200);
    // The mail that went out was to no hostile address.
    for mail in app.mails_now().iter().skip(mails) {
        assert!(mail.to.is_ascii(), "mail to {:?}", mail.to);
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
fn urlencoding(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The admin API: `q`, `cursor`, `limit`, `user_id`, `type`, `since`,
/// `until`, the `{id}` of every user route and the PATCH body. Searches
/// match literally (a `%` finds no one), and nothing changes.
#[tokio::test]
async fn hostile_values_in_admin_queries_and_bodies() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    let victim = app.signed_up("vic@example.com").await;
    let victim_id = s(&victim["user"]["id"]).to_owned();
    let before = accounts(&app).await;

    for (name, v) in hostile() {
        let v = urlencoding(&v);
        // reqwest builds no URI over 64 KiB (the 30k two-byte characters).
        if v.len() > 60_000 {
            continue;
        }
        for param in ["q", "cursor", "limit"] {
            let res = app
                .get_auth(&format!("/v1/admin/users?{param}={v}"), &root)
                .await;
            let status = no_5xx(res, &format!("users {param} {name}")).await;
            if param == "q" && status == 200 && !v.is_empty() {
                let res = app.get_auth(&format!("/v1/admin/users?q={v}"), &root).await;
                let list: Value = res.json().await.unwrap();
                // Only literal matches (none of these is in an address).
                assert_eq!(list["items"], json!([]), "q {name}");
            }
        }
        for param in ["user_id", "type", "since", "until", "cursor", "limit"] {
            let res = app
                .get_auth(&format!("/v1/admin/audit?{param}={v}"), &root)
                .await;
            no_5xx(res, &format!("audit {param} {name}")).await;
        }
        let path = format!("/v1/admin/users/{v}");
        let res = app.get_auth(&path, &root).await;
        refused(res, &format!("get user {name}")).await;
        let res = app
            .client
            .patch(app.url(&path))
            .bearer_auth(&root)
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
        refused(res, &format!("patch user {name}")).await;
        let res = app
            .client
            .delete(app.url(&path))
            .bearer_auth(&root)
            .send()
            .await
            .unwrap();
        refused(res, &format!("delete user {name}")).await;
        let res = app
            .post_auth(&format!("{path}/password-reset"), &root, None)
            .await;
        refused(res, &format!("force reset {name}")).await;
    }
    // The PATCH body of a real user.
    let mut bodies = Vec::new();
    for (_, v) in hostile() {
        bodies.push(json!({"roles": [v]}));
        bodies.push(json!({"roles": ["admin", v]}));
        bodies.push(json!({"disabled": v}));
    }
    // (`null` is "leave as is", and `true` a real change: both are not hostile.)
    for v in hostile_json().into_iter().filter(|v| !v.is_null()) {
        bodies.push(json!({"roles": v}));
        if !v.is_boolean() {
            bodies.push(json!({"disabled": v}));
        }
    }
    bodies.push(json!({"roles": ["\u{430}dmin"]}));
    bodies.push(json!({"roles": ["ADMIN"]}));
    bodies.push(json!({"roles": vec!["x"; 17]}));
    bodies.push(json!({"roles": [mib()]}));
    for body in bodies {
        let res = app
            .client
            .patch(app.url(&format!("/v1/admin/users/{victim_id}")))
            .bearer_auth(&root)
            .json(&body)
            .send()
            .await
            .unwrap();
        refused(res, &format!("patch body {body:.80}")).await;
    }
    // A 10k-character query string and a 60 KiB one: refused, not a 5xx.
    let res = app
        .get_auth(&format!("/v1/admin/users?q={}", "a".repeat(10_000)), &root)
        .await;
    refused(res, "q of 10k characters").await;
    let res = app
        .get_auth(
            &format!("/v1/admin/audit?type={}", "a".repeat(60_000)),
            &root,
        )
        .await;
    assert!(res.status().as_u16() < 500, "{}", res.status());

    assert_eq!(accounts(&app).await, before);
    assert_eq!(app.me(s(&victim["access_token"])).await.status(), 200);
}

// ------------------------------------------------------------ hostile input: pages

/// A browser of the pages: the CSRF pair from a GET, then forms.
async fn page_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = client.get(app.url(path)).send().await.unwrap();
    let csrf = get
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("dw_csrf="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap_or_default();
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    all.push(("csrf", &csrf));
    let res = client
        .post(app.url(path.split('?').next().unwrap()))
        .header("cookie", format!("dw_csrf={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&all).unwrap())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

/// Every page form with a hostile value in each field: an HTML answer
/// (the form again with a message, or a redirect), never a 5xx, and the
/// value never comes back unescaped.
#[tokio::test]
async fn hostile_values_in_page_forms() {
    let app = TestApp::spawn().await;
    app.signed_up("admin@example.com").await;
    let before = accounts(&app).await;
    let forms: [(&str, &[&str]); 5] = [
        ("/signup", &["email", "username", "password"]),
        ("/login", &["email", "password"]),
        ("/forgot-password", &["email"]),
        ("/reset-password?token=x", &["token", "new_password"]),
        ("/verify-email?token=x", &["token"]),
    ];
    let mut values = hostile();
    values.push(("1 MiB", mib()));
    for (path, fields) in forms {
        for field in fields.iter().copied() {
            for (name, v) in &values {
                // The other fields hold something plausible but wrong.
                let mut all: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|f| {
                        (
                            *f,
                            if *f == "email" {
                                "nobody@example.com"
                            } else {
                                "not the password"
                            },
                        )
                    })
                    .collect();
                for pair in all.iter_mut() {
                    if pair.0 == field {
                        pair.1 = v.as_str();
                    }
                }
                // A signup with the username field hostile must not succeed
                // as admin: the email is another one.
                let (status, ct, body) = page_form(&app, path, &all).await;
                let what = format!("{path} {field} {name}");
                assert!(status < 500, "{what}: {status}");
                // 413 comes from the body limit shared with the API, before
                // any page code: problem+json there.
                if status == 413 {
                    assert_eq!(ct, "application/problem+json", "{what}");
                } else if status != 303 {
                    assert!(ct.starts_with("text/html"), "{what}: {ct}");
                }
                assert!(!body.contains("<script>alert(1)"), "{what}: unescaped");
            }
        }
    }
    // The accounts the page signups may have created are those of valid
    // addresses (`nobody@`, taken by the first success, and the look-alikes
    // that are addresses of their own); admin's is untouched.
    let after = accounts(&app).await;
    assert!(before.iter().all(|a| after.contains(a)));
    let allowed = [
        "nobody@example.com",
        "\u{430}dmin@example.com",
        "\u{1F600}@example.com",
        "fi@example.com",
    ];
    for a in after.iter().filter(|a| !before.contains(a)) {
        let email = a.split(' ').nth(1).unwrap();
        assert!(allowed.contains(&email), "{email:?} was created");
    }
    app.logged_in("admin@example.com").await;
}

// ------------------------------------------------------------ look-alikes

/// What the normalisation does to an email address: trim, NFKC, lower-case
/// (`Email::parse`). So compatibility forms (fullwidth letters, ligatures,
/// the Kelvin sign) are the same address as their plain form; invisible
/// format characters (zero-width joiner, bidi overrides, soft hyphen) are
/// refused; a different script (Cyrillic `а`) is a different address and a
/// different account that cannot reach `admin@example.com`'s.
#[tokio::test]
async fn look_alike_addresses_never_reach_another_account() {
    // The wrong-password attempts below are the point, not the throttle.
    let app = TestApp::spawn_with(&[("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "100")]).await;
    let admin = app.signed_up("admin@example.com").await;
    let admin_id = s(&admin["user"]["id"]).to_owned();

    // Cyrillic а (U+0430): another address, another account.
    let cyrillic = "\u{430}dmin@example.com";
    let res = app.signup(cyrillic, "a different passphrase").await;
    assert_eq!(res.status(), 201);
    let other: Value = res.json().await.unwrap();
    assert_ne!(other["user"]["id"], admin_id.as_str());
    assert_eq!(other["user"]["email"], cyrillic);
    // Neither password opens the other account.
    problem(
        app.login(cyrillic, PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    problem(
        app.login("admin@example.com", "a different passphrase")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    let me: Value = app
        .me(s(&other["access_token"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], cyrillic);
    // Forgot for the look-alike mails admin nothing.
    let res = app
        .post("/v1/password/forgot", json!({"email": cyrillic}))
        .await;
    assert_eq!(res.status(), 202);
    app.assert_mail_count("admin@example.com", 1).await;

    // Compatibility forms are the plain address: taken.
    for same in [
        "\u{FF41}dmin@example.com", // fullwidth a
        "\u{FF21}\u{FF24}\u{FF2D}\u{FF29}\u{FF2E}@\u{FF45}xample.com", // fullwidth ADMIN, e
        "admin@ex\u{FF41}mple.com",
        "ADMIN@EXAMPLE.COM",
    ] {
        problem(
            app.signup(same, "a different passphrase").await,
            409,
            "email_taken",
        )
        .await;
        // ... and log into admin's account only with admin's password.
        let body: Value = app.login(same, PASSWORD).await.json().await.unwrap();
        assert_eq!(body["user"]["id"], admin_id.as_str(), "{same}");
        problem(
            app.login(same, "a different passphrase").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // The ligature ﬁ is f + i; the Kelvin sign K lower-cases to k.
    let body: Value = app.signed_up("\u{FB01}le@example.com").await;
    assert_eq!(body["user"]["email"], "file@example.com");
    let body: Value = app.signed_up("\u{212A}ay@example.com").await;
    assert_eq!(body["user"]["email"], "kay@example.com");

    // Invisible characters are refused, not stored.
    for invisible in [
        "ad\u{200D}min@example.com", // zero-width joiner
        "ad\u{200B}min@example.com", // zero-width space
        "ad\u{200C}min@example.com", // zero-width non-joiner
        "\u{202E}nimda@example.com", // right-to-left override
        "admin\u{2066}@example.com", // left-to-right isolate
        "ad\u{AD}min@example.com",   // soft hyphen
        "\u{FEFF}admin@example.com", // byte-order mark
        "ad\u{2060}min@example.com", // word joiner
    ] {
        let body = problem(
            app.signup(invisible, "a different passphrase").await,
            422,
            "invalid_request",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "email", "{invisible:?}");
        problem(
            app.login(invisible, PASSWORD).await,
            401,
            "invalid_credentials",
        )
        .await;
    }

    // Usernames are ASCII only: a Cyrillic one is refused.
    let res = app
        .post(
            "/v1/signup",
            json!({"email": "u1@example.com", "password": "a different passphrase", "username": "\u{430}dmin"}),
        )
        .await;
    problem(res, 422, "invalid_request").await;

    // Passwords are compared after NFKC: the fullwidth form of a password is that password.
    let fullwidth: String = PASSWORD
        .chars()
        .map(|c| match c {
            'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0xFF41).unwrap(),
            other => other,
        })
        .collect();
    let body: Value = app
        .login("admin@example.com", &fullwidth)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["user"]["id"], admin_id.as_str());
}

// ------------------------------------------------------------ enumeration

/// Identical status, headers that matter and body for an existing and an
/// unknown account, on every endpoint that takes an identifier. (Timing:
/// `enumeration.rs`. Signup without required verification answers 409
/// `email_taken` by contract: that is the one place an address is told.)
#[tokio::test]
async fn existing_and_unknown_accounts_get_identical_answers() {
    let app = TestApp::spawn().await;
    app.signed_up("known@example.com").await;
    let disabled_root = app.admin_token().await;
    let gone = app.signed_up("disabled@example.com").await;
    let res = app
        .client
        .patch(app.url(&format!("/v1/admin/users/{}", s(&gone["user"]["id"]))))
        .bearer_auth(&disabled_root)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    async fn answer(res: Response) -> (u16, Option<String>, String) {
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, ct, res.text().await.unwrap())
    }
    let same = |what: &str, answers: &[(u16, Option<String>, String)]| {
        for a in answers {
            assert_eq!(a, &answers[0], "{what}");
        }
    };

    // Login: unknown, wrong password, disabled + wrong password; by email and by username.
    let mut logins = Vec::new();
    for email in [
        "known@example.com",
        "unknown@example.com",
        "disabled@example.com",
    ] {
        logins.push(answer(app.login(email, "not the password").await).await);
    }
    for username in ["root", "nobody"] {
        let res = app
            .post(
                "/v1/login",
                json!({"username": username, "password": "not the password"}),
            )
            .await;
        logins.push(answer(res).await);
    }
    same("login", &logins);
    assert_eq!(logins[0].0, 401);

    // Forgot: known, unknown, disabled.
    let mut forgots = Vec::new();
    for email in [
        "known@example.com",
        "unknown@example.com",
        "disabled@example.com",
    ] {
        let res = app
            .post("/v1/password/forgot", json!({"email": email}))
            .await;
        forgots.push(answer(res).await);
    }
    same("forgot", &forgots);
    assert_eq!(forgots[0].0, 202);

    // Reset and verify: a token that never existed, one that was used, one of a known user that expired.
    let res = app
        .post("/v1/password/forgot", json!({"email": "known@example.com"}))
        .await;
    assert_eq!(res.status(), 202);
    let mail = app.nth_mail_to("known@example.com", 3).await;
    let used = mail.token("/reset-password");
    let res = app
        .post(
            "/v1/password/reset",
            json!({"token": used, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .post("/v1/password/forgot", json!({"email": "known@example.com"}))
        .await;
    assert_eq!(res.status(), 202);
    let expired = app
        .nth_mail_to("known@example.com", 5)
        .await
        .token("/reset-password");
    app.clock.advance(time::Duration::minutes(31));
    let mut resets = Vec::new();
    for t in [used.clone(), "A".repeat(43), expired] {
        let res = app
            .post(
                "/v1/password/reset",
                json!({"token": t, "new_password": "another passphrase"}),
            )
            .await;
        resets.push(answer(res).await);
    }
    same("reset", &resets);

    // Pages: forgot and login answer the same for known and unknown addresses.
    let mut pages = Vec::new();
    for email in ["known@example.com", "unknown@example.com"] {
        pages.push(page_form(&app, "/forgot-password", &[("email", email)]).await);
    }
    assert_eq!(pages[0].0, pages[1].0);
    assert_eq!(
        strip_csrf(&pages[0].2),
        strip_csrf(&pages[1].2),
        "forgot page"
    );
    let mut pages = Vec::new();
    for email in [
        "known@example.com",
        "unknown@example.com",
        "disabled@example.com",
    ] {
        let (status, ct, body) = page_form(
            &app,
            "/login",
            &[("email", email), ("password", "not the password")],
        )
        .await;
        // The form keeps what was typed: that part differs by design.
        pages.push((status, ct, body.replace(email, "EMAIL")));
    }
    for p in &pages {
        assert_eq!(strip_csrf(&p.2), strip_csrf(&pages[0].2), "login page");
        assert_eq!(p.0, pages[0].0);
    }
}

/// The CSRF token differs per browser; the rest of a page must not.
fn strip_csrf(page: &str) -> String {
    page.lines()
        .filter(|l| !l.contains("csrf"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// With `auth.require_email_verification`, signup answers the same for a
/// new address, an unverified account's and a verified account's, on the
/// API and on the page; resend is the owner's alone (bearer), so it names no
/// one.
#[tokio::test]
async fn with_verification_required_signup_tells_nothing() {
    let app = TestApp::spawn_with(&[("DOORWARD_AUTH_REQUIRE_EMAIL_VERIFICATION", "true")]).await;
    assert_eq!(
        app.signup("pending@example.com", PASSWORD).await.status(),
        202
    );
    assert_eq!(app.signup("done@example.com", PASSWORD).await.status(), 202);
    let token = app
        .nth_mail_to("done@example.com", 1)
        .await
        .token("/verify-email");
    let res = app.post("/v1/email/verify", json!({"token": token})).await;
    assert_eq!(res.status(), 204);

    let mut answers = Vec::new();
    for email in [
        "new@example.com",
        "pending@example.com",
        "done@example.com",
        " DONE@example.com",
    ] {
        let res = app.signup(email, "a different passphrase").await;
        let status = res.status();
        let ct = res.headers().get("content-type").cloned();
        answers.push((status, ct, res.text().await.unwrap()));
    }
    for a in &answers {
        assert_eq!(a, &answers[0]);
    }
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);

    let mut pages = Vec::new();
    for email in [
        "new2@example.com",
        "pending@example.com",
        "done@example.com",
    ] {
        let (status, _, body) = page_form(
            &app,
            "/signup",
            &[("email", email), ("password", "a different passphrase")],
        )
        .await;
        pages.push((status, strip_csrf(&body)));
    }
    for p in &pages {
        assert_eq!(p, &pages[0], "signup page");
    }
}
