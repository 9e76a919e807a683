//! The admin API: role check, user list/search/paging, disable/enable,
//! roles, delete, forced reset; every change revokes at once and is audited.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{invalid_token, problem, s, TestApp, PASSWORD};

async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    app.get_auth(path, token).await
}

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> Response {
    app.client
        .patch(app.url(&format!("/v1/admin/users/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, token: &str, id: &str) -> Response {
    app.client
        .delete(app.url(&format!("/v1/admin/users/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn audit_kinds(app: &TestApp) -> Vec<String> {
    let events = app
        .state
        .accounts
        .store
        .recent_audit(None, 500)
        .await
        .unwrap();
    events.iter().map(|e| e.kind.as_str().to_owned()).collect()
}

#[tokio::test]
async fn admin_routes_need_the_admin_role() {
    let app = TestApp::spawn().await;
    let user = app.signed_up("ada@example.com").await;
    let access = s(&user["access_token"]);
    let id = s(&user["user"]["id"]);
    problem(get(&app, access, "/v1/admin/users").await, 403, "forbidden").await;
    problem(
        get(&app, access, &format!("/v1/admin/users/{id}")).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        patch(&app, access, id, json!({"roles": ["admin"]})).await,
        403,
        "forbidden",
    )
    .await;
    problem(delete(&app, access, id).await, 403, "forbidden").await;
    invalid_token(app.get("/v1/admin/users").await).await;
    // Refused, so unchanged.
    let again = app.logged_in("ada@example.com").await;
    assert_eq!(again["user"]["roles"], json!(["user"]));
}

#[tokio::test]
async fn users_are_listed_in_pages_and_searched() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    for i in 0..5 {
        app.signed_up(&format!("person{i}@example.com")).await;
    }
    let mut seen = Vec::new();
    let mut url = "/v1/admin/users?limit=2".to_owned();
    loop {
        let res = get(&app, &root, &url).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for u in items {
            assert!(
                u["disabled"].is_boolean() && u.get("password_hash").is_none(),
                "{u}"
            );
            seen.push(s(&u["email"]).to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/v1/admin/users?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(seen[0], "root@example.com");

    let res = get(&app, &root, "/v1/admin/users?q=PERSON3").await;
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["email"], "person3@example.com");
    assert!(page["next_cursor"].is_null());
    let res = get(&app, &root, "/v1/admin/users?q=%25").await;
    assert_eq!(res.json::<Value>().await.unwrap()["items"], json!([]));

    for bad in [
        "limit=0",
        "limit=201",
        "limit=ten",
        "cursor=nope",
        "sort=email",
    ] {
        let res = get(&app, &root, &format!("/v1/admin/users?{bad}")).await;
        problem(res, 422, "invalid_request").await;
    }
    problem(
        get(&app, &root, "/v1/admin/users/not-a-uuid").await,
        404,
        "not_found",
    )
    .await;
    let unknown = uuid::Uuid::now_v7();
    problem(
        get(&app, &root, &format!("/v1/admin/users/{unknown}")).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn disabling_revokes_at_once_and_enabling_lets_the_user_back() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    let user = app.signed_up("ada@example.com").await;
    let id = s(&user["user"]["id"]);

    let res = patch(&app, &root, id, json!({"disabled": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["disabled"], true);
    invalid_token(app.me(s(&user["access_token"])).await).await;
    problem(
        app.refresh(s(&user["refresh_token"])).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    problem(
        app.login("ada@example.com", PASSWORD).await,
        403,
        "account_disabled",
    )
    .await;
    problem(
        app.login("ada@example.com", "wrong password!").await,
        401,
        "invalid_credentials",
    )
    .await;

    let res = get(&app, &root, &format!("/v1/admin/users/{id}")).await;
    assert_eq!(res.json::<Value>().await.unwrap()["disabled"], true);
    let res = patch(&app, &root, id, json!({"disabled": false})).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.logged_in("ada@example.com").await;

    let kinds = audit_kinds(&app).await;
    assert!(kinds.contains(&"user_disabled".to_owned()));
    assert!(kinds.contains(&"user_enabled".to_owned()));
    let events = app
        .state
        .accounts
        .store
        .recent_audit(None, 500)
        .await
        .unwrap();
    let disabled = events
        .iter()
        .find(|e| e.kind.as_str() == "user_disabled")
        .unwrap();
    assert_eq!(disabled.user_id.unwrap().to_string(), id);
    assert_ne!(
        disabled.actor_id, disabled.user_id,
        "the actor is the admin"
    );

    // Bad bodies change nothing.
    problem(
        patch(&app, &root, id, json!({"disabled": "yes"})).await,
        422,
        "invalid_request",
    )
    .await;
    problem(
        patch(&app, &root, id, json!({"roles": ["Not A Role"]})).await,
        422,
        "invalid_request",
    )
    .await;
    problem(
        patch(&app, &root, id, json!({"email": "x@example.com"})).await,
        422,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn changing_roles_revokes_and_new_tokens_carry_them() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    let user = app.signed_up("ada@example.com").await;
    let id = s(&user["user"]["id"]);
    let res = patch(&app, &root, id, json!({"roles": ["admin", "admin"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["roles"],
        json!(["user", "admin"])
    );
    invalid_token(app.me(s(&user["access_token"])).await).await;
    let again = app.logged_in("ada@example.com").await;
    let promoted = s(&again["access_token"]);
    assert_eq!(
        get(&app, promoted, "/v1/admin/users").await.status(),
        StatusCode::OK
    );
    assert!(audit_kinds(&app)
        .await
        .contains(&"roles_changed".to_owned()));
}

/// The same roles in another order change nothing: no `roles_changed` row,
/// and the user's sessions go on.
#[tokio::test]
async fn reordered_roles_are_no_change() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    let user = app.signed_up("ada@example.com").await;
    let id = s(&user["user"]["id"]);
    let res = patch(&app, &root, id, json!({"roles": ["admin", "support"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let again = app.logged_in("ada@example.com").await;
    let access = s(&again["access_token"]);
    let changes = |kinds: Vec<String>| kinds.iter().filter(|k| *k == "roles_changed").count();
    let before = changes(audit_kinds(&app).await);
    let res = patch(&app, &root, id, json!({"roles": ["support", "admin"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["roles"],
        json!(["user", "admin", "support"]),
        "the stored order stays"
    );
    assert_eq!(app.me(access).await.status(), StatusCode::OK);
    assert_eq!(changes(audit_kinds(&app).await), before);
}

#[tokio::test]
async fn administrators_cannot_lock_themselves_out() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    let me: Value = app.me(&root).await.json().await.unwrap();
    let id = s(&me["id"]);
    problem(
        patch(&app, &root, id, json!({"disabled": true})).await,
        409,
        "own_account",
    )
    .await;
    problem(
        patch(&app, &root, id, json!({"roles": []})).await,
        409,
        "own_account",
    )
    .await;
    problem(delete(&app, &root, id).await, 409, "own_account").await;
    assert_eq!(app.me(&root).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn deleting_ends_every_session_and_keeps_the_audit_trail() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    let user = app.signed_up("ada@example.com").await;
    let id = s(&user["user"]["id"]);
    assert_eq!(
        delete(&app, &root, id).await.status(),
        StatusCode::NO_CONTENT
    );
    invalid_token(app.me(s(&user["access_token"])).await).await;
    problem(
        app.login("ada@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    problem(delete(&app, &root, id).await, 404, "not_found").await;
    problem(
        get(&app, &root, &format!("/v1/admin/users/{id}")).await,
        404,
        "not_found",
    )
    .await;
    assert!(audit_kinds(&app).await.contains(&"user_deleted".to_owned()));
    // The address is free again.
    app.signed_up("ada@example.com").await;
}

#[tokio::test]
async fn a_deleted_users_tokens_are_refused_by_other_instances_too() {
    let app = TestApp::spawn().await;
    let other = app.spawn_sharing(&[]).await;
    let root = app.admin_token().await;
    let user = app.signed_up("ada@example.com").await;
    let access = s(&user["access_token"]);
    assert_eq!(other.me(access).await.status(), StatusCode::OK);
    let id = s(&user["user"]["id"]);
    assert_eq!(
        delete(&app, &root, id).await.status(),
        StatusCode::NO_CONTENT
    );
    // The other instance polls revocations every 500 ms.
    let mut refused = false;
    for _ in 0..40 {
        if other.get_auth("/v1/sessions", access).await.status() == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "the second instance still accepts the deleted user's token"
    );
}

#[tokio::test]
async fn a_forced_reset_ends_sessions_and_mails_a_working_link() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    let user = app.signed_up("ada@example.com").await;
    let id = s(&user["user"]["id"]);
    let res = app
        .post_auth(&format!("/v1/admin/users/{id}/password-reset"), &root, None)
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    invalid_token(app.me(s(&user["access_token"])).await).await;
    let token = app
        .nth_mail_to("ada@example.com", 2)
        .await
        .token("/reset-password");
    let res = app
        .post(
            "/v1/password/reset",
            json!({"token": token, "new_password": "a brand new passphrase 42"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.login("ada@example.com", "a brand new passphrase 42")
            .await
            .status(),
        StatusCode::OK
    );
    let unknown = uuid::Uuid::now_v7();
    let res = app
        .post_auth(
            &format!("/v1/admin/users/{unknown}/password-reset"),
            &root,
            None,
        )
        .await;
    problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn the_audit_log_is_filtered_and_paged_newest_first() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    let user = app.signed_up("ada@example.com").await;
    let id = s(&user["user"]["id"]).to_owned();
    for _ in 0..3 {
        problem(
            app.login("ada@example.com", "wrong password!").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    app.logged_in("ada@example.com").await;
    patch(&app, &root, &id, json!({"disabled": true})).await;

    // Every event about ada, in pages of 2, newest first.
    let mut items: Vec<Value> = Vec::new();
    let mut url = format!("/v1/admin/audit?user_id={id}&limit=2");
    loop {
        let res = get(&app, &root, &url).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/v1/admin/audit?user_id={id}&limit=2&cursor={c}"),
            None => break,
        }
    }
    let kinds: Vec<&str> = items.iter().map(|e| s(&e["type"])).collect();
    assert_eq!(kinds.first(), Some(&"user_disabled"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"signup"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "login_failed").count(), 3);
    assert!(items.iter().all(|e| e["user_id"] == id.as_str()));
    let disabled = &items[0];
    assert_ne!(disabled["actor_id"], disabled["user_id"]);
    assert!(s(&disabled["at"]).ends_with('Z'));

    let res = get(&app, &root, "/v1/admin/audit?type=login_failed").await;
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    // `until` is exclusive, `since` inclusive.
    let at = s(&items[0]["at"]).to_owned();
    let res = get(
        &app,
        &root,
        &format!("/v1/admin/audit?type=user_disabled&until={at}"),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["items"], json!([]));
    let res = get(
        &app,
        &root,
        &format!("/v1/admin/audit?type=user_disabled&since={at}"),
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    for bad in [
        "type=nope",
        "since=yesterday",
        "user_id=42",
        "cursor=!!",
        "limit=500",
    ] {
        problem(
            get(&app, &root, &format!("/v1/admin/audit?{bad}")).await,
            422,
            "invalid_request",
        )
        .await;
    }
    let bob = app.signed_up("bob@example.com").await;
    problem(
        get(&app, s(&bob["access_token"]), "/v1/admin/audit").await,
        403,
        "forbidden",
    )
    .await;
}
