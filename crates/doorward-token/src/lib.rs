//! Doorward's access-token format: the claims, the signing keys and their JWKS, and the one
//! verifier every Doorward service uses.
//!
//! Tokens are compact JWS ([RFC 7515]) with `typ` = [`ACCESS_TOKEN_TYP`] ([RFC 9068]). The
//! crate has no clock, no HTTP and no database: the caller passes the current time, the key
//! set and stores the private keys.
//!
//! ```
//! use doorward_token::{Algorithm, Claims, Jwks, SigningKey, Verifier, VerifyPolicy};
//!
//! # fn main() -> Result<(), doorward_token::TokenError> {
//! let (key, _pkcs8_to_store) = SigningKey::generate(Algorithm::EdDSA, "k1".to_owned())?;
//! let now = 1_700_000_000;
//! let claims = Claims {
//!     iss: "https://auth.example".into(),
//!     sub: "user-1".into(),
//!     aud: "https://auth.example".into(),
//!     exp: now + 900,
//!     iat: now,
//!     nbf: None,
//!     jti: "token-1".into(),
//!     sid: "session-1".into(),
//!     roles: vec!["admin".into()],
//! };
//! let token = key.sign(&claims)?;
//!
//! let jwks = Jwks { keys: vec![key.public_jwk()] };
//! let verifier = Verifier::new(
//!     VerifyPolicy::new("https://auth.example", "https://auth.example"),
//!     &jwks,
//! );
//! assert_eq!(verifier.verify(&token, now + 10)?, claims);
//! # Ok(())
//! # }
//! ```
//!
//! [RFC 7515]: https://www.rfc-editor.org/rfc/rfc7515
//! [RFC 9068]: https://www.rfc-editor.org/rfc/rfc9068

mod claims;
mod error;
mod jwks;
mod keys;
mod verify;

pub use claims::Claims;
pub use error::TokenError;
pub use jwks::{Jwk, Jwks};
pub use keys::{Algorithm, SigningKey};
pub use verify::{Verifier, VerifyPolicy, MAX_LEEWAY_SECS, MAX_TOKEN_LEN};

/// The JOSE `typ` header of a Doorward access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
