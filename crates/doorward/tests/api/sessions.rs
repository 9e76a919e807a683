//! Sessions: listing them (`current` marks the caller's), logging out with
//! each scope, ending one session by id. A revoked session's refresh token
//! stops at once (401 `invalid_refresh_token`) and so do its access tokens
//! (401 from the in-memory revocation set, without waiting for `exp`).

use serde_json::{json, Value};

use crate::helpers::*;

/// A signed-in session: its id (the `sid` claim) and its tokens.
struct Session {
    id: String,
    access: String,
    refresh: String,
}

impl Session {
    fn from_body(body: &Value) -> Session {
        let access = s(&body["access_token"]).to_owned();
        Session {
            id: s(&claims_of(&access)["sid"]).to_owned(),
            refresh: s(&body["refresh_token"]).to_owned(),
            access,
        }
    }
}

/// One account with three sessions: the signup's and two logins.
async fn three_sessions(app: &TestApp, email: &str) -> [Session; 3] {
    let first = Session::from_body(&app.signed_up(email).await);
    let second = Session::from_body(&app.logged_in(email).await);
    let third = Session::from_body(&app.logged_in(email).await);
    [first, second, third]
}

async fn assert_alive(app: &TestApp, session: &Session) {
    assert_eq!(
        app.me(&session.access).await.status(),
        200,
        "access token of {} refused",
        session.id
    );
}

