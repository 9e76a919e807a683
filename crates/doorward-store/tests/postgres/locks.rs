//! Row locks across instances: a rotation waits for another instance's
//! lock and sees its commit, a stuck lock ends in `Unavailable`, and four
//! instances racing one token rotate it once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use doorward_core::store::{
    AuditKind, NewSession, RefreshDecision, RefreshOutcome, RefreshState, Store, StoreError,
    TokenHash, UserRecord,
};
use doorward_store::{connect, ConnectOptions};
use time::OffsetDateTime;
use tokio::sync::Barrier;
use uuid::Uuid;

use super::fixture::{fresh_postgres, raw};

/// A random stand-in for a token's SHA-256.
fn token() -> TokenHash {
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    hash[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    hash
}

/// A user with one session (signup); returns the session's refresh hash.
async fn seeded(store: &dyn Store) -> TokenHash {
    let now = OffsetDateTime::UNIX_EPOCH;
    let user_id = Uuid::now_v7();
    let user = UserRecord {
        id: user_id,
        email: "ada@example.org".to_owned(),
        username: None,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        email_verified: false,
        roles: vec!["admin".to_owned()],
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let refresh = token();
    let session = NewSession {
        id: Uuid::now_v7(),
        user_id,
        refresh_hash: refresh,
        created_at: now,
        expires_at: now + time::Duration::days(30),
        ip: None,
        user_agent: None,
    };
    let signup = doorward_core::audit::event(
        AuditKind::Signup,
        now,
        &Default::default(),
        Some(user_id),
        Some(session.id),
        "success",
    );
    store
        .create_user(&user, Some(&session), &signup)
        .await
        .unwrap();
    refresh
}

fn refuse(_: &RefreshState) -> RefreshDecision {
    RefreshDecision::Refuse
}

/// Another instance holding the token's row lock (mid-rotation) makes a
/// rotation wait for its commit, then see what it committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_waits_for_another_instances_row_lock() {
    let fx = fresh_postgres().await;
    let store = fx.open().await;
    let hash = seeded(&*store).await;

    let mut other = raw(&fx).await;
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("UPDATE refresh_tokens SET rotated_at = to_timestamp(60) WHERE hash = $1")
        .bind(hash.as_slice())
        .execute(&mut other)
        .await
        .unwrap();

    let rotation = tokio::spawn({
        let store = store.clone();
        async move { store.rotate_refresh(&hash, &refuse).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!rotation.is_finished(), "the rotation waits for the lock");

    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    match rotation.await.unwrap().unwrap() {
        RefreshOutcome::Decided { state, .. } => assert_eq!(
            state.rotated_at,
            Some(OffsetDateTime::from_unix_timestamp(60).unwrap()),
            "the waiting rotation saw the other instance's commit"
        ),
        RefreshOutcome::Unknown => panic!("token unknown"),
    }
}

/// A lock that is never released turns into `Unavailable` once the
/// statement timeout fires (here set short through the URL), not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_lock_is_unavailable_after_the_statement_timeout() {
    let fx = fresh_postgres().await;
    let store = fx.open().await;
    let hash = seeded(&*store).await;

    let mut other = raw(&fx).await;
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("SELECT 1 FROM refresh_tokens WHERE hash = $1 FOR UPDATE")
        .bind(hash.as_slice())
        .execute(&mut other)
        .await
        .unwrap();

    let impatient = format!("{}?options=-c%20statement_timeout%3D200", fx.url());
    let store = connect(&impatient, &ConnectOptions::default())
        .await
        .unwrap();
    let started = Instant::now();
    let err = store.rotate_refresh(&hash, &refuse).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Reads that need no lock are not held up.
    assert_eq!(store.recent_audit(None, 10).await.unwrap().len(), 1);
}

/// Four instances (four pools) race one token: exactly one rotation lands,
/// checked in the tables themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_instances_racing_one_token_rotate_it_once() {
    let fx = fresh_postgres().await;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(fx.open().await);
    }
    let hash = seeded(&*stores[0]).await;
    let barrier = Arc::new(Barrier::new(12));
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = stores[i % stores.len()].clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let now = OffsetDateTime::from_unix_timestamp(60).unwrap();
            let successor = token();
            let decide = move |state: &RefreshState| match state.rotated_at {
                None => RefreshDecision::Rotate {
                    new_hash: successor,
                    now,
                    new_expires_at: now + time::Duration::days(30),
                    audit: doorward_core::audit::event(
                        AuditKind::Refresh,
                        now,
                        &Default::default(),
                        Some(state.user.id),
                        Some(state.session.id),
                        "success",
                    ),
                },
                Some(_) => RefreshDecision::Refuse,
            };
            barrier.wait().await;
            store.rotate_refresh(&hash, &decide).await
        }));
    }
    let mut rotations = 0;
    for task in tasks {
        if let RefreshOutcome::Decided {
            decision: RefreshDecision::Rotate { .. },
            ..
        } = task.await.unwrap().unwrap()
        {
            rotations += 1;
        }
    }
    assert_eq!(rotations, 1);

    let mut conn = raw(&fx).await;
    let (tokens, rotated): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(rotated_at) FROM refresh_tokens")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((tokens, rotated), (2, 1));
    let refreshes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE type = 'refresh'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(refreshes, 1);
}
