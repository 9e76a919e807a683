//! The conformance suite on SQLite (a fresh file per case), plus what only
//! SQLite has: URL forms, file creation, pragmas, locks held by another process.

use std::time::Duration;

use doorward_core::store::{AuditKind, StoreError};
use doorward_store::conformance::Fixture;
use doorward_store::{connect, migrate, ConnectOptions};
use sqlx::{Connection, SqliteConnection};
use time::OffsetDateTime;

/// A database file that does not exist yet, in a directory that does not
/// either (both are created on open).
#[allow(clippy::unwrap_used, reason = "test setup: no temp dir, no test")]
async fn fresh_sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("data/doorward.db").display());
    Fixture::new(url, dir)
}

doorward_store::conformance_tests!(fresh_sqlite);

fn audit_event(at: OffsetDateTime) -> doorward_core::store::AuditEvent {
    doorward_core::audit::event(
        AuditKind::LoginFailed,
        at,
        &Default::default(),
        None,
        None,
        "failure",
    )
}

#[tokio::test]
async fn both_url_forms_create_the_file_and_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    for (i, url) in [
        format!("sqlite:{}/a/b/one.db", dir.path().display()),
        format!("sqlite://{}/c/two.db", dir.path().display()),
        format!("SQLite:{}/d/three.db", dir.path().display()),
    ]
    .iter()
    .enumerate()
    {
        let store = connect(url, &ConnectOptions::default()).await.unwrap();
        store.ping().await.unwrap();
        let path = ["a/b/one.db", "c/two.db", "d/three.db"][i];
        assert!(dir.path().join(path).is_file(), "{path} created");
    }
}

#[tokio::test]
async fn a_second_start_reuses_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/doorward.db", dir.path().display());
    migrate(&url).await.unwrap();
    let event = audit_event(OffsetDateTime::UNIX_EPOCH);
    {
        let store = connect(&url, &ConnectOptions::default()).await.unwrap();
        store.record_event(&event).await.unwrap();
    }
    let opts = ConnectOptions {
        max_connections: 2,
        migrate: false,
    };
    let store = connect(&url, &opts).await.unwrap();
    assert_eq!(store.recent_audit(None, 10).await.unwrap(), vec![event]);
}

#[tokio::test]
async fn without_migrations_the_schema_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/doorward.db", dir.path().display());
    let opts = ConnectOptions {
        max_connections: 1,
        migrate: false,
    };
    let store = connect(&url, &opts).await.unwrap();
    let err = store.recent_audit(None, 1).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Other(ref m) if m.contains("no such table")),
        "{err}"
    );
}

#[tokio::test]
async fn the_file_is_in_wal_mode_with_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doorward.db");
    let url = format!("sqlite:{}", path.display());
    let _store = connect(&url, &ConnectOptions::default()).await.unwrap();

    let mut raw = SqliteConnection::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut raw)
            .await
            .unwrap();
    for table in [
        "audit_events",
        "refresh_tokens",
        "sessions",
        "signing_keys",
        "users",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
}

#[tokio::test]
async fn in_memory_databases_work() {
    let store = connect("sqlite::memory:", &ConnectOptions::default())
        .await
        .unwrap();
    let event = audit_event(OffsetDateTime::UNIX_EPOCH);
    store.record_event(&event).await.unwrap();
    assert_eq!(store.recent_audit(None, 10).await.unwrap(), vec![event]);
}

/// Another process (the CLI) holding the write lock makes writes wait for
/// it (busy_timeout), not fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_another_process_holding_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/doorward.db", dir.path().display());
    let store = connect(&url, &ConnectOptions::default()).await.unwrap();

    let mut other = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();

    let event = audit_event(OffsetDateTime::UNIX_EPOCH);
    let write = tokio::spawn({
        let store = store.clone();
        let event = event.clone();
        async move { store.record_event(&event).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!write.is_finished(), "the write waits for the lock");
    // Reads do not wait (WAL).
    assert!(store.recent_audit(None, 10).await.unwrap().is_empty());

    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    write.await.unwrap().unwrap();
    assert_eq!(store.recent_audit(None, 10).await.unwrap(), vec![event]);
}
