//! The audit chain on PostgreSQL across instances: rows from before the
//! chain existed join it once when instances start together, and writes do
//! not wait for the chain lock another instance holds: their rows are
//! linked after their commit, once the lock is free.

use std::time::Duration;

use doorward_core::audit_chain;
use doorward_core::store::{AuditEvent, AuditKind};
use doorward_store::{connect, ConnectOptions};
use sqlx::{Connection, PgConnection};
use time::OffsetDateTime;

use super::fixture::{fresh_postgres, raw};

fn event(at: OffsetDateTime) -> AuditEvent {
    doorward_core::audit::event(
        AuditKind::LoginFailed,
        at,
        &Default::default(),
        None,
        None,
        "failure",
    )
}

/// Inserts `event` as Doorward did before the audit chain (an older version
/// still running after the upgrade writes rows like this too).
async fn insert_unchained(conn: &mut PgConnection, e: &AuditEvent) {
    sqlx::query(
        "INSERT INTO audit_events \
             (id, at, type, actor_id, user_id, session_id, ip, user_agent, outcome) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(e.id)
    .bind(e.at)
    .bind(e.kind.as_str())
    .bind(e.actor_id)
    .bind(e.user_id)
    .bind(e.session_id)
    .bind(&e.ip)
    .bind(&e.user_agent)
    .bind(&e.outcome)
    .execute(conn)
    .await
    .unwrap();
}

/// A database at schema 0001 with audit rows; three instances start on it
/// at once: the rows are chained once, in (`at`, id) order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_rows_from_before_the_chain_join_it_once() {
    let fx = fresh_postgres().await;
    let mut conn = raw(&fx).await;
    let mut schema_one = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/postgres"
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
    let mut legacy: Vec<_> = [3, 1, 2, 2, 0, 7, 7, 5]
        .into_iter()
        .map(|t| event(t0 + ms(t)))
        .collect();
    for e in &legacy {
        insert_unchained(&mut conn, e).await;
    }

    let mut starts = Vec::new();
    for _ in 0..3 {
        let url = fx.url().to_owned();
        starts.push(tokio::spawn(async move {
            connect(&url, &ConnectOptions::default()).await
        }));
    }
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap().expect("every instance starts"));
    }
    let head = audit_chain::verify(&*stores[2], 3, None).await.unwrap();
    assert_eq!(head.unwrap().seq, 8);
    legacy.sort_by_key(|e| (e.at, e.id));
    let chained: Vec<_> = stores[0]
        .audit_chain(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.event)
        .collect();
    assert_eq!(chained, legacy);

    // A row written afterwards without chain columns (by an older version
    // still running) is linked by the next reader of the chain.
    insert_unchained(&mut conn, &event(t0 + ms(1))).await;
    let head = audit_chain::verify(&*stores[1], 3, None).await.unwrap();
    assert_eq!(head.unwrap().seq, 9);
    let last = stores[0].audit_chain(8, 10).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].event.at, t0 + ms(1));
}

async fn unlinked_rows(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE seq IS NULL")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Waits (at most 5 s) until the chainer, with no reader asking, has linked
/// every row.
async fn all_linked(conn: &mut PgConnection) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while unlinked_rows(conn).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the chainer links committed rows"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A write does not wait while another instance holds the chain lock: its
/// row is committed without a link, and the chainer links it (with no
/// reader asking) once the lock is free, after what that instance linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_do_not_wait_for_the_chain_lock() {
    let fx = fresh_postgres().await;
    let store = fx.open().await;
    let mut check = raw(&fx).await;
    store
        .record_event(&event(OffsetDateTime::UNIX_EPOCH))
        .await
        .unwrap();
    all_linked(&mut check).await;
    let mut other = raw(&fx).await;
    let mut tx = other.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(i64::from_be_bytes(*b"dw-audit"))
        .execute(&mut *tx)
        .await
        .unwrap();

    let second = event(OffsetDateTime::UNIX_EPOCH);
    tokio::time::timeout(Duration::from_secs(2), store.record_event(&second))
        .await
        .expect("the write does not wait for the chain lock")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        unlinked_rows(&mut check).await,
        1,
        "linked only after the lock"
    );
    tx.commit().await.unwrap();
    all_linked(&mut check).await;
    let head = audit_chain::verify(&*store, 10, None).await.unwrap();
    assert_eq!(head.unwrap().seq, 2);
}
