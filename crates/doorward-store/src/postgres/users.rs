//! SQL for the `users` table: insert, look-ups, the password-hash swap.

use doorward_core::store::{StoreError, UserRecord};
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::db_error;
use super::rows::{ms, UserRow};

pub(super) const COLUMNS: &str =
    "id, email, username, password_hash, email_verified, roles, disabled, \
                       created_at, updated_at";

/// `Conflict("email")` / `Conflict("username")` when either is taken.
pub(super) async fn insert(conn: &mut PgConnection, user: &UserRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, email, username, password_hash, email_verified, roles, disabled, \
                            created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(user.id)
    .bind(&user.email)
    .bind(&user.username)
    .bind(&user.password_hash)
    .bind(user.email_verified)
    .bind(user.roles.as_slice())
    .bind(user.disabled)
    .bind(ms(user.created_at))
    .bind(ms(user.updated_at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(super) async fn by_id<'c>(
    ex: impl PgExecutor<'c>,
    id: Uuid,
) -> Result<Option<UserRecord>, StoreError> {
    let row = sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await
        .map_err(db_error)?;
    Ok(row.map(UserRecord::from))
}

async fn one_by_text<'c>(
    ex: impl PgExecutor<'c>,
    column: &'static str,
    value: &str,
) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE {column} = $1");
    let row = sqlx::query_as::<_, UserRow>(&sql)
        .bind(value)
        .fetch_optional(ex)
        .await
        .map_err(db_error)?;
    Ok(row.map(UserRecord::from))
}

pub(super) async fn by_email<'c>(
    ex: impl PgExecutor<'c>,
    email: &str,
) -> Result<Option<UserRecord>, StoreError> {
    one_by_text(ex, "email", email).await
}

pub(super) async fn by_username<'c>(
    ex: impl PgExecutor<'c>,
    username: &str,
) -> Result<Option<UserRecord>, StoreError> {
    one_by_text(ex, "username", username).await
}

/// Compare-and-set: replaces the hash only while it still equals `old_hash`,
/// so a password change that raced a rehash-on-login wins. One statement:
/// PostgreSQL re-checks the condition on the newest row version after
/// waiting for a concurrent writer.
pub(super) async fn replace_password_hash<'c>(
    ex: impl PgExecutor<'c>,
    user_id: Uuid,
    old_hash: &str,
    new_hash: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2 \
         WHERE id = $3 AND password_hash = $4",
    )
    .bind(new_hash)
    .bind(ms(now))
    .bind(user_id)
    .bind(old_hash)
    .execute(ex)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
