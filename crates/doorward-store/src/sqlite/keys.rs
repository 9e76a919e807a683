//! SQL for `signing_keys`: list, first insert, activation with retirement.

use doorward_core::store::{KeyRecord, StoreError};
use sqlx::{SqliteConnection, SqliteExecutor};
use time::OffsetDateTime;

use super::error::db_error;
use super::rows::{convert, ms, KeyRow};

/// Newest first: the key activated last signs new tokens.
pub(super) async fn all<'c>(ex: impl SqliteExecutor<'c>) -> Result<Vec<KeyRecord>, StoreError> {
    let rows = sqlx::query_as::<_, KeyRow>(
        "SELECT kid, alg, public_jwk, private_key, created_at, activated_at, retired_at \
         FROM signing_keys ORDER BY activated_at DESC, created_at DESC, kid DESC",
    )
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    convert(rows)
}

/// Sets `retired_at` on every key that is not retired yet.
pub(super) async fn retire_all(
    conn: &mut SqliteConnection,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL")
        .bind(ms(at))
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// `Conflict("kid")` when the kid exists.
pub(super) async fn insert(conn: &mut SqliteConnection, key: &KeyRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signing_keys \
             (kid, alg, public_jwk, private_key, created_at, activated_at, retired_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.public_jwk)
    .bind(key.private_key.as_slice())
    .bind(ms(key.created_at))
    .bind(ms(key.activated_at))
    .bind(key.retired_at.map(ms))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Inserts `key` only into an empty table; the check and the insert are one
/// statement. Returns whether it was inserted.
pub(super) async fn insert_if_none(
    conn: &mut SqliteConnection,
    key: &KeyRecord,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO signing_keys \
             (kid, alg, public_jwk, private_key, created_at, activated_at, retired_at) \
         SELECT ?, ?, ?, ?, ?, ?, ? \
         WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
    )
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.public_jwk)
    .bind(key.private_key.as_slice())
    .bind(ms(key.created_at))
    .bind(ms(key.activated_at))
    .bind(key.retired_at.map(ms))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
