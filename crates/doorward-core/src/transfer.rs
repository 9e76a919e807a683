//! Copying one database into another, engine to engine (`doorward
//! migrate-data`): every table in foreign-key order, in pages of bounded
//! size (memory stays flat however big the database), each page one
//! transaction in the target, and the row counts of both sides checked at
//! the end.
//!
//! Rows travel exactly as stored: password hashes, refresh-token hashes,
//! private signing keys in their `KeyVault` framing, and audit events with
//! their place in the hash chain (so the copy verifies on the target). Keys are never
//! decrypted here, so servers on the target need the same
//! `keys.encryption_key` as the source had.
//!
//! The copy is not one snapshot of the source: a server writing to it
//! meanwhile makes the copy fail (a session whose user was not copied yet) or
//! the final count check fail. Either way the operator learns it, stops the
//! servers and copies again into an empty database.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit_chain::ChainedEvent;
use crate::store::{KeyRecord, SessionRecord, Store, StoreError, TokenHash, UserRecord};

/// The tables a copy moves, in the order it moves them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Users,
    Sessions,
    RefreshTokens,
    SigningKeys,
    AuditEvents,
}

impl Table {
    /// Foreign-key order: a row's parent is always copied before it.
    pub const ALL: [Table; 5] = [
        Table::Users,
        Table::Sessions,
        Table::RefreshTokens,
        Table::SigningKeys,
        Table::AuditEvents,
    ];

    /// What an operator reads in progress lines and the summary.
    pub fn label(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Sessions => "sessions",
            Table::RefreshTokens => "refresh tokens",
            Table::SigningKeys => "keys",
            Table::AuditEvents => "audit events",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A stored refresh token: its hash, never the token.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub hash: TokenHash,
    pub session_id: Uuid,
    pub created_at: OffsetDateTime,
    /// When it was exchanged for its successor; `None` while it is the live one.
    pub rotated_at: Option<OffsetDateTime>,
}

/// Without the hash: no log line or error should carry one.
impl fmt::Debug for RefreshTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenRecord")
            .field("session_id", &self.session_id)
            .field("created_at", &self.created_at)
            .field("rotated_at", &self.rotated_at)
            .finish_non_exhaustive()
    }
}

/// Where an export page starts: after the primary key of the previous
/// page's last row (`None`: at the first row). One variant per table, so a
/// cursor cannot name the wrong kind of key.
///
/// Pages are in ascending key order: uuids in byte order (PostgreSQL's UUID
/// order; SQLite's hyphenated lower-case text sorts the same), hashes in byte
/// order, kids in the engine's text order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    Users(Option<Uuid>),
    Sessions(Option<Uuid>),
    RefreshTokens(Option<TokenHash>),
    SigningKeys(Option<String>),
    AuditEvents(Option<Uuid>),
}

impl Cursor {
    /// The first page of `table`.
    pub fn start(table: Table) -> Cursor {
        match table {
            Table::Users => Cursor::Users(None),
            Table::Sessions => Cursor::Sessions(None),
            Table::RefreshTokens => Cursor::RefreshTokens(None),
            Table::SigningKeys => Cursor::SigningKeys(None),
            Table::AuditEvents => Cursor::AuditEvents(None),
        }
    }
}

/// One page of full rows of one table, as an engine exports and imports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Batch {
    Users(Vec<UserRecord>),
    Sessions(Vec<SessionRecord>),
    RefreshTokens(Vec<RefreshTokenRecord>),
    SigningKeys(Vec<KeyRecord>),
    /// With their chain columns, so the copied chain verifies on the target.
    AuditEvents(Vec<ChainedEvent>),
}

impl Batch {
    pub fn table(&self) -> Table {
        match self {
            Batch::Users(_) => Table::Users,
            Batch::Sessions(_) => Table::Sessions,
            Batch::RefreshTokens(_) => Table::RefreshTokens,
            Batch::SigningKeys(_) => Table::SigningKeys,
            Batch::AuditEvents(_) => Table::AuditEvents,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Batch::Users(rows) => rows.len(),
            Batch::Sessions(rows) => rows.len(),
            Batch::RefreshTokens(rows) => rows.len(),
            Batch::SigningKeys(rows) => rows.len(),
            Batch::AuditEvents(rows) => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the next page starts: after this page's last row. `None` for an
    /// empty page (the table has no more rows).
    pub fn next_cursor(&self) -> Option<Cursor> {
        match self {
            Batch::Users(rows) => rows.last().map(|r| Cursor::Users(Some(r.id))),
            Batch::Sessions(rows) => rows.last().map(|r| Cursor::Sessions(Some(r.id))),
            Batch::RefreshTokens(rows) => rows.last().map(|r| Cursor::RefreshTokens(Some(r.hash))),
            Batch::SigningKeys(rows) => rows
                .last()
                .map(|r| Cursor::SigningKeys(Some(r.kid.clone()))),
            Batch::AuditEvents(rows) => rows.last().map(|r| Cursor::AuditEvents(Some(r.event.id))),
        }
    }
}

/// How many rows each table holds (or a copy moved).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub users: u64,
    pub sessions: u64,
    pub refresh_tokens: u64,
    pub signing_keys: u64,
    pub audit_events: u64,
}

impl RowCounts {
    pub fn get(&self, table: Table) -> u64 {
        match table {
            Table::Users => self.users,
            Table::Sessions => self.sessions,
            Table::RefreshTokens => self.refresh_tokens,
            Table::SigningKeys => self.signing_keys,
            Table::AuditEvents => self.audit_events,
        }
    }

