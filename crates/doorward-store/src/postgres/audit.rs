//! SQL for `audit_events`: write rows, link them into the hash chain after
//! their commit, list and page the log, read the chain back.
//!
//! A transaction writes its audit rows without a place in the chain (`seq`
//! NULL): it takes no lock for them. `chain_unchained` (run by
//! `chainer`, by every reader of the chain and at start) links every row
//! committed so far, in one transaction under one advisory lock shared by
//! every instance: two passes can never both follow the same link.

use std::sync::LazyLock;

use doorward_core::audit::{AuditCursor, AuditFilter, AuditPage};
use doorward_core::audit_chain::{self, ChainHash, ChainHead, ChainState, ChainedEvent};
use doorward_core::store::{AuditEvent, AuditRecord, StoreError};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use super::chainer::Chainer;
use super::error::db_error;
use super::rows::{ms, AuditRow};
use crate::audit_log::Appended;

/// The advisory lock id guarding the end of the audit chain ("dw-audit" in
/// ASCII; the signing-keys lock is "doorward").
const AUDIT_CHAIN_LOCK: i64 = i64::from_be_bytes(*b"dw-audit");

const COLUMNS: &str = "id, at, type, actor_id, user_id, session_id, ip, user_agent, outcome";
/// `COLUMNS` with the chain's.
const LINK_COLUMNS: &str =
    "seq, prev_hash, hash, id, at, type, actor_id, user_id, session_id, ip, user_agent, outcome";
/// Rows chained per statement round when an older version's rows are chained.
const CHAIN_PAGE: i64 = 500;

/// Waits for, then holds until the transaction ends, the audit-chain lock.
/// Its own statement, before the ones it guards: under READ COMMITTED the
/// next statement reads what the previous holder committed.
async fn lock(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_CHAIN_LOCK)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The statement that writes one event without its link, its parameters
/// numbered from `$first` (so it can be a part of a bigger statement); they
/// are bound by [`bind_event`].
pub(super) fn insert_event_sql(first: usize) -> String {
    let params: Vec<String> = (first..first + 9).map(|n| format!("${n}")).collect();
    format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES ({})",
        params.join(", ")
    )
}

/// Binds `event`'s values to the next nine parameters (see [`insert_event_sql`]).
pub(super) fn bind_event<'q>(
    query: Query<'q, Postgres, PgArguments>,
    event: &'q AuditEvent,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(event.id)
        .bind(ms(event.at))
        .bind(event.kind.as_str())
        .bind(event.actor_id)
        .bind(event.user_id)
        .bind(event.session_id)
        .bind(&event.ip)
        .bind(&event.user_agent)
        .bind(&event.outcome)
}

/// `events`, written by the caller's transaction: `.committed()` after the
/// commit logs them and has `chainer` link them.
pub(super) fn written(events: &[AuditEvent], chainer: &Chainer) -> Appended {
    if events.is_empty() {
        return Appended::default();
    }
    Appended::unlinked(events.to_vec(), chainer.clone())
}

