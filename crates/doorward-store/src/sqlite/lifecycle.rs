//! SQL for the account lifecycle: single-use account tokens (email
//! verification, password reset), password changes, and the administrator's
//! user list, changes and deletion.

use doorward_core::store::{
    AccountTokenKind, AccountTokenRecord, MailBudget, NewAccountToken, RevokeScope, StoreError,
    TokenHash, UserPatch, UserRecord,
};
use sqlx::{SqliteConnection, SqliteExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::db_error;
use super::rows::{ms, roles_json, text, time_of, uuid_of, UserRow};
use super::sessions;

/// Marks the user's unused tokens of `kind` used (superseded), then stores `token`.
pub(super) async fn insert_token(
    conn: &mut SqliteConnection,
    token: &NewAccountToken,
) -> Result<(), StoreError> {
    supersede(conn, token.user_id, token.kind, token.created_at).await?;
    sqlx::query(
        "INSERT INTO account_tokens (hash, user_id, kind, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token.hash.as_slice())
    .bind(text(token.user_id))
    .bind(token.kind.as_str())
    .bind(ms(token.created_at))
    .bind(ms(token.expires_at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn supersede(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    kind: AccountTokenKind,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE account_tokens SET used_at = ? \
         WHERE user_id = ? AND kind = ? AND used_at IS NULL",
    )
    .bind(ms(now))
    .bind(text(user_id))
    .bind(kind.as_str())
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(super) async fn tokens_since<'c>(
    ex: impl SqliteExecutor<'c>,
    user_id: Uuid,
    kind: AccountTokenKind,
    since: OffsetDateTime,
) -> Result<Vec<OffsetDateTime>, StoreError> {
    let rows = sqlx::query_scalar::<_, i64>(
        "SELECT created_at FROM account_tokens \
         WHERE user_id = ? AND kind = ? AND created_at >= ? ORDER BY created_at",
    )
    .bind(text(user_id))
    .bind(kind.as_str())
    .bind(ms(since))
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|t| time_of(t, "account_tokens.created_at"))
        .collect()
}

pub(super) async fn token<'c>(
    ex: impl SqliteExecutor<'c>,
    hash: &TokenHash,
) -> Result<Option<AccountTokenRecord>, StoreError> {
    let row = sqlx::query_as::<_, (String, String, i64, i64, Option<i64>)>(
        "SELECT user_id, kind, created_at, expires_at, used_at FROM account_tokens WHERE hash = ?",
    )
    .bind(hash.as_slice())
    .fetch_optional(ex)
    .await
    .map_err(db_error)?;
    let Some((user_id, kind, created_at, expires_at, used_at)) = row else {
        return Ok(None);
    };
    Ok(Some(AccountTokenRecord {
        user_id: uuid_of(&user_id, "account_tokens.user_id")?,
        kind: AccountTokenKind::parse(&kind)
            .ok_or_else(|| StoreError::Other("malformed account_tokens.kind".to_owned()))?,
        created_at: time_of(created_at, "account_tokens.created_at")?,
        expires_at: time_of(expires_at, "account_tokens.expires_at")?,
        used_at: used_at
            .map(|t| time_of(t, "account_tokens.used_at"))
            .transpose()?,
    }))
}

/// Marks the token used when it is of `kind`, unused and unexpired; returns
/// its user, or `None` when it was not usable.
pub(super) async fn take_token(
    conn: &mut SqliteConnection,
    hash: &TokenHash,
    kind: AccountTokenKind,
    now: OffsetDateTime,
) -> Result<Option<Uuid>, StoreError> {
    let user = sqlx::query_scalar::<_, String>(
        "UPDATE account_tokens SET used_at = ? \
         WHERE hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ? \
         RETURNING user_id",
    )
    .bind(ms(now))
    .bind(hash.as_slice())
    .bind(kind.as_str())
    .bind(ms(now))
    .fetch_optional(conn)
    .await
    .map_err(db_error)?;
    user.map(|u| uuid_of(&u, "account_tokens.user_id"))
        .transpose()
}

pub(super) async fn mark_verified(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET email_verified = 1, updated_at = ? WHERE id = ?")
        .bind(ms(now))
        .bind(text(user_id))
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Sets a new password hash (a reset: the old one does not matter) and
/// supersedes every other unused reset token of the user.
pub(super) async fn reset_password(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    new_hash: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
        .bind(new_hash)
        .bind(ms(now))
        .bind(text(user_id))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    supersede(conn, user_id, AccountTokenKind::ResetPassword, now).await
}

/// Revokes every active session of the user (but `keep`); returns their ids.
pub(super) async fn revoke_all(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    keep: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<Vec<Uuid>, StoreError> {
    let scope = keep.map_or(RevokeScope::All, RevokeScope::AllExcept);
    let ids = sessions::active_ids_in_scope(conn, user_id, scope, now).await?;
    for &id in &ids {
        sessions::revoke(conn, id, now).await?;
    }
    Ok(ids)
}

pub(super) async fn list_users<'c>(
    ex: impl SqliteExecutor<'c>,
    query: Option<&str>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<UserRecord>, StoreError> {
    let rows = sqlx::query_as::<_, UserRow>(
        "SELECT id, email, username, password_hash, email_verified, roles, disabled, \
                created_at, updated_at FROM users \
         WHERE (?1 IS NULL OR id > ?1) \
           AND (?2 IS NULL OR lower(email) LIKE ?2 ESCAPE '\\' \
                OR lower(coalesce(username, '')) LIKE ?2 ESCAPE '\\') \
         ORDER BY id LIMIT ?3",
    )
    .bind(after.map(text))
    .bind(query.map(crate::like_pattern))
    .bind(i64::from(limit))
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(UserRecord::try_from).collect()
}

/// Applies the patch; `NotFound` for an unknown user.
pub(super) async fn patch_user(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    patch: &UserPatch,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let roles = patch.roles.as_deref().map(roles_json).transpose()?;
    let done = sqlx::query(
        "UPDATE users SET disabled = coalesce(?, disabled), roles = coalesce(?, roles), \
                          updated_at = ? WHERE id = ?",
    )
    .bind(patch.disabled)
    .bind(roles)
    .bind(ms(now))
    .bind(text(user_id))
    .execute(conn)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Remembers the user's active sessions as revoked, then deletes the user
/// (its sessions, refresh and account tokens cascade). `NotFound` when unknown.
pub(super) async fn delete_user(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<Uuid>, StoreError> {
    let ids = sessions::active_ids_in_scope(conn, user_id, RevokeScope::All, now).await?;
    for &id in &ids {
        sqlx::query("INSERT OR IGNORE INTO deleted_sessions (id, revoked_at) VALUES (?, ?)")
            .bind(text(id))
            .bind(ms(now))
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    let done = sqlx::query("DELETE FROM users WHERE id = ?")
        .bind(text(user_id))
        .execute(conn)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(ids)
}

/// Whether the user may get another token of `kind` (the caller holds the
/// write lock: `BEGIN IMMEDIATE`).
pub(super) async fn within_budget(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    kind: AccountTokenKind,
    budget: MailBudget,
) -> Result<bool, StoreError> {
    let sent = tokens_since(&mut *conn, user_id, kind, budget.since).await?;
    Ok(sent.len() < budget.max as usize)
}
