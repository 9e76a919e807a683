//! Fresh PostgreSQL databases for tests, on the server named by
//! `DOORWARD_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! a role that may create databases). Each is `<prefix><unix seconds>_<random>`
//! and is dropped, connections and all, when its guard drops, also after a
//! failure. Leftovers of killed runs older than an hour are dropped by the
//! next run. An unreachable server fails the test with how to start one:
//! a skipped test would pass without testing anything.
//!
//! Shared by the `api` test binary (`DOORWARD_TEST_ENGINE=postgres`) and by
//! `tests/instances.rs` (through `#[path]`); each uses part of it.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};
use tokio::sync::Mutex;

pub const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Prefixes whose leftovers this process has dropped already.
static CLEANED: Mutex<Vec<&'static str>> = Mutex::const_new(Vec::new());

pub fn server_url() -> String {
    std::env::var("DOORWARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned())
}

/// `server` with its database replaced by `name` (query parameters kept).
pub fn url_of(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let (scheme, rest) = base
        .split_once("://")
        .expect("DOORWARD_TEST_POSTGRES_URL is a postgres:// URL");
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

/// A connection to the server's administrative database; panics with how to
/// start PostgreSQL when there is none.
pub async fn admin() -> PgConnection {
    let url = server_url();
    match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {url} ({e}), and these tests need it. Start it \
             (Debian: `apt-get install postgresql` then \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`), \
             or set DOORWARD_TEST_POSTGRES_URL to a server whose role may create databases \
             (default {DEFAULT_SERVER_URL}). To run the HTTP tests on SQLite instead, unset \
             DOORWARD_TEST_ENGINE."
        ),
    }
}

pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A new database name: `<prefix><unix seconds>_<random>` (the time lets a
/// later run tell a leftover from a database in use).
pub fn new_name(prefix: &str) -> String {
    format!(
        "{prefix}{}_{}",
        unix_seconds(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Drops databases named `<prefix><unix seconds>_...` created more than an
/// hour ago, once per prefix and process.
async fn drop_leftovers(conn: &mut PgConnection, prefix: &'static str) {
    let mut cleaned = CLEANED.lock().await;
    if cleaned.contains(&prefix) {
        return;
    }
    cleaned.push(prefix);
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(prefix)
            .fetch_all(&mut *conn)
            .await
            .expect("list test databases");
    let hour_ago = unix_seconds().saturating_sub(3600);
    for name in names {
        let created = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|secs| secs < hour_ago) {
            // Another test process may be dropping it too: ignore failures.
            let _ = sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// A database of one test; dropped with every connection still open to it
/// (a server under test included) when this is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    pub name: String,
    pub url: String,
    prefix: &'static str,
}

impl PgDatabase {
    /// Creates a fresh, empty database.
    pub async fn create(prefix: &'static str) -> PgDatabase {
        let db = PgDatabase::named(prefix);
        db.create_now().await;
        db
    }

    /// A guard for a database that does not exist yet (see `create_now`);
    /// it is dropped, if it was created by then, with the guard.
    pub fn named(prefix: &'static str) -> PgDatabase {
        let name = new_name(prefix);
        PgDatabase {
            url: url_of(&server_url(), &name),
            name,
            prefix,
        }
    }

    /// `CREATE DATABASE`, after dropping this prefix's stale leftovers.
    pub async fn create_now(&self) {
        let mut conn = admin().await;
        drop_leftovers(&mut conn, self.prefix).await;
        sqlx::query(&format!(r#"CREATE DATABASE "{}""#, self.name))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        conn.close().await.expect("close the admin connection");
    }

    /// Ends every connection to this database (what a database restart does
    /// to its clients) and returns how many there were.
    pub async fn terminate_connections(&self) -> usize {
        let mut conn = admin().await;
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&self.name)
        .fetch_all(&mut conn)
        .await
        .expect("terminate connections");
        let _ = conn.close().await;
        ended.into_iter().filter(|ended| *ended).count()
    }

    /// One SQL query answering a count, on this database.
    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = PgConnection::connect(&self.url)
            .await
            .expect("connect to the test database");
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect("count query");
        let _ = conn.close().await;
        n
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and may run inside a runtime: drop the database
        // from a thread (and runtime) of its own.
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
}
