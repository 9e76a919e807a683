//! Revoked sessions reach the token checker at once: the core reports every
//! revocation here, and the guard's in-memory set refuses that session's
//! access tokens without a database round trip. An entry lives until every
//! access token the session could hold has expired.
//!
//! Other instances on the same database learn of a revocation by polling
//! `revoked_since` twice a second (`app::spawn_background`), one indexed
//! query per instance, never one per request.

use doorward_core::sessions::RevocationListener;
use doorward_core::store::Store;
use doorward_guard::Guard;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Feeds `doorward-guard`'s revocation set.
pub struct GuardRevocations {
    pub guard: Guard,
    /// Access-token lifetime plus clock leeway.
    pub keep_for: Duration,
}

impl RevocationListener for GuardRevocations {
    fn revoked(&self, session_ids: &[Uuid], now: OffsetDateTime) {
        let until = (now + self.keep_for).unix_timestamp();
        for id in session_ids {
            self.guard.revocations().revoke(&id.to_string(), until);
        }
    }
}

impl GuardRevocations {
    /// Rebuild the set at start from sessions revoked recently enough that
    /// their tokens may still be alive.
    pub async fn preload(
        &self,
        store: &dyn Store,
        now: OffsetDateTime,
    ) -> Result<usize, doorward_core::Error> {
        self.catch_up(store, now - self.keep_for).await
    }

    /// Add sessions revoked at or after `since` (by this or any other
    /// instance on the same database). Idempotent.
    pub async fn catch_up(
        &self,
        store: &dyn Store,
        since: OffsetDateTime,
    ) -> Result<usize, doorward_core::Error> {
        let revoked = store.revoked_since(since).await?;
        for r in &revoked {
            let until = (r.revoked_at + self.keep_for).unix_timestamp();
            self.guard.revocations().revoke(&r.id.to_string(), until);
        }
        Ok(revoked.len())
    }
}
