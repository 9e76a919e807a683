//! PostgreSQL errors to `StoreError`, at the store edge.
//!
//! Unique violations become `Conflict(field)` by the violated constraint's
//! name (the migration names every constraint), like realworld's
//! `on_constraint`. A lost connection, a server shutting down, a statement
//! or lock timeout and pool exhaustion become `Unavailable` (callers answer
//! 503). Messages carry PostgreSQL's primary text, which names constraints
//! and tables; the `detail` field, which quotes the offending values, is
//! never copied.

use doorward_core::store::StoreError;
use sqlx::error::ErrorKind;

/// The unique constraints the core can trip, and the field each answers with.
const UNIQUE_FIELDS: [(&str, &str); 3] = [
    ("users_email_key", "email"),
    ("users_username_key", "username"),
    ("signing_keys_pkey", "kid"),
];

/// Maps any sqlx error from the PostgreSQL engine.
pub(super) fn db_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            let message = db.message();
            match db.kind() {
                ErrorKind::UniqueViolation => unique_violation(db.constraint(), message),
                // A row the write refers to (the user of a new session) is gone.
                ErrorKind::ForeignKeyViolation => StoreError::NotFound,
                _ => {
                    let code = db.code().unwrap_or_default();
                    if is_unavailable(&code) {
                        StoreError::Unavailable(format!("PostgreSQL {code}: {message}"))
                    } else {
                        StoreError::Other(format!("PostgreSQL {code}: {message}"))
                    }
                }
            }
        }
        sqlx::Error::PoolTimedOut => {
            StoreError::Unavailable("timed out waiting for a database connection".to_owned())
        }
        sqlx::Error::PoolClosed => StoreError::Unavailable("database pool is closed".to_owned()),
        sqlx::Error::WorkerCrashed => StoreError::Unavailable("database worker stopped".to_owned()),
        sqlx::Error::Io(e) => StoreError::Unavailable(format!("database I/O: {e}")),
        sqlx::Error::Tls(e) => StoreError::Unavailable(format!("database TLS: {e}")),
        // The server closed or garbled the stream (it restarted, a proxy cut it).
        sqlx::Error::Protocol(e) => StoreError::Unavailable(format!("database protocol: {e}")),
        sqlx::Error::RowNotFound => StoreError::NotFound,
        // Decode and encode errors may quote the value: name only the place.
        sqlx::Error::ColumnDecode { index, .. } => {
            StoreError::Other(format!("cannot decode column {index}"))
        }
        sqlx::Error::Decode(_) => StoreError::Other("cannot decode a value".to_owned()),
        sqlx::Error::Encode(_) => StoreError::Other("cannot encode a value".to_owned()),
        other => StoreError::Other(other.to_string()),
    }
}

fn unique_violation(constraint: Option<&str>, message: &str) -> StoreError {
    UNIQUE_FIELDS
        .iter()
        .find(|(name, _)| constraint == Some(*name))
        .map_or_else(
            || StoreError::Other(format!("PostgreSQL: {message}")),
            |&(_, field)| StoreError::Conflict(field),
        )
}

/// SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html)
/// that say "the database cannot serve this now", not "this request is wrong".
fn is_unavailable(code: &str) -> bool {
    // Class 08: connection exception. Class 53: insufficient resources (disk
    // full, out of memory, too many connections). Class 28 and 3D000: the
    // server refuses these credentials or does not have this database (at
    // start, or after an operator changed it): nothing a request can fix.
    ["08", "53", "28"]
        .iter()
        .any(|class| code.starts_with(class))
        || matches!(
            code,
            // admin_shutdown, crash_shutdown, cannot_connect_now
            "57P01" | "57P02" | "57P03"
            // query_canceled: `statement_timeout` fired
            | "57014"
            // lock_not_available, deadlock_detected, serialization_failure
            | "55P03" | "40P01" | "40001"
            // invalid_catalog_name: the database does not exist
            | "3D000"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_constraints_name_the_field() {
        let conflict = |c| match unique_violation(Some(c), "duplicate key value") {
            StoreError::Conflict(field) => Some(field),
            _ => None,
        };
        assert_eq!(conflict("users_email_key"), Some("email"));
        assert_eq!(conflict("users_username_key"), Some("username"));
        assert_eq!(conflict("signing_keys_pkey"), Some("kid"));
        assert_eq!(conflict("refresh_tokens_pkey"), None);
        assert!(matches!(
            unique_violation(None, "duplicate key value"),
            StoreError::Other(_)
        ));
    }

    #[test]
    fn shutdowns_timeouts_and_lost_connections_are_unavailable() {
        for code in [
            "57P01", "57P02", "57P03", "57014", "55P03", "40P01", "08006", "08001", "53300",
            "53100", "28P01", "3D000",
        ] {
            assert!(is_unavailable(code), "{code}");
        }
        for code in ["23505", "42P01", "42601", "22P02", ""] {
            assert!(!is_unavailable(code), "{code}");
        }
    }

    #[test]
    fn pool_and_io_errors_are_unavailable() {
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            assert!(matches!(db_error(err), StoreError::Unavailable(_)));
        }
    }
}
