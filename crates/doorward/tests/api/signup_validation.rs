//! What signup accepts and refuses: email syntax, password length counted
//! after NFKC, passwords holding the email or username, username shape,
//! duplicates (409), and that a refused signup leaves nothing behind. Also the
//! shape of a login request.

use serde_json::{json, Value};

use crate::helpers::*;

async fn signup_with(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/v1/signup", body).await
}

/// The `errors[]` entry for `field`, from a 422 body.
fn field_error<'a>(body: &'a Value, field: &str) -> &'a Value {
    body["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|e| e["field"] == field))
        .unwrap_or_else(|| panic!("no error for `{field}` in {body}"))
}

#[tokio::test]
async fn bad_emails_are_422() {
    let app = TestApp::spawn().await;
    for email in [
        "",
        "   ",
        "plain",
        "a@",
        "@example.com",
        "a@b",
        "a b@example.com",
        "a@@example.com",
        "a@exa mple.com",
        "<a@example.com>",
    ] {
        let res = signup_with(&app, json!({"email": email, "password": PASSWORD})).await;
        let body = problem(res, 422, "invalid_request").await;
        assert_eq!(
            field_error(&body, "email")["code"],
            "invalid_email",
            "{email:?}: {body}"
        );
    }
    let long = format!("{}@example.com", "a".repeat(250));
    let body = problem(
        signup_with(&app, json!({"email": long, "password": PASSWORD})).await,
        422,
        "invalid_request",
    )
    .await;
    field_error(&body, "email");
}

