//! A short-lived in-process cache of account profiles, for `GET /v1/me`.
//!
//! An entry lives at most `ttl` (1 s by default: the bound the revocation
//! feed already promises across instances), so a change made by another
//! instance or the CLI shows within that time. A change made through this
//! instance's `Accounts` (verification, password change or reset, admin
//! update or delete) forgets the entry at once. A read that raced with such a
//! change is not stored: each shard counts its changes, and a value read
//! from the database before a change is dropped.
//!
//! The cached record carries no password hash: it is a profile, never
//! something to verify a password against (`Accounts::me` reads the
//! database). Revocation is not the cache's business: the guard checks it on
//! every request before the profile is looked up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::store::UserRecord;

const SHARDS: usize = 16;

/// What a profile read saw before it went to the database.
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    shard: usize,
    changes: u64,
}

#[derive(Default)]
struct Shard {
    /// Changes forgotten in this shard so far.
    changes: u64,
    entries: HashMap<Uuid, (Instant, Arc<UserRecord>)>,
}

pub struct ProfileCache {
    shards: Vec<Mutex<Shard>>,
    ttl: Duration,
    per_shard: usize,
}

impl Default for ProfileCache {
    /// 10,000 profiles for 1 s.
    fn default() -> Self {
        ProfileCache::new(10_000, Duration::from_secs(1))
    }
}

impl ProfileCache {
    /// Up to about `capacity` profiles (0: nothing is cached), each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        ProfileCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            ttl,
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn index(id: Uuid) -> usize {
        // v7 and v4 ids end in random bits.
        (id.as_u128() % SHARDS as u128) as usize
    }

    fn shard(&self, index: usize) -> Option<MutexGuard<'_, Shard>> {
        // A poisoned shard (a panic while it was held) is only a cache: it
        // is skipped, never trusted.
        self.shards.get(index)?.lock().ok()
    }

    /// The cached profile of `id`, if fresh.
    pub fn get(&self, id: Uuid) -> Option<Arc<UserRecord>> {
        let shard = self.shard(Self::index(id))?;
        let (stored_at, user) = shard.entries.get(&id)?;
        (stored_at.elapsed() < self.ttl).then(|| user.clone())
    }

    /// Take before reading `id` from the database; hand to `insert`.
    pub fn ticket(&self, id: Uuid) -> Ticket {
        let shard = Self::index(id);
        Ticket {
            shard,
            changes: self.shard(shard).map_or(u64::MAX, |s| s.changes),
        }
    }

    /// Keep `user` (read after `ticket` was taken) unless its shard saw a
    /// change since. Returns the profile as cached (without the hash).
    pub fn insert(&self, ticket: Ticket, mut user: UserRecord) -> Arc<UserRecord> {
        user.password_hash = String::new();
        let user = Arc::new(user);
        if self.per_shard == 0 {
            return user;
        }
        if let Some(mut shard) = self.shard(ticket.shard) {
            if shard.changes == ticket.changes {
                if shard.entries.len() >= self.per_shard {
                    let ttl = self.ttl;
                    shard.entries.retain(|_, (at, _)| at.elapsed() < ttl);
                    if shard.entries.len() >= self.per_shard {
                        shard.entries.clear();
                    }
                }
                shard
                    .entries
                    .insert(user.id, (Instant::now(), user.clone()));
            }
        }
        user
    }

    /// `id` changed through this instance: drop its profile now.
    pub fn forget(&self, id: Uuid) {
        if let Some(mut shard) = self.shard(Self::index(id)) {
            shard.changes = shard.changes.wrapping_add(1);
            shard.entries.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: Uuid, email: &str) -> UserRecord {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        UserRecord {
            id,
            email: email.into(),
            username: None,
            password_hash: "$argon2id$secret".into(),
            email_verified: false,
            roles: vec!["user".into()],
            disabled: false,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn caches_without_the_hash_until_forgotten() {
        let cache = ProfileCache::default();
        let id = Uuid::now_v7();
        assert!(cache.get(id).is_none());
        let t = cache.ticket(id);
        let stored = cache.insert(t, user(id, "a@example.com"));
        assert_eq!(stored.password_hash, "");
        let hit = cache.get(id).unwrap();
        assert_eq!(hit.email, "a@example.com");
        assert!(hit.password_hash.is_empty());
        cache.forget(id);
        assert!(cache.get(id).is_none());
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_kept() {
        let cache = ProfileCache::default();
        let id = Uuid::now_v7();
        let before = cache.ticket(id);
        cache.forget(id); // the change lands while the read is in flight
        cache.insert(before, user(id, "old@example.com"));
        assert!(cache.get(id).is_none());
        let after = cache.ticket(id);
        cache.insert(after, user(id, "new@example.com"));
        assert_eq!(cache.get(id).unwrap().email, "new@example.com");
    }

    #[test]
    fn entries_expire() {
        let cache = ProfileCache::new(100, Duration::ZERO);
        let id = Uuid::now_v7();
        cache.insert(cache.ticket(id), user(id, "a@example.com"));
        assert!(cache.get(id).is_none());
    }

    #[test]
    fn capacity_is_bounded_and_zero_turns_it_off() {
        let cache = ProfileCache::new(32, Duration::from_secs(60));
        for _ in 0..1_000 {
            let id = Uuid::now_v7();
            cache.insert(cache.ticket(id), user(id, "a@example.com"));
        }
        let held: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().unwrap().entries.len())
            .sum();
        assert!(held <= 32, "{held}");
        let off = ProfileCache::new(0, Duration::from_secs(60));
        let id = Uuid::now_v7();
        off.insert(off.ticket(id), user(id, "a@example.com"));
        assert!(off.get(id).is_none());
    }
}
