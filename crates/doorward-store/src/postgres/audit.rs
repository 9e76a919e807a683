//! SQL for `audit_events`: append one row, list the newest.

use doorward_core::store::{AuditEvent, AuditRecord, StoreError};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::error::db_error;
use super::rows::{ms, AuditRow};

const COLUMNS: &str = "id, at, type, actor_id, user_id, session_id, ip, user_agent, outcome";

pub(super) async fn insert<'c>(
    ex: impl PgExecutor<'c>,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events \
             (id, at, type, actor_id, user_id, session_id, ip, user_agent, outcome) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(event.id)
    .bind(ms(event.at))
    .bind(event.kind.as_str())
    .bind(event.actor_id)
    .bind(event.user_id)
    .bind(event.session_id)
    .bind(&event.ip)
    .bind(&event.user_agent)
    .bind(&event.outcome)
    .execute(ex)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Newest first; ties on `at` broken by id (v7 uuids sort by creation, and
/// UUID order is byte order, the same as SQLite's hyphenated text order).
pub(super) async fn recent<'c>(
    ex: impl PgExecutor<'c>,
    user_id: Option<Uuid>,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    let rows = match user_id {
        Some(user_id) => {
            sqlx::query_as::<_, AuditRow>(&format!(
                "SELECT {COLUMNS} FROM audit_events WHERE user_id = $1 \
                 ORDER BY at DESC, id DESC LIMIT $2"
            ))
            .bind(user_id)
            .bind(i64::from(limit))
            .fetch_all(ex)
            .await
        }
        None => {
            sqlx::query_as::<_, AuditRow>(&format!(
                "SELECT {COLUMNS} FROM audit_events ORDER BY at DESC, id DESC LIMIT $1"
            ))
            .bind(i64::from(limit))
            .fetch_all(ex)
            .await
        }
    }
    .map_err(db_error)?;
    rows.into_iter().map(AuditEvent::try_from).collect()
}
