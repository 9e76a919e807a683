//! SQL for copying a whole database (`doorward migrate-data`): row counts,
//! pages of full rows in primary-key order, and inserting rows exactly as
//! exported.
//!
//! Pages are keyed by the primary key: hyphenated lower-case uuid text
//! (which sorts like the uuid bytes, as PostgreSQL's UUID does), hash BLOBs
//! (byte order), kid text (byte order).

use doorward_core::store::{KeyRecord, SessionRecord, StoreError, TokenHash, UserRecord};
use doorward_core::transfer::{Batch, Cursor, RefreshTokenRecord, RowCounts};
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, SqliteConnection, SqlitePool};

use super::error::db_error;
use super::rows::{convert, ms, text, time_of, uuid_of, KeyRow, SessionRow, UserRow};
use super::{audit, keys, users};

/// Every table in one statement, so one snapshot.
pub(super) async fn row_counts(pool: &SqlitePool) -> Result<RowCounts, StoreError> {
    let (users, sessions, refresh_tokens, signing_keys, audit_events) =
        sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM sessions), \
                    (SELECT COUNT(*) FROM refresh_tokens), (SELECT COUNT(*) FROM signing_keys), \
                    (SELECT COUNT(*) FROM audit_events)",
        )
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    let count =
        |n: i64| u64::try_from(n).map_err(|_| StoreError::Other("negative row count".to_owned()));
    Ok(RowCounts {
        users: count(users)?,
        sessions: count(sessions)?,
        refresh_tokens: count(refresh_tokens)?,
        signing_keys: count(signing_keys)?,
        audit_events: count(audit_events)?,
    })
}

/// A primary key to continue after, as SQLite stores it.
enum After {
    Text(String),
    Blob(Vec<u8>),
}

/// `SELECT columns FROM table [WHERE key > after] ORDER BY key LIMIT limit`.
async fn page<R>(
    pool: &SqlitePool,
    table: &str,
    columns: &str,
    key: &str,
    after: Option<After>,
    limit: u32,
) -> Result<Vec<R>, StoreError>
where
    R: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
{
    let filter = match after {
        Some(_) => format!("WHERE {key} > ?"),
        None => String::new(),
    };
    let sql = format!("SELECT {columns} FROM {table} {filter} ORDER BY {key} LIMIT ?");
    let query = sqlx::query_as::<_, R>(&sql);
    let query = match after {
        Some(After::Text(t)) => query.bind(t),
        Some(After::Blob(b)) => query.bind(b),
        None => query,
    };
    query
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db_error)
}

#[derive(FromRow)]
struct RefreshTokenRow {
    hash: Vec<u8>,
    session_id: String,
    created_at: i64,
    rotated_at: Option<i64>,
}

impl TryFrom<RefreshTokenRow> for RefreshTokenRecord {
    type Error = StoreError;

    fn try_from(row: RefreshTokenRow) -> Result<Self, StoreError> {
        let hash = TokenHash::try_from(row.hash.as_slice()).map_err(|_| {
            StoreError::Other("malformed value in column refresh_tokens.hash".to_owned())
        })?;
        Ok(RefreshTokenRecord {
            hash,
            session_id: uuid_of(&row.session_id, "refresh_tokens.session_id")?,
            created_at: time_of(row.created_at, "refresh_tokens.created_at")?,
            rotated_at: row
                .rotated_at
                .map(|t| time_of(t, "refresh_tokens.rotated_at"))
                .transpose()?,
        })
    }
}

const USER_COLUMNS: &str = "id, email, username, password_hash, email_verified, roles, disabled, \
                            created_at, updated_at";
const SESSION_COLUMNS: &str =
    "id, user_id, created_at, last_used_at, expires_at, revoked_at, ip, user_agent";
const REFRESH_COLUMNS: &str = "hash, session_id, created_at, rotated_at";
const KEY_COLUMNS: &str = "kid, alg, public_jwk, private_key, created_at, activated_at, retired_at";

/// Up to `limit` rows of the cursor's table after its key.
pub(super) async fn export(
    pool: &SqlitePool,
    from: &Cursor,
    limit: u32,
) -> Result<Batch, StoreError> {
    let uuid = |id: &Option<uuid::Uuid>| id.map(|id| After::Text(text(id)));
    Ok(match from {
        Cursor::Users(after) => {
            let rows: Vec<UserRow> =
                page(pool, "users", USER_COLUMNS, "id", uuid(after), limit).await?;
            Batch::Users(convert::<_, UserRecord>(rows)?)
        }
        Cursor::Sessions(after) => {
            let rows: Vec<SessionRow> =
                page(pool, "sessions", SESSION_COLUMNS, "id", uuid(after), limit).await?;
            Batch::Sessions(convert::<_, SessionRecord>(rows)?)
        }
        Cursor::RefreshTokens(after) => {
            let after = after.map(|hash| After::Blob(hash.to_vec()));
            let rows: Vec<RefreshTokenRow> = page(
                pool,
                "refresh_tokens",
                REFRESH_COLUMNS,
                "hash",
                after,
                limit,
            )
            .await?;
            Batch::RefreshTokens(convert::<_, RefreshTokenRecord>(rows)?)
        }
        Cursor::SigningKeys(after) => {
            let after = after.clone().map(After::Text);
            let rows: Vec<KeyRow> =
                page(pool, "signing_keys", KEY_COLUMNS, "kid", after, limit).await?;
            Batch::SigningKeys(convert::<_, KeyRecord>(rows)?)
        }
        // With the chain columns, so the copy verifies on the target.
        Cursor::AuditEvents(after) => Batch::AuditEvents(audit::export(pool, *after, limit).await?),
    })
}

/// Inserts every row of `batch` as it is; the caller's transaction makes
/// the batch land whole or not at all.
pub(super) async fn import(conn: &mut SqliteConnection, batch: &Batch) -> Result<(), StoreError> {
    match batch {
        Batch::Users(rows) => {
            for user in rows {
                users::insert(&mut *conn, user).await?;
            }
        }
        Batch::Sessions(rows) => {
            for session in rows {
                insert_session(&mut *conn, session).await?;
            }
        }
        Batch::RefreshTokens(rows) => {
            for token in rows {
                insert_refresh_token(&mut *conn, token).await?;
            }
        }
        Batch::SigningKeys(rows) => {
            for key in rows {
                keys::insert(&mut *conn, key).await?;
            }
        }
        Batch::AuditEvents(rows) => {
            // Copied links keep their place: nothing new is recorded or logged.
            for link in rows {
                audit::insert_link(&mut *conn, link).await?;
            }
        }
    }
    Ok(())
}

/// Every column, `last_used_at` and `revoked_at` included (the core's
/// `sessions::insert` starts a new session instead).
async fn insert_session(
    conn: &mut SqliteConnection,
    session: &SessionRecord,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(text(session.id))
    .bind(text(session.user_id))
    .bind(ms(session.created_at))
    .bind(ms(session.last_used_at))
    .bind(ms(session.expires_at))
    .bind(session.revoked_at.map(ms))
    .bind(&session.ip)
    .bind(&session.user_agent)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn insert_refresh_token(
    conn: &mut SqliteConnection,
    token: &RefreshTokenRecord,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) VALUES (?, ?, ?, ?)"
    ))
    .bind(token.hash.as_slice())
    .bind(text(token.session_id))
    .bind(ms(token.created_at))
    .bind(token.rotated_at.map(ms))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}
