//! How the API says no: every failure is RFC 9457 problem+json with a stable
//! `code` (413 too big, 415 wrong type, 400 malformed, 422 wrong fields, 404
//! unknown path, 405 wrong method with `Allow`), and no error body ever
//! repeats the password that was sent.

use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// A password no error message could contain by accident.
const SECRET: &str = "Zebra-Quokka-7731-Pangolin";

impl TestApp {
    async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        req.send().await.unwrap()
    }
}

#[tokio::test]
async fn body_over_64_kib_is_413() {
    let app = TestApp::spawn().await;
    let big = json!({"email": "big@example.com", "password": "x".repeat(64 * 1024)}).to_string();
    assert!(big.len() > 64 * 1024);
    problem(
        app.post_raw("/v1/signup", Some("application/json"), big)
            .await,
        413,
        "payload_too_large",
    )
    .await;
    // Just under the limit is read (and then refused for what it says, not its size).
    let under = json!({"email": "big@example.com", "password": "x".repeat(60 * 1024)}).to_string();
    let body = problem(
        app.post_raw("/v1/signup", Some("application/json"), under)
            .await,
        422,
        "invalid_request",
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "password_too_long", "{body}");
}

/// The limit holds for a body sent without `Content-Length` (chunked), where
/// the size is only known while reading.
#[tokio::test]
async fn chunked_body_over_64_kib_is_413() {
    let app = TestApp::spawn().await;
    let host = app.addr.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /v1/signup HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 8 * 1024];
    // The server may answer and close before everything is sent: ignore write errors.
    for _ in 0..10 {
        if stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || stream.write_all(&chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "t@example.com", "password": SECRET}).to_string();
    problem(
        app.post_raw("/v1/signup", Some("text/plain"), body.clone())
            .await,
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        app.post_raw("/v1/signup", None, body.clone()).await,
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        app.post_raw(
            "/v1/login",
            Some("application/x-www-form-urlencoded"),
            "email=a&password=b",
        )
        .await,
        415,
        "unsupported_media_type",
    )
    .await;
    // JSON with parameters, in any case, is JSON.
    let res = app
        .post_raw("/v1/signup", Some("Application/JSON; charset=utf-8"), body)
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    for bad in [
        "{\"email\": ",
        "{email: 'a'}",
        "",
        "not json",
        "{\"email\":\"a@b.co\",}",
    ] {
        let res = app
            .post_raw("/v1/signup", Some("application/json"), bad)
            .await;
        let body = problem(res, 400, "malformed_json").await;
        assert!(body.get("errors").is_none(), "{body}");
    }
}

