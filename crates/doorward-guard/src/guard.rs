//! `Guard`: the key set and revocation set a service checks access tokens against, and
//! `GuardError`, why a request was refused.
//!
//! Key refresh (fetching the JWKS) and revocation feeds are the service's job: it calls
//! [`Guard::set_keys`] and [`RevocationSet::revoke`]; the guard itself does no I/O.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use doorward_token::{Claims, Jwks, TokenError, Verifier, VerifyPolicy, MAX_LEEWAY_SECS};

use crate::cache::{Miss, VerifiedCache, DEFAULT_CACHE_CAPACITY};
use crate::RevocationSet;

/// Checks access tokens: signature and claims against the current key set, then the
/// session against the revocation set. Cheap to clone; clones share keys, revocations and
/// the cache of verified tokens (see the `cache` module: a repeat token skips the signature
/// check, never the expiry or revocation check).
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

struct Inner {
    policy: VerifyPolicy,
    // `Verifier` is an `Arc` inside: readers hold the lock only long enough to clone it,
    // and `set_keys` builds the new verifier before taking the write lock.
    verifier: RwLock<Verifier>,
    revocations: RevocationSet,
    cache: VerifiedCache,
}

/// Why a request's token was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// No `Authorization: Bearer` credentials in the request.
    #[error("no bearer token")]
    Missing,
    /// The token (or the `Authorization` header's shape) is not acceptable.
    #[error("invalid token: {0}")]
    Invalid(#[from] TokenError),
    /// The token is valid but its session has been revoked.
    #[error("session revoked")]
    Revoked,
}

impl GuardError {
    /// A short stable name of the reason, for logs and metrics (never contains the token).
    pub fn kind(&self) -> &'static str {
        match self {
            GuardError::Missing => "missing",
            GuardError::Revoked => "revoked",
            GuardError::Invalid(e) => match e {
                TokenError::Malformed => "malformed",
                TokenError::UnsupportedAlgorithm => "unsupported_algorithm",
                TokenError::WrongType => "wrong_type",
                TokenError::UnknownKey => "unknown_key",
                TokenError::BadSignature => "bad_signature",
                TokenError::Expired => "expired",
                TokenError::NotYetValid => "not_yet_valid",
                TokenError::WrongIssuer => "wrong_issuer",
                TokenError::WrongAudience => "wrong_audience",
                TokenError::Key(_) => "key",
            },
        }
    }
}

impl Guard {
    /// A guard trusting the usable keys of `jwks` (see [`Verifier::new`]), with an empty
    /// revocation set and a cache of up to 10,000 verified tokens.
    pub fn new(policy: VerifyPolicy, jwks: &Jwks) -> Guard {
        Guard::with_cache_capacity(policy, jwks, DEFAULT_CACHE_CAPACITY)
    }

    /// Like [`Guard::new`], caching at most `capacity` verified tokens (rounded down to a
    /// multiple of 16; 0 turns the cache off). An entry takes the token plus its claims,
    /// roughly 1 KiB.
    pub fn with_cache_capacity(policy: VerifyPolicy, jwks: &Jwks, capacity: usize) -> Guard {
        let verifier = Verifier::new(policy.clone(), jwks);
        // The verifier's own clamp, so a cached token lives exactly as long as it verifies.
        let leeway = i64::try_from(policy.leeway_secs.min(MAX_LEEWAY_SECS)).unwrap_or(0);
        Guard {
            inner: Arc::new(Inner {
                policy,
                verifier: RwLock::new(verifier),
                revocations: RevocationSet::new(),
                cache: VerifiedCache::new(capacity, leeway),
            }),
        }
    }

    /// Replaces the trusted key set at once: tokens of keys missing from `jwks` are refused
    /// from the next check on (the cache of verified tokens is emptied too).
    pub fn set_keys(&self, jwks: &Jwks) {
        let verifier = Verifier::new(self.inner.policy.clone(), jwks);
        let mut current = self
            .inner
            .verifier
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *current = verifier;
        // Under the write lock, so a check that read the old verifier also read the old
        // generation, and its insert is refused.
        self.inner.cache.clear();
    }

    /// How many verified tokens the cache may hold.
    pub fn cache_capacity(&self) -> usize {
        self.inner.cache.capacity()
    }

