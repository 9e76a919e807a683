//! Migrations and connections: several `migrate`s at once on an empty
//! database, the native column types, connections the server terminated,
//! a database that does not exist.

use doorward_core::store::StoreError;
use doorward_store::{connect, migrate, ConnectOptions};
use uuid::Uuid;

use super::fixture::{fresh_postgres, raw, server, server_url, url_of, PREFIX};

/// `doorward migrate` run by several processes at once on an empty
/// database: all succeed, each migration is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_on_a_fresh_database_apply_once() {
    let fx = fresh_postgres().await;
    let unmigrated = ConnectOptions {
        max_connections: 1,
        migrate: false,
    };
    let early = connect(fx.url(), &unmigrated).await.unwrap();
    let err = early.recent_audit(None, 1).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Other(ref m) if m.contains("42P01")),
        "{err}"
    );

    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = fx.url().to_owned();
        tasks.push(tokio::spawn(async move { migrate(&url).await }));
    }
    for task in tasks {
        task.await.unwrap().expect("every migrate succeeds");
    }
    let mut conn = raw(&fx).await;
    let (applied, distinct, failed): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT version), count(*) FILTER (WHERE NOT success) \
         FROM _sqlx_migrations",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count() as i64;
    assert_eq!((applied, distinct, failed), (files, files, 0));
    assert!(early.recent_audit(None, 1).await.unwrap().is_empty());
}

/// The schema uses PostgreSQL's own types and names its constraints.
#[tokio::test]
async fn the_schema_uses_native_types() {
    let fx = fresh_postgres().await;
    let _store = fx.open().await;
    let mut conn = raw(&fx).await;
    let types: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text \
         FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let type_of = |table: &str, column: &str| {
        types
            .iter()
            .find(|(t, c, _)| t == table && c == column)
            .map(|(_, _, ty)| ty.as_str())
    };
    assert_eq!(type_of("users", "id"), Some("uuid"));
    assert_eq!(type_of("users", "roles"), Some("ARRAY"));
    assert_eq!(
        type_of("sessions", "expires_at"),
        Some("timestamp with time zone")
    );
    assert_eq!(type_of("refresh_tokens", "hash"), Some("bytea"));
    assert_eq!(type_of("signing_keys", "private_key"), Some("bytea"));
    assert_eq!(type_of("audit_events", "session_id"), Some("uuid"));

    let constraints: Vec<String> = sqlx::query_scalar(
        "SELECT conname::text FROM pg_constraint WHERE contype = 'u' \
         AND connamespace = current_schema()::regnamespace ORDER BY conname",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(constraints, ["users_email_key", "users_username_key"]);
}

/// Connections the server terminated (an admin, a failover) are replaced:
/// the next call works.
#[tokio::test]
async fn terminated_connections_are_replaced() {
    let fx = fresh_postgres().await;
    let store = fx.open().await;
    store.ping().await.unwrap();
    let mut conn = raw(&fx).await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(!killed.is_empty());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_missing_database_is_unavailable() {
    server().await; // the server itself is there
    let missing = url_of(
        &server_url(),
        &format!("{PREFIX}missing_{}", Uuid::new_v4().simple()),
    );
    let err = connect(&missing, &ConnectOptions::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, StoreError::Unavailable(ref m) if m.contains("3D000")),
        "{err}"
    );
}
