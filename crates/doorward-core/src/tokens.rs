//! Issuing access tokens with the current signing key, and the opaque
//! refresh tokens that are stored only as SHA-256 hashes.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use doorward_token::{Claims, Jwks};
use rand::RngCore;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::keys::Keyring;
use crate::store::{TokenHash, UserRecord};

/// Lifetimes and names that go into tokens.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long a rotated refresh token may still be presented (two tabs
    /// refreshing at once) before it counts as reuse. Zero allowed.
    pub refresh_grace: Duration,
}

/// A freshly issued pair, as the API returns it.
#[derive(Clone, Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// Signs access tokens with the keyring in force; the keyring is swapped
/// when keys rotate (by this instance, another one, or the CLI).
pub struct Issuer {
    settings: TokenSettings,
    keyring: RwLock<Arc<Keyring>>,
}

impl Issuer {
    pub fn new(settings: TokenSettings, keyring: Keyring) -> Self {
        Issuer {
            settings,
            keyring: RwLock::new(Arc::new(keyring)),
        }
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    pub fn keyring(&self) -> Arc<Keyring> {
        match self.keyring.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace_keyring(&self, keyring: Keyring) {
        let new = Arc::new(keyring);
        match self.keyring.write() {
            Ok(mut k) => *k = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    pub fn jwks(&self) -> Jwks {
        self.keyring().jwks.clone()
    }

    pub fn claims(&self, user: &UserRecord, session_id: Uuid, now: OffsetDateTime) -> Claims {
        let iat = now.unix_timestamp();
        Claims {
            iss: self.settings.issuer.clone(),
            sub: user.id.to_string(),
            aud: self.settings.audience.clone(),
            exp: iat + self.settings.access_ttl.whole_seconds(),
            iat,
            nbf: None,
            jti: Uuid::new_v4().to_string(),
            sid: session_id.to_string(),
            roles: user.roles.clone(),
        }
    }

    /// Sign an access token for `user` in `session_id` and pair it with `refresh`.
    pub fn pair(
        &self,
        user: &UserRecord,
        session_id: Uuid,
        refresh: RefreshToken,
        now: OffsetDateTime,
    ) -> Result<TokenPair> {
        let claims = self.claims(user, session_id, now);
        let access_token = self
            .keyring()
            .signer
            .sign(&claims)
            .map_err(|e| Error::Internal(format!("signing: {e}")))?;
        Ok(TokenPair {
            access_token,
            refresh_token: refresh.0,
            expires_in: self.settings.access_ttl.whole_seconds(),
        })
    }
}

/// An opaque refresh token: 256 random bits, URL-safe base64. Only its
/// hash is stored.
pub struct RefreshToken(String);

impl RefreshToken {
    pub fn generate() -> (RefreshToken, TokenHash) {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = URL_SAFE_NO_PAD.encode(raw);
        let hash = hash_token(&token);
        (RefreshToken(token), hash)
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(..)")
    }
}

/// A single-use account token (email verification, password reset): 256
/// random bits, URL-safe base64, like a refresh token. The plain value goes
/// into the mail; only the hash is stored.
pub fn account_token() -> (String, TokenHash) {
    let (token, hash) = RefreshToken::generate();
    (token.0, hash)
}

/// SHA-256 of an opaque token as presented. Lookups go by this hash, so the
/// stored value is useless to someone who reads the database.
pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Cheap shape check before any database work: our tokens are 43
/// base64url characters; anything far off is refused outright.
pub fn plausible_opaque_token(token: &str) -> bool {
    (20..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_long_random_and_hashed() {
        let (a, ha) = RefreshToken::generate();
        let (b, hb) = RefreshToken::generate();
        assert_eq!(a.0.len(), 43);
        assert_ne!(a.0, b.0);
        assert_ne!(ha, hb);
        assert_eq!(hash_token(&a.0), ha);
        assert!(plausible_opaque_token(&a.0));
        assert!(!format!("{a:?}").contains(&a.0));
    }

    #[test]
    fn implausible_tokens() {
        assert!(!plausible_opaque_token(""));
        assert!(!plausible_opaque_token("short"));
        assert!(!plausible_opaque_token(&"a".repeat(300)));
        assert!(!plausible_opaque_token("abc def ghi jkl mno pqr stu"));
        assert!(!plausible_opaque_token("' OR 1=1 --aaaaaaaaaaaaaaaaaa"));
    }
}
