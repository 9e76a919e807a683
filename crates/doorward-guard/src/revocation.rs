//! `RevocationSet`: the session ids whose access tokens must be refused before they expire.
//!
//! Access tokens are stateless, so a logout only takes effect on a service once it knows
//! the session id. Entries are kept until every token the session could still hold has
//! expired (`until`, plus the verifier's clock leeway), then [`RevocationSet::prune`]
//! drops them, so the set stays as small as the number of recent revocations.

use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock};

use doorward_token::MAX_LEEWAY_SECS;

/// Thread-safe set of revoked session ids, each with the time until which it must be kept.
#[derive(Default)]
pub struct RevocationSet {
    // A poisoned lock still holds a consistent map (every write is a single insert or
    // retain), so it is used rather than turned into a panic.
    entries: RwLock<HashMap<String, i64>>,
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> RevocationSet {
        RevocationSet::default()
    }

    /// Refuses the session's tokens from now on, keeping the entry until `until_unix_secs`
    /// (the latest `exp` a token of the session can have). Revoking again keeps the later time.
    pub fn revoke(&self, session_id: &str, until_unix_secs: i64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries
            .entry(session_id.to_owned())
            .and_modify(|until| *until = (*until).max(until_unix_secs))
            .or_insert(until_unix_secs);
    }

    /// Whether the session has been revoked (and not yet pruned).
    pub fn is_revoked(&self, session_id: &str) -> bool {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(session_id)
    }

    /// Drops the entries no token can outlive any more and returns how many. An entry is kept
    /// for [`MAX_LEEWAY_SECS`] past its time, because the verifier still accepts a token that
    /// long after its `exp`.
    pub fn prune(&self, now_unix_secs: i64) -> usize {
        let leeway = i64::try_from(MAX_LEEWAY_SECS).unwrap_or(i64::MAX);
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let before = entries.len();
        entries.retain(|_, until| now_unix_secs <= until.saturating_add(leeway));
        before - entries.len()
    }

    /// How many sessions are in the set.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for RevocationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationSet")
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn revoke_and_query() {
        let set = RevocationSet::new();
        assert!(set.is_empty());
        set.revoke("s1", 100);
        assert!(set.is_revoked("s1"));
        assert!(!set.is_revoked("s2"));
        assert!(!set.is_revoked(""));
        assert_eq!(set.len(), 1);
        assert!(!set.is_empty());
    }

    #[test]
    fn prune_keeps_entries_through_the_leeway() {
        let set = RevocationSet::new();
        set.revoke("s1", 100);
        set.revoke("s2", 200);
        assert_eq!(set.prune(100), 0);
        assert_eq!(set.prune(105), 0);
        assert!(set.is_revoked("s1"));
        assert_eq!(set.prune(106), 1);
        assert!(!set.is_revoked("s1"));
        assert!(set.is_revoked("s2"));
        assert_eq!(set.prune(i64::MAX), 1);
        assert!(set.is_empty());
    }

    #[test]
    fn revoking_again_keeps_the_later_time() {
        let set = RevocationSet::new();
        set.revoke("s1", 200);
        set.revoke("s1", 100);
        assert_eq!(set.len(), 1);
        assert_eq!(set.prune(150), 0);
        assert!(set.is_revoked("s1"));
        set.revoke("s1", 300);
        assert_eq!(set.prune(250), 0);
        assert_eq!(set.prune(306), 1);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let set = RevocationSet::new();
        set.revoke("s1", i64::MAX);
        assert_eq!(set.prune(i64::MAX), 0);
        set.revoke("s2", i64::MIN);
        assert_eq!(set.prune(i64::MIN), 0);
        assert_eq!(set.prune(0), 1);
    }

    #[test]
    fn shared_between_threads() {
        let set = Arc::new(RevocationSet::new());
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let set = Arc::clone(&set);
                std::thread::spawn(move || {
                    for i in 0..100 {
                        set.revoke(&format!("s{t}-{i}"), i);
                        assert!(set.is_revoked(&format!("s{t}-{i}")));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(set.len(), 800);
        assert_eq!(format!("{set:?}"), "RevocationSet { len: 800 }");
    }
}
