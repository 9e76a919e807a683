//! The PostgreSQL engine: [`PostgresStore`], its pool, and the `Store` impl.
//!
//! Several instances may share one database and start at the same moment on
//! an empty one, so every cross-instance race is settled by PostgreSQL
//! itself, never by anything in this process:
//!
//! - migrations: sqlx's migrator holds a session advisory lock while it
//!   checks and applies them; the others wait, then find nothing to do;
//! - `rotate_refresh`: the token and session rows are read `FOR UPDATE`, so
//!   a second presentation waits for the first's commit and sees its effect;
//! - signing keys: one transaction-scoped advisory lock (see `keys`);
//! - `revoke_sessions`: the sessions are locked before they are revoked;
//! - the audit chain: audit rows are written without their links, in the
//!   transaction of their change; one transaction-scoped advisory lock
//!   serialises the passes that link them after the commit (see `chainer`).
//!
//! Write transactions run at READ COMMITTED (named explicitly, whatever the
//! database default): each statement after a lock wait reads what the
//! previous holder committed. Every connection of the pool carries a
//! `statement_timeout`, so a stuck lock or an overloaded server turns into
//! `StoreError::Unavailable` instead of a request that hangs.
//!
//! The SQL itself lives in one file per table: `users`, `sessions` (with
//! refresh tokens), `keys`, `audit`, plus `transfer` (whole-database copy);
//! `rows` converts columns to records and `error` maps PostgreSQL errors to
//! `StoreError`.

mod audit;
mod chainer;
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
use doorward_core::audit_chain::{ChainState, ChainedEvent};
use doorward_core::store::{
    AccountTokenKind, AccountTokenRecord, AuditEvent, AuditRecord, KeyRecord, MailBudget,
    NewAccountToken, NewSession, RefreshDecision, RefreshOutcome, RefreshState, RevokeScope,
    RevokedSession, SessionRecord, Store, StoreError, TokenHash, TokenUse, UserPatch, UserRecord,
};
use doorward_core::transfer::{Batch, Cursor, RowCounts};
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit_log::Appended;
use crate::ConnectOptions;
pub(crate) use chainer::Chainer;
use error::db_error;

/// How long one statement may run (lock waits included) before PostgreSQL
/// cancels it. Every store call is a handful of indexed statements; one that
/// takes this long is stuck. A URL that sets `statement_timeout` in its
/// `options` parameter keeps its own value.
const STATEMENT_TIMEOUT: &str = "5s";
/// How long the first connection may take (a host that drops packets would
/// otherwise hold the start for the operating system's TCP timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Shown in `pg_stat_activity` unless the URL names another.
const APPLICATION_NAME: &str = "doorward";
/// Every write transaction starts with this (see the module docs).
const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A PostgreSQL database, shared by every instance that names it.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// Links committed audit rows into the chain (see `chainer`).
    chainer: Chainer,
}

impl PostgresStore {
    /// Connects to the database named by `url` (`postgres://` or
    /// `postgresql://`, parameters as libpq and sqlx accept them) and
    /// migrates it when `opts.migrate`. The database must exist. Fails at
    /// once with `Unavailable` when the server cannot be reached.
    pub async fn open(url: &str, opts: &ConnectOptions) -> Result<PostgresStore, StoreError> {
        let base = connect_options(url)?;

        // Fail at once, with the server's own words, when it is not there
        // (a pool would retry until its acquire timeout and then only say
        // "timed out").
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&base))
            .await
            .map_err(|_| StoreError::Unavailable("timed out connecting to PostgreSQL".to_owned()))?
            .map_err(db_error)?;
        // Closing only says goodbye to the server; its failure changes nothing.
        let _ = probe.close().await;

        if opts.migrate {
            // A connection of its own, without the statement timeout: a
            // migration may legitimately wait for another instance's, or take
            // long on a big table. (A one-connection pool rather than the
            // probe: `Migrator::run` on a bare connection makes this future
            // not `Send`, sqlx's "`Acquire` is not general enough".)
            let setup = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_lazy_with(base.clone());
            let migrated = match MIGRATOR.run(&setup).await.map_err(migrate_error) {
                // Rows written before the audit chain existed join it now.
                Ok(()) => audit::chain_unchained(&setup).await.map(|_| ()),
                Err(e) => Err(e),
            };
            setup.close().await;
            migrated?;
        }

        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(with_statement_timeout(base));
        let chainer = Chainer::start(pool.clone());
        Ok(PostgresStore { pool, chainer })
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction. Dropping it without `commit` (an error,
    /// an early return) rolls it back before the connection is reused.
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin_with(BEGIN).await.map_err(db_error)
    }
}

/// Parses `url`. The error never repeats the URL: it may carry a password.
fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(url.trim())
        .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
    Ok(match options.get_application_name() {
        Some(_) => options,
        None => options.application_name(APPLICATION_NAME),
    })
}

fn with_statement_timeout(options: PgConnectOptions) -> PgConnectOptions {
    let set_by_url = options
        .get_options()
        .is_some_and(|o| o.contains("statement_timeout"));
    if set_by_url {
        options
    } else {
        options.options([("statement_timeout", STATEMENT_TIMEOUT)])
    }
}

