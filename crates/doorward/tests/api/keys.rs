//! Signing-key rotation as a running server sees it: after a rotation (here
//! straight on the store, as the CLI does it, then the reload the server
//! runs every 2 s) the JWKS holds both keys, new tokens carry the new kid,
//! and tokens signed by the old key keep working until it stops being
//! published (access TTL + leeway after its retirement).

use doorward_core::clock::Clock as _;
use doorward_core::keys::{self, KeyVault};
use serde_json::Value;

use crate::helpers::*;

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| s(&k["kid"]).to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    s(&jwt_segment(token, 0)["kid"]).to_owned()
}

/// Rotate in the database, as `doorward keys rotate` does (test settings have
/// no encryption key), and reload as the server's background task would.
async fn rotate(app: &TestApp) -> String {
    let record = keys::rotate(
        app.state.accounts.store.as_ref(),
        &KeyVault::new(None),
        app.clock.now(),
    )
    .await
    .unwrap();
    // The background task may have reloaded first: check the outcome, not
    // whether this call was the one that saw the change.
    doorward::app::reload_keys(&app.state).await.unwrap();
    assert_eq!(app.state.accounts.issuer.keyring().signer.kid(), record.kid);
    record.kid
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid() {
    let app = TestApp::spawn().await;
    let before = app.signed_up("mia@example.com").await;
    let old_token = s(&before["access_token"]).to_owned();
    let old_kid = kid_of(&old_token);
    assert_eq!(jwks_kids(&app).await, std::slice::from_ref(&old_kid));

    let new_kid = rotate(&app).await;
    assert_ne!(new_kid, old_kid);
    let mut kids = jwks_kids(&app).await;
    kids.sort();
    let mut expected = vec![old_kid.clone(), new_kid.clone()];
    expected.sort();
    assert_eq!(kids, expected);

    // New tokens are signed by the new key and verify.
    let after = app.logged_in("mia@example.com").await;
    let new_token = s(&after["access_token"]);
    assert_eq!(kid_of(new_token), new_kid);
    assert_eq!(app.me(new_token).await.status(), 200);
    // The old token still works.
    assert_eq!(app.me(&old_token).await.status(), 200);
    // Reloading again with nothing new is no change.
    assert!(!doorward::app::reload_keys(&app.state).await.unwrap());
}

#[tokio::test]
async fn a_retired_key_is_unpublished_once_its_tokens_have_expired() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("noa@example.com").await;
    let old_kid = kid_of(s(&body["access_token"]));
    let new_kid = rotate(&app).await;
    // Still published just before its last token (15 min) could expire...
    app.clock.advance(time::Duration::minutes(15));
    doorward::app::reload_keys(&app.state).await.unwrap();
    assert!(jwks_kids(&app).await.contains(&old_kid));
    // ...and gone once it has, leeway included.
    app.clock.advance(time::Duration::seconds(10));
    doorward::app::reload_keys(&app.state).await.unwrap();
    assert_eq!(jwks_kids(&app).await, [new_kid]);
    // The guard dropped it too: a token signed by the old key is refused.
    invalid_token(app.me(s(&body["access_token"])).await).await;
}

#[tokio::test]
async fn the_server_picks_up_a_rotation_by_itself() {
    let app = TestApp::spawn().await;
    let old_kid = kid_of(s(&app.signed_up("ora@example.com").await["access_token"]));
    let record = keys::rotate(
        app.state.accounts.store.as_ref(),
        &KeyVault::new(None),
        app.clock.now(),
    )
    .await
    .unwrap();
    // CONTRACT: used by every running instance within 5 seconds (reload runs every 2 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let token = app.logged_in("ora@example.com").await;
        if kid_of(s(&token["access_token"])) == record.kid {
            assert_eq!(app.me(s(&token["access_token"])).await.status(), 200);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still signing with {old_kid} after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
