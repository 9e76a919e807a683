//! For operators: `/healthz`, Prometheus `/metrics` (labelled by route
//! template, never by raw path), and `/openapi.json`, which lists every route
//! with the statuses the contract names and matches the committed
//! `docs/openapi.json` (`UPDATE_OPENAPI=1` rewrites that file).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn healthz_is_ok() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    // Every answer carries a request id (quoted in 5xx bodies and in the logs) and nosniff.
    let id = |res: &reqwest::Response| {
        let text = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        uuid::Uuid::parse_str(&text).unwrap()
    };
    let first = id(&res);
    assert_eq!(first.get_version_num(), 4, "{first}");
    assert_ne!(first, id(&app.get("/healthz").await));
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn metrics_count_requests_logins_and_the_hash_queue() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("olive@example.com").await;
    app.logged_in("olive@example.com").await;
    let sid = s(&claims_of(s(&body["access_token"]))["sid"]).to_owned();
    let res = app
        .client
        .delete(app.url(&format!("/v1/sessions/{sid}")))
        .bearer_auth(s(&body["access_token"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    app.get("/v1/me?access_token=query-secret-value").await;
    app.get("/reset-password/path-secret-value").await;

    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = res.text().await.unwrap();
    for name in [
        "doorward_http_requests_total",
        "doorward_logins_total",
        "doorward_hash_queue_depth",
        "doorward_http_request_duration_seconds",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("doorward_logins_total") && l.contains("outcome=\"success\"")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("doorward_http_requests_total")
                && l.contains("route=\"/v1/login\"")),
        "{text}"
    );
    // Routes by template: ids, tokens and unknown paths never become labels.
    assert!(text.contains("route=\"/v1/sessions/{id}\""), "{text}");
    for leak in [sid.as_str(), "query-secret-value", "path-secret-value"] {
        assert!(!text.contains(leak), "/metrics contains {leak}");
    }
}

async fn openapi(app: &TestApp) -> Value {
    let res = app.get("/openapi.json").await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Every route and the statuses CONTRACT.md says it can answer.
const ROUTES: &[(&str, &str, &[u16])] = &[
    (
        "post",
        "/v1/signup",
        &[201, 202, 400, 409, 413, 415, 422, 503],
    ),
    (
        "post",
        "/v1/login",
        &[200, 400, 401, 403, 413, 415, 422, 429, 503],
    ),
    ("post", "/v1/refresh", &[200, 400, 401, 413, 415, 422, 503]),
    ("post", "/v1/logout", &[204, 400, 401, 413, 415, 422, 503]),
    ("get", "/v1/me", &[200, 401, 503]),
    ("get", "/v1/sessions", &[200, 401, 503]),
    ("delete", "/v1/sessions/{id}", &[204, 401, 404, 503]),
    (
        "post",
        "/v1/me/password",
        &[204, 400, 401, 413, 415, 422, 503],
    ),
    ("post", "/v1/password/forgot", &[202, 400, 413, 415, 422]),
    (
        "post",
        "/v1/password/reset",
        &[204, 400, 413, 415, 422, 503],
    ),
    ("post", "/v1/email/verify", &[204, 400, 413, 415, 422, 503]),
    ("post", "/v1/email/verify/resend", &[202, 401, 429, 503]),
    ("get", "/v1/admin/users", &[200, 401, 403, 422, 503]),
    ("get", "/v1/admin/users/{id}", &[200, 401, 403, 404, 503]),
    (
        "patch",
        "/v1/admin/users/{id}",
        &[200, 400, 401, 403, 404, 409, 413, 415, 422, 503],
    ),
    (
        "delete",
        "/v1/admin/users/{id}",
        &[204, 401, 403, 404, 409, 503],
    ),
    (
        "post",
        "/v1/admin/users/{id}/password-reset",
        &[202, 401, 403, 404, 503],
    ),
    ("get", "/v1/admin/audit", &[200, 401, 403, 422, 503]),
    ("get", "/.well-known/jwks.json", &[200]),
    ("get", "/.well-known/openid-configuration", &[200]),
    ("get", "/healthz", &[200, 503]),
    ("get", "/metrics", &[200]),
    ("get", "/openapi.json", &[200]),
];

#[tokio::test]
async fn openapi_lists_every_route_and_its_statuses() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    assert!(s(&doc["openapi"]).starts_with("3.1"), "{}", doc["openapi"]);
    for (method, path, statuses) in ROUTES {
        let op = &doc["paths"][*path][*method];
        assert!(op.is_object(), "{method} {path} missing");
        let responses = op["responses"].as_object().unwrap();
        for status in *statuses {
            assert!(
                responses.contains_key(&status.to_string()),
                "{method} {path} lacks {status}: {:?}",
                responses.keys()
            );
        }
        // Protected routes say so.
        if path.starts_with("/v1/")
            && ![
                "/v1/signup",
                "/v1/login",
                "/v1/refresh",
                "/v1/password/forgot",
                "/v1/password/reset",
                "/v1/email/verify",
            ]
            .contains(path)
        {
            assert!(
                op["security"].to_string().contains("bearer"),
                "{method} {path} does not name the bearer scheme"
            );
        }
    }
    // No /v1 route is left out, and none is documented that does not exist.
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .filter(|(m, _)| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
        .collect();
    for (method, path) in &documented {
        assert!(
            ROUTES.iter().any(|(m, p, _)| m == method && p == path),
            "{method} {path} documented but not in the contract list"
        );
        let url = app.url(&path.replace("{id}", "00000000-0000-0000-0000-000000000000"));
        let res = app
            .client
            .request(method.to_uppercase().parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        assert_ne!(
            res.status(),
            405,
            "{method} {path} is documented but not routed"
        );
        if !path.contains("{id}") {
            assert_ne!(
                res.status(),
                404,
                "{method} {path} is documented but not routed"
            );
        }
    }
    assert_eq!(documented.len(), ROUTES.len());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// Error responses are documented with the media type they are sent with.
#[tokio::test]
async fn openapi_documents_errors_as_problem_json() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    for (method, path, statuses) in ROUTES {
        for status in statuses.iter().filter(|s| **s >= 400) {
            let content = &doc["paths"][*path][*method]["responses"][status.to_string()]["content"];
            assert!(
                content.get("application/problem+json").is_some(),
                "{method} {path} {status}: {content}"
            );
        }
    }
}

/// The committed `docs/openapi.json` is what the server serves. After an API
/// change: `UPDATE_OPENAPI=1 cargo test -p doorward --test api openapi_is_committed`.
#[tokio::test]
async fn openapi_is_committed() {
    let app = TestApp::spawn().await;
    let res = app.get("/openapi.json").await;
    assert_eq!(res.status(), 200);
    let served = res.text().await.unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, format!("{}\n", served.trim_end())).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with UPDATE_OPENAPI=1 cargo test -p doorward --test api openapi_is_committed", path.display()));
    let committed: Value = serde_json::from_str(&committed).unwrap();
    let served: Value = serde_json::from_str(&served).unwrap();
    assert!(
        committed == served,
        "docs/openapi.json is out of date; regenerate it with UPDATE_OPENAPI=1 cargo test -p doorward --test api openapi_is_committed"
    );
}
