//! `VerifiedCache`: access tokens whose signature and claims already verified, so a repeat
//! request skips the Ed25519 verify (~34 µs) and the JSON decoding.
//!
//! What keeps every check honest:
//! - The key is a keyed hash of the *whole* token, and a hit also compares the stored token
//!   with the presented one byte for byte (branch-free), so a token that only shares a
//!   cached token's signature segment (or collides in the hash) never hits.
//! - An entry is only good until the token's `exp` plus the verifier's leeway (and not before
//!   its `nbf` minus leeway); past that it is a miss and the verifier answers `Expired`.
//! - Revocation is not cached: the guard asks the revocation set on every hit.
//! - Every entry carries the key-set generation it was verified under; [`Guard::set_keys`]
//!   starts a new generation and empties the cache, so a removed key's tokens are refused
//!   at once, even one verified concurrently with the key change.
//!
//! Size is bounded: the capacity is split over [`SHARDS`] shards, and a full shard is
//! emptied before the next insert (simple, O(1) amortised, and a hot token is back after
//! one verify). A hit takes one shard read lock and allocates nothing.
//!
//! [`Guard::set_keys`]: crate::Guard::set_keys

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use doorward_token::Claims;

/// Default number of cached tokens across all shards.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Shards: independent locks, so concurrent checks rarely touch the same one.
pub(crate) const SHARDS: usize = 16;

/// Why a lookup found nothing usable.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    /// Nothing cached for this token (or only an entry of an older key set).
    Absent,
    /// The cached entry is past `exp` + leeway, or before `nbf` − leeway: verify again so
    /// the verifier gives the exact error.
    OutOfTime,
}

/// The cache; one per [`crate::Guard`].
pub(crate) struct VerifiedCache {
    hasher: foldhash::fast::RandomState,
    shards: Box<[RwLock<Shard>]>,
    per_shard: usize,
    leeway: i64,
    generation: AtomicU64,
}

/// Maps the token's hash (already keyed and well mixed) to its entry.
type Shard = HashMap<u64, Entry, BuildHasherDefault<PassThrough>>;

struct Entry {
    token: Box<[u8]>,
    generation: u64,
    claims: Arc<Claims>,
}

impl VerifiedCache {
    /// A cache of at most `capacity` tokens, rounded down to a multiple of [`SHARDS`]
    /// (below that, caching is off), valid until `exp` plus
    /// `leeway` seconds.
    pub(crate) fn new(capacity: usize, leeway: i64) -> VerifiedCache {
        let per_shard = capacity / SHARDS;
        let shards = (0..SHARDS)
            .map(|_| RwLock::new(Shard::default()))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        VerifiedCache {
            hasher: foldhash::fast::RandomState::default(),
            shards,
            per_shard,
            leeway,
            generation: AtomicU64::new(0),
        }
    }

    /// Tokens the cache holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// The current key-set generation; read it together with the verifier, and pass it
    /// to [`VerifiedCache::insert`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The claims of `token` if it verified under the current key set and is within its
    /// validity window at `now`.
    pub(crate) fn get(&self, token: &str, now: i64) -> Result<Arc<Claims>, Miss> {
        if self.per_shard == 0 {
            return Err(Miss::Absent);
        }
        let hash = self.hasher.hash_one(token.as_bytes());
        let shard = self
            .shard(hash)
            .ok_or(Miss::Absent)?
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = shard.get(&hash).ok_or(Miss::Absent)?;
        if entry.generation != self.generation() || !same_bytes(&entry.token, token.as_bytes()) {
            return Err(Miss::Absent);
        }
        let claims = &entry.claims;
        let expired = now > claims.exp.saturating_add(self.leeway);
        let early = claims
            .nbf
            .is_some_and(|nbf| now.saturating_add(self.leeway) < nbf);
        if expired || early {
            return Err(Miss::OutOfTime);
        }
        Ok(Arc::clone(claims))
    }