    fn slot(&mut self, table: Table) -> &mut u64 {
        match table {
            Table::Users => &mut self.users,
            Table::Sessions => &mut self.sessions,
            Table::RefreshTokens => &mut self.refresh_tokens,
            Table::SigningKeys => &mut self.signing_keys,
            Table::AuditEvents => &mut self.audit_events,
        }
    }

    /// No row in any table.
    pub fn is_empty(&self) -> bool {
        Table::ALL.iter().all(|&t| self.get(t) == 0)
    }
}

/// "3 users, 4 sessions, 5 refresh tokens, 2 keys, 9 audit events".
impl fmt::Display for RowCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, table) in Table::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {table}", self.get(*table))?;
        }
        Ok(())
    }
}

/// Why a copy stopped. Rows already imported stay in the target; it is no
/// longer empty, so a retry needs a fresh one.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("the target database is not empty (it holds {0}); migrate-data only copies into an empty database")]
    TargetNotEmpty(RowCounts),
    #[error("reading {table} from the source: {error}")]
    Export { table: Table, error: StoreError },
    #[error(
        "writing {table} to the target: {error} (was a server writing to either database meanwhile?)"
    )]
    Import { table: Table, error: StoreError },
    #[error("counting rows in the {side} database: {error}")]
    Count {
        side: &'static str,
        error: StoreError,
    },
    #[error(
        "{table}: copied {copied}, but the source now holds {source_rows} and the target {target_rows}; \
         stop every server on both databases and copy again into an empty database"
    )]
    CountMismatch {
        table: Table,
        copied: u64,
        source_rows: u64,
        target_rows: u64,
    },
}

/// Copies every row of `from` into the empty `to`, `page_size` rows per
/// page and transaction, calling `progress(table, copied so far)` after each
/// page (and once with 0 for an empty table). Returns what was copied, after
/// checking that both databases now hold exactly that.
pub async fn copy(
    from: &dyn Store,
    to: &dyn Store,
    page_size: u32,
    progress: &mut (dyn FnMut(Table, u64) + Send),
) -> Result<RowCounts, TransferError> {
    let existing = to
        .row_counts()
        .await
        .map_err(|error| TransferError::Count {
            side: "target",
            error,
        })?;
    if !existing.is_empty() {
        return Err(TransferError::TargetNotEmpty(existing));
    }

    let page_size = page_size.max(1);
    let mut copied = RowCounts::default();
    for table in Table::ALL {
        let mut cursor = Cursor::start(table);
        loop {
            let batch = from
                .export_batch(&cursor, page_size)
                .await
                .map_err(|error| TransferError::Export { table, error })?;
            let Some(next) = batch.next_cursor() else {
                break;
            };
            to.import_batch(&batch)
                .await
                .map_err(|error| TransferError::Import { table, error })?;
            let total = copied.slot(table);
            *total += batch.len() as u64;
            progress(table, *total);
            if batch.len() < page_size as usize {
                break;
            }
            cursor = next;
        }
        if copied.get(table) == 0 {
            progress(table, 0);
        }
    }

    let count = |side, result: Result<RowCounts, StoreError>| {
        result.map_err(|error| TransferError::Count { side, error })
    };
    let source = count("source", from.row_counts().await)?;
    let target = count("target", to.row_counts().await)?;
    for table in Table::ALL {
        let (c, s, t) = (copied.get(table), source.get(table), target.get(table));
        if c != s || c != t {
            return Err(TransferError::CountMismatch {
                table,
                copied: c,
                source_rows: s,
                target_rows: t,
            });
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_like_the_summary_line() {
        let counts = RowCounts {
            users: 3,
            sessions: 4,
            refresh_tokens: 5,
            signing_keys: 2,
            audit_events: 9,
        };
        assert_eq!(
            counts.to_string(),
            "3 users, 4 sessions, 5 refresh tokens, 2 keys, 9 audit events"
        );
        assert!(!counts.is_empty());
        assert!(RowCounts::default().is_empty());
    }

    #[test]
    fn cursors_follow_the_last_row_of_a_page() {
        assert_eq!(Batch::Users(Vec::new()).next_cursor(), None);
        let hash = [7u8; 32];
        let tokens = Batch::RefreshTokens(vec![RefreshTokenRecord {
            hash,
            session_id: Uuid::nil(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            rotated_at: None,
        }]);
        assert_eq!(
            tokens.next_cursor(),
            Some(Cursor::RefreshTokens(Some(hash)))
        );
        assert_eq!(tokens.table(), Table::RefreshTokens);
        assert!(!format!("{tokens:?}").contains("[7, 7"), "no hash in Debug");
        for table in Table::ALL {
            let start = Cursor::start(table);
            assert!(matches!(
                (table, start),
                (Table::Users, Cursor::Users(None))
                    | (Table::Sessions, Cursor::Sessions(None))
                    | (Table::RefreshTokens, Cursor::RefreshTokens(None))
                    | (Table::SigningKeys, Cursor::SigningKeys(None))
                    | (Table::AuditEvents, Cursor::AuditEvents(None))
            ));
        }
    }
}
