//! Refresh rotation, reuse detection, the two-tab race.

use crate::helpers::*;

#[tokio::test]
async fn refresh_rotates_and_reuse_after_grace_revokes_the_session() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("carol@example.com").await;
    let first = s(&body["refresh_token"]).to_owned();
    let res = app.refresh(&first).await;
    assert_eq!(res.status(), 200);
    let pair: serde_json::Value = res.json().await.unwrap();
    let second = s(&pair["refresh_token"]).to_owned();
    assert_ne!(first, second);

    app.clock.advance(time::Duration::seconds(11));
    problem(app.refresh(&first).await, 401, "refresh_token_reused").await;
    // The whole session is gone: the successor and the access token too.
    problem(app.refresh(&second).await, 401, "invalid_refresh_token").await;
    let res = app.me(s(&pair["access_token"])).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
}

#[tokio::test]
async fn two_tabs_refreshing_at_once_both_succeed() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("dave@example.com").await;
    let token = s(&body["refresh_token"]).to_owned();
    let (a, b) = tokio::join!(app.refresh(&token), app.refresh(&token));
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 200);
    let a: serde_json::Value = a.json().await.unwrap();
    let b: serde_json::Value = b.json().await.unwrap();
    // Both tabs go on refreshing; the session is alive.
    assert_eq!(app.refresh(s(&a["refresh_token"])).await.status(), 200);
    assert_eq!(app.refresh(s(&b["refresh_token"])).await.status(), 200);
}