    /// Remembers that `token` verified to `claims` under key-set `generation`. Ignored when
    /// the keys changed since (the verifier that said yes may trust a removed key).
    pub(crate) fn insert(&self, token: &str, claims: Arc<Claims>, generation: u64) {
        if self.per_shard == 0 {
            return;
        }
        let hash = self.hasher.hash_one(token.as_bytes());
        let Some(shard) = self.shard(hash) else {
            return;
        };
        let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
        // Checked under the shard lock: `clear` bumps the generation before it takes the
        // shard locks, so either this sees the new generation or `clear` removes the entry.
        if generation != self.generation() {
            return;
        }
        if shard.len() >= self.per_shard && !shard.contains_key(&hash) {
            shard.clear();
        }
        shard.insert(
            hash,
            Entry {
                token: token.as_bytes().into(),
                generation,
                claims,
            },
        );
    }

    /// Forgets `token` (an out-of-time entry, so it does not take a slot until eviction).
    pub(crate) fn remove(&self, token: &str) {
        let hash = self.hasher.hash_one(token.as_bytes());
        let Some(shard) = self.shard(hash) else {
            return;
        };
        let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
        if shard
            .get(&hash)
            .is_some_and(|e| same_bytes(&e.token, token.as_bytes()))
        {
            shard.remove(&hash);
        }
    }

    /// Starts a new key-set generation and drops every entry.
    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for shard in self.shards.iter() {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    /// How many tokens are cached now.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// The shard of `hash`: its top bits pick it, the map inside uses the whole hash.
    /// Always `Some` (`new` makes [`SHARDS`] shards).
    fn shard(&self, hash: u64) -> Option<&RwLock<Shard>> {
        self.shards
            .get(usize::try_from(hash >> 60).unwrap_or(0) % SHARDS)
    }
}

/// Equal length and equal bytes, without stopping at the first difference (so the time
/// taken does not tell how much of a cached token a guess got right).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `Hasher` for keys that already are keyed, uniformly distributed 64-bit hashes.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `u64` keys; fold anything else in for completeness.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64, nbf: Option<i64>) -> Arc<Claims> {
        Arc::new(Claims {
            iss: "i".into(),
            sub: "u".into(),
            aud: "a".into(),
            exp,
            iat: 0,
            nbf,
            jti: "j".into(),
            sid: "s".into(),
            roles: vec![],
        })
    }

    #[test]
    fn hit_within_the_window_only() {
        let cache = VerifiedCache::new(64, 5);
        cache.insert("a.b.c", claims(100, Some(50)), cache.generation());
        assert_eq!(*cache.get("a.b.c", 100).unwrap(), *claims(100, Some(50)));
        assert!(cache.get("a.b.c", 105).is_ok());
        assert_eq!(cache.get("a.b.c", 106), Err(Miss::OutOfTime));
        assert!(cache.get("a.b.c", 45).is_ok());
        assert_eq!(cache.get("a.b.c", 44), Err(Miss::OutOfTime));
        assert_eq!(cache.get("a.b.d", 100), Err(Miss::Absent));
        cache.remove("a.b.c");
        assert_eq!(cache.get("a.b.c", 100), Err(Miss::Absent));
    }

    #[test]
    fn insert_from_an_older_generation_is_ignored() {
        let cache = VerifiedCache::new(64, 5);
        let before = cache.generation();
        cache.clear();
        cache.insert("a.b.c", claims(100, None), before);
        assert_eq!(cache.get("a.b.c", 10), Err(Miss::Absent));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let cache = VerifiedCache::new(0, 5);
        cache.insert("a.b.c", claims(100, None), cache.generation());
        assert_eq!(cache.get("a.b.c", 10), Err(Miss::Absent));
        assert_eq!(cache.capacity(), 0);
    }

    #[test]
    fn same_bytes_is_exact() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"abcd"));
        assert!(same_bytes(b"", b""));
    }
}
