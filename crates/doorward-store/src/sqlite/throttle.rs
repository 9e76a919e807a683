//! SQL for `login_throttle` (login throttling, issue 4): read, count a
//! failure, note an audited block, clear, prune; and the addresses a user's
//! sessions were started from (the anti-lockout rule's known networks).
//!
//! A failure is one `INSERT ... ON CONFLICT DO UPDATE` computed from the
//! stored row, so concurrent failures never lose an increment (here the
//! writer connection and `BEGIN IMMEDIATE` serialise them anyway).

use doorward_core::store::StoreError;
use doorward_core::throttle::{ThrottleKey, ThrottleRecord};
use sqlx::{FromRow, SqliteConnection, SqliteExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::db_error;
use super::rows::{ms, text, time_of};

const COLUMNS: &str = "key, failures, window_start, blocked_until";

#[derive(FromRow)]
struct ThrottleRow {
    key: String,
    failures: i64,
    window_start: i64,
    blocked_until: Option<i64>,
}

impl TryFrom<ThrottleRow> for ThrottleRecord {
    type Error = StoreError;

    fn try_from(row: ThrottleRow) -> Result<Self, StoreError> {
        Ok(ThrottleRecord {
            failures: u32::try_from(row.failures).map_err(|_| {
                StoreError::Other("malformed value in column login_throttle.failures".into())
            })?,
            window_start: time_of(row.window_start, "login_throttle.window_start")?,
            blocked_until: row
                .blocked_until
                .map(|t| time_of(t, "login_throttle.blocked_until"))
                .transpose()?,
            key: row.key,
        })
    }
}

pub(super) async fn state<'c>(
    ex: impl SqliteExecutor<'c>,
    keys: &[ThrottleKey],
) -> Result<Vec<ThrottleRecord>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; keys.len()].join(", ");
    let sql = format!("SELECT {COLUMNS} FROM login_throttle WHERE key IN ({marks})");
    let mut query = sqlx::query_as::<_, ThrottleRow>(&sql);
    for key in keys {
        query = query.bind(key.as_str());
    }
    let rows = query.fetch_all(ex).await.map_err(db_error)?;
    rows.into_iter().map(ThrottleRecord::try_from).collect()
}

/// One more failure for `key`: a new count at 1 when the row is stale at
/// `stale_before`, else one more. Returns the new row.
pub(super) async fn count_failure(
    conn: &mut SqliteConnection,
    key: &str,
    now: OffsetDateTime,
    stale_before: OffsetDateTime,
) -> Result<ThrottleRecord, StoreError> {
    // Every SET expression reads the row as it was before this statement.
    let row = sqlx::query_as::<_, ThrottleRow>(&format!(
        "INSERT INTO login_throttle (key, failures, window_start) VALUES (?1, 1, ?2) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN COALESCE(blocked_until, window_start) <= ?3 \
                      THEN 1 ELSE failures + 1 END, \
           window_start = CASE WHEN COALESCE(blocked_until, window_start) <= ?3 \
                          THEN ?2 ELSE window_start END, \
           blocked_until = CASE WHEN COALESCE(blocked_until, window_start) <= ?3 \
                           THEN NULL ELSE blocked_until END, \
           audited_until = CASE WHEN COALESCE(blocked_until, window_start) <= ?3 \
                           THEN NULL ELSE audited_until END \
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
    conn: &mut SqliteConnection,
    key: &str,
    until: OffsetDateTime,
) -> Result<ThrottleRecord, StoreError> {
    let row = sqlx::query_as::<_, ThrottleRow>(&format!(
        "UPDATE login_throttle SET blocked_until = MAX(COALESCE(blocked_until, ?1), ?1) \
         WHERE key = ?2 RETURNING {COLUMNS}"
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
    conn: &mut SqliteConnection,
    key: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE login_throttle SET audited_until = blocked_until \
         WHERE key = ? AND blocked_until > ? \
           AND (audited_until IS NULL OR audited_until < blocked_until)",
    )
    .bind(key)
    .bind(ms(now))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn clear<'c>(ex: impl SqliteExecutor<'c>, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key = ?")
        .bind(key)
        .execute(ex)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(super) async fn prune<'c>(
    ex: impl SqliteExecutor<'c>,
    stale_before: OffsetDateTime,
) -> Result<u64, StoreError> {
    let done =
        sqlx::query("DELETE FROM login_throttle WHERE COALESCE(blocked_until, window_start) <= ?")
            .bind(ms(stale_before))
            .execute(ex)
            .await
            .map_err(db_error)?;
    Ok(done.rows_affected())
}

/// Distinct addresses of the user's sessions in use at or after `since`,
/// most recently used first.
pub(super) async fn recent_login_ips<'c>(
    ex: impl SqliteExecutor<'c>,
    user_id: Uuid,
    since: OffsetDateTime,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT ip FROM sessions \
         WHERE user_id = ? AND last_used_at >= ? AND ip IS NOT NULL \
         GROUP BY ip ORDER BY MAX(last_used_at) DESC, ip LIMIT ?",
    )
    .bind(text(user_id))
    .bind(ms(since))
    .bind(i64::from(limit))
    .fetch_all(ex)
    .await
    .map_err(db_error)
}
