//! SQL for `login_throttle` (login throttling, issue 4): read, count a
//! failure, note an audited block, clear, prune; and the addresses a user's
//! sessions were started from (the anti-lockout rule's known networks).
//!
//! A failure is one `INSERT ... ON CONFLICT DO UPDATE` computed from the
//! stored row: when instances count the same key at once, PostgreSQL makes
//! the second wait for the first's row lock and then update the committed
//! row, so no increment is lost. Callers lock several keys in one order
//! (`sorted`), so two transactions never wait for each other in a cycle.

use doorward_core::store::StoreError;
use doorward_core::throttle::{ThrottleKey, ThrottleRecord};
use sqlx::{FromRow, PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::db_error;
use super::rows::ms;

const COLUMNS: &str = "key, failures, window_start, blocked_until";

#[derive(FromRow)]
struct ThrottleRow {
    key: String,
    failures: i32,
    window_start: OffsetDateTime,
    blocked_until: Option<OffsetDateTime>,
}

impl TryFrom<ThrottleRow> for ThrottleRecord {
    type Error = StoreError;

    fn try_from(row: ThrottleRow) -> Result<Self, StoreError> {
        Ok(ThrottleRecord {
            failures: u32::try_from(row.failures).map_err(|_| {
                StoreError::Other("malformed value in column login_throttle.failures".into())
            })?,
            window_start: row.window_start,
            blocked_until: row.blocked_until,
            key: row.key,
        })
    }
}

/// The order in which a transaction locks several keys.
pub(super) fn sorted<T: AsRef<str>>(keys: &[T]) -> Vec<&str> {
    let mut keys: Vec<&str> = keys.iter().map(AsRef::as_ref).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

pub(super) async fn state<'c>(
    ex: impl PgExecutor<'c>,
    keys: &[ThrottleKey],
) -> Result<Vec<ThrottleRecord>, StoreError> {
    let keys: Vec<String> = keys.iter().map(|k| k.as_str().to_owned()).collect();
    let rows = sqlx::query_as::<_, ThrottleRow>(&format!(
        "SELECT {COLUMNS} FROM login_throttle WHERE key = ANY($1)"
    ))
    .bind(keys)
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(ThrottleRecord::try_from).collect()
}

/// One more failure for `key`: a new count at 1 when the row is stale at
/// `stale_before`, else one more. Returns the new row (locked until commit).
pub(super) async fn count_failure(
    conn: &mut PgConnection,
    key: &str,
    now: OffsetDateTime,
    stale_before: OffsetDateTime,
) -> Result<ThrottleRecord, StoreError> {
    // Every SET expression reads the row as it was before this statement.
    let row = sqlx::query_as::<_, ThrottleRow>(&format!(
        "INSERT INTO login_throttle AS t (key, failures, window_start) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN COALESCE(t.blocked_until, t.window_start) <= $3 \
                      THEN 1 ELSE t.failures + 1 END, \
           window_start = CASE WHEN COALESCE(t.blocked_until, t.window_start) <= $3 \
                          THEN $2 ELSE t.window_start END, \
           blocked_until = CASE WHEN COALESCE(t.blocked_until, t.window_start) <= $3 \
                           THEN NULL ELSE t.blocked_until END, \
           audited_until = CASE WHEN COALESCE(t.blocked_until, t.window_start) <= $3 \
                           THEN NULL ELSE t.audited_until END \
         RETURNING {COLUMNS}"
    ))
    .bind(key)
    .bind(ms(now))
    .bind(ms(stale_before))
    .fetch_one(conn)
    .await
    .map_err(db_error)?;
    row.try_into()
}

/// Blocks `key` until `until`, or longer if it is already.
pub(super) async fn block(
    conn: &mut PgConnection,
    key: &str,
    until: OffsetDateTime,
) -> Result<ThrottleRecord, StoreError> {
    let row = sqlx::query_as::<_, ThrottleRow>(&format!(
        "UPDATE login_throttle SET blocked_until = GREATEST(blocked_until, $1) \
         WHERE key = $2 RETURNING {COLUMNS}"
    ))
    .bind(ms(until))
    .bind(key)
    .fetch_one(conn)
    .await
    .map_err(db_error)?;
    row.try_into()
}

/// Marks `key`'s current block audited; whether it was not yet (and the key
/// is blocked at `now`).
pub(super) async fn note_audited(
    conn: &mut PgConnection,
    key: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE login_throttle SET audited_until = blocked_until \
         WHERE key = $1 AND blocked_until > $2 \
           AND (audited_until IS NULL OR audited_until < blocked_until)",
    )
    .bind(key)
    .bind(ms(now))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn clear<'c>(ex: impl PgExecutor<'c>, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(ex)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(super) async fn prune<'c>(
    ex: impl PgExecutor<'c>,
    stale_before: OffsetDateTime,
) -> Result<u64, StoreError> {
    let done =
        sqlx::query("DELETE FROM login_throttle WHERE COALESCE(blocked_until, window_start) <= $1")
            .bind(ms(stale_before))
            .execute(ex)
            .await
            .map_err(db_error)?;
    Ok(done.rows_affected())
}

/// Distinct addresses of the user's sessions in use at or after `since`,
/// most recently used first.
pub(super) async fn recent_login_ips<'c>(
    ex: impl PgExecutor<'c>,
    user_id: Uuid,
    since: OffsetDateTime,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT ip FROM sessions \
         WHERE user_id = $1 AND last_used_at >= $2 AND ip IS NOT NULL \
         GROUP BY ip ORDER BY MAX(last_used_at) DESC, ip LIMIT $3",
    )
    .bind(user_id)
    .bind(ms(since))
    .bind(i64::from(limit))
    .fetch_all(ex)
    .await
    .map_err(db_error)
}
