//! The database under the server, on either engine: two servers on one
//! database act as one, every request gets 503 until the database is ready,
//! and (on PostgreSQL) lost connections cost at most a 503, never a 500.
//! The multi-process stories (start together, revocation latency, outages)
//! are in `tests/instances.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use doorward::config::{Overrides, Settings};
use doorward_core::clock::TestClock;

use crate::helpers::*;

#[tokio::test]
async fn two_servers_on_one_database_act_as_one() {
    let a = TestApp::spawn().await;
    let b = a.spawn_sharing(&[]).await;
    assert_eq!(a.database_url(), b.database_url());
    a.signed_up("ines@example.com").await;
    let on_b = b.logged_in("ines@example.com").await;
    // B's refresh token on A, A's access token on B.
    let res = a.refresh(s(&on_b["refresh_token"])).await;
    assert_eq!(res.status(), 200);
    let on_a: serde_json::Value = res.json().await.unwrap();
    assert_eq!(b.me(s(&on_a["access_token"])).await.status(), 200);
    // One signing key for both.
    let jwks_a: serde_json::Value = a.get("/.well-known/jwks.json").await.json().await.unwrap();
    let jwks_b: serde_json::Value = b.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks_a, jwks_b);
    assert_eq!(jwks_a["keys"].as_array().unwrap().len(), 1);
}

/// `serve` listens before the database is reachable (see `app::serve_when_ready`):
/// meanwhile every request, `/healthz` included, is a 503 problem with
/// `Retry-After`, and the full API takes over once the start is done.
#[tokio::test]
async fn every_request_gets_503_until_the_database_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::fresh(dir.path()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let mut env = test_env(&database.url);
    env.push(("DOORWARD_ISSUER".into(), addr.clone()));
    let settings = Settings::load(&Overrides::default(), &env).unwrap();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let (_stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let start = async move {
        let _ = ready_rx.await;
        doorward::app::build(settings, Arc::new(TestClock::default())).await
    };
    tokio::spawn(doorward::app::serve_when_ready(listener, start, async {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/healthz"),
        ("POST", "/v1/signup"),
        ("GET", "/.well-known/jwks.json"),
    ] {
        let req = match method {
            "GET" => client.get(format!("{addr}{path}")),
            _ => client
                .post(format!("{addr}{path}"))
                .json(&serde_json::json!({"email": "x@example.com", "password": PASSWORD})),
        };
        let res = req.send().await.unwrap();
        assert_eq!(res.headers()["retry-after"], "1", "{path}");
        problem(res, 503, "unavailable").await;
    }
    ready_tx.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = client.get(format!("{addr}/healthz")).send().await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let res = client
        .post(format!("{addr}/v1/signup"))
        .json(&serde_json::json!({"email": "late@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

/// What a database restart does to the pool: every connection ends. Requests
/// meanwhile get their answer or 503 `unavailable` (never 500), and the pool
/// reconnects by itself. (On SQLite there are no connections to lose.)
#[tokio::test]
async fn lost_database_connections_cost_at_most_a_503() {
    let app = TestApp::spawn().await;
    let Some(pg) = app.database.postgres() else {
        return;
    };
    let body = app.signed_up("olga@example.com").await;
    let access = s(&body["access_token"]).to_owned();
    let mut refresh = s(&body["refresh_token"]).to_owned();
    for round in 0..3 {
        pg.terminate_connections().await;
        let me = app.me(&access).await.status().as_u16();
        let signup = app
            .signup(&format!("olga{round}@example.com"), PASSWORD)
            .await
            .status()
            .as_u16();
        let res = app.refresh(&refresh).await;
        let status = res.status().as_u16();
        if status == 200 {
            let pair: serde_json::Value = res.json().await.unwrap();
            refresh = s(&pair["refresh_token"]).to_owned();
        }
        for (what, status, ok) in [
            ("me", me, 200),
            ("signup", signup, 201),
            ("refresh", status, 200),
        ] {
            assert!(
                status == ok || status == 503,
                "{what} answered {status} after the connections were killed"
            );
        }
    }
    // Reconnected: everything answers again.
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.me(&access).await.status(), 200);
    assert_eq!(app.refresh(&refresh).await.status(), 200);
}
