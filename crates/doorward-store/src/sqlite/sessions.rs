//! SQL for `sessions` and their `refresh_tokens`: start, rotate, revoke, list.

use std::sync::LazyLock;

use doorward_core::audit_chain::{ChainHead, ChainedEvent};
use doorward_core::store::{
    NewSession, RefreshState, RevokeScope, RevokedSession, SessionRecord, StoreError, TokenHash,
    UserRecord,
};
use sqlx::{SqliteConnection, SqliteExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit;
use super::error::db_error;
use super::rows::{convert, ms, rotated_at_of, text, time_of, uuid_of, RefreshJoinRow, SessionRow};
use super::users;
use crate::columns::prefixed;

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

/// The batch of [`begin_refresh`], built once (the hottest write).
static BEGIN_REFRESH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "BEGIN IMMEDIATE; \
         SELECT t.rotated_at, {session}, {user}, \
                (SELECT seq {last}) AS head_seq, (SELECT hash {last}) AS head_hash \
         FROM refresh_tokens t \
         JOIN sessions s ON s.id = t.session_id \
         JOIN users u ON u.id = s.user_id \
         WHERE t.hash = ?",
        session = prefixed("s", COLUMNS),
        user = prefixed("u", users::COLUMNS),
        last = audit::LAST_LINK,
    )
});

/// The batch of [`rotate_and_commit`], built once.
static ROTATE_AND_COMMIT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE refresh_tokens SET rotated_at = ? WHERE hash = ? AND rotated_at IS NULL; \
         INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?); \
         UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ?; \
         {}; \
         COMMIT",
        audit::INSERT_LINK
    )
});

/// Begins the write transaction (`BEGIN IMMEDIATE`) and reads the presented
/// token with its session and user, and the audit chain's last link (the
/// rotation's audit row follows it): one batch, one round trip (see
/// `batched`). `None` when the hash is unknown. The write lock, held until
/// the transaction ends, keeps the last link the last.
pub(super) async fn begin_refresh(
    conn: &mut SqliteConnection,
    presented: &TokenHash,
) -> Result<Option<(RefreshState, Option<ChainHead>)>, StoreError> {
    // Foreign keys (with cascades) guarantee the session and the user of a
    // stored token: the inner joins only miss on a corrupt database.
    let row = sqlx::query_as::<_, RefreshJoinRow>(&BEGIN_REFRESH)
        .bind(presented.as_slice())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let head = audit::head_of(row.head_seq, row.head_hash)?;
    let state = RefreshState {
        session: SessionRecord::try_from(row.session)?,
        rotated_at: rotated_at_of(row.rotated_at)?,
        user: UserRecord::try_from(row.user)?,
    };
    Ok(Some((state, head)))
}

/// Applies `RefreshDecision::Rotate`, with its audit row `link`, and
/// commits: the presented token keeps its first rotation time, the
/// successor joins the same session, the expiry slides. One batch, one round
/// trip (anonymous parameters are numbered across the batch, in order).
#[allow(clippy::too_many_arguments)]
pub(super) async fn rotate_and_commit(
    conn: &mut SqliteConnection,
    presented: &TokenHash,
    session: &SessionRecord,
    new_hash: &TokenHash,
    now: OffsetDateTime,
    new_expires_at: OffsetDateTime,
    link: &ChainedEvent,
) -> Result<(), StoreError> {
    let query = sqlx::query(&ROTATE_AND_COMMIT)
        .bind(ms(now))
        .bind(presented.as_slice())
        .bind(new_hash.as_slice())
        .bind(text(session.id))
        .bind(ms(now))
        .bind(ms(now))
        .bind(ms(new_expires_at))
        .bind(text(session.id));
    audit::bind_link(query, link)?
        .execute(conn)
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
