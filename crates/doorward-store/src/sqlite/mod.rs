//! The SQLite engine: [`SqliteStore`], its pools, and the `Store` impl.
//!
//! Writes go through a pool of exactly one connection and every write
//! transaction starts with `BEGIN IMMEDIATE`: the one connection serialises
//! writers in this process, and `IMMEDIATE` takes SQLite's write lock up front
//! so another process on the same file (the CLI, a second server) waits on
//! `busy_timeout` instead of failing halfway with `SQLITE_BUSY`. Reads use a
//! separate pool; in WAL mode they never wait for the writer.
//!
//! The SQL itself lives in one file per table: `users`, `sessions` (with
//! refresh tokens), `keys`, `audit`, plus `transfer` (whole-database copy);
//! `rows` converts columns to records and `error` maps SQLite errors to
//! `StoreError`.

mod audit;
mod batched;
mod error;
mod keys;
mod lifecycle;
mod rows;
mod sessions;
mod throttle;
mod transfer;
mod users;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use doorward_core::audit::{AuditCursor, AuditFilter, AuditPage};
use doorward_core::audit_chain::{self, ChainState, ChainedEvent};
use doorward_core::store::{
    AccountTokenKind, AccountTokenRecord, AuditEvent, AuditRecord, KeyRecord, MailBudget,
    NewAccountToken, NewSession, RefreshDecision, RefreshOutcome, RefreshState, RevokeScope,
    RevokedSession, SessionRecord, Store, StoreError, TokenHash, TokenUse, UserPatch, UserRecord,
};
use doorward_core::transfer::{Batch, Cursor, RowCounts};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit_log::Appended;
use crate::ConnectOptions;
use batched::BatchedWrite;
use error::db_error;

/// How long a statement waits for another connection's lock before giving
/// up with `SQLITE_BUSY` (reported as `StoreError::Unavailable`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a pooled connection (the writer is one
/// connection shared by every request).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Instances starting together on a fresh file can all see a migration
/// pending; the losers' attempts fail ("table users already exists") and
/// roll back, and a retry sees the winner's recorded version and does nothing.
const MIGRATE_ATTEMPTS: u32 = 3;

/// Opening a new file while other processes open it too can meet
/// "database is locked" (switching to WAL takes a lock the busy handler
/// does not wait for): try a few times before giving up.
const OPEN_ATTEMPTS: u32 = 5;