#[tokio::test]
async fn password_length_is_8_to_256_characters_after_nfkc() {
    let app = TestApp::spawn().await;
    let short = signup_with(
        &app,
        json!({"email": "p1@example.com", "password": "1234567"}),
    )
    .await;
    let body = problem(short, 422, "invalid_request").await;
    assert_eq!(field_error(&body, "password")["code"], "password_too_short");

    let long = signup_with(
        &app,
        json!({"email": "p2@example.com", "password": "x".repeat(257)}),
    )
    .await;
    let body = problem(long, 422, "invalid_request").await;
    assert_eq!(field_error(&body, "password")["code"], "password_too_long");

    // Characters, not bytes: 256 two-byte characters (512 bytes) are fine.
    assert_eq!(
        signup_with(
            &app,
            json!({"email": "p3@example.com", "password": "é".repeat(256)})
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        signup_with(
            &app,
            json!({"email": "p4@example.com", "password": "x".repeat(256)})
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        signup_with(
            &app,
            json!({"email": "p5@example.com", "password": "k7#vQ2!x"})
        )
        .await
        .status(),
        201
    );
    // Counted after NFKC: "ﬁ" + six characters is seven code points but
    // eight characters once the ligature becomes "fi"...
    assert_eq!(
        signup_with(
            &app,
            json!({"email": "p6@example.com", "password": "\u{FB01}k7#vQ2"})
        )
        .await
        .status(),
        201
    );
    // ...and "e" + combining acute, eight code points, compose to four.
    let composed = signup_with(
        &app,
        json!({"email": "p7@example.com", "password": "e\u{301}".repeat(4)}),
    )
    .await;
    let body = problem(composed, 422, "invalid_request").await;
    assert_eq!(field_error(&body, "password")["code"], "password_too_short");
    // ...and the stored password is the normalised one: the ligature form logs in as "fi".
    assert_eq!(app.login("p6@example.com", "fik7#vQ2").await.status(), 200);
}

#[tokio::test]
async fn password_holding_the_email_or_username_is_weak() {
    let app = TestApp::spawn().await;
    let res = signup_with(
        &app,
        json!({"email": "Dana@Example.com", "password": "my DANA@example.com pass"}),
    )
    .await;
    let body = problem(res, 422, "weak_password").await;
    assert_eq!(field_error(&body, "password")["code"], "weak_password");
    assert!(!s(&body["detail"]).is_empty());

    let res = signup_with(&app, json!({"email": "dana@example.com", "username": "dana_s", "password": "secret DANA_S secret"})).await;
    problem(res, 422, "weak_password").await;

    // Neither was created.
    problem(
        app.login("dana@example.com", "my DANA@example.com pass")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    problem(
        app.login("dana@example.com", "secret DANA_S secret").await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn usernames_are_3_to_32_lowercase_characters() {
    let app = TestApp::spawn().await;
    for (i, bad) in ["ab", &"a".repeat(33), "has space", "émile", "a/b", "x@y"]
        .iter()
        .enumerate()
    {
        let res = signup_with(
            &app,
            json!({"email": format!("u{i}@example.com"), "password": PASSWORD, "username": bad}),
        )
        .await;
        let body = problem(res, 422, "invalid_request").await;
        assert_eq!(
            field_error(&body, "username")["code"],
            "invalid_username",
            "{bad:?}: {body}"
        );
    }
    let res = signup_with(
        &app,
        json!({"email": "ok1@example.com", "password": PASSWORD, "username": "MixedCase.Name-1"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["username"], "mixedcase.name-1");
    let res = signup_with(
        &app,
        json!({"email": "ok2@example.com", "password": PASSWORD, "username": "abc"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let res = signup_with(
        &app,
        json!({"email": "ok3@example.com", "password": PASSWORD, "username": "b".repeat(32)}),
    )
    .await;
    assert_eq!(res.status(), 201);
    // Logging in by username ignores case, as signup did.
    let res = app
        .post(
            "/v1/login",
            json!({"username": "MIXEDCASE.NAME-1", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn duplicate_email_is_409_whatever_its_case_and_spaces() {
    let app = TestApp::spawn().await;
    app.signed_up("erin@example.com").await;
    for dup in [
        "erin@example.com",
        "ERIN@Example.COM",
        "  erin@example.com\t",
    ] {
        let res = signup_with(
            &app,
            json!({"email": dup, "password": "another good password"}),
        )
        .await;
        problem(res, 409, "email_taken").await;
    }
    // The original password is still the one that works.
    assert_eq!(app.login("erin@example.com", PASSWORD).await.status(), 200);
    problem(
        app.login("erin@example.com", "another good password").await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn duplicate_username_is_409_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let res = signup_with(
        &app,
        json!({"email": "frank@example.com", "password": PASSWORD, "username": "frank"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let res = signup_with(
        &app,
        json!({"email": "other@example.com", "password": PASSWORD, "username": "FRANK"}),
    )
    .await;
    problem(res, 409, "username_taken").await;
    // The refused account does not exist: its email is free and cannot log in.
    problem(
        app.login("other@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let res = signup_with(
        &app,
        json!({"email": "other@example.com", "password": PASSWORD, "username": "frank2"}),
    )
    .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn refused_signup_creates_nothing() {
    let app = TestApp::spawn().await;
    let res = signup_with(
        &app,
        json!({"email": "gina@example.com", "password": PASSWORD, "username": "x"}),
    )
    .await;
    problem(res, 422, "invalid_request").await;
    problem(
        app.login("gina@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    // The same email signs up fine afterwards.
    let res = signup_with(
        &app,
        json!({"email": "gina@example.com", "password": PASSWORD, "username": "gina"}),
    )
    .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn login_takes_email_or_username_not_both_nor_neither() {
    let app = TestApp::spawn().await;
    let res = signup_with(
        &app,
        json!({"email": "hal@example.com", "password": PASSWORD, "username": "hal"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let both = app
        .post(
            "/v1/login",
            json!({"email": "hal@example.com", "username": "hal", "password": PASSWORD}),
        )
        .await;
    problem(both, 422, "invalid_request").await;
    let neither = app.post("/v1/login", json!({"password": PASSWORD})).await;
    problem(neither, 422, "invalid_request").await;
    let no_password = app
        .post("/v1/login", json!({"email": "hal@example.com"}))
        .await;
    problem(no_password, 422, "invalid_request").await;
    // Each alone works.
    assert_eq!(
        app.post(
            "/v1/login",
            json!({"email": "hal@example.com", "password": PASSWORD})
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.post(
            "/v1/login",
            json!({"username": "hal", "password": PASSWORD})
        )
        .await
        .status(),
        200
    );
}
