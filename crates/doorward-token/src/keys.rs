//! Signing keys: `Algorithm`, and `SigningKey` (generate, load from PKCS#8, sign, publish as
//! a JWK).
//!
//! Each algorithm is one arm in a few `match`es here and in `jwks.rs`; adding ES256 or RS256
//! means adding a variant and filling in those arms (the compiler lists them).

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};

use crate::{Claims, Jwk, TokenError, ACCESS_TOKEN_TYP};

/// A JWS signature algorithm Doorward signs and verifies with (the JOSE `alg` name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// The JOSE `alg` name, as in the token header and the JWK.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm named `alg` (case-sensitive, as JOSE names are), if Doorward supports it.
    pub fn from_name(alg: &str) -> Option<Algorithm> {
        match alg {
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(s).ok_or(TokenError::UnsupportedAlgorithm)
    }
}

/// A private signing key with its id; signs access tokens.
///
/// `Debug` prints only the kid and algorithm, never key material.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    public: Jwk,
}

impl SigningKey {
    /// Generates a new key. Returns it with its private key as PKCS#8 DER, which the caller
    /// stores (and later loads with [`SigningKey::from_pkcs8`]).
    pub fn generate(alg: Algorithm, kid: String) -> Result<(SigningKey, Vec<u8>), TokenError> {
        let pkcs8 = match alg {
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map_err(|_| TokenError::Key("could not generate an Ed25519 key".to_owned()))?
                .as_ref()
                .to_vec(),
        };
        let key = SigningKey::from_pkcs8(alg, kid, &pkcs8)?;
        Ok((key, pkcs8))
    }

    /// Loads a private key from PKCS#8 DER (v2 as [`SigningKey::generate`] makes, or v1 as
    /// `openssl genpkey` makes).
    pub fn from_pkcs8(
        alg: Algorithm,
        kid: String,
        pkcs8_der: &[u8],
    ) -> Result<SigningKey, TokenError> {
        if kid.is_empty() {
            return Err(TokenError::Key("empty key id".to_owned()));
        }
        let (encoding, public) = match alg {
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8_der)
                    .map_err(|e| TokenError::Key(format!("not an Ed25519 PKCS#8 key: {e}")))?;
                let public = Jwk {
                    kty: "OKP".to_owned(),
                    crv: Some("Ed25519".to_owned()),
                    x: Some(URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())),
                    kid: kid.clone(),
                    alg: alg.as_str().to_owned(),
                    use_: "sig".to_owned(),
                };
                (EncodingKey::from_ed_der(pkcs8_der), public)
            }
        };
        Ok(SigningKey {
            kid,
            alg,
            encoding,
            public,
        })
    }

    /// The key id, sent as the `kid` header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public half, for the JWKS.
    pub fn public_jwk(&self) -> Jwk {
        self.public.clone()
    }

    /// Signs `claims` as a compact JWS with header `{alg, typ: "at+jwt", kid}`.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(self.alg.to_jsonwebtoken());
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| TokenError::Key(format!("signing failed: {e}")))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_serializes_as_jose_name() {
        assert_eq!(
            serde_json::to_string(&Algorithm::EdDSA).unwrap(),
            "\"EdDSA\""
        );
        assert_eq!(
            serde_json::from_str::<Algorithm>("\"EdDSA\"").unwrap(),
            Algorithm::EdDSA
        );
        assert_eq!("EdDSA".parse::<Algorithm>(), Ok(Algorithm::EdDSA));
        assert_eq!(
            "eddsa".parse::<Algorithm>(),
            Err(TokenError::UnsupportedAlgorithm)
        );
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(Algorithm::EdDSA.to_string(), "EdDSA");
    }

    #[test]
    fn generated_key_reloads_with_same_public_key() {
        let (key, pkcs8) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
        let again = SigningKey::from_pkcs8(Algorithm::EdDSA, "k1".into(), &pkcs8).unwrap();
        assert_eq!(key.public_jwk(), again.public_jwk());
        assert_eq!(again.kid(), "k1");
        assert_eq!(again.alg(), Algorithm::EdDSA);
    }

    #[test]
    fn public_jwk_shape() {
        let (key, _) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
        let jwk = serde_json::to_value(key.public_jwk()).unwrap();
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], "k1");
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        assert_eq!(x.len(), 32);
        assert!(jwk.get("d").is_none());
    }

    #[test]
    fn bad_pkcs8_and_empty_kid_are_key_errors() {
        assert!(matches!(
            SigningKey::from_pkcs8(Algorithm::EdDSA, "k1".into(), b"not a key"),
            Err(TokenError::Key(_))
        ));
        let (_, pkcs8) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
        assert!(matches!(
            SigningKey::from_pkcs8(Algorithm::EdDSA, String::new(), &pkcs8),
            Err(TokenError::Key(_))
        ));
    }

    #[test]
    fn debug_does_not_print_key_material() {
        let (key, pkcs8) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("k1"));
        assert!(!debug.contains(key.public_jwk().x.as_deref().unwrap()));
        let private_b64 = URL_SAFE_NO_PAD.encode(&pkcs8);
        assert!(!debug.contains(&private_b64[private_b64.len() - 20..]));
        assert!(!debug.contains("content"));
        assert!(!debug.contains("encoding"));
    }

    #[test]
    fn header_has_alg_typ_kid() {
        let (key, _) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
        let claims = Claims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp: 2,
            iat: 1,
            nbf: None,
            jti: "j".into(),
            sid: "sid".into(),
            roles: vec![],
        };
        let token = key.sign(&claims).unwrap();
        let header = token.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"})
        );
    }
}
