//! SQL for `sessions` and their `refresh_tokens`: start, rotate, revoke, list.
//!
//! Rows that a decision depends on are read with `FOR UPDATE`: another
//! instance presenting the same token, or revoking the same session, waits
//! for this transaction's commit and then reads its result. Locks are always
//! taken token first, then session, and several sessions in (created_at, id)
//! order, so two transactions never wait on each other in a cycle.

use std::sync::LazyLock;

use doorward_core::store::{
    AuditEvent, NewSession, RefreshState, RevokeScope, RevokedSession, SessionRecord, StoreError,
    TokenHash, UserRecord,
};
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit;
use super::error::db_error;
use super::rows::{ms, RefreshJoinRow, SessionRow};
use super::users;
use crate::columns::prefixed;

const COLUMNS: &str =
    "id, user_id, created_at, last_used_at, expires_at, revoked_at, ip, user_agent";

/// A session (last used at its creation) and its first refresh token.
/// `NotFound` when the user does not exist.
pub(super) async fn insert(
    conn: &mut PgConnection,
    session: &NewSession,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $3, $4, $5, $6)",
    )
    .bind(session.id)
    .bind(session.user_id)
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
    conn: &mut PgConnection,
    hash: &TokenHash,
    session_id: Uuid,
    created_at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
        .bind(hash.as_slice())
        .bind(session_id)
        .bind(ms(created_at))
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(super) async fn by_id<'c>(
    ex: impl PgExecutor<'c>,
    id: Uuid,
) -> Result<Option<SessionRecord>, StoreError> {
    let row =
        sqlx::query_as::<_, SessionRow>(&format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"))
            .bind(id)
            .fetch_optional(ex)
            .await
            .map_err(db_error)?;
    Ok(row.map(SessionRecord::from))
}

/// The statement of [`refresh_state_for_update`], built once (the hottest write).
static REFRESH_STATE_FOR_UPDATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT t.rotated_at, {session}, {user} \
         FROM refresh_tokens t \
         JOIN sessions s ON s.id = t.session_id \
         JOIN users u ON u.id = s.user_id \
         WHERE t.hash = $1 \
         FOR UPDATE OF t, s",
        session = prefixed("s", COLUMNS),
        user = prefixed("u", users::COLUMNS),
    )
});

/// The statement of [`rotate`], built once.
static ROTATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH rotated AS ( \
             UPDATE refresh_tokens SET rotated_at = $1 WHERE hash = $2 AND rotated_at IS NULL \
         ), successor AS ( \
             INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($3, $4, $1) \
         ), logged AS ( \
             {} \
         ) \
         UPDATE sessions SET last_used_at = $1, expires_at = $5 WHERE id = $4",
        audit::insert_event_sql(6)
    )
});

/// The presented token with its session and user, or `None` when the hash
/// is unknown. One statement, inside the rotation transaction; it locks the
/// token and session rows until the transaction ends: a concurrent
/// presentation of the same token (from any instance) waits for this
/// transaction's commit, and PostgreSQL then re-reads the locked rows for it
/// (READ COMMITTED re-checks them), so it sees the rotation.
pub(super) async fn refresh_state_for_update(
    conn: &mut PgConnection,
    presented: &TokenHash,
) -> Result<Option<RefreshState>, StoreError> {
    // Foreign keys (with cascades) guarantee the session and the user of a
    // stored token: the inner joins only miss on a corrupt database.
    let row = sqlx::query_as::<_, RefreshJoinRow>(&REFRESH_STATE_FOR_UPDATE)
        .bind(presented.as_slice())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(row.map(|row| RefreshState {
        session: SessionRecord::from(row.session),
        rotated_at: row.rotated_at,
        user: UserRecord::from(row.user),
    }))
}

/// Applies `RefreshDecision::Rotate` and writes its audit row (without its
/// link, see `audit`): the presented token keeps its first rotation time,
/// the successor joins the same session, the expiry slides. One statement
/// (the changes as data-modifying `WITH` parts).
#[allow(clippy::too_many_arguments)]
pub(super) async fn rotate(
    conn: &mut PgConnection,
    presented: &TokenHash,
    session: &SessionRecord,
    new_hash: &TokenHash,
    now: OffsetDateTime,
    new_expires_at: OffsetDateTime,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let query = sqlx::query(&ROTATE)
        .bind(ms(now))
        .bind(presented.as_slice())
        .bind(new_hash.as_slice())
        .bind(session.id)
        .bind(ms(new_expires_at));
    audit::bind_event(query, event)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Marks the sessions revoked; an earlier revocation time is kept.
pub(super) async fn revoke(
    conn: &mut PgConnection,
    ids: &[Uuid],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = ANY($2) AND revoked_at IS NULL")
        .bind(ms(now))
        .bind(ids)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Ids of the user's sessions that `scope` names and that are active at
/// `now`, locked until the transaction ends. A session revoked by a
/// concurrent transaction is re-checked after its commit and left out, so it
/// is neither revoked nor audited twice.
pub(super) async fn lock_active_in_scope(
    conn: &mut PgConnection,
    user_id: Uuid,
    scope: RevokeScope,
    now: OffsetDateTime,
) -> Result<Vec<Uuid>, StoreError> {
    let sql = match scope {
        RevokeScope::All => {
            "SELECT id FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at, id FOR UPDATE"
        }
        RevokeScope::AllExcept(_) => {
            "SELECT id FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND id <> $3 \
             ORDER BY created_at, id FOR UPDATE"
        }
        RevokeScope::One(_) => {
            "SELECT id FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND id = $3 \
             FOR UPDATE"
        }
    };
    let mut query = sqlx::query_scalar::<_, Uuid>(sql)
        .bind(user_id)
        .bind(ms(now));
    if let RevokeScope::AllExcept(id) | RevokeScope::One(id) = scope {
        query = query.bind(id);
    }
    query.fetch_all(conn).await.map_err(db_error)
}

pub(super) async fn active<'c>(
    ex: impl PgExecutor<'c>,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<SessionRecord>, StoreError> {
    let rows = sqlx::query_as::<_, SessionRow>(&format!(
        "SELECT {COLUMNS} FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(user_id)
    .bind(ms(now))
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(SessionRecord::from).collect())
}

pub(super) async fn revoked_since<'c>(
    ex: impl PgExecutor<'c>,
    since: OffsetDateTime,
) -> Result<Vec<RevokedSession>, StoreError> {
    let rows = sqlx::query_as::<_, (Uuid, OffsetDateTime)>(
        "SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1 \
         UNION ALL SELECT id, revoked_at FROM deleted_sessions WHERE revoked_at >= $1 \
         ORDER BY 2, 1",
    )
    .bind(ms(since))
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(id, revoked_at)| RevokedSession { id, revoked_at })
        .collect())
}
