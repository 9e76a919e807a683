//! Password hashing over HTTP: the bounded queue answers 503 + Retry-After
//! instead of piling up work, weaker stored hashes are upgraded at login,
//! and the defaults are argon2id m=19456,t=2,p=1.

use serde_json::json;

use crate::helpers::*;

async fn stored_hash(app: &TestApp, email: &str) -> String {
    let user = app
        .state
        .accounts
        .store
        .user_by_email(email)
        .await
        .unwrap()
        .unwrap();
    user.password_hash
}

#[tokio::test]
async fn a_full_hash_queue_answers_503_with_retry_after() {
    // One hash at a time, none waiting, and each hash slow enough to overlap.
    let app = TestApp::spawn_with(&[
        ("DOORWARD_PASSWORD_HASH_MAX_IN_FLIGHT", "1"),
        ("DOORWARD_PASSWORD_HASH_MAX_QUEUED", "0"),
        ("DOORWARD_PASSWORD_HASH_ITERATIONS", "40"),
    ])
    .await;
    let emails: Vec<String> = (0..12).map(|i| format!("flood{i}@example.com")).collect();
    let attempts = emails.iter().map(|e| app.login(e, "not the password"));
    let answers = futures_util::future::join_all(attempts).await;
    let mut busy = 0;
    for res in answers {
        match res.status().as_u16() {
            401 => {}
            503 => {
                assert_eq!(res.headers()["retry-after"], "1");
                let body = problem(res, 503, "server_busy").await;
                assert!(body["detail"].as_str().unwrap().contains("busy"));
                busy += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        busy > 0,
        "12 concurrent logins through one slot and no queue: some must be refused"
    );
    // Once the flood is over, logins work again.
    app.signed_up("after@example.com").await;
    assert_eq!(app.login("after@example.com", PASSWORD).await.status(), 200);
}

/// While the queue is full a login is refused before anything is read or
/// written for it: an identifier that the throttle would refuse (with a
/// `throttled` audit row) gets the same 503, and nothing is recorded.
#[tokio::test]
async fn a_full_hash_queue_refuses_a_login_before_any_lookup() {
    let app = TestApp::spawn_with(&[
        ("DOORWARD_PASSWORD_HASH_MAX_IN_FLIGHT", "1"),
        ("DOORWARD_PASSWORD_HASH_MAX_QUEUED", "0"),
        ("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "2"),
    ])
    .await;
    for _ in 0..2 {
        let res = app.login("blocked@example.com", "not the password").await;
        assert_eq!(res.status(), 401);
    }
    let audit_rows = || async {
        app.state
            .accounts
            .store
            .recent_audit(None, 1000)
            .await
            .unwrap()
            .len()
    };
    let before = audit_rows().await;
    // The only place in the queue is taken.
    let place = app.state.accounts.hasher.admit().unwrap();
    for email in ["blocked@example.com", "other@example.com"] {
        let res = app.login(email, PASSWORD).await;
        assert_eq!(res.headers()["retry-after"], "1");
        problem(res, 503, "server_busy").await;
    }
    assert_eq!(audit_rows().await, before, "a refusal records nothing");
    drop(place);
    // With the place back, the throttle answers as before.
    let res = app.login("blocked@example.com", PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(audit_rows().await > before);
}

#[tokio::test]
async fn default_parameters_are_argon2id_owasp() {
    let app = TestApp::spawn_with(&[
        ("DOORWARD_PASSWORD_HASH_MEMORY_KIB", "19456"),
        ("DOORWARD_PASSWORD_HASH_ITERATIONS", "2"),
    ])
    .await;
    app.signed_up("defaults@example.com").await;
    let hash = stored_hash(&app, "defaults@example.com").await;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn a_weaker_stored_hash_is_upgraded_at_the_next_login() {
    let data = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", data.path().join("doorward.db").display());
    let weak = TestApp::spawn_on(tempfile::tempdir().unwrap(), &db, &[]).await;
    weak.signed_up("upgrade@example.com").await;
    let before = stored_hash(&weak, "upgrade@example.com").await;
    assert!(before.contains("m=1024,t=1"), "{before}");
    drop(weak);

    let strong = TestApp::spawn_on(
        tempfile::tempdir().unwrap(),
        &db,
        &[
            ("DOORWARD_PASSWORD_HASH_MEMORY_KIB", "2048"),
            ("DOORWARD_PASSWORD_HASH_ITERATIONS", "2"),
        ],
    )
    .await;
    // A wrong password changes nothing.
    assert_eq!(
        strong
            .login("upgrade@example.com", "not the password")
            .await
            .status(),
        401
    );
    assert_eq!(stored_hash(&strong, "upgrade@example.com").await, before);
    assert_eq!(
        strong.login("upgrade@example.com", PASSWORD).await.status(),
        200
    );
    let after = stored_hash(&strong, "upgrade@example.com").await;
    assert!(
        after.starts_with("$argon2id$v=19$m=2048,t=2,p=1$"),
        "{after}"
    );
    // And the password still works with the new hash.
    let res = strong
        .post(
            "/v1/login",
            json!({"email": "upgrade@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
}
