//! SQL for the account lifecycle: single-use account tokens (email
//! verification, password reset), password changes, and the administrator's
//! user list, changes and deletion. Same statements as `sqlite/lifecycle.rs`.

use doorward_core::store::{
    AccountTokenKind, AccountTokenRecord, MailBudget, NewAccountToken, RevokeScope, StoreError,
    TokenHash, UserPatch, UserRecord,
};
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::db_error;
use super::rows::{ms, UserRow};
use super::sessions;

/// Marks the user's unused tokens of `kind` used (superseded), then stores `token`.
pub(super) async fn insert_token(
    conn: &mut PgConnection,
    token: &NewAccountToken,
) -> Result<(), StoreError> {
    supersede(conn, token.user_id, token.kind, token.created_at).await?;
    sqlx::query(
        "INSERT INTO account_tokens (hash, user_id, kind, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.hash.as_slice())
    .bind(token.user_id)
    .bind(token.kind.as_str())
    .bind(ms(token.created_at))
    .bind(ms(token.expires_at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn supersede(
    conn: &mut PgConnection,
    user_id: Uuid,
    kind: AccountTokenKind,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE account_tokens SET used_at = $1 \
         WHERE user_id = $2 AND kind = $3 AND used_at IS NULL",
    )
    .bind(ms(now))
    .bind(user_id)
    .bind(kind.as_str())
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(super) async fn tokens_since<'c>(
    ex: impl PgExecutor<'c>,
    user_id: Uuid,
    kind: AccountTokenKind,
    since: OffsetDateTime,
) -> Result<Vec<OffsetDateTime>, StoreError> {
    sqlx::query_scalar::<_, OffsetDateTime>(
        "SELECT created_at FROM account_tokens \
         WHERE user_id = $1 AND kind = $2 AND created_at >= $3 ORDER BY created_at",
    )
    .bind(user_id)
    .bind(kind.as_str())
    .bind(ms(since))
    .fetch_all(ex)
    .await
    .map_err(db_error)
}

pub(super) async fn token<'c>(
    ex: impl PgExecutor<'c>,
    hash: &TokenHash,
) -> Result<Option<AccountTokenRecord>, StoreError> {
    type Row = (
        Uuid,
        String,
        OffsetDateTime,
        OffsetDateTime,
        Option<OffsetDateTime>,
    );
    let row = sqlx::query_as::<_, Row>(
        "SELECT user_id, kind, created_at, expires_at, used_at \
         FROM account_tokens WHERE hash = $1",
    )
    .bind(hash.as_slice())
    .fetch_optional(ex)
    .await
    .map_err(db_error)?;
    let Some((user_id, kind, created_at, expires_at, used_at)) = row else {
        return Ok(None);
    };
    Ok(Some(AccountTokenRecord {
        user_id,
        kind: AccountTokenKind::parse(&kind)
            .ok_or_else(|| StoreError::Other("malformed account_tokens.kind".to_owned()))?,
        created_at,
        expires_at,
        used_at,
    }))
}

/// Marks the token used when it is of `kind`, unused and unexpired; returns
/// its user, or `None` when it was not usable. The row lock makes a
/// concurrent use wait and then find it used.
pub(super) async fn take_token(
    conn: &mut PgConnection,
    hash: &TokenHash,
    kind: AccountTokenKind,
    now: OffsetDateTime,
) -> Result<Option<Uuid>, StoreError> {
    sqlx::query_scalar::<_, Uuid>(
        "UPDATE account_tokens SET used_at = $1 \
         WHERE hash = $2 AND kind = $3 AND used_at IS NULL AND expires_at > $1 \
         RETURNING user_id",
    )
    .bind(ms(now))
    .bind(hash.as_slice())
    .bind(kind.as_str())
    .fetch_optional(conn)
    .await
    .map_err(db_error)
}

pub(super) async fn mark_verified(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET email_verified = TRUE, updated_at = $1 WHERE id = $2")
        .bind(ms(now))
        .bind(user_id)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Sets a new password hash (a reset: the old one does not matter) and
/// supersedes every other unused reset token of the user.
pub(super) async fn reset_password(
    conn: &mut PgConnection,
    user_id: Uuid,
    new_hash: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(new_hash)
        .bind(ms(now))
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    supersede(conn, user_id, AccountTokenKind::ResetPassword, now).await
}

/// Revokes every active session of the user (but `keep`); returns their ids.
pub(super) async fn revoke_all(
    conn: &mut PgConnection,
    user_id: Uuid,
    keep: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<Vec<Uuid>, StoreError> {
    let scope = keep.map_or(RevokeScope::All, RevokeScope::AllExcept);
    let ids = sessions::lock_active_in_scope(conn, user_id, scope, now).await?;
    if !ids.is_empty() {
        sessions::revoke(conn, &ids, now).await?;
    }
    Ok(ids)
}

pub(super) async fn list_users<'c>(
    ex: impl PgExecutor<'c>,
    query: Option<&str>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<UserRecord>, StoreError> {
    let rows = sqlx::query_as::<_, UserRow>(
        "SELECT id, email, username, password_hash, email_verified, roles, disabled, \
                created_at, updated_at FROM users \
         WHERE ($1::uuid IS NULL OR id > $1) \
           AND ($2::text IS NULL OR lower(email) LIKE $2 ESCAPE '\\' \
                OR lower(coalesce(username, '')) LIKE $2 ESCAPE '\\') \
         ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(query.map(crate::like_pattern))
    .bind(i64::from(limit))
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(UserRecord::from).collect())
}

/// Applies the patch; `NotFound` for an unknown user.
pub(super) async fn patch_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    patch: &UserPatch,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE users SET disabled = coalesce($1, disabled), roles = coalesce($2, roles), \
                          updated_at = $3 WHERE id = $4",
    )
    .bind(patch.disabled)
    .bind(patch.roles.as_deref())
    .bind(ms(now))
    .bind(user_id)
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
    conn: &mut PgConnection,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<Uuid>, StoreError> {
    let ids = sessions::lock_active_in_scope(conn, user_id, RevokeScope::All, now).await?;
    sqlx::query(
        "INSERT INTO deleted_sessions (id, revoked_at) SELECT unnest($1::uuid[]), $2 \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(ids.as_slice())
    .bind(ms(now))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(ids)
}

/// Whether the user may get another token of `kind`. Locks the user's row
/// first, so concurrent requests for one user count one after the other.
pub(super) async fn within_budget(
    conn: &mut PgConnection,
    user_id: Uuid,
    kind: AccountTokenKind,
    budget: MailBudget,
) -> Result<bool, StoreError> {
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let sent = tokens_since(&mut *conn, user_id, kind, budget.since).await?;
    Ok(sent.len() < budget.max as usize)
}
