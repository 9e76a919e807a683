//! `Verifier`: the one place a Doorward access token is accepted or refused.
//!
//! The order is deliberate: cheap shape checks before any decoding, the header before the
//! payload, and the payload only after its signature verifies, so unauthenticated claims are
//! never interpreted. Time checks use the caller's `now`, never the system clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::DecodingKey;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::jwks::verification_key;
use crate::{Algorithm, Claims, Jwks, TokenError, ACCESS_TOKEN_TYP};

/// Longest token accepted, in bytes; longer input is refused before any parsing, so a huge
/// header cannot cost us base64 and JSON work.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The most clock leeway a policy may allow for `exp`/`nbf` (the contract's 5 s).
pub const MAX_LEEWAY_SECS: u64 = 5;

/// What a verifier requires of a token besides a good signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Exact `iss`.
    pub issuer: String,
    /// The audience `aud` must be (or, when an array, contain).
    pub audience: String,
    /// Clock leeway for `exp` and `nbf`; values above [`MAX_LEEWAY_SECS`] are clamped to it.
    pub leeway_secs: u64,
    /// Header `alg` values accepted; anything else (`none`, `HS256`, ...) is refused.
    pub algorithms: Vec<Algorithm>,
}

impl VerifyPolicy {
    /// A policy with the maximum leeway (5 s) that accepts `EdDSA`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> VerifyPolicy {
        VerifyPolicy {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: MAX_LEEWAY_SECS,
            algorithms: vec![Algorithm::EdDSA],
        }
    }
}

/// Verifies access tokens against a policy and a fixed key set. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audience: String,
    leeway: i64,
    algorithms: Vec<Algorithm>,
    keys: HashMap<String, (Algorithm, DecodingKey)>,
}

/// The JOSE header fields we read. Unknown fields, including `jku`, `x5u` and `jwk`, are
/// ignored: keys come only from the configured JWKS, never from the token itself.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    /// RFC 7515 §4.1.11: we understand no extensions, so any `crit` makes the token invalid.
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The payload as it may arrive: like [`Claims`] but `aud` may be an array (RFC 7519 §4.1.3).
#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    iat: i64,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
    sid: String,
    roles: Vec<String>,
}

impl Verifier {
    /// A verifier trusting the usable keys of `jwks`. Keys with an empty `kid`, a use other
    /// than `sig`, an unknown `kty`/`alg`, or bad key parameters are skipped; of keys sharing
    /// a `kid`, the first usable one wins.
    pub fn new(policy: VerifyPolicy, jwks: &Jwks) -> Verifier {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            if let Some(key) = verification_key(jwk) {
                keys.entry(jwk.kid.clone()).or_insert(key);
            }
        }
        let leeway = policy.leeway_secs.min(MAX_LEEWAY_SECS);
        Verifier {
            inner: Arc::new(Inner {
                issuer: policy.issuer,
                audience: policy.audience,
                leeway: i64::try_from(leeway).unwrap_or(0),
                algorithms: policy.algorithms,
                keys,
            }),
        }
    }

    /// The key ids this verifier trusts, sorted.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.inner.keys.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// Verifies `token` at time `now_unix_secs` and returns its claims.
    pub fn verify(&self, token: &str, now_unix_secs: i64) -> Result<Claims, TokenError> {
        let inner = &*self.inner;
        if token.len() > MAX_TOKEN_LEN || !token.bytes().all(is_compact_jws_byte) {
            return Err(TokenError::Malformed);
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
        if header.is_empty() || payload.is_empty() || payload.contains('.') {
            return Err(TokenError::Malformed);
        }

        let header: RawHeader = decode_json(header)?;
        if header.crit.is_some() {
            return Err(TokenError::Malformed);
        }
        let alg = Algorithm::from_name(&header.alg)
            .filter(|alg| inner.algorithms.contains(alg))
            .ok_or(TokenError::UnsupportedAlgorithm)?;
        if !header.typ.as_deref().is_some_and(is_access_token_typ) {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let (key_alg, key) = inner.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        if *key_alg != alg {
            // A key is only ever used with the algorithm its JWK names.
            return Err(TokenError::UnknownKey);
        }
        let verified = jsonwebtoken::crypto::verify(
            signature,
            signing_input.as_bytes(),
            key,
            alg.to_jsonwebtoken(),
        );
        if !matches!(verified, Ok(true)) {
            return Err(TokenError::BadSignature);
        }

        let raw: RawClaims = decode_json(payload)?;
        if raw.iss != inner.issuer {
            return Err(TokenError::WrongIssuer);
        }
        let audience_ok = match &raw.aud {
            Audience::One(aud) => *aud == inner.audience,
            Audience::Many(auds) => auds.contains(&inner.audience),
        };
        if !audience_ok {
            return Err(TokenError::WrongAudience);
        }
        if now_unix_secs > raw.exp.saturating_add(inner.leeway) {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = raw.nbf {
            if now_unix_secs.saturating_add(inner.leeway) < nbf {
                return Err(TokenError::NotYetValid);
            }
        }
        Ok(Claims {
            iss: raw.iss,
            sub: raw.sub,
            aud: inner.audience.clone(),
            exp: raw.exp,
            iat: raw.iat,
            nbf: raw.nbf,
            jti: raw.jti,
            sid: raw.sid,
            roles: raw.roles,
        })
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("leeway", &self.inner.leeway)
            .field("algorithms", &self.inner.algorithms)
            .field("kids", &self.kids())
            .finish()
    }
}

/// base64url characters and the segment separator: all a compact JWS may contain
/// (RFC 7515 §7.1; no padding, no whitespace).
fn is_compact_jws_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

/// RFC 9068 §4: `at+jwt`, or the full media type `application/at+jwt`; media types compare
/// case-insensitively (RFC 7515 §4.1.9).
fn is_access_token_typ(typ: &str) -> bool {
    match typ.split_once('/') {
        Some((media_type, subtype)) => {
            media_type.eq_ignore_ascii_case("application")
                && subtype.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
        }
        None => typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP),
    }
}

/// One base64url segment holding a JSON object. serde's derived structs refuse duplicate
/// keys, so two parsers can never read different values from the same token.
fn decode_json<T: DeserializeOwned>(segment: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests;
