//! `TokenError`: why a token was refused, or why a key could not be made.

/// Why a token was refused (or, for [`TokenError::Key`], why a key could not be built).
///
/// The messages are short and never contain the token or key material, so they are safe to
/// log and to show to a client.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a well-formed compact JWS of the expected shape (too long, wrong number of
    /// segments, bad base64url, bad JSON, missing claims, unsupported `crit`).
    #[error("malformed token")]
    Malformed,
    /// The header `alg` is not one this verifier accepts (e.g. `none`, `HS256`).
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    /// The header `typ` is not `at+jwt`.
    #[error("wrong token type")]
    WrongType,
    /// The header has no `kid`, or names a key this verifier does not know.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify with the named key.
    #[error("bad token signature")]
    BadSignature,
    /// `exp` (plus leeway) has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` (minus leeway) has not been reached yet.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not the expected issuer.
    #[error("wrong token issuer")]
    WrongIssuer,
    /// `aud` does not name the expected audience.
    #[error("wrong token audience")]
    WrongAudience,
    /// A signing key could not be generated, parsed or used. Never returned for an input
    /// token.
    #[error("key error: {0}")]
    Key(String),
}