/// Writes `events` inside the caller's transaction, without their links:
/// `.committed()` after the commit logs them and has `chainer` link them.
pub(super) async fn append(
    conn: &mut PgConnection,
    chainer: &Chainer,
    events: &[AuditEvent],
) -> Result<Appended, StoreError> {
    static INSERT_EVENT: LazyLock<String> = LazyLock::new(|| insert_event_sql(1));
    for event in events {
        bind_event(sqlx::query(&INSERT_EVENT), event)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(written(events, chainer))
}

/// Writes one event (see [`append`]).
pub(super) async fn insert(
    conn: &mut PgConnection,
    chainer: &Chainer,
    event: &AuditEvent,
) -> Result<Appended, StoreError> {
    append(conn, chainer, std::slice::from_ref(event)).await
}

/// Inserts `link` exactly as given.
async fn insert_link(conn: &mut PgConnection, link: &ChainedEvent) -> Result<(), StoreError> {
    // LINK_COLUMNS: the chain's three, then the event's (bound by `bind_event`).
    let sql = format!(
        "INSERT INTO audit_events ({LINK_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    let query = sqlx::query(&sql)
        .bind(seq_value(link.seq)?)
        .bind(link.prev_hash.as_slice())
        .bind(link.hash.as_slice());
    bind_event(query, &link.event)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Copies links exactly as exported (`migrate-data`), under the lock like
/// any append. Nothing new is recorded, so nothing is logged.
pub(super) async fn import_links(
    conn: &mut PgConnection,
    links: &[ChainedEvent],
) -> Result<(), StoreError> {
    lock(&mut *conn).await?;
    for link in links {
        insert_link(&mut *conn, link).await?;
    }
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

async fn last_link<'c>(ex: impl PgExecutor<'c>) -> Result<Option<ChainHead>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(ex)
    .await
    .map_err(db_error)?;
    row.map(|(seq, hash)| {
        Ok(ChainHead {
            seq: u64::try_from(seq).map_err(|_| malformed("seq"))?,
            hash: hash_of(&hash, "hash")?,
        })
    })
    .transpose()
}

/// Gives every committed row without a place in the chain one, after the
/// last link, in `at`, id order: one transaction under the lock, a page per
/// statement. Returns the last link after the pass. A second pass waiting
/// for the lock then finds only what was committed since.
pub(super) async fn chain_unchained(pool: &PgPool) -> Result<Option<ChainHead>, StoreError> {
    let mut tx = pool.begin_with(super::BEGIN).await.map_err(db_error)?;
    lock(&mut tx).await?;
    let mut head = last_link(&mut *tx).await?;
    let mut chained = 0u64;
    loop {
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE seq IS NULL ORDER BY at, id LIMIT $1"
        ))
        .bind(CHAIN_PAGE)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        if rows.is_empty() {
            break;
        }
        let last_page = rows.len() < CHAIN_PAGE as usize;
        let mut seqs = Vec::with_capacity(rows.len());
        let mut prev_hashes = Vec::with_capacity(rows.len());
        let mut hashes = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for row in rows {
            let event = AuditEvent::try_from(row)?;
            let link = audit_chain::next_link(head, &event);
            seqs.push(seq_value(link.seq)?);
            prev_hashes.push(link.prev_hash.to_vec());
            hashes.push(link.hash.to_vec());
            ids.push(event.id);
            head = Some(link.head());
        }
        chained += ids.len() as u64;
        sqlx::query(
            "UPDATE audit_events AS a SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash \
             FROM UNNEST($1::bigint[], $2::bytea[], $3::bytea[], $4::uuid[]) \
                  AS v(seq, prev_hash, hash, id) \
             WHERE a.id = v.id",
        )
        // Planned for each pass with its own arrays: a plan kept from when
        // the table was small joins by scanning all of it, every pass.
        .persistent(false)
        .bind(seqs)
        .bind(prev_hashes)
        .bind(hashes)
        .bind(ids)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if last_page {
            break;
        }
    }
    tx.commit().await.map_err(db_error)?;
    if chained > 0 {
        tracing::debug!(chained, "audit events linked into the hash chain");
    }
    Ok(head)
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

/// Stored times are whole milliseconds: a bound rounded up to the next one
/// selects exactly the same rows as the precise bound.
fn bound(t: OffsetDateTime) -> Result<OffsetDateTime, StoreError> {
    audit_chain::from_millis(audit_chain::millis_ceil(t))
        .ok_or_else(|| StoreError::Other("time bound out of range".into()))
}

fn into_links(rows: Vec<LinkRow>) -> Result<Vec<ChainedEvent>, StoreError> {
    rows.into_iter().map(ChainedEvent::try_from).collect()
}

/// A page of the listing: newest first by (`at`, `seq`), after `after`.
pub(super) async fn page<'c>(
    ex: impl PgExecutor<'c>,
    filter: &AuditFilter,
    after: Option<AuditCursor>,
    limit: u32,
) -> Result<AuditPage, StoreError> {
    let limit = limit.max(1);
    let mut q = QueryBuilder::<Postgres>::new(format!(
        "SELECT {LINK_COLUMNS} FROM audit_events WHERE seq IS NOT NULL"
    ));
    if let Some(user_id) = filter.user_id {
        q.push(" AND user_id = ").push_bind(user_id);
    }
    if let Some(kind) = filter.kind {
        q.push(" AND type = ").push_bind(kind.as_str());
    }
    if let Some(since) = filter.since {
        q.push(" AND at >= ").push_bind(bound(since)?);
    }
    if let Some(until) = filter.until {
        q.push(" AND at < ").push_bind(bound(until)?);
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
    Ok(AuditPage::from_links(into_links(rows)?, limit))
}

/// The last link after a chain pass: every row committed before the pass's
/// last read is linked by then, so none is counted as outside the chain
/// (rows committed later are simply after this state).
pub(super) async fn chain_state(pool: &PgPool) -> Result<ChainState, StoreError> {
    let head = chain_unchained(pool).await?;
    Ok(ChainState { head, unchained: 0 })
}

/// Up to `limit` links after position `after`, in chain order.
pub(super) async fn links<'c>(
    ex: impl PgExecutor<'c>,
    after: u64,
    limit: u32,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let rows: Vec<LinkRow> = sqlx::query_as(&format!(
        "SELECT {LINK_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"
    ))
    .bind(seq_value(after)?)
    .bind(i64::from(limit))
    .fetch_all(ex)
    .await
    .map_err(db_error)?;
    into_links(rows)
}

/// Every column, chain included, in id order after `after` (`migrate-data`).
pub(super) async fn export<'c>(
    ex: impl PgExecutor<'c>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let sql = match after {
        Some(_) => {
            format!("SELECT {LINK_COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2")
        }
        None => format!("SELECT {LINK_COLUMNS} FROM audit_events ORDER BY id LIMIT $1"),
    };
    let query = sqlx::query_as(&sql);
    let query = match after {
        Some(after) => query.bind(after),
        None => query,
    };
    let rows: Vec<LinkRow> = query
        .bind(i64::from(limit))
        .fetch_all(ex)
        .await
        .map_err(db_error)?;
    into_links(rows)
}
