//! SQL for `sessions` and their `refresh_tokens`: start, rotate, revoke, list.

use doorward_core::store::{
    NewSession, RefreshState, RevokeScope, RevokedSession, SessionRecord, StoreError, TokenHash,
};
use sqlx::{SqliteConnection, SqliteExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::db_error;
use super::rows::{convert, ms, text, time_of, uuid_of, RefreshRow, SessionRow};
use super::users;

const COLUMNS: &str =
    "id, user_id, created_at, last_used_at, expires_at, revoked_at, ip, user_agent";

/// A session (last used at its creation) and its first refresh token.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    session: &NewSession,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(text(session.id))
    .bind(text(session.user_id))
    .bind(ms(session.created_at))
    .bind(ms(session.created_at))
    .bind(ms(session.expires_at))
    .bind(&session.ip)
    .bind(&session.user_agent)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    insert_refresh(conn, &session.refresh_hash, session.id, session.created_at).await
}

async fn insert_refresh(
    conn: &mut SqliteConnection,
    hash: &TokenHash,
    session_id: Uuid,
    created_at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)")
        .bind(hash.as_slice())
        .bind(text(session_id))
        .bind(ms(created_at))
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(super) async fn by_id<'c>(
    ex: impl SqliteExecutor<'c>,
    id: Uuid,
) -> Result<Option<SessionRecord>, StoreError> {
    sqlx::query_as::<_, SessionRow>(&format!("SELECT {COLUMNS} FROM sessions WHERE id = ?"))
        .bind(text(id))
        .fetch_optional(ex)
        .await
        .map_err(db_error)?
        .map(SessionRecord::try_from)
        .transpose()
}

/// The presented token with its session and user, or `None` when the hash
/// is unknown. Runs inside the rotation transaction.
pub(super) async fn refresh_state(
    conn: &mut SqliteConnection,
    presented: &TokenHash,
) -> Result<Option<RefreshState>, StoreError> {
    let token = sqlx::query_as::<_, RefreshRow>(
        "SELECT session_id, rotated_at FROM refresh_tokens WHERE hash = ?",
    )
    .bind(presented.as_slice())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let Some(token) = token else {
        return Ok(None);
    };
    let session_id = uuid_of(&token.session_id, "refresh_tokens.session_id")?;
    // Foreign keys (with cascades) guarantee both rows; missing means corrupt.
    let session = by_id(&mut *conn, session_id)
        .await?
        .ok_or_else(|| StoreError::Other("refresh token without its session".to_owned()))?;
    let user = users::by_id(&mut *conn, session.user_id)
        .await?
        .ok_or_else(|| StoreError::Other("session without its user".to_owned()))?;
    Ok(Some(RefreshState {
        session,
        rotated_at: token.rotated_at()?,
        user,
    }))
}

/// Applies `RefreshDecision::Rotate`: the presented token keeps its first
/// rotation time, the successor joins the same session, the expiry slides.
pub(super) async fn rotate(
    conn: &mut SqliteConnection,
    presented: &TokenHash,
    session: &SessionRecord,
    new_hash: &TokenHash,
    now: OffsetDateTime,
    new_expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_tokens SET rotated_at = ? WHERE hash = ? AND rotated_at IS NULL")
        .bind(ms(now))
        .bind(presented.as_slice())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    insert_refresh(conn, new_hash, session.id, now).await?;
    sqlx::query("UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ?")
        .bind(ms(now))
        .bind(ms(new_expires_at))
        .bind(text(session.id))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Marks the session revoked; an earlier revocation time is kept.
pub(super) async fn revoke(
    conn: &mut SqliteConnection,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(ms(now))
        .bind(text(id))
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Ids of the user's sessions that `scope` names and that are active at `now`.
pub(super) async fn active_ids_in_scope(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    scope: RevokeScope,
    now: OffsetDateTime,
) -> Result<Vec<Uuid>, StoreError> {
    let sql = match scope {
        RevokeScope::All => {
            "SELECT id FROM sessions \
             WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? \
             ORDER BY created_at, id"
        }
        RevokeScope::AllExcept(_) => {
            "SELECT id FROM sessions \
             WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND id <> ? \
             ORDER BY created_at, id"
        }
        RevokeScope::One(_) => {
            "SELECT id FROM sessions \
             WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND id = ?"
        }
    };
    let query = sqlx::query_scalar::<_, String>(sql);
    let mut query = query.bind(text(user_id)).bind(ms(now));
    if let RevokeScope::AllExcept(id) | RevokeScope::One(id) = scope {
        query = query.bind(text(id));
    }
    let ids = query.fetch_all(conn).await.map_err(db_error)?;
    ids.iter().map(|id| uuid_of(id, "sessions.id")).collect()
}

pub(super) async fn active<'c>(
    ex: impl SqliteExecutor<'c>,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<SessionRecord>, StoreError> {
    let rows = sqlx::query_as::<_, SessionRow>(&format!(
        "SELECT {COLUMNS} FROM sessions \
         WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(text(user_id))
    .bind(ms(now))
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    convert(rows)
}

pub(super) async fn revoked_since<'c>(
    ex: impl SqliteExecutor<'c>,
    since: OffsetDateTime,
) -> Result<Vec<RevokedSession>, StoreError> {
    let rows = sqlx::query_as::<_, (String, i64)>(
        "SELECT id, revoked_at FROM sessions WHERE revoked_at >= ?1 \
         UNION ALL SELECT id, revoked_at FROM deleted_sessions WHERE revoked_at >= ?1 \
         ORDER BY 2, 1",
    )
    .bind(ms(since))
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|(id, revoked_at)| {
            Ok(RevokedSession {
                id: uuid_of(&id, "sessions.id")?,
                revoked_at: time_of(revoked_at, "sessions.revoked_at")?,
            })
        })
        .collect()
}
