//! Links committed audit rows into the hash chain, after their commit.
//!
//! A transaction writes its audit rows without a place in the chain (`seq`
//! NULL), in the same transaction as the change they describe, and pokes the
//! chainer once it has committed. The chainer's task then gives every such
//! row its link in one transaction under the chain's advisory lock: rows
//! committed while a pass runs are taken by the next one, so a burst of
//! commits costs one chained transaction, not one serialised flush each
//! (appending inside each transaction held the lock through every commit's
//! WAL flush: about 250 appends/s on a disk that does 2,500 commits/s).
//!
//! A row waits for its link for about one chain pass (plus `GATHER`). Readers of the chain
//! (`audit_page`, `audit_chain_state`, `audit_chain`, `migrate-data`'s
//! export) run a pass of their own first, so they see every committed row
//! linked. Rows left unchained by a crash are linked by the next start (or
//! the next pass of any instance: all share the lock).

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;

use super::audit;

/// How long the task waits before trying again after a failed pass.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a pass waits after the first wake-up, so the commits of that
/// moment are linked by one pass (at 2,000 refreshes/s a pass per commit
/// cost more statements than the refreshes themselves).
const GATHER: Duration = Duration::from_millis(10);

/// Wakes the task; dropping the last one (with its store) ends it.
#[derive(Clone, Debug)]
pub(crate) struct Chainer {
    wake: mpsc::Sender<()>,
}

impl Chainer {
    /// Starts the task on the current tokio runtime.
    pub(super) fn start(pool: PgPool) -> Chainer {
        // One pending wake is enough: a pass takes every row committed so far.
        let (wake, woken) = mpsc::channel(1);
        tokio::spawn(run(pool, woken, wake.downgrade()));
        Chainer { wake }
    }

    /// Audit rows were committed: link them soon. Never waits.
    pub(crate) fn poke(&self) {
        // Full means a pass is already due, which will take these rows too.
        let _ = self.wake.try_send(());
    }
}

async fn run(pool: PgPool, mut woken: mpsc::Receiver<()>, again: mpsc::WeakSender<()>) {
    while woken.recv().await.is_some() {
        tokio::time::sleep(GATHER).await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = audit::chain_unchained(&pool).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "linking audit events into the hash chain failed; retrying in 1 s");
            tokio::time::sleep(RETRY_AFTER).await;
            // The rows are still waiting: come back for them (unless the
            // store is gone, which ends the loop at the next `recv`).
            if let Some(again) = again.upgrade() {
                let _ = again.try_send(());
            }
        }
    }
}
