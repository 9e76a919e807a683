//! `Jwk` and `Jwks`: public keys as published at `/.well-known/jwks.json` (RFC 7517), and
//! the strict conversion from a JWK to a key the verifier trusts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};

use crate::{Algorithm, TokenError};

/// One public key. Doorward's keys are Ed25519: `kty` `OKP`, `crv` `Ed25519`, `x` the
/// base64url public key (RFC 8037 §2).
///
/// Parsing is lenient (a JWKS may hold fields and keys Doorward does not use; missing `kid`,
/// `alg` or `use` parse as empty); [`crate::Verifier::new`] is strict about which keys it trusts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `OKP` for Ed25519.
    pub kty: String,
    /// Curve: `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The public key, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Key id, matched against the token's `kid` header.
    #[serde(default)]
    pub kid: String,
    /// The JOSE algorithm the key is for, e.g. `EdDSA`.
    #[serde(default)]
    pub alg: String,
    /// Public key use: `sig`.
    #[serde(rename = "use", default)]
    pub use_: String,
}

/// A JWK Set: `{"keys": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys, current signing key first by convention.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// Parses a JWKS document (the body of `/.well-known/jwks.json`).
    ///
    /// Keys of types Doorward does not support still parse; the verifier skips them.
    pub fn from_json(json: &[u8]) -> Result<Jwks, TokenError> {
        serde_json::from_slice(json).map_err(|e| TokenError::Key(format!("invalid JWKS: {e}")))
    }

    /// The key with this `kid`, if any.
    pub fn get(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// The algorithm and verification key of `jwk`, or `None` when the verifier must not trust it:
/// empty `kid`, a use other than `sig`, an `alg` Doorward does not support, or key parameters
/// that do not fit that `alg` (wrong `kty`/`crv`, `x` not 32 bytes of base64url).
///
/// The key is pinned to its `alg`, so a token cannot make the verifier use it with another
/// algorithm (the RS256/HS256 key-confusion attack).
pub(crate) fn verification_key(jwk: &Jwk) -> Option<(Algorithm, DecodingKey)> {
    if jwk.kid.is_empty() || !(jwk.use_.is_empty() || jwk.use_ == "sig") {
        return None;
    }
    let alg = Algorithm::from_name(&jwk.alg)?;
    match alg {
        Algorithm::EdDSA => {
            if jwk.kty != "OKP" || jwk.crv.as_deref() != Some("Ed25519") {
                return None;
            }
            let x = URL_SAFE_NO_PAD.decode(jwk.x.as_deref()?).ok()?;
            if x.len() != 32 {
                return None;
            }
            Some((alg, DecodingKey::from_ed_der(&x)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn ed(kid: &str) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(X.into()),
            kid: kid.into(),
            alg: "EdDSA".into(),
            use_: "sig".into(),
        }
    }

    #[test]
    fn parses_a_jwks_document() {
        let json = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{X}","kid":"k1","alg":"EdDSA","use":"sig"}}]}}"#
        );
        let jwks = Jwks::from_json(json.as_bytes()).unwrap();
        assert_eq!(jwks.keys, vec![ed("k1")]);
        assert_eq!(jwks.get("k1"), Some(&ed("k1")));
        assert_eq!(jwks.get("k2"), None);
    }

    #[test]
    fn serializes_with_use_and_without_none_fields() {
        let mut jwk = ed("k1");
        jwk.crv = None;
        jwk.x = None;
        let json = serde_json::to_value(Jwks { keys: vec![jwk] }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"keys": [{"kty": "OKP", "kid": "k1", "alg": "EdDSA", "use": "sig"}]})
        );
    }

    #[test]
    fn foreign_keys_and_fields_still_parse() {
        let json = br#"{"keys":[
            {"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r1","alg":"RS256","use":"sig","x5c":[]},
            {"kty":"EC","crv":"P-256","x":"AA","y":"AA"}
        ]}"#;
        let jwks = Jwks::from_json(json).unwrap();
        assert_eq!(jwks.keys.len(), 2);
        assert_eq!(jwks.keys[1].kid, "");
    }

    #[test]
    fn invalid_documents_are_key_errors() {
        for bad in [
            &b""[..],
            b"{}",
            b"[]",
            b"{\"keys\":{}}",
            b"{\"keys\":[{}]}",
            b"\xff",
        ] {
            assert!(
                matches!(Jwks::from_json(bad), Err(TokenError::Key(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_well_formed_ed25519_signing_keys_are_trusted() {
        assert!(verification_key(&ed("k1")).is_some());
        let mut no_use = ed("k1");
        no_use.use_ = String::new();
        assert!(verification_key(&no_use).is_some());

        let mut bad = Vec::new();
        bad.push(ed(""));
        let mut j = ed("k1");
        j.use_ = "enc".into();
        bad.push(j);
        let mut j = ed("k1");
        j.alg = "HS256".into();
        bad.push(j);
        let mut j = ed("k1");
        j.alg = String::new();
        bad.push(j);
        let mut j = ed("k1");
        j.kty = "oct".into();
        bad.push(j);
        let mut j = ed("k1");
        j.crv = Some("X25519".into());
        bad.push(j);
        let mut j = ed("k1");
        j.x = None;
        bad.push(j);
        let mut j = ed("k1");
        j.x = Some("AAAA".into());
        bad.push(j);
        let mut j = ed("k1");
        j.x = Some(format!("{X}=="));
        bad.push(j);
        let mut j = ed("k1");
        j.x = Some("!!not base64!!".into());
        bad.push(j);
        for jwk in bad {
            assert!(verification_key(&jwk).is_none(), "{jwk:?}");
        }
    }
}
