//! SQL for `audit_events`: append links of the hash chain, chain the rows of
//! older versions, list and page the log, read the chain back.
//!
//! Appends need no lock of their own: every write transaction starts with
//! `BEGIN IMMEDIATE` (see the module above), so reading the last link and
//! inserting the next one can never interleave with another writer's.

use doorward_core::audit::{AuditCursor, AuditFilter, AuditPage};
use doorward_core::audit_chain::{self, ChainHash, ChainHead, ChainState, ChainedEvent};
use doorward_core::store::{AuditEvent, AuditRecord, StoreError};
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteConnection, SqliteExecutor, SqlitePool};
use uuid::Uuid;

use super::error::db_error;
use super::rows::{convert, ms, opt_text, text, AuditRow};
use crate::audit_log::Appended;

const COLUMNS: &str = "id, at, type, actor_id, user_id, session_id, ip, user_agent, outcome";
/// `COLUMNS` with the chain's.
const LINK_COLUMNS: &str =
    "seq, prev_hash, hash, id, at, type, actor_id, user_id, session_id, ip, user_agent, outcome";
/// Rows chained per statement round when an older version's rows are chained.
const CHAIN_PAGE: i64 = 500;

/// Appends `events` to the chain, in order, inside the caller's write
/// transaction. Log them with `.committed()` after the commit.
pub(super) async fn append(
    conn: &mut SqliteConnection,
    events: &[AuditEvent],
) -> Result<Appended, StoreError> {
    let mut head = last_link(&mut *conn).await?;
    let mut links = Vec::with_capacity(events.len());
    for event in events {
        let link = audit_chain::next_link(head, event);
        insert_link(&mut *conn, &link).await?;
        head = Some(link.head());
        links.push(link);
    }
    Ok(Appended::new(links))
}

/// Appends one event (see [`append`]).
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    event: &AuditEvent,
) -> Result<Appended, StoreError> {
    append(conn, std::slice::from_ref(event)).await
}

/// The statement that inserts one link (the columns of `LINK_COLUMNS`); its
/// parameters are bound by [`bind_link`].
pub(super) const INSERT_LINK: &str = "INSERT INTO audit_events \
     (seq, prev_hash, hash, id, at, type, actor_id, user_id, session_id, ip, user_agent, outcome) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Binds `link`'s values to the next parameters of [`INSERT_LINK`].
pub(super) fn bind_link<'q>(
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
    link: &'q ChainedEvent,
) -> Result<Query<'q, Sqlite, SqliteArguments<'q>>, StoreError> {
    let event = &link.event;
    Ok(query
        .bind(seq_value(link.seq)?)
        .bind(link.prev_hash.as_slice())
        .bind(link.hash.as_slice())
        .bind(text(event.id))
        .bind(ms(event.at))
        .bind(event.kind.as_str())
        .bind(opt_text(event.actor_id))
        .bind(opt_text(event.user_id))
        .bind(opt_text(event.session_id))
        .bind(&event.ip)
        .bind(&event.user_agent)
        .bind(&event.outcome))
}

/// Inserts `link` exactly as given (also what `migrate-data` copies).
pub(super) async fn insert_link(
    conn: &mut SqliteConnection,
    link: &ChainedEvent,
) -> Result<(), StoreError> {
    bind_link(sqlx::query(INSERT_LINK), link)?
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

fn seq_value(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Other("audit chain position out of range".into()))
}

fn malformed(column: &str) -> StoreError {
    StoreError::Other(format!("malformed value in column audit_events.{column}"))
}

fn hash_of(bytes: &[u8], column: &str) -> Result<ChainHash, StoreError> {
    ChainHash::try_from(bytes).map_err(|_| malformed(column))
}

/// The rest of a query for a column of the last link (`SELECT seq ...`).
pub(super) const LAST_LINK: &str =
    "FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1";

async fn last_link<'c>(ex: impl SqliteExecutor<'c>) -> Result<Option<ChainHead>, StoreError> {
    let row: Option<(Option<i64>, Option<Vec<u8>>)> =
        sqlx::query_as(&format!("SELECT seq, hash {LAST_LINK}"))
            .fetch_optional(ex)
            .await
            .map_err(db_error)?;
    row.map_or(Ok(None), |(seq, hash)| head_of(seq, hash))
}

/// The last link from its `seq` and `hash` columns; `None` for an empty chain.
pub(super) fn head_of(
    seq: Option<i64>,
    hash: Option<Vec<u8>>,
) -> Result<Option<ChainHead>, StoreError> {
    match (seq, hash) {
        (None, _) => Ok(None),
        (Some(seq), Some(hash)) => Ok(Some(ChainHead {
            seq: u64::try_from(seq).map_err(|_| malformed("seq"))?,
            hash: hash_of(&hash, "hash")?,
        })),
        (Some(_), None) => Err(malformed("hash")),
    }
}

/// Gives rows without a place in the chain (written before the chain
/// existed, or by an older version since) one, after the last link, in
/// `at`, id order: one write transaction, a page at a time. Another process
/// doing the same at once waits for the write lock, then finds nothing to do.
pub(super) async fn chain_unchained(writer: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(db_error)?;
    let mut head = last_link(&mut *tx).await?;
    let mut chained = 0u64;
    loop {
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE seq IS NULL ORDER BY at, id LIMIT ?"
        ))
        .bind(CHAIN_PAGE)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        if rows.is_empty() {
            break;
        }
        for event in convert::<_, AuditEvent>(rows)? {
            let link = audit_chain::next_link(head, &event);
            sqlx::query("UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ? WHERE id = ?")
                .bind(seq_value(link.seq)?)
                .bind(link.prev_hash.as_slice())
                .bind(link.hash.as_slice())
                .bind(text(event.id))
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            head = Some(link.head());
            chained += 1;
        }
    }
    tx.commit().await.map_err(db_error)?;
    if chained > 0 {
        tracing::info!(chained, "audit events added to the hash chain");
    }
    Ok(())
}