    /// How many verified tokens are cached now.
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.len()
    }

    /// The key ids currently trusted, sorted.
    pub fn kids(&self) -> Vec<String> {
        self.verifier().kids()
    }

    /// The revoked sessions; feed it with [`RevocationSet::revoke`].
    pub fn revocations(&self) -> &RevocationSet {
        &self.inner.revocations
    }

    /// Verifies `token` at `now_unix_secs` and refuses it if its session is revoked.
    pub fn check(&self, token: &str, now_unix_secs: i64) -> Result<Claims, GuardError> {
        self.check_shared(token, now_unix_secs)
            .map(Arc::unwrap_or_clone)
    }

    /// [`Guard::check`] returning the claims shared with the cache: a cache hit allocates
    /// nothing.
    pub fn check_shared(&self, token: &str, now_unix_secs: i64) -> Result<Arc<Claims>, GuardError> {
        let claims = match self.inner.cache.get(token, now_unix_secs) {
            Ok(claims) => claims,
            Err(miss) => {
                if miss == Miss::OutOfTime {
                    self.inner.cache.remove(token);
                }
                let (verifier, generation) = self.verifier_and_generation();
                let claims = Arc::new(verifier.verify(token, now_unix_secs)?);
                self.inner
                    .cache
                    .insert(token, Arc::clone(&claims), generation);
                claims
            }
        };
        // Never cached: a logout takes effect on the next request.
        if self.inner.revocations.is_revoked(&claims.sid) {
            return Err(GuardError::Revoked);
        }
        Ok(claims)
    }

    /// [`Guard::check`] at the system clock's current time.
    pub fn check_now(&self, token: &str) -> Result<Claims, GuardError> {
        self.check(token, unix_now())
    }

    /// [`Guard::check_shared`] at the system clock's current time.
    pub fn check_shared_now(&self, token: &str) -> Result<Arc<Claims>, GuardError> {
        self.check_shared(token, unix_now())
    }

    fn verifier(&self) -> Verifier {
        self.verifier_and_generation().0
    }

    /// The verifier and the cache generation it belongs to, read under one lock.
    fn verifier_and_generation(&self) -> (Verifier, u64) {
        let verifier = self
            .inner
            .verifier
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        (verifier.clone(), self.inner.cache.generation())
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("verifier", &self.verifier())
            .field("revocations", &self.inner.revocations)
            .field("cached_tokens", &self.cached_tokens())
            .finish()
    }
}

/// Seconds since the Unix epoch; a clock set before 1970 reads as 0, which only makes
/// tokens look not-yet-valid, never longer-lived.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod cache_tests;

#[cfg(test)]
mod tests {
    use doorward_token::{Algorithm, SigningKey};

    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn claims(sid: &str) -> Claims {
        Claims {
            iss: "https://auth.example".into(),
            sub: "user-1".into(),
            aud: "https://api.example".into(),
            exp: NOW + 900,
            iat: NOW,
            nbf: None,
            jti: "j".into(),
            sid: sid.into(),
            roles: vec![],
        }
    }

    fn setup() -> (SigningKey, Guard) {
        let (key, _) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
        let guard = Guard::new(
            VerifyPolicy::new("https://auth.example", "https://api.example"),
            &Jwks {
                keys: vec![key.public_jwk()],
            },
        );
        (key, guard)
    }

    #[test]
    fn check_verifies_then_consults_revocations() {
        let (key, guard) = setup();
        let token = key.sign(&claims("s1")).unwrap();
        assert_eq!(guard.check(&token, NOW), Ok(claims("s1")));
        assert_eq!(
            guard.check(&token, NOW + 10_000),
            Err(GuardError::Invalid(TokenError::Expired))
        );
        guard.revocations().revoke("s1", NOW + 900);
        assert_eq!(guard.check(&token, NOW), Err(GuardError::Revoked));
        let other = key.sign(&claims("s2")).unwrap();
        assert!(guard.check(&other, NOW).is_ok());
    }

    #[test]
    fn clones_share_keys_and_revocations() {
        let (key, guard) = setup();
        let clone = guard.clone();
        clone.revocations().revoke("s1", NOW);
        assert!(guard.revocations().is_revoked("s1"));
        clone.set_keys(&Jwks::default());
        assert!(guard.kids().is_empty());
        let token = key.sign(&claims("s2")).unwrap();
        assert_eq!(
            guard.check(&token, NOW),
            Err(GuardError::Invalid(TokenError::UnknownKey))
        );
    }

    #[test]
    fn check_now_uses_the_system_clock() {
        let (key, guard) = setup();
        let now = unix_now();
        let fresh = Claims {
            exp: now + 60,
            iat: now,
            ..claims("s1")
        };
        assert!(guard.check_now(&key.sign(&fresh).unwrap()).is_ok());
        let stale = Claims {
            exp: now - 60,
            iat: now - 120,
            ..claims("s1")
        };
        assert_eq!(
            guard.check_now(&key.sign(&stale).unwrap()),
            Err(GuardError::Invalid(TokenError::Expired))
        );
    }

    #[test]
    fn debug_shows_kids_not_keys() {
        let (key, guard) = setup();
        let debug = format!("{guard:?}");
        assert!(debug.contains("k1"));
        assert!(!debug.contains(key.public_jwk().x.as_deref().unwrap()));
    }
}
