//! User enumeration through timing: an unknown account and a wrong password
//! (login), and an unknown and a known address (forgot-password), must not
//! be told apart by how long the answer takes. Requests alternate between
//! the two kinds, so machine noise hits both alike. The other tests of this
//! binary run at the same time, so noise is large and bursty: the fastest
//! answers (what each path costs when nothing interferes) are compared
//! tightly, the medians loosely. A path that skipped the password hash, or
//! sent its mail before answering, is several times off on both.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const ROUNDS: usize = 50;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn timed(app: &TestApp, path: &str, body: Value, expect: StatusCode) -> Duration {
    let started = Instant::now();
    let res = app.post(path, body).await;
    let took = started.elapsed();
    assert_eq!(res.status(), expect);
    took
}

fn within(a: Duration, b: Duration, bound: f64) -> bool {
    let ratio = a.as_secs_f64() / b.as_secs_f64();
    (1.0 / bound..=bound).contains(&ratio)
}

/// The fastest answers of the two kinds must be within a factor of `bound`,
/// the medians within twice that.
fn assert_alike(what: &str, a: Vec<Duration>, b: Vec<Duration>, bound: f64) {
    let (fa, fb) = (*a.iter().min().unwrap(), *b.iter().min().unwrap());
    let (ma, mb) = (median(a), median(b));
    eprintln!("{what}: fastest {fa:?} vs {fb:?}, medians {ma:?} vs {mb:?}");
    assert!(
        within(fa, fb, bound),
        "{what}: fastest {fa:?} vs {fb:?} differ by more than {bound}×"
    );
    assert!(
        within(ma, mb, 2.0 * bound),
        "{what}: medians {ma:?} vs {mb:?} differ by more than {}×",
        2.0 * bound
    );
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
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let u = json!({"email": format!("nobody{i}@example.com"), "password": "not the password"});
        let w = json!({"email": "ada@example.com", "password": "not the password"});
        unknown.push(timed(&app, "/v1/login", u, StatusCode::UNAUTHORIZED).await);
        wrong.push(timed(&app, "/v1/login", w, StatusCode::UNAUTHORIZED).await);
    }
    assert_alike("login unknown vs wrong password", unknown, wrong, 1.5);
}

#[tokio::test]
async fn forgot_password_takes_as_long_for_an_unknown_address() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let u = json!({"email": format!("nobody{i}@example.com")});
        let k = json!({"email": "ada@example.com"});
        unknown.push(timed(&app, "/v1/password/forgot", u, StatusCode::ACCEPTED).await);
        known.push(timed(&app, "/v1/password/forgot", k, StatusCode::ACCEPTED).await);
    }
    // Sub-millisecond answers: allow more relative noise, still far below
    // what a database write and a mail before the answer would add.
    assert_alike("forgot unknown vs known", unknown, known, 2.0);
}
