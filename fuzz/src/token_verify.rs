//! `doorward_token::Verifier::verify` (and `Jwks::from_json`, `Guard::check`)
//! with a fixed key set: trusted `k1` and `k2`, and `k3`, a key an attacker
//! holds that no JWKS lists.
//!
//! Input, by its first bytes:
//! - `{"keys"`: a JWKS document. The verifier built from it must accept the
//!   fixed `k1` token only when the document lists `k1`'s public key.
//! - `{`: structured. Line 1 is the JOSE header JSON, line 2 the payload
//!   JSON; they are signed (raw, as given) with the key the first byte of
//!   line 3 picks (`k1`, `k2`, `k3`). A token that verifies must have been
//!   signed by a trusted key named by its `kid`, and carry exactly the
//!   claims a plain JSON parse of the payload reads. The rest of line 3 are
//!   edits (replace, insert, delete, truncate) applied to the signed token:
//!   an edited token never verifies.
//! - anything else: the compact token itself. If it verifies, its signature
//!   checks out independently (ring, the JWK's key) and is canonical base64url.

use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use doorward_token::{Algorithm, Claims, Jwks, SigningKey, TokenError, Verifier, VerifyPolicy};
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use serde_json::Value;

pub const ISSUER: &str = "https://auth.example";
pub const AUDIENCE: &str = "https://api.example";
/// The verifier's clock.
pub const NOW: i64 = 1_700_000_000;

/// The kids, by signer index: `k1` and `k2` are trusted, `k3` is not.
const KIDS: [&str; 3] = ["k1", "k2", "k3"];

/// An Ed25519 PKCS#8 v1 document around a fixed seed (test keys only).
fn pkcs8(seed: u8) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[seed; 32]);
    der
}

struct Fixture {
    /// Raw signers, by index into `KIDS`.
    pairs: Vec<Ed25519KeyPair>,
    /// The trusted keys as Doorward loads them.
    keys: Vec<SigningKey>,
    jwks: Jwks,
    verifier: Verifier,
    /// A token `k1` signed with the canonical claims, valid at `NOW`.
    valid: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let pairs: Vec<Ed25519KeyPair> = (1..=3u8)
        .map(|seed| Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap())
        .collect();
    let keys: Vec<SigningKey> = (1..=2u8)
        .map(|seed| {
            SigningKey::from_pkcs8(
                Algorithm::EdDSA,
                KIDS[usize::from(seed - 1)].into(),
                &pkcs8(seed),
            )
            .unwrap()
        })
        .collect();
    let jwks = Jwks {
        keys: keys.iter().map(SigningKey::public_jwk).collect(),
    };
    let verifier = Verifier::new(policy(), &jwks);
    let valid = keys[0].sign(&claims()).unwrap();
    Fixture {
        pairs,
        keys,
        jwks,
        verifier,
        valid,
    }
});

pub fn policy() -> VerifyPolicy {
    VerifyPolicy::new(ISSUER, AUDIENCE)
}

/// The claims of the fixed valid token.
pub fn claims() -> Claims {
    Claims {
        iss: ISSUER.into(),
        sub: "0190a3c4-0000-7000-8000-000000000001".into(),
        aud: AUDIENCE.into(),
        exp: NOW + 900,
        iat: NOW,
        nbf: None,
        jti: "jti-1".into(),
        sid: "0190a3c4-0000-7000-8000-000000000002".into(),
        roles: vec!["user".into()],
    }
}

/// The fixed valid token (`k1`), for seeds and tests.
pub fn valid_token() -> String {
    FIXTURE.valid.clone()
}

/// The trusted JWKS (`k1`, `k2`).
pub fn jwks() -> Jwks {
    FIXTURE.jwks.clone()
}

/// A token over exactly these header and payload bytes, signed by
/// `KIDS[signer]` (2 is the untrusted key).
pub fn sign_raw(header: &[u8], payload: &[u8], signer: usize) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = FIXTURE.pairs[signer % 3].sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

pub fn check(data: &[u8]) {
    let fx = &*FIXTURE;
    if data.starts_with(br#"{"keys""#) {
        check_jwks(fx, data);
    } else if data.starts_with(b"{") {
        check_structured(fx, data);
    } else if let Ok(token) = std::str::from_utf8(data) {
        if let Ok(claims) = fx.verifier.verify(token, NOW) {
            assert_signed_by_trusted_key(fx, token, &claims);
        }
    }
}

fn check_jwks(fx: &Fixture, data: &[u8]) {
    let Ok(jwks) = Jwks::from_json(data) else {
        return;
    };
    let verifier = Verifier::new(policy(), &jwks);
    assert!(verifier.kids().iter().all(|k| !k.is_empty()));
    let guard = doorward_guard::Guard::new(policy(), &jwks);
    let verified = verifier.verify(&fx.valid, NOW);
    assert_eq!(verified.is_ok(), guard.check(&fx.valid, NOW).is_ok());
    if verified.is_ok() {
        let k1 = fx.keys[0].public_jwk();
        let listed = jwks.keys.iter().any(|k| {
            k.kid == k1.kid
                && k.x == k1.x
                && k.alg == "EdDSA"
                && k.kty == "OKP"
                && k.crv.as_deref() == Some("Ed25519")
        });
        assert!(listed, "a JWKS without k1's key verified k1's token");
    }
}

