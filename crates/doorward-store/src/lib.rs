//! Doorward's storage engines behind `doorward_core::store::Store`.
//!
//! [`connect`] turns a database URL into an `Arc<dyn Store>`, picking the
//! engine by scheme; [`migrate`] applies the schema and returns. All SQL of
//! the project lives in this crate: `sqlite` and `postgres` hold the
//! engines, `migrations/<engine>/` their schemas, and [`conformance`] the
//! suite every engine must pass.

mod audit_log;
mod columns;
pub mod conformance;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use doorward_core::store::{Store, StoreError};

/// How to open a database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Upper bound of the connection pool. On SQLite it bounds the readers;
    /// writes always go through one connection of their own (see `sqlite`).
    /// On PostgreSQL reads and writes share this pool (see `postgres`).
    pub max_connections: u32,
    /// Apply pending schema migrations before returning.
    pub migrate: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 8,
            migrate: true,
        }
    }
}

/// The database engines a URL can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Sqlite,
    Postgres,
}

const ACCEPTED_URLS: &str = "sqlite:PATH, sqlite://PATH, postgres://... or postgresql://...";

impl Scheme {
    /// Picks the engine from the URL scheme. The error never repeats the URL:
    /// a mistyped PostgreSQL URL may carry a password.
    fn of(url: &str) -> Result<Scheme, StoreError> {
        let lower = url.trim_start().to_ascii_lowercase();
        if lower.starts_with("sqlite:") {
            Ok(Scheme::Sqlite)
        } else if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Ok(Scheme::Postgres)
        } else {
            let scheme = lower
                .split_once(':')
                .map(|(scheme, _)| scheme)
                .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()));
            Err(StoreError::Other(match scheme {
                Some(scheme) => {
                    format!("unsupported database URL scheme `{scheme}`; expected {ACCEPTED_URLS}")
                }
                None => format!("database URL has no recognised scheme; expected {ACCEPTED_URLS}"),
            }))
        }
    }
}

/// Opens the database named by `url` (`sqlite:PATH`, `sqlite://PATH`,
/// `postgres://...`, `postgresql://...`). A SQLite file and its parent
/// directory are created when missing; a PostgreSQL database must exist.
/// With `opts.migrate`, pending migrations are applied first (safe when
/// several instances start together on one database).
pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Arc<dyn Store>, StoreError> {
    match Scheme::of(url)? {
        Scheme::Sqlite => Ok(Arc::new(sqlite::SqliteStore::open(url, opts).await?)),
        Scheme::Postgres => Ok(Arc::new(postgres::PostgresStore::open(url, opts).await?)),
    }
}

/// Applies pending schema migrations to the database named by `url`, then
/// closes it (the `doorward migrate` subcommand).
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    let opts = ConnectOptions {
        max_connections: 1,
        migrate: true,
    };
    match Scheme::of(url)? {
        Scheme::Sqlite => sqlite::SqliteStore::open(url, &opts).await?.close().await,
        Scheme::Postgres => {
            postgres::PostgresStore::open(url, &opts)
                .await?
                .close()
                .await
        }
    }
    Ok(())
}

/// `%`, `_` and `\` match themselves in a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_pattern(query: &str) -> String {
    let mut p = String::with_capacity(query.len() + 2);
    p.push('%');
    for c in query.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_match_themselves() {
        assert_eq!(like_pattern("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }

    #[test]
    fn engine_is_chosen_by_scheme() {
        assert_eq!(Scheme::of("sqlite:data/d.db").unwrap(), Scheme::Sqlite);
        assert_eq!(Scheme::of("sqlite:///tmp/d.db").unwrap(), Scheme::Sqlite);
        assert_eq!(Scheme::of("SQLite://d.db").unwrap(), Scheme::Sqlite);
        assert_eq!(Scheme::of("postgres://u@h/db").unwrap(), Scheme::Postgres);
        assert_eq!(Scheme::of("postgresql://u@h/db").unwrap(), Scheme::Postgres);
    }

    #[test]
    fn unknown_schemes_name_the_accepted_forms_but_not_the_url() {
        let StoreError::Other(msg) = Scheme::of("mysql://root:hunter2@h/db").unwrap_err() else {
            panic!("expected Other");
        };
        assert!(msg.contains("`mysql`"), "{msg}");
        assert!(msg.contains("sqlite:PATH"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");

        let StoreError::Other(msg) = Scheme::of("./doorward.db").unwrap_err() else {
            panic!("expected Other");
        };
        assert!(msg.contains("no recognised scheme"), "{msg}");
        assert!(!msg.contains("doorward.db"), "{msg}");
    }

    /// Nothing listens on port 1: both entry points fail at once with
    /// `Unavailable` (a 503, not a crash loop of retries), without the password.
    #[tokio::test]
    async fn an_unreachable_postgres_is_unavailable() {
        let url = "postgres://doorward:hunter2@127.0.0.1:1/doorward";
        let err = connect(url, &ConnectOptions::default())
            .await
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = migrate("postgresql://127.0.0.1:1/doorward")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    }
}
