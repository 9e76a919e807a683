//! Email verification, password reset and change, read through the mail
//! the server really sent (the outbox folder).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{invalid_token, problem, s, TestApp, PASSWORD};

const NEW_PASSWORD: &str = "a brand new passphrase 42";

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/v1/email/verify", json!({ "token": token }))
        .await
}

async fn me(app: &TestApp, access: &str) -> Value {
    let res = app.me(access).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn signup_mails_a_verification_link_that_works_once() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("ada@example.com").await;
    let access = s(&body["access_token"]).to_owned();
    assert_eq!(me(&app, &access).await["email_verified"], false);

    let mail = app.nth_mail_to("ada@example.com", 1).await;
    assert!(
        mail.subject.to_lowercase().contains("confirm"),
        "{}",
        mail.subject
    );
    assert!(
        mail.text
            .contains(&format!("{}/verify-email?token=", app.addr)),
        "{}",
        mail.text
    );
    let token = mail.token("/verify-email");

    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &access).await["email_verified"], true);
    // Single use.
    problem(verify(&app, &token).await, 400, "invalid_or_expired_token").await;
    // Garbage and unknown tokens: the same answer.
    problem(
        verify(&app, "' OR 1=1 --").await,
        400,
        "invalid_or_expired_token",
    )
    .await;
    problem(
        verify(&app, &"A".repeat(43)).await,
        400,
        "invalid_or_expired_token",
    )
    .await;
    // A reset token is not a verification token.
    let res = app.post("/v1/email/verify", json!({ "token": 42 })).await;
    problem(res, 422, "invalid_request").await;
}

#[tokio::test]
async fn verification_links_expire_after_24_hours() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let token = app
        .nth_mail_to("ada@example.com", 1)
        .await
        .token("/verify-email");
    app.clock.advance(time::Duration::hours(24));
    problem(verify(&app, &token).await, 400, "invalid_or_expired_token").await;
}

#[tokio::test]
async fn resend_supersedes_the_old_link_and_is_rate_limited() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("ada@example.com").await;
    let access = s(&body["access_token"]).to_owned();
    let first = app
        .nth_mail_to("ada@example.com", 1)
        .await
        .token("/verify-email");

    let res = app
        .post_auth("/v1/email/verify/resend", &access, None)
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let second = app
        .nth_mail_to("ada@example.com", 2)
        .await
        .token("/verify-email");
    assert_ne!(first, second);
    problem(verify(&app, &first).await, 400, "invalid_or_expired_token").await;

    // Signup + 4 resends = 5 mails this hour; the 6th is refused.
    for _ in 0..3 {
        let res = app
            .post_auth("/v1/email/verify/resend", &access, None)
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = app
        .post_auth("/v1/email/verify/resend", &access, None)
        .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    problem(res, 429, "rate_limited").await;
    app.assert_mail_count("ada@example.com", 5).await;
    // An hour later the budget is back.
    app.clock.advance(time::Duration::hours(1));
    let res = app
        .post_auth("/v1/email/verify/resend", &access, None)
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let newest = app
        .nth_mail_to("ada@example.com", 6)
        .await
        .token("/verify-email");
    assert_eq!(verify(&app, &newest).await.status(), StatusCode::NO_CONTENT);
    // Verified: resend sends nothing.
    let res = app
        .post_auth("/v1/email/verify/resend", &access, None)
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.assert_mail_count("ada@example.com", 6).await;
    invalid_token(app.post("/v1/email/verify/resend", json!({})).await).await;
}

#[tokio::test]
async fn with_verification_required_signup_reveals_nothing_and_login_waits() {
    let app = TestApp::spawn_with(&[("DOORWARD_AUTH_REQUIRE_EMAIL_VERIFICATION", "true")]).await;
    let res = app.signup("ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let fresh: Value = res.json().await.unwrap();
    assert!(fresh.get("access_token").is_none(), "{fresh}");

    // The same address again: the same answer, and a new link for the owner.
    let res = app
        .signup("ada@example.com", "another long passphrase")
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.unwrap(), fresh);
    let mails = app.mails_to("ada@example.com", 2).await;

    // Right password, unverified: 403; wrong password: the usual 401.
    problem(
        app.login("ada@example.com", PASSWORD).await,
        403,
        "email_not_verified",
    )
    .await;
    problem(
        app.login("ada@example.com", "wrong password!").await,
        401,
        "invalid_credentials",
    )
    .await;

    let token = mails[1].token("/verify-email");
    problem(
        verify(&app, &mails[0].token("/verify-email")).await,
        400,
        "invalid_or_expired_token",
    )
    .await;
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    let body = app.logged_in("ada@example.com").await;
    assert_eq!(body["user"]["email_verified"], true);

    // A verified owner is told someone tried to sign up; the answer is unchanged.
    let res = app
        .signup("ada@example.com", "yet another passphrase")
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.unwrap(), fresh);
    let note = app.nth_mail_to("ada@example.com", 3).await;
    assert!(!note.text.contains("token="), "{}", note.text);
    // The password did not change.
    app.logged_in("ada@example.com").await;
}