async fn busy_retry<T, F, Fut>(mut open: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 1;
    loop {
        match open().await.map_err(db_error) {
            Err(StoreError::Unavailable(e)) if attempt < OPEN_ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "SQLite busy while opening, retrying");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A SQLite database file, opened with one writer connection and a pool of readers.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing, with its parent directory) the SQLite
    /// database named by `url` (`sqlite:PATH` or `sqlite://PATH`, query
    /// parameters as sqlx accepts them) and migrates it when `opts.migrate`.
    pub async fn open(url: &str, opts: &ConnectOptions) -> Result<SqliteStore, StoreError> {
        let rest = strip_scheme(url);
        // sqlx strips the scheme case-sensitively; hand it the canonical form.
        let base = SqliteConnectOptions::from_str(&format!("sqlite:{rest}"))
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let in_memory = is_in_memory(rest);
        if !in_memory {
            create_parent_dir(base.get_filename()).await?;
        }

        // No ping before each use (sqlx's default): a connection to a local
        // file does not go stale, and the ping was one more round trip to
        // the connection's thread per transaction.
        let mut writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if in_memory {
            // The database lives only while its connection does: never recycle it.
            writer = writer
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let writer = busy_retry(|| writer.clone().connect_with(base.clone())).await?;

        // An in-memory database exists once per connection: readers must
        // share the writer's one connection to see its data.
        let reader = if in_memory {
            writer.clone()
        } else {
            let reader = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .test_before_acquire(false)
                .acquire_timeout(ACQUIRE_TIMEOUT);
            // Not `read_only`: such a connection cannot recreate the WAL
            // index after the last connection removed it. `query_only`
            // still refuses writes through the reader pool.
            let options = base.pragma("query_only", "ON");
            busy_retry(|| reader.clone().connect_with(options.clone())).await?
        };

        let store = SqliteStore { writer, reader };
        if opts.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Applies pending migrations (retrying when another process holds the
    /// write lock at the same moment).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut attempt = 1;
        loop {
            match MIGRATOR.run(&self.writer).await {
                // Rows written before the audit chain existed join it now.
                Ok(()) => return audit::chain_unchained(&self.writer).await,
                Err(e) if attempt < MIGRATE_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, "SQLite migration failed, retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(StoreError::Other(format!("migration failed: {e}"))),
            }
        }
    }

    /// Closes both pools, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Starts a write transaction holding SQLite's write lock. Dropping the
    /// returned transaction without `commit` (an error, an early return)
    /// rolls it back before the connection is used again.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }
}

/// What follows `sqlite:` or `sqlite://` (in any case): a path, `:memory:`,
/// and maybe `?query`.
fn strip_scheme(url: &str) -> &str {
    let url = url.trim_start();
    ["sqlite://", "sqlite:"]
        .iter()
        .find_map(|scheme| {
            url.get(..scheme.len())
                .filter(|head| head.eq_ignore_ascii_case(scheme))
                .and_then(|_| url.get(scheme.len()..))
        })
        .unwrap_or(url)
}

/// `:memory:` or `?mode=memory` (after the scheme) name a database that
/// lives only as long as its connection.
fn is_in_memory(rest: &str) -> bool {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory")
}

async fn create_parent_dir(path: &std::path::Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot create database directory: {e}"))),
        _ => Ok(()),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn create_user(
        &self,
        user: &UserRecord,
        session: Option<&NewSession>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        users::insert(&mut tx, user).await?;
        if let Some(session) = session {
            sessions::insert(&mut tx, session).await?;
        }
        let appended = audit::insert(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(())
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        users::by_id(&self.reader, id).await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        users::by_email(&self.reader, email).await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        users::by_username(&self.reader, username).await
    }

    async fn upgrade_password_hash(
        &self,
        user_id: Uuid,
        old_hash: &str,
        new_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // One statement: atomic on its own, no explicit transaction needed.
        users::replace_password_hash(&self.writer, user_id, old_hash, new_hash, now).await
    }

    async fn start_session(
        &self,
        session: &NewSession,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sessions::insert(&mut tx, session).await?;
        let appended = audit::insert(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(())
    }

    async fn record_event(&self, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let appended = audit::insert(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        presented: &TokenHash,
        decide: &(dyn for<'s> Fn(&'s RefreshState) -> RefreshDecision + Send + Sync),
    ) -> Result<RefreshOutcome, StoreError> {
        // The write lock is held from the read to the commit: a concurrent
        // call with the same hash waits here and then sees this one's effect.
        // Two round trips when the token rotates (see `batched`).
        let mut write = BatchedWrite::acquire(&self.writer).await?;
        let Some((state, head)) = sessions::begin_refresh(write.conn()?, presented).await? else {
            write.end("ROLLBACK").await?;
            return Ok(RefreshOutcome::Unknown);
        };
        let decision = decide(&state);
        let appended = match &decision {
            RefreshDecision::Rotate {
                new_hash,
                now,
                new_expires_at,
                audit,
            } => {
                let link = audit_chain::next_link(head, audit);
                sessions::rotate_and_commit(
                    write.conn()?,
                    presented,
                    &state.session,
                    new_hash,
                    *now,
                    *new_expires_at,
                    &link,
                )
                .await?;
                write.ended();
                Appended::new(vec![link])
            }
            RefreshDecision::RevokeSession { now, audit } => {
                sessions::revoke(write.conn()?, state.session.id, *now).await?;
                let link = audit_chain::next_link(head, audit);
                audit::insert_link(write.conn()?, &link).await?;
                write.end("COMMIT").await?;
                Appended::new(vec![link])
            }
            RefreshDecision::Refuse => {
                write.end("ROLLBACK").await?;
                Appended::default()
            }
        };
        appended.committed();
        Ok(RefreshOutcome::Decided {
            state: Box::new(state),
            decision,
        })
    }

    async fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        sessions::by_id(&self.reader, id).await
    }

    async fn active_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        sessions::active(&self.reader, user_id, now).await
    }

    async fn revoke_sessions(
        &self,
        user_id: Uuid,
        scope: RevokeScope,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut tx = self.begin_write().await?;
        let ids = sessions::active_ids_in_scope(&mut tx, user_id, scope, now).await?;
        let mut rows = Vec::with_capacity(ids.len());
        for &id in &ids {
            sessions::revoke(&mut tx, id, now).await?;
            rows.push(AuditEvent {
                id: Uuid::now_v7(),
                session_id: Some(id),
                ..audit.clone()
            });
        }
        let appended = audit::append(&mut tx, &rows).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(ids)
    }

    async fn revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        sessions::revoked_since(&self.reader, since).await
    }

    async fn signing_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        keys::all(&self.reader).await
    }

    async fn activate_signing_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        keys::retire_all(&mut tx, key.activated_at).await?;
        keys::insert(&mut tx, key).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn insert_first_signing_key(&self, key: &KeyRecord) -> Result<bool, StoreError> {
        // The check and the insert are one statement, and BEGIN IMMEDIATE
        // makes a second process wait for this one's commit before it checks.
        let mut tx = self.begin_write().await?;
        let inserted = keys::insert_if_none(&mut tx, key).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(inserted)
    }

    async fn recent_audit(
        &self,
        user_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        audit::recent(&self.reader, user_id, limit).await
    }

    async fn row_counts(&self) -> Result<RowCounts, StoreError> {
        transfer::row_counts(&self.reader).await
    }

    async fn export_batch(&self, from: &Cursor, limit: u32) -> Result<Batch, StoreError> {
        transfer::export(&self.reader, from, limit).await
    }

    async fn import_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        transfer::import(&mut tx, batch).await?;
        tx.commit().await.map_err(db_error)
    }

    // Account tokens and administration (issue 4)

    async fn issue_account_token(
        &self,
        token: &NewAccountToken,
        revoke_sessions: bool,
        budget: Option<MailBudget>,
        audit: Option<&AuditEvent>,
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(budget) = budget {
            if !lifecycle::within_budget(&mut tx, token.user_id, token.kind, budget).await? {
                return Ok(None);
            }
        }
        lifecycle::insert_token(&mut tx, token).await?;
        let revoked = if revoke_sessions {
            lifecycle::revoke_all(&mut tx, token.user_id, None, token.created_at).await?
        } else {
            Vec::new()
        };
        let appended =
            audit::append(&mut tx, audit.map(std::slice::from_ref).unwrap_or_default()).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(Some(revoked))
    }

    async fn account_tokens_since(
        &self,
        user_id: Uuid,
        kind: AccountTokenKind,
        since: OffsetDateTime,
    ) -> Result<Vec<OffsetDateTime>, StoreError> {
        lifecycle::tokens_since(&self.reader, user_id, kind, since).await
    }

    async fn account_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<AccountTokenRecord>, StoreError> {
        lifecycle::token(&self.reader, hash).await
    }

    async fn use_account_token(
        &self,
        hash: &TokenHash,
        kind: AccountTokenKind,
        now: OffsetDateTime,
        apply: &TokenUse,
        audit: &AuditEvent,
    ) -> Result<Option<(UserRecord, Vec<Uuid>)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(user_id) = lifecycle::take_token(&mut tx, hash, kind, now).await? else {
            return Ok(None);
        };
        lifecycle::mark_verified(&mut tx, user_id, now).await?;
        let revoked = match apply {
            TokenUse::VerifyEmail => Vec::new(),
            TokenUse::ResetPassword { new_hash } => {
                lifecycle::reset_password(&mut tx, user_id, new_hash, now).await?;
                lifecycle::revoke_all(&mut tx, user_id, None, now).await?
            }
        };
        let user = users::by_id(&mut *tx, user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let appended = audit::insert(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(Some((user, revoked)))
    }

    async fn change_password(
        &self,
        user_id: Uuid,
        old_hash: &str,
        new_hash: &str,
        keep: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let mut tx = self.begin_write().await?;
        if !users::replace_password_hash(&mut *tx, user_id, old_hash, new_hash, now).await? {
            return Ok(None);
        }
        let revoked = lifecycle::revoke_all(&mut tx, user_id, Some(keep), now).await?;
        let appended = audit::insert(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(Some(revoked))
    }

    async fn list_users(
        &self,
        query: Option<&str>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<UserRecord>, StoreError> {
        lifecycle::list_users(&self.reader, query, after, limit).await
    }

    async fn update_user(
        &self,
        user_id: Uuid,
        patch: &UserPatch,
        revoke: bool,
        now: OffsetDateTime,
        audit: &[AuditEvent],
    ) -> Result<(UserRecord, Vec<Uuid>), StoreError> {
        let mut tx = self.begin_write().await?;
        lifecycle::patch_user(&mut tx, user_id, patch, now).await?;
        let revoked = if revoke {
            lifecycle::revoke_all(&mut tx, user_id, None, now).await?
        } else {
            Vec::new()
        };
        let appended = audit::append(&mut tx, audit).await?;
        let user = users::by_id(&mut *tx, user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok((user, revoked))
    }

    async fn delete_user(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut tx = self.begin_write().await?;
        let revoked = lifecycle::delete_user(&mut tx, user_id, now).await?;
        let appended = audit::insert(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(revoked)
    }

    // Audit chain and queries (issue 4)

    async fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<AuditPage, StoreError> {
        audit::page(&self.reader, filter, after, limit).await
    }

    async fn audit_chain_state(&self) -> Result<ChainState, StoreError> {
        audit::chain_state(&self.reader).await
    }

    async fn audit_chain(&self, after: u64, limit: u32) -> Result<Vec<ChainedEvent>, StoreError> {
        audit::links(&self.reader, after, limit).await
    }

    // Login throttling (issue 4)

    async fn throttle_state(
        &self,
        keys: &[doorward_core::throttle::ThrottleKey],
    ) -> Result<Vec<doorward_core::throttle::ThrottleRecord>, StoreError> {
        throttle::state(&self.reader, keys).await
    }

    async fn record_login_failure(
        &self,
        keys: &[doorward_core::throttle::ThrottleKey],
        policy: &doorward_core::throttle::ThrottlePolicy,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<doorward_core::throttle::ThrottleRecord>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut records = Vec::with_capacity(keys.len());
        for key in keys {
            let mut record =
                throttle::count_failure(&mut tx, key.as_str(), now, policy.stale_before(now))
                    .await?;
            if let Some(until) = policy.blocked_until(key.kind(), record.failures, now) {
                record = throttle::block(&mut tx, key.as_str(), until).await?;
            }
            records.push(record);
        }
        let appended = audit::insert(&mut tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(records)
    }

    async fn record_throttled(
        &self,
        keys: &[String],
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut fresh = false;
        for key in keys {
            fresh |= throttle::note_audited(&mut tx, key, now).await?;
        }
        let appended = if fresh {
            audit::insert(&mut tx, audit).await?
        } else {
            Default::default()
        };
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(fresh)
    }

    async fn clear_throttle(&self, key: &str) -> Result<(), StoreError> {
        throttle::clear(&self.writer, key).await
    }

    async fn prune_throttle(&self, stale_before: OffsetDateTime) -> Result<u64, StoreError> {
        throttle::prune(&self.writer, stale_before).await
    }

    async fn recent_login_ips(
        &self,
        user_id: Uuid,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        throttle::recent_login_ips(&self.reader, user_id, since, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_stripped_in_any_case() {
        assert_eq!(strip_scheme("sqlite:data/d.db"), "data/d.db");
        assert_eq!(strip_scheme("sqlite://data/d.db"), "data/d.db");
        assert_eq!(
            strip_scheme("SQLite:///abs/d.db?mode=rwc"),
            "/abs/d.db?mode=rwc"
        );
        assert_eq!(strip_scheme("sqlite::memory:"), ":memory:");
    }

    #[test]
    fn in_memory_urls_are_recognised() {
        assert!(is_in_memory(strip_scheme("sqlite::memory:")));
        assert!(is_in_memory(strip_scheme("sqlite://:memory:")));
        assert!(is_in_memory(strip_scheme(
            "sqlite://x?cache=shared&mode=memory"
        )));
        assert!(!is_in_memory(strip_scheme("sqlite:memory.db")));
        assert!(!is_in_memory(strip_scheme(
            "sqlite://data/doorward.db?mode=rwc"
        )));
    }
}
