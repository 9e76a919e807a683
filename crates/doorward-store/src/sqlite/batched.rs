//! A write transaction begun and ended by statements of its own batches, so
//! the hottest write (`rotate_refresh`) takes two round trips to the
//! connection's thread instead of four: `BEGIN IMMEDIATE` goes with the
//! first read, `COMMIT` with the last writes (see `sessions`).
//!
//! sqlx's `Transaction` sends `BEGIN` and `COMMIT` as round trips of their
//! own. On two cores every round trip is a wake-up of SQLite's thread and of
//! the waiting task, and the one writer connection is held across all of
//! them: four round trips held it for ~0.55 ms per refresh (1,800/s).
//!
//! What `Transaction` does on an early end is kept: dropping a
//! [`BatchedWrite`] that has not ended (an error, or a caller that went
//! away) rolls the transaction back before the connection can be used again.

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use doorward_core::store::StoreError;

use super::error::db_error;

pub(super) struct BatchedWrite {
    /// `None` once the transaction has ended and the connection is back.
    conn: Option<PoolConnection<Sqlite>>,
}

impl BatchedWrite {
    /// The writer connection, with no transaction yet: the first batch
    /// starts with `BEGIN IMMEDIATE`.
    pub(super) async fn acquire(writer: &SqlitePool) -> Result<BatchedWrite, StoreError> {
        let conn = writer.acquire().await.map_err(db_error)?;
        Ok(BatchedWrite { conn: Some(conn) })
    }

    pub(super) fn conn(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| StoreError::Other("write transaction already ended".to_owned()))
    }

    /// The last batch ended the transaction (its `COMMIT` succeeded): the
    /// connection goes back as it is.
    pub(super) fn ended(mut self) {
        self.conn = None;
    }

    /// Ends the transaction with `statement` (`COMMIT` or `ROLLBACK`).
    pub(super) async fn end(mut self, statement: &'static str) -> Result<(), StoreError> {
        sqlx::query(statement)
            .execute(self.conn()?)
            .await
            .map_err(db_error)?;
        self.ended();
        Ok(())
    }
}

impl Drop for BatchedWrite {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to roll back on (only at shutdown): closing the
            // connection rolls back.
            conn.close_on_drop();
            return;
        };
        // Not ended: roll back (the transaction may not have begun, when the
        // first batch failed at `BEGIN`), then let the connection go back.
        // A rollback that fails for another reason closes the connection:
        // closing rolls back too.
        runtime.spawn(async move {
            if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                if !e.to_string().contains("no transaction is active") {
                    conn.close_on_drop();
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::ConnectOptions;

    async fn store(dir: &tempfile::TempDir) -> SqliteStore {
        let url = format!("sqlite:{}", dir.path().join("t.db").display());
        SqliteStore::open(&url, &ConnectOptions::default())
            .await
            .unwrap()
    }

    /// A store with an empty table `t (x INTEGER)`.
    async fn store_with_table(dir: &tempfile::TempDir) -> SqliteStore {
        let store = store(dir).await;
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&store.writer)
            .await
            .unwrap();
        store
    }

    async fn count(store: &SqliteStore) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&store.reader)
            .await
            .unwrap()
    }

    /// A transaction left open (an error, or a caller that went away) is
    /// rolled back before the writer is used again: its row is gone and the
    /// next transaction begins normally.
    #[tokio::test]
    async fn an_unended_write_is_rolled_back_before_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_table(&dir).await;
        let mut write = BatchedWrite::acquire(&store.writer).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
            .execute(write.conn().unwrap())
            .await
            .unwrap();
        drop(write);
        let mut next = BatchedWrite::acquire(&store.writer).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE; INSERT INTO t VALUES (2)")
            .execute(next.conn().unwrap())
            .await
            .unwrap();
        next.end("COMMIT").await.unwrap();
        assert_eq!(count(&store).await, 1);
        let kept: i64 = sqlx::query_scalar("SELECT x FROM t")
            .fetch_one(&store.reader)
            .await
            .unwrap();
        assert_eq!(kept, 2);
        // sqlx's own transactions work on the same connection afterwards.
        let tx = store.begin_write().await.unwrap();
        tx.commit().await.unwrap();
    }

    /// A caller cancelled between the two batches (its future dropped while
    /// the write lock is held) leaves nothing behind either.
    #[tokio::test]
    async fn a_cancelled_write_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_table(&dir).await;
        let writer = store.writer.clone();
        let (begun, wait) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut write = BatchedWrite::acquire(&writer).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
                .execute(write.conn().unwrap())
                .await
                .unwrap();
            let _ = begun.send(());
            std::future::pending::<()>().await;
            write.ended();
        });
        wait.await.unwrap();
        task.abort();
        let _ = task.await;
        let tx = store.begin_write().await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&store).await, 0);
    }

    /// A batch that fails at `BEGIN` (no transaction) gives the connection
    /// back as it was.
    #[tokio::test]
    async fn a_failed_begin_leaves_the_connection_usable() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let mut write = BatchedWrite::acquire(&store.writer).await.unwrap();
        let err = sqlx::query("BEGIN IMMEDIATE; SELECT * FROM no_such_table")
            .execute(write.conn().unwrap())
            .await;
        assert!(err.is_err());
        drop(write);
        let tx = store.begin_write().await.unwrap();
        tx.commit().await.unwrap();
    }
}
