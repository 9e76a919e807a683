//! SQLite errors to `StoreError`, at the store edge.
//!
//! Unique violations become `Conflict(field)` by the violated column, which
//! SQLite names in its message ("UNIQUE constraint failed: users.email").
//! Locks and pool exhaustion become `Unavailable` (callers answer 503).
//! Messages carry SQLite's text, which names tables and columns but never
//! the values bound to a statement.

use doorward_core::store::StoreError;
use sqlx::error::ErrorKind;

// Primary result codes (https://www.sqlite.org/rescode.html); sqlx reports
// the extended code, whose low byte is the primary one.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;

/// The column behind each unique constraint the core can trip, and the
/// field name it answers with.
const UNIQUE_FIELDS: [(&str, &str); 3] = [
    ("users.email", "email"),
    ("users.username", "username"),
    ("signing_keys.kid", "kid"),
];

/// Maps any sqlx error from the SQLite engine.
pub(super) fn db_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            let message = db.message();
            match db.kind() {
                ErrorKind::UniqueViolation => unique_violation(message),
                // A row the write refers to (the user of a new session) is gone.
                ErrorKind::ForeignKeyViolation => StoreError::NotFound,
                _ => {
                    let primary = db
                        .code()
                        .and_then(|code| code.parse::<i32>().ok())
                        .map(|code| code & 0xff);
                    match primary {
                        Some(SQLITE_BUSY | SQLITE_LOCKED) => {
                            StoreError::Unavailable(format!("database is busy: {message}"))
                        }
                        Some(SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN) => {
                            StoreError::Unavailable(format!("database file: {message}"))
                        }
                        _ => StoreError::Other(format!("SQLite: {message}")),
                    }
                }
            }
        }
        sqlx::Error::PoolTimedOut => {
            StoreError::Unavailable("timed out waiting for a database connection".to_owned())
        }
        sqlx::Error::PoolClosed => StoreError::Unavailable("database pool is closed".to_owned()),
        sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable("database worker thread stopped".to_owned())
        }
        sqlx::Error::Io(e) => StoreError::Unavailable(format!("database I/O: {e}")),
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

fn unique_violation(message: &str) -> StoreError {
    UNIQUE_FIELDS
        .iter()
        .find(|(column, _)| message.contains(column))
        .map_or_else(
            || StoreError::Other(format!("SQLite: {message}")),
            |&(_, field)| StoreError::Conflict(field),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_columns_name_the_field() {
        let conflict = |m| match unique_violation(m) {
            StoreError::Conflict(field) => Some(field),
            _ => None,
        };
        assert_eq!(
            conflict("UNIQUE constraint failed: users.email"),
            Some("email")
        );
        assert_eq!(
            conflict("UNIQUE constraint failed: users.username"),
            Some("username")
        );
        assert_eq!(
            conflict("UNIQUE constraint failed: refresh_tokens.hash"),
            None
        );
    }

    #[test]
    fn pool_errors_are_unavailable() {
        assert!(matches!(
            db_error(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            db_error(sqlx::Error::PoolClosed),
            StoreError::Unavailable(_)
        ));
    }
}