fn migrate_error(err: MigrateError) -> StoreError {
    match err {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => match db_error(e) {
            StoreError::Unavailable(m) => StoreError::Unavailable(m),
            other => StoreError::Other(format!("migration failed: {other}")),
        },
        other => StoreError::Other(format!("migration failed: {other}")),
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
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
        let mut tx = self.begin().await?;
        users::insert(&mut tx, user).await?;
        if let Some(session) = session {
            sessions::insert(&mut tx, session).await?;
        }
        let appended = audit::insert(&mut tx, &self.chainer, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(())
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        users::by_id(&self.pool, id).await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        users::by_email(&self.pool, email).await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        users::by_username(&self.pool, username).await
    }

    async fn upgrade_password_hash(
        &self,
        user_id: Uuid,
        old_hash: &str,
        new_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // One statement: atomic on its own, no explicit transaction needed.
        users::replace_password_hash(&self.pool, user_id, old_hash, new_hash, now).await
    }

    async fn start_session(
        &self,
        session: &NewSession,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sessions::insert(&mut tx, session).await?;
        let appended = audit::insert(&mut tx, &self.chainer, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(())
    }

    async fn record_event(&self, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let appended = audit::insert(&mut tx, &self.chainer, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        presented: &TokenHash,
        decide: &(dyn for<'s> Fn(&'s RefreshState) -> RefreshDecision + Send + Sync),
    ) -> Result<RefreshOutcome, StoreError> {
        // The row locks are held from the read to the commit: a concurrent
        // call with the same hash, from this process or another, waits in
        // `refresh_state_for_update` and then sees this one's effect.
        let mut tx = self.begin().await?;
        let Some(state) = sessions::refresh_state_for_update(&mut tx, presented).await? else {
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
                sessions::rotate(
                    &mut tx,
                    presented,
                    &state.session,
                    new_hash,
                    *now,
                    *new_expires_at,
                    audit,
                )
                .await?;
                audit::written(std::slice::from_ref(audit), &self.chainer)
            }
            RefreshDecision::RevokeSession { now, audit } => {
                sessions::revoke(&mut tx, &[state.session.id], *now).await?;
                audit::insert(&mut tx, &self.chainer, audit).await?
            }
            RefreshDecision::Refuse => Appended::default(),
        };
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(RefreshOutcome::Decided {
            state: Box::new(state),
            decision,
        })
    }

    async fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        sessions::by_id(&self.pool, id).await
    }

    async fn active_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        sessions::active(&self.pool, user_id, now).await
    }

    async fn revoke_sessions(
        &self,
        user_id: Uuid,
        scope: RevokeScope,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut tx = self.begin().await?;
        let ids = sessions::lock_active_in_scope(&mut tx, user_id, scope, now).await?;
        if ids.is_empty() {
            return Ok(ids);
        }
        sessions::revoke(&mut tx, &ids, now).await?;
        let rows: Vec<AuditEvent> = ids
            .iter()
            .map(|&id| AuditEvent {
                id: Uuid::now_v7(),
                session_id: Some(id),
                ..audit.clone()
            })
            .collect();
        let appended = audit::append(&mut tx, &self.chainer, &rows).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(ids)
    }

    async fn revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        sessions::revoked_since(&self.pool, since).await
    }

    async fn signing_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        keys::all(&self.pool).await
    }

    async fn activate_signing_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        keys::lock(&mut tx).await?;
        keys::retire_all(&mut tx, key.activated_at).await?;
        keys::insert(&mut tx, key).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn insert_first_signing_key(&self, key: &KeyRecord) -> Result<bool, StoreError> {
        // Under the lock, "the table is empty" cannot change between the
        // check and the insert: a second instance waits for this commit,
        // then finds this key and inserts nothing.
        let mut tx = self.begin().await?;
        keys::lock(&mut tx).await?;
        let inserted = keys::insert_if_none(&mut tx, key).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(inserted)
    }

    async fn recent_audit(
        &self,
        user_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        audit::recent(&self.pool, user_id, limit).await
    }

    async fn row_counts(&self) -> Result<RowCounts, StoreError> {
        transfer::row_counts(&self.pool).await
    }

    async fn export_batch(&self, from: &Cursor, limit: u32) -> Result<Batch, StoreError> {
        transfer::export(&self.pool, from, limit).await
    }

    async fn import_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
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
        let appended = audit::append(
            &mut tx,
            &self.chainer,
            audit.map(std::slice::from_ref).unwrap_or_default(),
        )
        .await?;
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
        lifecycle::tokens_since(&self.pool, user_id, kind, since).await
    }

    async fn account_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<AccountTokenRecord>, StoreError> {
        lifecycle::token(&self.pool, hash).await
    }

    async fn use_account_token(
        &self,
        hash: &TokenHash,
        kind: AccountTokenKind,
        now: OffsetDateTime,
        apply: &TokenUse,
        audit: &AuditEvent,
    ) -> Result<Option<(UserRecord, Vec<Uuid>)>, StoreError> {
        let mut tx = self.begin().await?;
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
        let appended = audit::insert(&mut tx, &self.chainer, audit).await?;
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
        let mut tx = self.begin().await?;
        if !users::replace_password_hash(&mut *tx, user_id, old_hash, new_hash, now).await? {
            return Ok(None);
        }
        let revoked = lifecycle::revoke_all(&mut tx, user_id, Some(keep), now).await?;
        let appended = audit::insert(&mut tx, &self.chainer, audit).await?;
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
        lifecycle::list_users(&self.pool, query, after, limit).await
    }

    async fn update_user(
        &self,
        user_id: Uuid,
        patch: &UserPatch,
        revoke: bool,
        now: OffsetDateTime,
        audit: &[AuditEvent],
    ) -> Result<(UserRecord, Vec<Uuid>), StoreError> {
        let mut tx = self.begin().await?;
        lifecycle::patch_user(&mut tx, user_id, patch, now).await?;
        let revoked = if revoke {
            lifecycle::revoke_all(&mut tx, user_id, None, now).await?
        } else {
            Vec::new()
        };
        let appended = audit::append(&mut tx, &self.chainer, audit).await?;
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
        let mut tx = self.begin().await?;
        let revoked = lifecycle::delete_user(&mut tx, user_id, now).await?;
        let appended = audit::insert(&mut tx, &self.chainer, audit).await?;
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
        // Every committed row is linked first, so the listing shows it.
        audit::chain_unchained(&self.pool).await?;
        audit::page(&self.pool, filter, after, limit).await
    }

    async fn audit_chain_state(&self) -> Result<ChainState, StoreError> {
        audit::chain_state(&self.pool).await
    }

    async fn audit_chain(&self, after: u64, limit: u32) -> Result<Vec<ChainedEvent>, StoreError> {
        if after == 0 {
            audit::chain_unchained(&self.pool).await?;
        }
        audit::links(&self.pool, after, limit).await
    }

    // Login throttling (issue 4)

    async fn throttle_state(
        &self,
        keys: &[doorward_core::throttle::ThrottleKey],
    ) -> Result<Vec<doorward_core::throttle::ThrottleRecord>, StoreError> {
        throttle::state(&self.pool, keys).await
    }

    async fn record_login_failure(
        &self,
        keys: &[doorward_core::throttle::ThrottleKey],
        policy: &doorward_core::throttle::ThrottlePolicy,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<doorward_core::throttle::ThrottleRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let mut counted = Vec::with_capacity(keys.len());
        for name in throttle::sorted(keys) {
            let Some(key) = keys.iter().find(|k| k.as_str() == name) else {
                continue;
            };
            let mut record =
                throttle::count_failure(&mut tx, name, now, policy.stale_before(now)).await?;
            if let Some(until) = policy.blocked_until(key.kind(), record.failures, now) {
                record = throttle::block(&mut tx, name, until).await?;
            }
            counted.push(record);
        }
        let appended = audit::insert(&mut tx, &self.chainer, audit).await?;
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(keys
            .iter()
            .filter_map(|k| counted.iter().find(|r| r.key == k.as_str()).cloned())
            .collect())
    }

    async fn record_throttled(
        &self,
        keys: &[String],
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let mut fresh = false;
        for key in throttle::sorted(keys) {
            fresh |= throttle::note_audited(&mut tx, key, now).await?;
        }
        let appended = if fresh {
            audit::insert(&mut tx, &self.chainer, audit).await?
        } else {
            Default::default()
        };
        tx.commit().await.map_err(db_error)?;
        appended.committed();
        Ok(fresh)
    }

    async fn clear_throttle(&self, key: &str) -> Result<(), StoreError> {
        throttle::clear(&self.pool, key).await
    }

    async fn prune_throttle(&self, stale_before: OffsetDateTime) -> Result<u64, StoreError> {
        throttle::prune(&self.pool, stale_before).await
    }

    async fn recent_login_ips(
        &self,
        user_id: Uuid,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        throttle::recent_login_ips(&self.pool, user_id, since, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_statement_timeout_unless_they_set_one() {
        let plain = with_statement_timeout(connect_options("postgres://u@h/db").unwrap());
        assert_eq!(plain.get_options(), Some("-c statement_timeout=5s"));
        assert_eq!(plain.get_application_name(), Some("doorward"));

        let own = connect_options(
            "postgresql://u@h/db?options=-c%20statement_timeout%3D1min&application_name=x",
        )
        .unwrap();
        let own = with_statement_timeout(own);
        assert_eq!(own.get_options(), Some("-c statement_timeout=1min"));
        assert_eq!(own.get_application_name(), Some("x"));
    }

    #[test]
    fn invalid_urls_do_not_echo_the_password() {
        let StoreError::Other(msg) =
            connect_options("postgres://u:hunter2@h:99999/db").unwrap_err()
        else {
            panic!("expected Other");
        };
        assert!(msg.contains("invalid PostgreSQL URL"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