fn check_structured(fx: &Fixture, data: &[u8]) {
    let (header, rest) = crate::first_line(data);
    let (payload, edits) = crate::first_line(rest);
    let signer = usize::from(edits.first().copied().unwrap_or(0)) % 3;
    let token = sign_raw(header, payload, signer);
    if let Ok(claims) = fx.verifier.verify(&token, NOW) {
        assert!(signer < 2, "a token signed by an untrusted key verified");
        let header: Value = serde_json::from_slice(header).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(
            header["kid"], KIDS[signer],
            "verified with another key's kid"
        );
        assert!(header.get("crit").is_none());
        let typ = header["typ"].as_str().unwrap().to_ascii_lowercase();
        assert!(typ == "at+jwt" || typ == "application/at+jwt", "{typ}");
        assert_claims_match_payload(&claims, payload);
    }
    // Edits: whatever they make of the signed token, it no longer verifies.
    let mut edited = token.clone().into_bytes();
    for op in edits.get(1..).unwrap_or_default().chunks(3) {
        let [op, at, byte] = [0, 1, 2].map(|i| op.get(i).copied().unwrap_or(0));
        // Positions from the end: the signature is where edits matter most.
        let at = edited.len().saturating_sub(1 + usize::from(at));
        match op % 4 {
            0 => {
                if let Some(b) = edited.get_mut(at) {
                    *b = byte;
                }
            }
            1 => edited.insert(at.min(edited.len()), byte),
            2 => {
                if at < edited.len() {
                    edited.remove(at);
                }
            }
            _ => edited.truncate(at),
        }
    }
    if edited != token.as_bytes() {
        if let Ok(edited) = std::str::from_utf8(&edited) {
            let result = fx.verifier.verify(edited, NOW);
            assert!(
                result.is_err(),
                "an edited token verified: {edited:?} (signed: {token:?})"
            );
        }
    }
}

/// What a verified token's payload says, read by a plain JSON parse, is what
/// the verifier returned, and the time and audience checks hold.
fn assert_claims_match_payload(claims: &Claims, payload: &[u8]) {
    let p: Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(p["iss"], ISSUER);
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, AUDIENCE);
    match &p["aud"] {
        Value::String(a) => assert_eq!(a, AUDIENCE),
        Value::Array(a) => assert!(a.iter().any(|v| v == AUDIENCE)),
        other => panic!("aud {other:?} verified"),
    }
    assert_eq!(p["sub"], claims.sub.as_str());
    assert_eq!(p["sid"], claims.sid.as_str());
    assert_eq!(p["jti"], claims.jti.as_str());
    assert_eq!(p["exp"].as_i64(), Some(claims.exp));
    assert_eq!(p["iat"].as_i64(), Some(claims.iat));
    assert_eq!(p.get("nbf").and_then(Value::as_i64), claims.nbf);
    let roles: Vec<&str> = p["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(roles, claims.roles);
    assert!(
        NOW <= claims.exp.saturating_add(5),
        "expired token verified"
    );
    if let Some(nbf) = claims.nbf {
        assert!(NOW + 5 >= nbf, "not-yet-valid token verified");
    }
}

/// A raw token that verified: the signature is a trusted key's, checked
/// without jsonwebtoken, over exactly the text before the last dot, and in
/// canonical base64url (one signature, one spelling).
fn assert_signed_by_trusted_key(fx: &Fixture, token: &str, claims: &Claims) {
    let (input, sig_b64) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.encode(&sig),
        sig_b64,
        "non-canonical signature"
    );
    let (header, payload) = input.split_once('.').unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let signer = KIDS[..2]
        .iter()
        .position(|k| header["kid"] == *k)
        .expect("verified with a kid outside the key set");
    let public = fx.pairs[signer].public_key();
    let trusted = UnparsedPublicKey::new(&ED25519, public.as_ref())
        .verify(input.as_bytes(), &sig)
        .is_ok();
    assert!(trusted, "verified without its kid's signature: {token:?}");
    assert_claims_match_payload(claims, &URL_SAFE_NO_PAD.decode(payload).unwrap());
}

/// For the seed test: the fixed token verifies, and an unknown key's does not.
pub fn self_test() -> Result<(), TokenError> {
    let fx = &*FIXTURE;
    fx.verifier.verify(&fx.valid, NOW)?;
    let header = br#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}"#;
    let payload = serde_json::to_vec(&claims()).unwrap();
    fx.verifier.verify(&sign_raw(header, &payload, 0), NOW)?;
    assert!(fx
        .verifier
        .verify(&sign_raw(header, &payload, 2), NOW)
        .is_err());
    Ok(())
}