async fn assert_dead(app: &TestApp, session: &Session) {
    invalid_token(app.me(&session.access).await).await;
    problem(
        app.refresh(&session.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn sessions_list_marks_only_the_callers_session_current() {
    let app = TestApp::spawn().await;
    let sessions = three_sessions(&app, "ivy@example.com").await;
    let other = Session::from_body(&app.signed_up("not-ivy@example.com").await);
    for caller in &sessions {
        let list = app.sessions(&caller.access).await;
        assert_eq!(list.len(), 3, "{list:?}");
        let current: Vec<&str> = list
            .iter()
            .filter(|s| s["current"] == true)
            .map(|x| s(&x["id"]))
            .collect();
        assert_eq!(current, [caller.id.as_str()], "{list:?}");
        // Only this user's sessions.
        assert!(list.iter().all(|x| x["id"] != other.id.as_str()));
        for x in &list {
            for key in ["id", "created_at", "last_used_at"] {
                assert!(x[key].is_string(), "{key} in {x}");
            }
            assert_eq!(x["ip"], "127.0.0.1", "{x}");
            assert!(x.get("user_agent").is_some(), "{x}");
        }
    }
    assert_eq!(app.sessions(&other.access).await.len(), 1);
}

#[tokio::test]
async fn sessions_record_the_user_agent() {
    let app = TestApp::spawn().await;
    app.signed_up("jack@example.com").await;
    let res = app
        .client
        .post(app.url("/v1/login"))
        .header("user-agent", "DoorwardTest/1.0 (tab 2)")
        .json(&json!({"email": "jack@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let session = Session::from_body(&res.json().await.unwrap());
    let list = app.sessions(&session.access).await;
    let mine = list
        .iter()
        .find(|x| x["id"] == session.id.as_str())
        .unwrap();
    assert_eq!(mine["user_agent"], "DoorwardTest/1.0 (tab 2)");
}

#[tokio::test]
async fn logout_with_an_empty_body_ends_only_this_session() {
    let app = TestApp::spawn().await;
    let [a, b, c] = three_sessions(&app, "kim@example.com").await;
    let res = app.logout(&b.access, None).await;
    assert_eq!(res.status(), 204);
    assert_dead(&app, &b).await;
    assert_alive(&app, &a).await;
    assert_alive(&app, &c).await;
    let ids: Vec<String> = app
        .sessions(&a.access)
        .await
        .iter()
        .map(|x| s(&x["id"]).to_owned())
        .collect();
    assert!(
        !ids.contains(&b.id) && ids.contains(&a.id) && ids.contains(&c.id),
        "{ids:?}"
    );
}

#[tokio::test]
async fn logout_with_an_empty_object_is_local() {
    let app = TestApp::spawn().await;
    let [a, b, _] = three_sessions(&app, "lee@example.com").await;
    assert_eq!(app.logout(&a.access, Some(json!({}))).await.status(), 204);
    assert_dead(&app, &a).await;
    assert_alive(&app, &b).await;
    assert_eq!(
        app.logout(&b.access, Some(json!({"scope": "local"})))
            .await
            .status(),
        204
    );
    assert_dead(&app, &b).await;
}

#[tokio::test]
async fn logout_global_ends_every_session_of_the_user() {
    let app = TestApp::spawn().await;
    let sessions = three_sessions(&app, "max@example.com").await;
    let bystander = Session::from_body(&app.signed_up("ned@example.com").await);
    assert_eq!(
        app.logout(&sessions[1].access, Some(json!({"scope": "global"})))
            .await
            .status(),
        204
    );
    for session in &sessions {
        assert_dead(&app, session).await;
    }
    // Another user is untouched.
    assert_alive(&app, &bystander).await;
    // The password still works: a new session.
    let fresh = Session::from_body(&app.logged_in("max@example.com").await);
    assert_alive(&app, &fresh).await;
}

#[tokio::test]
async fn logout_others_keeps_only_this_session() {
    let app = TestApp::spawn().await;
    let [a, b, c] = three_sessions(&app, "olga@example.com").await;
    assert_eq!(
        app.logout(&c.access, Some(json!({"scope": "others"})))
            .await
            .status(),
        204
    );
    assert_dead(&app, &a).await;
    assert_dead(&app, &b).await;
    assert_alive(&app, &c).await;
    let list = app.sessions(&c.access).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"], c.id.as_str());
}

#[tokio::test]
async fn logout_with_a_bad_scope_is_422_and_ends_nothing() {
    let app = TestApp::spawn().await;
    let [a, b, _] = three_sessions(&app, "pia@example.com").await;
    problem(
        app.logout(&a.access, Some(json!({"scope": "everything"})))
            .await,
        422,
        "invalid_request",
    )
    .await;
    problem(
        app.logout(&a.access, Some(json!({"scope": "global", "force": true})))
            .await,
        422,
        "invalid_request",
    )
    .await;
    assert_alive(&app, &a).await;
    assert_alive(&app, &b).await;
    assert_eq!(app.sessions(&a.access).await.len(), 3);
}

#[tokio::test]
async fn logout_without_a_token_is_401() {
    let app = TestApp::spawn().await;
    let res = app.client.post(app.url("/v1/logout")).send().await.unwrap();
    invalid_token(res).await;
    let res = app
        .client
        .post(app.url("/v1/logout"))
        .json(&json!({"scope": "global"}))
        .send()
        .await
        .unwrap();
    invalid_token(res).await;
    invalid_token(app.logout("garbage", None).await).await;
}

#[tokio::test]
async fn deleting_an_own_session_ends_it() {
    let app = TestApp::spawn().await;
    let [a, b, c] = three_sessions(&app, "quinn@example.com").await;
    let res = app
        .client
        .delete(app.url(&format!("/v1/sessions/{}", b.id)))
        .bearer_auth(&a.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_dead(&app, &b).await;
    assert_alive(&app, &a).await;
    assert_alive(&app, &c).await;
    // Gone from the list; deleting it again is 404.
    assert_eq!(app.sessions(&a.access).await.len(), 2);
    let again = app
        .client
        .delete(app.url(&format!("/v1/sessions/{}", b.id)))
        .bearer_auth(&a.access)
        .send()
        .await
        .unwrap();
    problem(again, 404, "not_found").await;
    // Deleting the caller's own current session works too.
    let res = app
        .client
        .delete(app.url(&format!("/v1/sessions/{}", a.id)))
        .bearer_auth(&a.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_dead(&app, &a).await;
    assert_alive(&app, &c).await;
}

#[tokio::test]
async fn another_users_session_is_404_and_survives() {
    let app = TestApp::spawn().await;
    let mine = Session::from_body(&app.signed_up("rita@example.com").await);
    let theirs = Session::from_body(&app.signed_up("sam@example.com").await);
    let res = app
        .client
        .delete(app.url(&format!("/v1/sessions/{}", theirs.id)))
        .bearer_auth(&mine.access)
        .send()
        .await
        .unwrap();
    let not_found = problem(res, 404, "not_found").await;
    assert_alive(&app, &theirs).await;
    assert_eq!(app.sessions(&theirs.access).await.len(), 1);
    // Indistinguishable from an id that does not exist at all.
    let res = app
        .client
        .delete(app.url(&format!("/v1/sessions/{}", uuid::Uuid::now_v7())))
        .bearer_auth(&mine.access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(res, 404, "not_found").await["detail"],
        not_found["detail"]
    );
}

#[tokio::test]
async fn garbage_session_ids_are_404() {
    let app = TestApp::spawn().await;
    let me = Session::from_body(&app.signed_up("tom@example.com").await);
    for id in [
        "not-a-uuid",
        "1",
        "00000000-0000-0000-0000-00000000000g",
        "%27%20OR%201%3D1%20--",
    ] {
        let res = app
            .client
            .delete(app.url(&format!("/v1/sessions/{id}")))
            .bearer_auth(&me.access)
            .send()
            .await
            .unwrap();
        problem(res, 404, "not_found").await;
    }
    assert_alive(&app, &me).await;
    // Without a token it is 401, whatever the id.
    invalid_token(
        app.client
            .delete(app.url(&format!("/v1/sessions/{}", me.id)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_alive(&app, &me).await;
}

/// The revocation set is rebuilt at start: a server restarted on the same
/// database still refuses the access tokens of sessions logged out before.
#[tokio::test]
async fn revoked_sessions_stay_revoked_after_a_restart() {
    let app = TestApp::spawn().await;
    let [a, b, _] = three_sessions(&app, "una@example.com").await;
    assert_eq!(app.logout(&a.access, None).await.status(), 204);
    let db = format!("sqlite:{}", app.dir.path().join("doorward.db").display());
    let restarted = TestApp::spawn_on(
        tempfile::tempdir().unwrap(),
        &db,
        &[("DOORWARD_ISSUER", &app.addr)],
    )
    .await;
    invalid_token(restarted.me(&a.access).await).await;
    assert_eq!(restarted.me(&b.access).await.status(), 200);
}

/// CONTRACT: "A revoked session's access tokens are refused by every instance
/// within 1 second." Two instances share one database; a logout on one must
/// reach the other.
#[tokio::test]
async fn a_logout_reaches_every_instance_within_a_second() {
    let a = TestApp::spawn().await;
    let db = format!("sqlite:{}", a.dir.path().join("doorward.db").display());
    let b = TestApp::spawn_on(
        tempfile::tempdir().unwrap(),
        &db,
        &[("DOORWARD_ISSUER", &a.addr)],
    )
    .await;
    let session = Session::from_body(&a.signed_up("vera@example.com").await);
    assert_eq!(
        b.me(&session.access).await.status(),
        200,
        "instance b trusts instance a's tokens"
    );
    assert_eq!(a.logout(&session.access, None).await.status(), 204);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    invalid_token(b.me(&session.access).await).await;
}
