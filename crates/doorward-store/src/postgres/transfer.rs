//! SQL for copying a whole database (`doorward migrate-data`): row counts,
//! pages of full rows in primary-key order, and inserting rows exactly as
//! exported.
//!
//! Pages are keyed by the primary key, each read through its index: UUID
//! (byte order, as SQLite's hyphenated lower-case text sorts), BYTEA hashes
//! (byte order), kid text (the database's collation: only this engine reads
//! its own pages, so only its own order has to be consistent).

use doorward_core::store::{SessionRecord, StoreError};
use doorward_core::transfer::{Batch, Cursor, RefreshTokenRecord, RowCounts};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::db_error;
use super::rows::{ms, opt_ms, KeyRow, SessionRow, UserRow};
use super::{audit, keys, users};

/// Counting a big table scans it, and may take longer than the pool's
/// `statement_timeout` allows a request; a copy is an operator's batch job.
const COUNT_TIMEOUT: &str = "SET LOCAL statement_timeout = '10min'";

/// Every table in one statement, so one snapshot.
pub(super) async fn row_counts(pool: &PgPool) -> Result<RowCounts, StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query(COUNT_TIMEOUT)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let (users, sessions, refresh_tokens, signing_keys, audit_events) =
        sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM sessions), \
                    (SELECT COUNT(*) FROM refresh_tokens), (SELECT COUNT(*) FROM signing_keys), \
                    (SELECT COUNT(*) FROM audit_events)",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
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

/// A primary key to continue after, in its column type.
enum After {
    Uuid(Uuid),
    Bytes(Vec<u8>),
    Text(String),
}

/// `SELECT columns FROM table [WHERE key > after] ORDER BY key LIMIT limit`.
async fn page<R>(
    pool: &PgPool,
    table: &str,
    columns: &str,
    key: &str,
    after: Option<After>,
    limit: u32,
) -> Result<Vec<R>, StoreError>
where
    R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let sql = match after {
        Some(_) => {
            format!("SELECT {columns} FROM {table} WHERE {key} > $1 ORDER BY {key} LIMIT $2")
        }
        None => format!("SELECT {columns} FROM {table} ORDER BY {key} LIMIT $1"),
    };
    let query = sqlx::query_as::<_, R>(&sql);
    let query = match after {
        Some(After::Uuid(id)) => query.bind(id),
        Some(After::Bytes(b)) => query.bind(b),
        Some(After::Text(t)) => query.bind(t),
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
    session_id: Uuid,
    created_at: OffsetDateTime,
    rotated_at: Option<OffsetDateTime>,
}

impl TryFrom<RefreshTokenRow> for RefreshTokenRecord {
    type Error = StoreError;

    fn try_from(row: RefreshTokenRow) -> Result<Self, StoreError> {
        let hash = row.hash.as_slice().try_into().map_err(|_| {
            StoreError::Other("malformed value in column refresh_tokens.hash".to_owned())
        })?;
        Ok(RefreshTokenRecord {
            hash,
            session_id: row.session_id,
            created_at: row.created_at,
            rotated_at: row.rotated_at,
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
pub(super) async fn export(pool: &PgPool, from: &Cursor, limit: u32) -> Result<Batch, StoreError> {
    let uuid = |id: &Option<Uuid>| id.map(After::Uuid);
    Ok(match from {
        Cursor::Users(after) => {
            let rows: Vec<UserRow> =
                page(pool, "users", USER_COLUMNS, "id", uuid(after), limit).await?;
            Batch::Users(rows.into_iter().map(Into::into).collect())
        }
        Cursor::Sessions(after) => {
            let rows: Vec<SessionRow> =
                page(pool, "sessions", SESSION_COLUMNS, "id", uuid(after), limit).await?;
            Batch::Sessions(rows.into_iter().map(Into::into).collect())
        }
        Cursor::RefreshTokens(after) => {
            let after = after.map(|hash| After::Bytes(hash.to_vec()));
            let rows: Vec<RefreshTokenRow> = page(
                pool,
                "refresh_tokens",
                REFRESH_COLUMNS,
                "hash",
                after,
                limit,
            )
            .await?;
            Batch::RefreshTokens(
                rows.into_iter()
                    .map(TryInto::try_into)
                    .collect::<Result<_, _>>()?,
            )
        }
        Cursor::SigningKeys(after) => {
            let after = after.clone().map(After::Text);
            let rows: Vec<KeyRow> =
                page(pool, "signing_keys", KEY_COLUMNS, "kid", after, limit).await?;
            Batch::SigningKeys(rows.into_iter().map(Into::into).collect())
        }
        // With the chain columns, so the copy verifies on the target; the
        // first page links every row committed so far (see `chainer`).
        Cursor::AuditEvents(after) => {
            if after.is_none() {
                audit::chain_unchained(pool).await?;
            }
            Batch::AuditEvents(audit::export(pool, *after, limit).await?)
        }
    })
}

/// Inserts every row of `batch` as it is; the caller's transaction makes
/// the batch land whole or not at all.
pub(super) async fn import(conn: &mut PgConnection, batch: &Batch) -> Result<(), StoreError> {
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
            // Every change to the set of keys holds the keys lock (see `keys`).
            keys::lock(&mut *conn).await?;
            for key in rows {
                keys::insert(&mut *conn, key).await?;
            }
        }
        // Copied links keep their place: nothing new is recorded or logged.
        Batch::AuditEvents(rows) => audit::import_links(&mut *conn, rows).await?,
    }
    Ok(())
}

/// Every column, `last_used_at` and `revoked_at` included (the core's
/// `sessions::insert` starts a new session instead).
async fn insert_session(
    conn: &mut PgConnection,
    session: &SessionRecord,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(session.id)
    .bind(session.user_id)
    .bind(ms(session.created_at))
    .bind(ms(session.last_used_at))
    .bind(ms(session.expires_at))
    .bind(opt_ms(session.revoked_at))
    .bind(&session.ip)
    .bind(&session.user_agent)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn insert_refresh_token(
    conn: &mut PgConnection,
    token: &RefreshTokenRecord,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) VALUES ($1, $2, $3, $4)"
    ))
    .bind(token.hash.as_slice())
    .bind(token.session_id)
    .bind(ms(token.created_at))
    .bind(opt_ms(token.rotated_at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}
