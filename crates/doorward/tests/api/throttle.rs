//! Brute-force protection (CONTRACT "Abuse protection"): accounts, unknown
//! identifiers and client IPs throttled after their failures with 429
//! `too_many_attempts` and `Retry-After`; the backoff grows and ends; the
//! owner still gets in from a known network; counts shared by instances;
//! forwarded headers believed only from trusted proxies.
//!
//! The servers' test clocks stand still unless advanced, so backoffs are
//! exact and passing them costs no waiting.

use doorward_core::store::AuditKind;
use reqwest::Response;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::*;

/// Requests come from 127.0.0.1, which these apps trust as a proxy: the
/// client is whatever `X-Forwarded-For` says.
const BEHIND_PROXY: (&str, &str) = ("DOORWARD_AUTH_TRUSTED_PROXIES", "127.0.0.1");
const WRONG: &str = "not the password at all";

async fn login_from(app: &TestApp, header: Option<(&str, &str)>, body: Value) -> Response {
    let req = app.client.post(app.url("/v1/login")).json(&body);
    let req = match header {
        Some((name, value)) => req.header(name, value),
        None => req,
    };
    req.send().await.unwrap()
}

/// Log in by email from the client `ip` (through the trusted proxy).
async fn login_as(app: &TestApp, ip: &str, email: &str, password: &str) -> Response {
    let body = json!({"email": email, "password": password});
    login_from(app, Some(("x-forwarded-for", ip)), body).await
}