async fn forgot(app: &TestApp, email: &str) -> reqwest::Response {
    app.post("/v1/password/forgot", json!({ "email": email }))
        .await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post(
        "/v1/password/reset",
        json!({ "token": token, "new_password": password }),
    )
    .await
}

#[tokio::test]
async fn forgot_and_reset_end_every_session() {
    let app = TestApp::spawn().await;
    let first = app.signed_up("ada@example.com").await;
    let second = app.logged_in("ada@example.com").await;

    let known = forgot(&app, "Ada@Example.com").await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    let unknown = forgot(&app, "nobody@example.com").await;
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    assert_eq!(
        known.json::<Value>().await.unwrap(),
        unknown.json::<Value>().await.unwrap()
    );
    // Mail 1 is the verification mail.
    let mail = app.nth_mail_to("ada@example.com", 2).await;
    assert!(
        mail.subject.to_lowercase().contains("reset"),
        "{}",
        mail.subject
    );
    let token = mail.token("/reset-password");
    app.assert_mail_count("nobody@example.com", 0).await;

    let weak = problem(reset(&app, &token, "password").await, 422, "weak_password").await;
    assert_eq!(weak["errors"][0]["field"], "new_password");
    problem(reset(&app, &token, "short").await, 422, "invalid_request").await;
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    // Single use; every session ended; the new password works, the old not.
    problem(
        reset(&app, &token, "another new passphrase").await,
        400,
        "invalid_or_expired_token",
    )
    .await;
    invalid_token(app.me(s(&first["access_token"])).await).await;
    invalid_token(app.me(s(&second["access_token"])).await).await;
    problem(
        app.refresh(s(&second["refresh_token"])).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    problem(
        app.login("ada@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let res = app.login("ada@example.com", NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    // Following the link proved the mailbox.
    assert_eq!(body["user"]["email_verified"], true);
    let note = app.nth_mail_to("ada@example.com", 3).await;
    assert!(!note.text.contains("token="), "{}", note.text);
    let events = app
        .state
        .accounts
        .store
        .recent_audit(None, 100)
        .await
        .unwrap();
    for kind in ["password_reset_requested", "password_reset"] {
        assert!(
            events.iter().any(|e| e.kind.as_str() == kind),
            "{kind} audited"
        );
    }
}

#[tokio::test]
async fn a_newer_reset_link_replaces_the_older_and_links_expire() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    forgot(&app, "ada@example.com").await;
    let old = app
        .nth_mail_to("ada@example.com", 2)
        .await
        .token("/reset-password");
    forgot(&app, "ada@example.com").await;
    let new = app
        .nth_mail_to("ada@example.com", 3)
        .await
        .token("/reset-password");
    problem(
        reset(&app, &old, NEW_PASSWORD).await,
        400,
        "invalid_or_expired_token",
    )
    .await;
    app.clock.advance(time::Duration::minutes(30));
    problem(
        reset(&app, &new, NEW_PASSWORD).await,
        400,
        "invalid_or_expired_token",
    )
    .await;
    app.logged_in("ada@example.com").await;
}

#[tokio::test]
async fn forgot_sends_at_most_five_mails_an_hour_and_always_answers_202() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    for _ in 0..7 {
        assert_eq!(
            forgot(&app, "ada@example.com").await.status(),
            StatusCode::ACCEPTED
        );
    }
    // 1 verification + 5 reset mails.
    app.mails_to("ada@example.com", 6).await;
    app.assert_mail_count("ada@example.com", 6).await;
    problem(forgot(&app, "not an address").await, 422, "invalid_request").await;
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    let this = app.signed_up("ada@example.com").await;
    let other = app.logged_in("ada@example.com").await;
    let access = s(&this["access_token"]).to_owned();
    let change = |current: &str, new: &str| {
        let body = json!({ "current_password": current, "new_password": new });
        let access = access.clone();
        let app = &app;
        async move { app.post_auth("/v1/me/password", &access, Some(body)).await }
    };

    let wrong = problem(
        change("not my password", NEW_PASSWORD).await,
        422,
        "invalid_request",
    )
    .await;
    assert_eq!(wrong["errors"][0]["field"], "current_password");
    let weak = problem(change(PASSWORD, "password1").await, 422, "weak_password").await;
    assert_eq!(weak["errors"][0]["field"], "new_password");
    // Nothing changed so far.
    assert_eq!(
        app.me(s(&other["access_token"])).await.status(),
        StatusCode::OK
    );

    assert_eq!(
        change(PASSWORD, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.me(&access).await.status(), StatusCode::OK);
    invalid_token(app.me(s(&other["access_token"])).await).await;
    assert_eq!(
        app.refresh(s(&this["refresh_token"])).await.status(),
        StatusCode::OK
    );
    problem(
        app.login("ada@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    // Verification mail, then the notification.
    let note = app.nth_mail_to("ada@example.com", 2).await;
    assert!(
        note.subject.to_lowercase().contains("password"),
        "{}",
        note.subject
    );
    invalid_token(
        app.post(
            "/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await,
    )
    .await;
}