#[tokio::test]
async fn unknown_field_is_422_and_names_it() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/v1/signup",
            json!({"email": "u@example.com", "password": PASSWORD, "is_admin": true}),
        )
        .await;
    let body = problem(res, 422, "invalid_request").await;
    assert!(s(&body["detail"]).contains("is_admin"), "{body}");
    // Nothing was created by the refused request.
    problem(
        app.login("u@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let res = app
        .post(
            "/v1/login",
            json!({"email": "u@example.com", "password": PASSWORD, "remember": true}),
        )
        .await;
    problem(res, 422, "invalid_request").await;
}

#[tokio::test]
async fn wrong_type_or_missing_field_is_422() {
    let app = TestApp::spawn().await;
    let cases = [
        json!({"email": 42, "password": PASSWORD}),
        json!({"email": "w@example.com", "password": PASSWORD, "username": ["w"]}),
        json!({"email": "w@example.com"}),
        json!({"password": PASSWORD}),
        json!(null),
        json!("w@example.com"),
    ];
    for case in cases {
        let res = app.post("/v1/signup", case.clone()).await;
        assert_eq!(res.status(), 422, "{case}");
        problem(res, 422, "invalid_request").await;
    }
    // A repeated key could be read differently by two parsers: refused.
    let dup =
        r#"{"email":"w@example.com","email":"x@example.com","password":"correct horse battery"}"#;
    problem(
        app.post_raw("/v1/signup", Some("application/json"), dup)
            .await,
        422,
        "invalid_request",
    )
    .await;
    problem(
        app.post("/v1/refresh", json!({"refresh_token": 7})).await,
        422,
        "invalid_request",
    )
    .await;
    problem(
        app.post("/v1/refresh", json!({})).await,
        422,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn unknown_path_is_a_404_problem() {
    let app = TestApp::spawn().await;
    for path in ["/v1/nope", "/nope", "/v1/signup/", "/v1/sessions/a/b"] {
        problem(app.get(path).await, 404, "not_found").await;
    }
    problem(app.post("/v1/users", json!({})).await, 404, "not_found").await;
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let cases: [(reqwest::Method, &str, &str); 5] = [
        (reqwest::Method::GET, "/v1/signup", "POST"),
        (reqwest::Method::PUT, "/v1/login", "POST"),
        (reqwest::Method::GET, "/v1/logout", "POST"),
        (reqwest::Method::DELETE, "/v1/me", "GET"),
        (reqwest::Method::POST, "/v1/sessions/abc", "DELETE"),
    ];
    for (method, path, allowed) in cases {
        let res = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        let allow = res
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(
            allow.split(',').any(|m| m.trim() == allowed),
            "{method} {path}: Allow = {allow:?}"
        );
        problem(res, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn every_error_body_is_a_complete_problem() {
    let app = TestApp::spawn().await;
    let responses = vec![
        app.post_raw("/v1/signup", Some("text/plain"), "x").await,
        app.post_raw("/v1/signup", Some("application/json"), "{")
            .await,
        app.post("/v1/signup", json!({"email": "nope", "password": PASSWORD}))
            .await,
        app.login("nobody@example.com", PASSWORD).await,
        app.get("/v1/me").await,
        app.get("/missing").await,
        app.get("/v1/signup").await,
        app.refresh("not-a-real-refresh-token-at-all").await,
    ];
    for res in responses {
        let status = res.status().as_u16();
        assert!(status >= 400, "{status}");
        assert_eq!(
            res.headers()[CONTENT_TYPE],
            "application/problem+json",
            "{status}"
        );
        let body: Value = res.json().await.unwrap();
        for key in ["type", "title", "detail", "code"] {
            assert!(
                body[key].as_str().is_some_and(|v| !v.is_empty()),
                "{status}: `{key}` missing in {body}"
            );
        }
        assert_eq!(body["status"], status, "{body}");
        let code = s(&body["code"]);
        assert!(
            code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "code {code} is not snake_case"
        );
    }
}

#[tokio::test]
async fn validation_errors_list_each_field() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/v1/signup",
            json!({"email": "not-an-email", "password": "short", "username": "x"}),
        )
        .await;
    let body = problem(res, 422, "invalid_request").await;
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"));
    let mut fields: Vec<&str> = errors.iter().map(|e| s(&e["field"])).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "password", "username"], "{body}");
    for e in errors {
        assert!(
            !s(&e["code"]).is_empty() && !s(&e["message"]).is_empty(),
            "{e}"
        );
    }
}

/// A body must be a JSON object. serde's derived structs also take an array
/// of positional fields, so `["a@b.co", "pw"]` signs up; with one item too
/// many the well-formed array is a 400 `malformed_json`.
#[tokio::test]
async fn array_bodies_are_422() {
    let app = TestApp::spawn().await;
    for case in [
        json!(["arr@example.com", PASSWORD]),
        json!(["arr@example.com", PASSWORD, "arr", "extra"]),
    ] {
        let res = app.post("/v1/signup", case.clone()).await;
        assert_eq!(res.status(), 422, "{case}");
        problem(res, 422, "invalid_request").await;
    }
    problem(
        app.login("arr@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
}

/// Whatever is wrong with a request, the answer does not carry the password back.
#[tokio::test]
async fn no_error_echoes_the_password() {
    let app = TestApp::spawn().await;
    app.signed_up("echo@example.com").await;
    let bad: Vec<reqwest::Response> = vec![
        app.post(
            "/v1/signup",
            json!({"email": "not-an-email", "password": SECRET}),
        )
        .await,
        app.post(
            "/v1/signup",
            json!({"email": "echo@example.com", "password": SECRET}),
        )
        .await,
        app.post(
            "/v1/signup",
            json!({"email": "x@example.com", "password": SECRET, "extra": SECRET}),
        )
        .await,
        app.post("/v1/signup", json!({"email": SECRET, "password": SECRET}))
            .await,
        app.post(
            "/v1/signup",
            json!({"email": "x@example.com", "password": [SECRET]}),
        )
        .await,
        app.post(
            "/v1/signup",
            json!({"email": "x@example.com", "password": {"value": SECRET}}),
        )
        .await,
        app.post("/v1/signup", json!(SECRET)).await,
        app.post(
            "/v1/signup",
            json!({"email": "me@example.com", "password": format!("{SECRET}me@example.com")}),
        )
        .await,
        app.post(
            "/v1/signup",
            json!({"email": "me@example.com", "username": "zebra", "password": SECRET}),
        )
        .await,
        app.post(
            "/v1/login",
            json!({"email": "echo@example.com", "password": SECRET}),
        )
        .await,
        app.post(
            "/v1/login",
            json!({"email": "echo@example.com", "username": "echo", "password": SECRET}),
        )
        .await,
        app.post_raw(
            "/v1/login",
            Some("application/json"),
            format!("{{\"email\":\"echo@example.com\",\"password\":\"{SECRET}\""),
        )
        .await,
        app.post_raw(
            "/v1/login",
            Some("text/plain"),
            format!("{{\"email\":\"echo@example.com\",\"password\":\"{SECRET}\"}}"),
        )
        .await,
        app.post("/v1/refresh", json!({"refresh_token": SECRET}))
            .await,
    ];
    for res in bad {
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_client_error(), "{status}: {text}");
        assert!(
            !text.to_lowercase().contains(&SECRET.to_lowercase()),
            "{status} echoes the password: {text}"
        );
    }
}

/// Bodies whose password serde quotes in its message: a number (a PIN sent
/// as a JSON number) and a double-encoded body (a JSON string holding the
/// JSON object, a common client mistake). The 422 must not carry it back.
#[tokio::test]
async fn password_in_a_mistyped_body_is_not_echoed() {
    let app = TestApp::spawn().await;
    let pin: u64 = 80_085_271_828_182;
    let double_encoded = json!({"email": "pin@example.com", "password": SECRET}).to_string();
    let mut leaks = Vec::new();
    for path in ["/v1/signup", "/v1/login"] {
        let cases = [
            (
                json!({"email": "pin@example.com", "password": pin}),
                pin.to_string(),
            ),
            (json!(double_encoded), SECRET.to_owned()),
        ];
        for (case, secret) in cases {
            let body = problem(app.post(path, case).await, 422, "invalid_request").await;
            if body.to_string().contains(&secret) {
                leaks.push(format!("{path}: {}", body["detail"]));
            }
        }
    }
    assert!(leaks.is_empty(), "passwords echoed:\n{}", leaks.join("\n"));
}