/// A 429 `too_many_attempts`; returns its Retry-After and body.
async fn throttled(res: Response) -> (u64, Value) {
    let retry = res
        .headers()
        .get("retry-after")
        .expect("429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse::<u64>()
        .expect("Retry-After is whole seconds");
    (retry, problem(res, 429, "too_many_attempts").await)
}

async fn audit_count(app: &TestApp, kind: AuditKind) -> usize {
    let events = app
        .state
        .accounts
        .store
        .recent_audit(None, 1000)
        .await
        .unwrap();
    events.iter().filter(|e| e.kind == kind).count()
}

#[tokio::test]
async fn an_account_is_throttled_after_its_failures_and_its_owner_still_gets_in() {
    let app =
        TestApp::spawn_with(&[BEHIND_PROXY, ("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "3")]).await;
    // Signed up from 127.0.0.1 (no forwarded header): the owner's network.
    app.signed_up("ada@example.com").await;
    let attacker = "203.0.113.5";
    for _ in 0..3 {
        let res = login_as(&app, attacker, "ada@example.com", WRONG).await;
        problem(res, 401, "invalid_credentials").await;
    }
    // Blocked for 1/30 of the 15-minute window, even with the right password
    // from a network the account has never used.
    let (retry, _) = throttled(login_as(&app, attacker, "ada@example.com", PASSWORD).await).await;
    assert_eq!(retry, 30);
    let (retry, _) =
        throttled(login_as(&app, "198.51.100.1", "ADA@example.com", WRONG).await).await;
    assert_eq!(retry, 30);
    assert_eq!(
        audit_count(&app, AuditKind::LoginFailed).await,
        3,
        "refusals are not failures"
    );
    assert_eq!(
        audit_count(&app, AuditKind::Throttled).await,
        1,
        "one throttled row per block, however many refusals"
    );

    // The owner, from the network the account signed up from: a wrong
    // password answers like the block, the right one gets in.
    let (retry, _) = throttled(login_as(&app, "127.0.0.1", "ada@example.com", WRONG).await).await;
    assert_eq!(retry, 60, "a failure while blocked still counts");
    app.logged_in("ada@example.com").await;

    // The success forgot the account's failures.
    let res = login_as(&app, attacker, "ada@example.com", WRONG).await;
    problem(res, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn the_backoff_grows_with_each_failure_and_then_ends() {
    let app =
        TestApp::spawn_with(&[BEHIND_PROXY, ("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "2")]).await;
    app.signed_up("ada@example.com").await;
    let ip = "203.0.113.5";
    for _ in 0..2 {
        problem(
            login_as(&app, ip, "ada@example.com", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let mut expected = 30;
    for _ in 0..4 {
        let (retry, _) = throttled(login_as(&app, ip, "ada@example.com", WRONG).await).await;
        assert_eq!(retry, expected);
        app.clock.advance(Duration::seconds(expected as i64 - 1));
        throttled(login_as(&app, ip, "ada@example.com", PASSWORD).await).await;
        app.clock.advance(Duration::seconds(1));
        // Free again: the next failure doubles the block.
        problem(
            login_as(&app, ip, "ada@example.com", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
        expected *= 2;
    }
    let (retry, _) = throttled(login_as(&app, ip, "ada@example.com", WRONG).await).await;
    assert_eq!(retry, 480);
    app.clock.advance(Duration::seconds(480));
    problem(
        login_as(&app, ip, "ada@example.com", WRONG).await,
        401,
        "invalid_credentials",
    )
    .await;
    // Never longer than the window, however many failures.
    let (retry, _) = throttled(login_as(&app, ip, "ada@example.com", WRONG).await).await;
    assert_eq!(retry, 900);
    app.clock.advance(Duration::seconds(900));
    let res = login_as(&app, ip, "ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 200, "the block ends, from any network");
}

#[tokio::test]
async fn a_short_window_keeps_blocks_short() {
    let app = TestApp::spawn_with(&[
        ("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "2"),
        ("DOORWARD_THROTTLE_WINDOW", "2s"),
    ])
    .await;
    for _ in 0..2 {
        problem(
            app.login("ghost@example.com", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let (retry, _) = throttled(app.login("ghost@example.com", WRONG).await).await;
    assert_eq!(retry, 1);
    app.clock.advance(Duration::seconds(1));
    problem(
        app.login("ghost@example.com", WRONG).await,
        401,
        "invalid_credentials",
    )
    .await;
    let (retry, _) = throttled(app.login("ghost@example.com", WRONG).await).await;
    assert_eq!(retry, 2, "capped at the window");
    // A window after the block ended, the count starts over.
    app.clock.advance(Duration::seconds(5));
    for _ in 0..2 {
        problem(
            app.login("ghost@example.com", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
}

#[tokio::test]
async fn unknown_identifiers_are_throttled_exactly_like_accounts() {
    let app =
        TestApp::spawn_with(&[BEHIND_PROXY, ("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "3")]).await;
    app.signed_up("ada@example.com").await;
    let ip = "203.0.113.5";
    let mut answers = Vec::new();
    for email in ["ada@example.com", "ghost@example.com"] {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let res = login_as(&app, ip, email, WRONG).await;
            seen.push(problem(res, 401, "invalid_credentials").await);
        }
        // Same identifier in another spelling: the same key.
        let shouting = format!("  {}", email.to_uppercase());
        let (retry, body) = throttled(login_as(&app, ip, &shouting, PASSWORD).await).await;
        seen.push(json!({"retry": retry, "body": body}));
        answers.push(seen);
    }
    assert_eq!(
        answers[0], answers[1],
        "a known and an unknown email answer alike"
    );

    // By username too, and an identifier that is not even valid.
    for body in [
        json!({"username": "nobody_here", "password": WRONG}),
        json!({"email": "not an email", "password": WRONG}),
    ] {
        for _ in 0..3 {
            problem(
                login_from(&app, None, body.clone()).await,
                401,
                "invalid_credentials",
            )
            .await;
        }
        throttled(login_from(&app, None, body).await).await;
    }
}

#[tokio::test]
async fn an_ip_is_throttled_across_accounts() {
    let app = TestApp::spawn_with(&[BEHIND_PROXY, ("DOORWARD_THROTTLE_IP_FAILURES", "4")]).await;
    app.signed_up("mallory@example.com").await;
    let ip = "198.51.100.7";
    for i in 0..3 {
        let res = login_as(&app, ip, &format!("victim{i}@example.com"), WRONG).await;
        problem(res, 401, "invalid_credentials").await;
    }
    // Logging in to one's own account does not reset the address's count.
    assert_eq!(
        login_as(&app, ip, "mallory@example.com", PASSWORD)
            .await
            .status(),
        200
    );
    problem(
        login_as(&app, ip, "victim3@example.com", WRONG).await,
        401,
        "invalid_credentials",
    )
    .await;
    let (retry, _) = throttled(login_as(&app, ip, "victim4@example.com", WRONG).await).await;
    assert_eq!(retry, 30);
    // Even the right password, even for an account on a known network: the
    // address itself is blocked.
    throttled(login_as(&app, ip, "mallory@example.com", PASSWORD).await).await;
    // Other clients are not.
    problem(
        login_as(&app, "198.51.100.8", "victim4@example.com", WRONG).await,
        401,
        "invalid_credentials",
    )
    .await;

    // IPv6 clients are counted by their /64.
    for i in 0..4 {
        let ip = format!("2001:db8:7:7::{i}");
        problem(
            login_as(&app, &ip, "x@example.com", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    throttled(login_as(&app, "2001:db8:7:7:ffff::1", "y@example.com", WRONG).await).await;
    problem(
        login_as(&app, "2001:db8:7:8::1", "y@example.com", WRONG).await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn instances_on_one_database_count_together() {
    let extra = [BEHIND_PROXY, ("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "4")];
    let a = TestApp::spawn_with(&extra).await;
    let b = a.spawn_sharing(&extra).await;
    a.signed_up("ada@example.com").await;
    let ip = "203.0.113.5";
    for email in ["ada@example.com", "ghost@example.com"] {
        for app in [&a, &b, &a, &b] {
            let res = login_as(app, ip, email, WRONG).await;
            problem(res, 401, "invalid_credentials").await;
        }
        // Blocked on both (their clocks differ by the servers' start-up).
        for app in [&a, &b] {
            let (retry, _) = throttled(login_as(app, ip, email, PASSWORD).await).await;
            assert!((30..=40).contains(&retry), "{retry}");
        }
    }
}

#[tokio::test]
async fn a_password_reset_clears_the_accounts_count() {
    let app =
        TestApp::spawn_with(&[BEHIND_PROXY, ("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "2")]).await;
    app.signed_up("ada@example.com").await;
    for _ in 0..2 {
        problem(
            login_as(&app, "203.0.113.5", "ada@example.com", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    throttled(login_as(&app, "192.0.2.1", "ada@example.com", PASSWORD).await).await;
    // The owner resets the password through the mailed link.
    let res = app
        .post("/v1/password/forgot", json!({"email": "ada@example.com"}))
        .await;
    assert_eq!(res.status(), 202);
    let token = app
        .nth_mail_to("ada@example.com", 2)
        .await
        .token("/reset-password");
    let new_password = "a brand new passphrase 42";
    let res = app
        .post(
            "/v1/password/reset",
            json!({"token": token, "new_password": new_password}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = login_as(&app, "192.0.2.1", "ada@example.com", new_password).await;
    assert_eq!(res.status(), 200);
}

/// The session list shows the address each login came from.
async fn session_ip(app: &TestApp, header: Option<(&str, &str)>) -> String {
    let body = json!({"email": "ada@example.com", "password": PASSWORD});
    let res = login_from(app, header, body).await;
    assert_eq!(res.status(), 200);
    let login: Value = res.json().await.unwrap();
    let sessions = app.sessions(s(&login["access_token"])).await;
    let current = sessions.iter().find(|x| x["current"] == true).unwrap();
    s(&current["ip"]).to_owned()
}

#[tokio::test]
async fn forwarded_headers_are_believed_only_from_trusted_proxies() {
    let direct = TestApp::spawn_with(&[("DOORWARD_THROTTLE_IP_FAILURES", "3")]).await;
    direct.signed_up("ada@example.com").await;
    for (name, value) in [
        ("x-forwarded-for", "192.0.2.60"),
        ("forwarded", "for=192.0.2.61"),
    ] {
        assert_eq!(session_ip(&direct, Some((name, value))).await, "127.0.0.1");
    }
    // A client rotating forged addresses is still one client.
    for i in 0..3 {
        let ip = format!("192.0.2.{i}");
        problem(
            login_as(&direct, &ip, "x@example.com", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    throttled(login_as(&direct, "192.0.2.99", "x@example.com", WRONG).await).await;

    let proxied =
        TestApp::spawn_with(&[BEHIND_PROXY, ("DOORWARD_THROTTLE_IP_FAILURES", "3")]).await;
    proxied.signed_up("ada@example.com").await;
    for (header, client) in [
        (None, "127.0.0.1"),
        (Some(("x-forwarded-for", "192.0.2.60")), "192.0.2.60"),
        // Right-most that is not a trusted proxy; what the client wrote on the left is ignored.
        (
            Some(("x-forwarded-for", "6.6.6.6, 192.0.2.60, 127.0.0.1")),
            "192.0.2.60",
        ),
        (
            Some(("forwarded", "for=6.6.6.6, for=192.0.2.62;proto=https")),
            "192.0.2.62",
        ),
        (
            Some(("forwarded", "for=\"[2001:db8::9]:4711\"")),
            "2001:db8::9",
        ),
        // An entry that is not an address stops the walk: the proxy it is.
        (Some(("forwarded", "for=6.6.6.6, for=unknown")), "127.0.0.1"),
    ] {
        assert_eq!(session_ip(&proxied, header).await, client, "{header:?}");
    }
    // Behind the trusted proxy, three clients with one failure each: none blocked.
    for i in 0..3 {
        let ip = format!("192.0.2.{i}");
        problem(
            login_as(&proxied, &ip, "x@example.com", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    problem(
        login_as(&proxied, "192.0.2.99", "x@example.com", WRONG).await,
        401,
        "invalid_credentials",
    )
    .await;
}

/// `POST /v1/me/password` from `ip` (through the trusted proxy) with `access`.
async fn change_from(app: &TestApp, ip: &str, access: &str, current: &str) -> Response {
    app.client
        .post(app.url("/v1/me/password"))
        .bearer_auth(access)
        .header("x-forwarded-for", ip)
        .json(&json!({"current_password": current, "new_password": "a brand new passphrase 7"}))
        .send()
        .await
        .unwrap()
}

/// Guesses at the current password with a stolen access token count like
/// failed logins: after the account's budget the thief gets 429 (even with
/// the right password, and at the login too), each guess is audited, and
/// the owner on a known network still changes the password, which forgets
/// the failures.
#[tokio::test]
async fn guesses_at_the_current_password_are_throttled() {
    let app =
        TestApp::spawn_with(&[BEHIND_PROXY, ("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "3")]).await;
    let body = app.signed_up("ada@example.com").await;
    let access = s(&body["access_token"]).to_owned();
    let thief = "203.0.113.5";
    for _ in 0..3 {
        let res = change_from(&app, thief, &access, WRONG).await;
        let problem = problem(res, 422, "invalid_request").await;
        assert_eq!(problem["errors"][0]["code"], "incorrect_password");
    }
    let (retry, _) = throttled(change_from(&app, thief, &access, PASSWORD).await).await;
    assert_eq!(retry, 30);
    // The same account budget: the login is blocked for the thief too.
    throttled(login_as(&app, thief, "ada@example.com", PASSWORD).await).await;
    let events = app
        .state
        .accounts
        .store
        .recent_audit(None, 1000)
        .await
        .unwrap();
    let failed = events
        .iter()
        .filter(|e| {
            e.kind == AuditKind::PasswordChanged && e.outcome == "failure: wrong current password"
        })
        .count();
    assert_eq!(failed, 3);
    assert!(events.iter().any(|e| e.kind == AuditKind::Throttled));

    // The owner, from the network the account signed up from.
    let res = change_from(&app, "127.0.0.1", &access, PASSWORD).await;
    assert_eq!(res.status(), 204);
    // The change forgot the account's failures: a wrong guess is a 422 again.
    let res = change_from(&app, thief, &access, WRONG).await;
    problem(res, 422, "invalid_request").await;
}
