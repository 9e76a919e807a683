//! User enumeration through timing: an unknown account and a wrong password
//! (login), and an unknown and a known address (forgot-password), must not
//! be told apart by how long the answer takes.
//!
//! Requests go in rounds of a, b, b, a (so a request's position costs both
//! kinds alike) and each round's two kinds are compared, so noise that lasts
//! longer than a round (other tests of this binary hash passwords at the
//! same time) hits both sides alike; the median of the rounds' ratios must
//! be within the bound. A short burst can still
//! skew one trial, so a test passes when one of three trials is within the
//! bound: a real leak (a path that skips the password hash, or sends its
//! mail before answering) is several times off in every trial.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const ROUNDS: usize = 25;
const TRIALS: usize = 3;

async fn timed(app: &TestApp, path: &str, body: Value, expect: StatusCode) -> Duration {
    let started = Instant::now();
    let res = app.post(path, body).await;
    let took = started.elapsed();
    assert_eq!(res.status(), expect);
    took
}

/// The median over rounds of `a`'s time ÷ `b`'s time. Each round sends
/// a, b, b, a (an ABBA design): whatever the position in the sequence costs
/// (a first request after a pause, memory the previous hash left warm)
/// falls on both kinds alike.
async fn paired_ratio<A, B>(app: &TestApp, path: &str, expect: StatusCode, a: A, b: B) -> f64
where
    A: Fn(usize) -> Value,
    B: Fn(usize) -> Value,
{
    let mut ratios = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let a1 = timed(app, path, a(2 * i), expect).await;
        let b1 = timed(app, path, b(2 * i), expect).await;
        let b2 = timed(app, path, b(2 * i + 1), expect).await;
        let a2 = timed(app, path, a(2 * i + 1), expect).await;
        ratios.push((a1 + a2).as_secs_f64() / (b1 + b2).as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// Passes when one of `TRIALS` trials has its median ratio within `bound`.
async fn assert_alike<F, Fut>(what: &str, bound: f64, trial: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let mut seen = Vec::new();
    for _ in 0..TRIALS {
        let ratio = trial().await;
        seen.push(ratio);
        if (1.0 / bound..=bound).contains(&ratio) {
            eprintln!("{what}: median paired ratio {ratio:.2} (trials {seen:.2?})");
            return;
        }
    }
    panic!("{what}: median paired ratios {seen:.2?}, none within {bound}×");
}

#[tokio::test]
async fn login_takes_as_long_for_an_unknown_user_as_for_a_wrong_password() {
    // The default argon2id cost, so the hash dominates as it does in production;
    // throttling out of the way (it would answer both kinds 429 early).
    let app = TestApp::spawn_with(&[
        ("DOORWARD_PASSWORD_HASH_MEMORY_KIB", "19456"),
        ("DOORWARD_PASSWORD_HASH_ITERATIONS", "2"),
        ("DOORWARD_THROTTLE_ACCOUNT_FAILURES", "100000"),
        ("DOORWARD_THROTTLE_IP_FAILURES", "100000"),
    ])
    .await;
    app.signed_up("ada@example.com").await;
    let unknown = |i: usize| json!({"email": format!("nobody{i}@example.com"), "password": "not the password"});
    let wrong = |_| json!({"email": "ada@example.com", "password": "not the password"});
    let path = "/v1/login";
    assert_alike("login unknown ÷ wrong password", 1.5, || {
        paired_ratio(&app, path, StatusCode::UNAUTHORIZED, unknown, wrong)
    })
    .await;
}

#[tokio::test]
async fn forgot_password_takes_as_long_for_an_unknown_address() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let unknown = |i: usize| json!({"email": format!("nobody{i}@example.com")});
    let known = |_| json!({"email": "ada@example.com"});
    let path = "/v1/password/forgot";
    // Sub-millisecond answers: more relative noise, still far below what a
    // database write and a mail before the answer would add.
    assert_alike("forgot unknown ÷ known", 2.0, || {
        paired_ratio(&app, path, StatusCode::ACCEPTED, unknown, known)
    })
    .await;
}
