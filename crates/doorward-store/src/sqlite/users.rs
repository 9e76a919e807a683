//! SQL for the `users` table: insert, look-ups, the password-hash swap.

use doorward_core::store::{StoreError, UserRecord};
use sqlx::{SqliteConnection, SqliteExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::db_error;
use super::rows::{ms, roles_json, text, UserRow};

pub(super) const COLUMNS: &str =
    "id, email, username, password_hash, email_verified, roles, disabled, \
                       created_at, updated_at";

/// `Conflict("email")` / `Conflict("username")` when either is taken.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    user: &UserRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, email, username, password_hash, email_verified, roles, disabled, \
                            created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(text(user.id))
    .bind(&user.email)
    .bind(&user.username)
    .bind(&user.password_hash)
    .bind(user.email_verified)
    .bind(roles_json(&user.roles)?)
    .bind(user.disabled)
    .bind(ms(user.created_at))
    .bind(ms(user.updated_at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn one_by<'c>(
    ex: impl SqliteExecutor<'c>,
    column: &'static str,
    value: String,
) -> Result<Option<UserRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE {column} = ?");
    sqlx::query_as::<_, UserRow>(&sql)
        .bind(value)
        .fetch_optional(ex)
        .await
        .map_err(db_error)?
        .map(UserRecord::try_from)
        .transpose()
}

pub(super) async fn by_id<'c>(
    ex: impl SqliteExecutor<'c>,
    id: Uuid,
) -> Result<Option<UserRecord>, StoreError> {
    one_by(ex, "id", text(id)).await
}

pub(super) async fn by_email<'c>(
    ex: impl SqliteExecutor<'c>,
    email: &str,
) -> Result<Option<UserRecord>, StoreError> {
    one_by(ex, "email", email.to_owned()).await
}

pub(super) async fn by_username<'c>(
    ex: impl SqliteExecutor<'c>,
    username: &str,
) -> Result<Option<UserRecord>, StoreError> {
    one_by(ex, "username", username.to_owned()).await
}

/// Compare-and-set: replaces the hash only while it still equals `old_hash`,
/// so a password change that raced a rehash-on-login wins.
pub(super) async fn replace_password_hash<'c>(
    ex: impl SqliteExecutor<'c>,
    user_id: Uuid,
    old_hash: &str,
    new_hash: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?",
    )
    .bind(new_hash)
    .bind(ms(now))
    .bind(text(user_id))
    .bind(old_hash)
    .execute(ex)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
