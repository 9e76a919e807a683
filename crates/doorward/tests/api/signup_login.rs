//! Sign up, log in, /v1/me.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn signup_then_me_then_login() {
    let app = TestApp::spawn().await;
    let res = app.post("/v1/signup", json!({"email": "  Ada@Example.com ", "password": "correct horse battery", "username": "Ada_L"})).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["username"], "ada_l");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(s(&body["refresh_token"]).len() >= 43);

    let me = app.me(s(&body["access_token"])).await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["id"], body["user"]["id"]);
    assert_eq!(me["email_verified"], false);
    assert_eq!(me["roles"], json!(["user"]));

    let res = app.login("ADA@example.com", "correct horse battery").await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            "/v1/login",
            json!({"username": "ada_l", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let app = TestApp::spawn().await;
    app.signed_up("bob@example.com").await;
    let wrong = problem(
        app.login("bob@example.com", "not the password").await,
        401,
        "invalid_credentials",
    )
    .await;
    let unknown = problem(
        app.login("nobody@example.com", "not the password").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
}
