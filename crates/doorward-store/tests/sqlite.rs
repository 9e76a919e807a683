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

/// Inserts `event` as Doorward did before the audit chain (schema 0001; an
/// older version still running after the upgrade writes rows like this too).
#[allow(
    clippy::unwrap_used,
    reason = "test setup: a failed insert fails the test"
)]
async fn insert_unchained(conn: &mut SqliteConnection, e: &doorward_core::store::AuditEvent) {
    sqlx::query(
        "INSERT INTO audit_events \
             (id, at, type, actor_id, user_id, session_id, ip, user_agent, outcome) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.id.to_string())
    .bind(doorward_core::audit_chain::millis(e.at))
    .bind(e.kind.as_str())
    .bind(e.actor_id.map(|id| id.to_string()))
    .bind(e.user_id.map(|id| id.to_string()))
    .bind(e.session_id.map(|id| id.to_string()))
    .bind(&e.ip)
    .bind(&e.user_agent)
    .bind(&e.outcome)
    .execute(conn)
    .await
    .unwrap();
}

/// A database as Doorward left it before the audit chain existed (schema
/// 0001 only), with audit rows: two processes opening it at once chain them
/// once, in (`at`, id) order; new events continue the chain; a row written
/// later without chain columns fails `verify` until the next start chains it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rows_from_before_the_chain_join_it_on_open() {
    use doorward_core::audit_chain::{self, ChainBreak, VerifyError};
    use std::str::FromStr;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/doorward.db", dir.path().display());
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    let mut schema_one = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/sqlite"
    )))
    .await
    .unwrap();
    schema_one.migrations = schema_one
        .migrations
        .iter()
        .filter(|m| m.version == 1)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    schema_one.run(&mut conn).await.unwrap();

    let t0 = OffsetDateTime::UNIX_EPOCH;
    let ms = time::Duration::milliseconds;
    let mut legacy: Vec<_> = [3, 1, 2, 2, 0]
        .into_iter()
        .map(|t| audit_event(t0 + ms(t)))
        .collect();
    legacy[1].user_agent = None;
    legacy[2].ip = Some("192.0.2.1".to_owned());
    for e in &legacy {
        insert_unchained(&mut conn, e).await;
    }

    let opts = ConnectOptions::default();
    let (a, b) = tokio::join!(connect(&url, &opts), connect(&url, &opts));
    let (a, b) = (a.unwrap(), b.unwrap());
    let head = audit_chain::verify(&*b, 2, None).await.unwrap().unwrap();
    assert_eq!(head.seq, 5);
    legacy.sort_by_key(|e| (e.at, e.id.to_string()));
    let chained: Vec<_> = a
        .audit_chain(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.event)
        .collect();
    assert_eq!(chained, legacy);

    b.record_event(&audit_event(t0)).await.unwrap();
    assert_eq!(
        audit_chain::verify(&*a, 2, None)
            .await
            .unwrap()
            .unwrap()
            .seq,
        6
    );

    insert_unchained(&mut conn, &audit_event(t0 + ms(9))).await;
    let err = audit_chain::verify(&*a, 2, None).await.unwrap_err();
    assert!(
        matches!(err, VerifyError::Broken(ChainBreak::Unchained { count: 1 })),
        "{err}"
    );
    let reopened = connect(&url, &ConnectOptions::default()).await.unwrap();
    assert_eq!(
        audit_chain::verify(&*reopened, 2, None)
            .await
            .unwrap()
            .unwrap()
            .seq,
        7
    );
}
