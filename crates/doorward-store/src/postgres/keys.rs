//! SQL for `signing_keys`: list, first insert, activation with retirement.
//!
//! Both writes first take one transaction-scoped advisory lock, so every
//! change to the set of keys (the first key of several instances starting
//! together, a rotation by the CLI) happens one at a time across processes.
//! Row locks alone would not do: "no key exists yet" is a fact about rows
//! that are not there, and a rotation must also retire a key inserted
//! concurrently.

use doorward_core::store::{KeyRecord, StoreError};
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use super::error::db_error;
use super::rows::{ms, opt_ms, KeyRow};

/// The advisory lock id guarding `signing_keys` ("doorward" in ASCII).
/// Advisory locks are per database, so separate databases never contend.
const SIGNING_KEYS_LOCK: i64 = i64::from_be_bytes(*b"doorward");

/// Newest first: the key activated last signs new tokens.
pub(super) async fn all<'c>(ex: impl PgExecutor<'c>) -> Result<Vec<KeyRecord>, StoreError> {
    let rows = sqlx::query_as::<_, KeyRow>(
        "SELECT kid, alg, public_jwk, private_key, created_at, activated_at, retired_at \
         FROM signing_keys ORDER BY activated_at DESC, created_at DESC, kid DESC",
    )
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(KeyRecord::from).collect())
}

/// Waits for, then holds until the transaction ends, the signing-keys lock.
/// Must be its own statement, before the ones it guards: under READ
/// COMMITTED each later statement then reads a snapshot taken after the
/// previous holder committed.
pub(super) async fn lock(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SIGNING_KEYS_LOCK)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Sets `retired_at` on every key that is not retired yet.
pub(super) async fn retire_all(
    conn: &mut PgConnection,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
        .bind(ms(at))
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// `Conflict("kid")` when the kid exists.
pub(super) async fn insert(conn: &mut PgConnection, key: &KeyRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signing_keys \
             (kid, alg, public_jwk, private_key, created_at, activated_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.public_jwk)
    .bind(key.private_key.as_slice())
    .bind(ms(key.created_at))
    .bind(ms(key.activated_at))
    .bind(opt_ms(key.retired_at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Inserts `key` only into an empty table (call under [`lock`]). Returns
/// whether it was inserted.
pub(super) async fn insert_if_none(
    conn: &mut PgConnection,
    key: &KeyRecord,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO signing_keys \
             (kid, alg, public_jwk, private_key, created_at, activated_at, retired_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7 \
         WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
    )
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.public_jwk)
    .bind(key.private_key.as_slice())
    .bind(ms(key.created_at))
    .bind(ms(key.activated_at))
    .bind(opt_ms(key.retired_at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
