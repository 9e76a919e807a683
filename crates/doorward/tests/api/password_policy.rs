//! Password policy at sign-up: the 100,000 most common passwords (any case,
//! any Unicode width) and the passwords in `password.breached_file` get 422
//! `weak_password` with the reason; a strong password gets in.

use std::io::Write as _;

use serde_json::Value;
use sha1::Digest as _;

use crate::helpers::{problem, TestApp, PASSWORD};

const COMMON: &str = "This password is one of the most common passwords; choose another.";
const BREACHED: &str = "This password has appeared in a data breach; choose another.";

async fn refused(app: &TestApp, email: &str, password: &str, reason: &str) {
    let body: Value = problem(app.signup(email, password).await, 422, "weak_password").await;
    assert_eq!(body["detail"], reason, "{password:?}: {body}");
    assert_eq!(body["errors"][0]["field"], "password", "{body}");
}

#[tokio::test]
async fn common_passwords_are_refused_in_any_case_and_width() {
    let app = TestApp::spawn().await;
    for (i, p) in [
        "password123",
        "PASSWORD123",
        "PassWord123",
        // Full-width letters and digits: NFKC makes them "password123".
        "ｐａｓｓｗｏｒｄ１２３",
        "password１２３",
        "qwertyuiop",
        "iloveyou",
    ]
    .iter()
    .enumerate()
    {
        refused(&app, &format!("common{i}@example.com"), p, COMMON).await;
    }
    assert_eq!(
        app.signup("strong@example.com", PASSWORD).await.status(),
        201
    );
}

fn sha1_upper(p: &str) -> String {
    sha1::Sha1::digest(p.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[test]
fn sha1_upper_is_the_hibp_form() {
    assert_eq!(
        sha1_upper("password"),
        "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
    );
}

#[tokio::test]
async fn passwords_in_the_breached_file_are_refused() {
    let breached = [
        "blue lagoon sunrise 42",
        "Zebra-Crossing-1999",
        "Ünïcödé pässwörd",
    ];
    for eol in ["\n", "\r\n"] {
        let mut lines: Vec<String> = breached.iter().map(|p| sha1_upper(p)).collect();
        lines.extend((0..200).map(|i| sha1_upper(&format!("other breached {i}"))));
        lines.sort();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        for (i, h) in lines.iter().enumerate() {
            write!(file, "{h}:{}{eol}", i + 3).unwrap();
        }
        file.flush().unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        let app = TestApp::spawn_with(&[("DOORWARD_PASSWORD_BREACHED_FILE", &path)]).await;
        for (i, p) in breached.iter().enumerate() {
            refused(&app, &format!("b{i}@example.com"), p, BREACHED).await;
        }
        // The common list still applies alongside the file.
        refused(&app, "c@example.com", "password123", COMMON).await;
        assert_eq!(app.signup("ok@example.com", PASSWORD).await.status(), 201);
    }
}

#[tokio::test]
async fn a_missing_breached_file_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("d.db").display());
    let mut env = crate::helpers::test_env(&db);
    env.push((
        "DOORWARD_PASSWORD_BREACHED_FILE".into(),
        "/nonexistent/pwned.txt".into(),
    ));
    let settings =
        doorward::config::Settings::load(&doorward::config::Overrides::default(), &env).unwrap();
    let clock = std::sync::Arc::new(doorward_core::clock::TestClock::default());
    let err = doorward::app::build(settings, clock).await.err().unwrap();
    let msg = format!("{err:#}");
    assert!(msg.contains("password.breached_file"), "{msg}");
    assert!(msg.contains("/nonexistent/pwned.txt"), "{msg}");
}
