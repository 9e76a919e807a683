//! A fresh PostgreSQL database per case: `doorward_test_<unix seconds>_<random>`,
//! created on the server named by `DOORWARD_TEST_POSTGRES_URL` and dropped
//! (connections and all) when the case ends, also when it failed. Leftovers
//! of killed runs older than an hour are dropped by the next run.

use std::time::{SystemTime, UNIX_EPOCH};

use doorward_store::conformance::Fixture;
use sqlx::{Connection, PgConnection};
use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};
use uuid::Uuid;

const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const PREFIX: &str = "doorward_test_";
/// Cases running at once: each may open a few pools, and the server's
/// `max_connections` (100 by default) is shared with whatever else runs.
static RUNNING: Semaphore = Semaphore::const_new(4);
static LEFTOVERS_DROPPED: OnceCell<()> = OnceCell::const_new();

pub fn server_url() -> String {
    std::env::var("DOORWARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned())
}

/// `server` with its database replaced by `name` (query parameters kept).
pub fn url_of(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{scheme}://{authority}/{name}{query}")
}

pub async fn server() -> PgConnection {
    let url = server_url();
    match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "PostgreSQL is not reachable ({e}); these tests need it. Start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
             or set DOORWARD_TEST_POSTGRES_URL to a server whose role may create databases \
             (default {DEFAULT_SERVER_URL})."
        ),
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Drops `doorward_test_*` databases created more than an hour ago (by runs
/// that were killed before they could clean up).
async fn drop_leftovers(conn: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(PREFIX)
            .fetch_all(&mut *conn)
            .await
            .expect("list test databases");
    let hour_ago = unix_seconds().saturating_sub(3600);
    for name in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|secs| secs < hour_ago) {
            // Another test binary may be dropping it too: ignore failures.
            let _ = sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// A database created for one case; dropped (with any connection still
/// open to it) when the case ends, also when it failed.
struct TestDatabase {
    name: String,
    _running: SemaphorePermit<'static>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await: drop the database from a thread of its own.
        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&server_url()).await?;
                sqlx::query(&sql).execute(&mut conn).await?;
                conn.close().await
            })
            .map_err(|e| e.to_string())
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

pub async fn fresh_postgres() -> Fixture {
    let running = RUNNING.acquire().await.expect("semaphore never closed");
    let mut conn = server().await;
    LEFTOVERS_DROPPED
        .get_or_init(|| drop_leftovers(&mut conn))
        .await;
    let name = format!("{PREFIX}{}_{}", unix_seconds(), Uuid::new_v4().simple());
    sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    conn.close().await.expect("close the server connection");
    let url = url_of(&server_url(), &name);
    Fixture::new(
        url,
        TestDatabase {
            name,
            _running: running,
        },
    )
}

/// A connection of its own to the case's database, for SQL the store does not offer.
pub async fn raw(fx: &Fixture) -> PgConnection {
    PgConnection::connect(fx.url()).await.expect("connect")
}

#[test]
fn test_urls_keep_the_server_and_parameters() {
    assert_eq!(
        url_of("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        url_of("postgresql://u:p@h/db?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
    assert_eq!(url_of("postgres://h", "x"), "postgres://h/x");
}