/// Newest first; ties on `at` broken by id (v7 uuids sort by creation).
pub(super) async fn recent<'c>(
    ex: impl SqliteExecutor<'c>,
    user_id: Option<Uuid>,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    let rows = match user_id {
        Some(user_id) => {
            sqlx::query_as::<_, AuditRow>(&format!(
                "SELECT {COLUMNS} FROM audit_events WHERE user_id = ? \
                 ORDER BY at DESC, id DESC LIMIT ?"
            ))
            .bind(text(user_id))
            .bind(i64::from(limit))
            .fetch_all(ex)
            .await
        }
        None => {
            sqlx::query_as::<_, AuditRow>(&format!(
                "SELECT {COLUMNS} FROM audit_events ORDER BY at DESC, id DESC LIMIT ?"
            ))
            .bind(i64::from(limit))
            .fetch_all(ex)
            .await
        }
    }
    .map_err(db_error)?;
    convert(rows)
}

/// A stored row with its chain columns.
#[derive(FromRow)]
struct LinkRow {
    seq: Option<i64>,
    prev_hash: Option<Vec<u8>>,
    hash: Option<Vec<u8>>,
    #[sqlx(flatten)]
    event: AuditRow,
}

impl TryFrom<LinkRow> for ChainedEvent {
    type Error = StoreError;

    /// A malformed row names its place: it is what `audit verify` reports.
    fn try_from(row: LinkRow) -> Result<Self, StoreError> {
        let place = format!("audit event seq {}", row.seq.unwrap_or_default());
        let at_place = |e: StoreError| StoreError::Other(format!("{place}: {e}"));
        let event = AuditEvent::try_from(row.event).map_err(at_place)?;
        let (Some(seq), Some(prev_hash), Some(hash)) = (row.seq, row.prev_hash, row.hash) else {
            return Err(StoreError::Other(format!(
                "audit event {} has no place in the hash chain yet (start this version of \
                 Doorward on that database once, then copy again)",
                event.id
            )));
        };
        Ok(ChainedEvent {
            seq: u64::try_from(seq).map_err(|_| at_place(malformed("seq")))?,
            event,
            prev_hash: hash_of(&prev_hash, "prev_hash").map_err(at_place)?,
            hash: hash_of(&hash, "hash").map_err(at_place)?,
        })
    }
}

/// A page of the listing: newest first by (`at`, `seq`), after `after`.
pub(super) async fn page<'c>(
    ex: impl SqliteExecutor<'c>,
    filter: &AuditFilter,
    after: Option<AuditCursor>,
    limit: u32,
) -> Result<AuditPage, StoreError> {
    let limit = limit.max(1);
    let mut q = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {LINK_COLUMNS} FROM audit_events WHERE seq IS NOT NULL"
    ));
    if let Some(user_id) = filter.user_id {
        q.push(" AND user_id = ").push_bind(text(user_id));
    }
    if let Some(kind) = filter.kind {
        q.push(" AND type = ").push_bind(kind.as_str());
    }
    if let Some(since) = filter.since {
        q.push(" AND at >= ")
            .push_bind(audit_chain::millis_ceil(since));
    }
    if let Some(until) = filter.until {
        q.push(" AND at < ")
            .push_bind(audit_chain::millis_ceil(until));
    }
    if let Some(after) = after {
        q.push(" AND (at, seq) < (")
            .push_bind(ms(after.at))
            .push(", ")
            .push_bind(seq_value(after.seq)?)
            .push(")");
    }
    q.push(" ORDER BY at DESC, seq DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    let rows: Vec<LinkRow> = q.build_query_as().fetch_all(ex).await.map_err(db_error)?;
    let links = convert::<_, ChainedEvent>(rows)?;
    Ok(AuditPage::from_links(links, limit))
}

/// The last link, and how many rows have no place in the chain.
pub(super) async fn chain_state(pool: &SqlitePool) -> Result<ChainState, StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let head = last_link(&mut *tx).await?;
    let unchained: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE seq IS NULL")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(ChainState {
        head,
        unchained: u64::try_from(unchained).unwrap_or(0),
    })
}

/// Up to `limit` links after position `after`, in chain order.
pub(super) async fn links<'c>(
    ex: impl SqliteExecutor<'c>,
    after: u64,
    limit: u32,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let rows: Vec<LinkRow> = sqlx::query_as(&format!(
        "SELECT {LINK_COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?"
    ))
    .bind(seq_value(after)?)
    .bind(i64::from(limit))
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    convert(rows)
}

/// Every column, chain included, in id order after `after` (`migrate-data`).
pub(super) async fn export<'c>(
    ex: impl SqliteExecutor<'c>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let rows: Vec<LinkRow> = sqlx::query_as(&format!(
        "SELECT {LINK_COLUMNS} FROM audit_events WHERE id > ? ORDER BY id LIMIT ?"
    ))
    // Every uuid's text sorts after the empty string.
    .bind(after.map(text).unwrap_or_default())
    .bind(i64::from(limit))
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    convert(rows)
}
