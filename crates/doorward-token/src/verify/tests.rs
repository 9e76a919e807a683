//! Tests for the verifier: one for each rule, plus the classic JWT attacks.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::Ed25519KeyPair;
use serde_json::{json, Value};

use super::*;
use crate::SigningKey;

const ISS: &str = "https://auth.example";
const AUD: &str = "https://api.example";
const NOW: i64 = 1_700_000_000;

struct Fixture {
    key: SigningKey,
    pkcs8: Vec<u8>,
    verifier: Verifier,
}

fn fixture() -> Fixture {
    let (key, pkcs8) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
    let verifier = Verifier::new(
        policy(),
        &Jwks {
            keys: vec![key.public_jwk()],
        },
    );
    Fixture {
        key,
        pkcs8,
        verifier,
    }
}

fn policy() -> VerifyPolicy {
    VerifyPolicy {
        issuer: ISS.into(),
        audience: AUD.into(),
        leeway_secs: 5,
        algorithms: vec![Algorithm::EdDSA],
    }
}

fn claims() -> Claims {
    Claims {
        iss: ISS.into(),
        sub: "user-1".into(),
        aud: AUD.into(),
        exp: NOW + 900,
        iat: NOW,
        nbf: None,
        jti: "jti-1".into(),
        sid: "sid-1".into(),
        roles: vec!["admin".into()],
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_json(value: &Value) -> String {
    b64(serde_json::to_vec(value).unwrap())
}

fn header(kid: &str) -> Value {
    json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid})
}

/// Signs arbitrary header and payload bytes with an Ed25519 PKCS#8 key, as an attacker could.
fn forge_raw(pkcs8: &[u8], header: &Value, payload: &[u8]) -> String {
    let input = format!("{}.{}", b64_json(header), b64(payload));
    let sig = Ed25519KeyPair::from_pkcs8(pkcs8)
        .unwrap()
        .sign(input.as_bytes());
    format!("{input}.{}", b64(sig))
}

fn forge(pkcs8: &[u8], header: &Value, payload: &Value) -> String {
    forge_raw(pkcs8, header, &serde_json::to_vec(payload).unwrap())
}

fn claims_json() -> Value {
    serde_json::to_value(claims()).unwrap()
}

#[test]
fn sign_then_verify_round_trips() {
    let f = fixture();
    let token = f.key.sign(&claims()).unwrap();
    assert_eq!(f.verifier.verify(&token, NOW), Ok(claims()));
    let with_nbf = Claims {
        nbf: Some(NOW),
        ..claims()
    };
    let token = f.key.sign(&with_nbf).unwrap();
    assert_eq!(f.verifier.verify(&token, NOW), Ok(with_nbf));
}

#[test]
fn time_is_the_callers_not_the_system_clock() {
    // Long expired by the wall clock, valid at the `now` we pass (and vice versa).
    let f = fixture();
    let old = Claims {
        exp: 200,
        iat: 100,
        nbf: Some(100),
        ..claims()
    };
    let token = f.key.sign(&old).unwrap();
    assert_eq!(f.verifier.verify(&token, 150), Ok(old));
    let future = Claims {
        exp: 4_000_000_200,
        nbf: Some(4_000_000_000),
        ..claims()
    };
    let token = f.key.sign(&future).unwrap();
    assert_eq!(f.verifier.verify(&token, 4_000_000_100), Ok(future));
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::NotYetValid));
}

#[test]
fn tampered_payload_is_bad_signature() {
    let f = fixture();
    let token = f.key.sign(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut evil = claims_json();
    evil["roles"] = json!(["admin", "superuser"]);
    let tampered = format!("{}.{}.{}", parts[0], b64_json(&evil), parts[2]);
    assert_eq!(
        f.verifier.verify(&tampered, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn tampered_header_is_bad_signature() {
    let f = fixture();
    let token = f.key.sign(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let header = b64_json(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1", "x": 1}));
    let tampered = format!("{header}.{}.{}", parts[1], parts[2]);
    assert_eq!(
        f.verifier.verify(&tampered, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn truncated_or_stripped_signature_is_refused() {
    let f = fixture();
    let token = f.key.sign(&claims()).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    assert_eq!(
        f.verifier.verify(&format!("{input}."), NOW),
        Err(TokenError::BadSignature)
    );
    for cut in [1, 2, 3, 4, 40] {
        let short = format!("{input}.{}", &sig[..sig.len() - cut]);
        assert_eq!(
            f.verifier.verify(&short, NOW),
            Err(TokenError::BadSignature),
            "cut {cut}"
        );
    }
    assert_eq!(f.verifier.verify(input, NOW), Err(TokenError::Malformed));
}

#[test]
fn wrong_key_with_same_kid_is_bad_signature() {
    let f = fixture();
    let (other, _) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
    let token = other.sign(&claims()).unwrap();
    assert_eq!(
        f.verifier.verify(&token, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn expiry_allows_leeway_up_to_five_seconds() {
    let f = fixture();
    let c = claims();
    let token = f.key.sign(&c).unwrap();
    assert!(f.verifier.verify(&token, c.exp).is_ok());
    assert!(f.verifier.verify(&token, c.exp + 5).is_ok());
    assert_eq!(
        f.verifier.verify(&token, c.exp + 6),
        Err(TokenError::Expired)
    );

    let strict = Verifier::new(
        VerifyPolicy {
            leeway_secs: 0,
            ..policy()
        },
        &Jwks {
            keys: vec![f.key.public_jwk()],
        },
    );
    assert!(strict.verify(&token, c.exp).is_ok());
    assert_eq!(strict.verify(&token, c.exp + 1), Err(TokenError::Expired));

    // A policy asking for more than the contract allows is clamped to 5 s.
    let lax = Verifier::new(
        VerifyPolicy {
            leeway_secs: 3600,
            ..policy()
        },
        &Jwks {
            keys: vec![f.key.public_jwk()],
        },
    );
    assert!(lax.verify(&token, c.exp + 5).is_ok());
    assert_eq!(lax.verify(&token, c.exp + 6), Err(TokenError::Expired));
    let huge = Verifier::new(
        VerifyPolicy {
            leeway_secs: u64::MAX,
            ..policy()
        },
        &Jwks {
            keys: vec![f.key.public_jwk()],
        },
    );
    assert_eq!(huge.verify(&token, c.exp + 6), Err(TokenError::Expired));
}

#[test]
fn extreme_times_do_not_overflow() {
    let f = fixture();
    let c = Claims {
        exp: i64::MAX,
        nbf: Some(i64::MIN),
        ..claims()
    };
    let token = f.key.sign(&c).unwrap();
    assert!(f.verifier.verify(&token, i64::MAX).is_ok());
    let c = Claims {
        exp: i64::MIN,
        nbf: Some(i64::MAX),
        ..claims()
    };
    let token = f.key.sign(&c).unwrap();
    assert_eq!(
        f.verifier.verify(&token, i64::MIN),
        Err(TokenError::NotYetValid)
    );
    assert_eq!(f.verifier.verify(&token, 0), Err(TokenError::Expired));
}

#[test]
fn exp_is_required() {
    let f = fixture();
    let mut payload = claims_json();
    payload.as_object_mut().unwrap().remove("exp");
    let token = forge(&f.pkcs8, &header("k1"), &payload);
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::Malformed));
    payload["exp"] = json!("tomorrow");
    let token = forge(&f.pkcs8, &header("k1"), &payload);
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::Malformed));
    payload["exp"] = Value::Null;
    let token = forge(&f.pkcs8, &header("k1"), &payload);
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::Malformed));
}

#[test]
fn other_claims_are_required() {
    let f = fixture();
    for claim in ["iss", "sub", "aud", "iat", "jti", "sid", "roles"] {
        let mut payload = claims_json();
        payload.as_object_mut().unwrap().remove(claim);
        let token = forge(&f.pkcs8, &header("k1"), &payload);
        assert!(f.verifier.verify(&token, NOW).is_err(), "{claim}");
    }
}

#[test]
fn not_before_allows_leeway_up_to_five_seconds() {
    let f = fixture();
    let c = Claims {
        nbf: Some(NOW + 100),
        ..claims()
    };
    let token = f.key.sign(&c).unwrap();
    assert!(f.verifier.verify(&token, NOW + 100).is_ok());
    assert!(f.verifier.verify(&token, NOW + 95).is_ok());
    assert_eq!(
        f.verifier.verify(&token, NOW + 94),
        Err(TokenError::NotYetValid)
    );
}

#[test]
fn wrong_issuer_is_refused() {
    let f = fixture();
    let c = Claims {
        iss: "https://evil.example".into(),
        ..claims()
    };
    let token = f.key.sign(&c).unwrap();
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::WrongIssuer));
    let c = Claims {
        iss: format!("{ISS}/"),
        ..claims()
    };
    let token = f.key.sign(&c).unwrap();
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::WrongIssuer));
}

#[test]
fn wrong_audience_is_refused() {
    let f = fixture();
    let c = Claims {
        aud: "https://other.example".into(),
        ..claims()
    };
    let token = f.key.sign(&c).unwrap();
    assert_eq!(
        f.verifier.verify(&token, NOW),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn audience_array_must_contain_ours() {
    let f = fixture();
    let mut payload = claims_json();
    payload["aud"] = json!(["https://other.example", AUD]);
    let token = forge(&f.pkcs8, &header("k1"), &payload);
    assert_eq!(f.verifier.verify(&token, NOW), Ok(claims()));

    payload["aud"] = json!(["https://other.example"]);
    let token = forge(&f.pkcs8, &header("k1"), &payload);
    assert_eq!(
        f.verifier.verify(&token, NOW),
        Err(TokenError::WrongAudience)
    );
    payload["aud"] = json!([]);
    let token = forge(&f.pkcs8, &header("k1"), &payload);
    assert_eq!(
        f.verifier.verify(&token, NOW),
        Err(TokenError::WrongAudience)
    );
    payload["aud"] = json!(42);
    let token = forge(&f.pkcs8, &header("k1"), &payload);
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::Malformed));
}

#[test]
fn alg_none_is_refused() {
    let f = fixture();
    let payload = b64_json(&claims_json());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = b64_json(&json!({"alg": alg, "typ": "at+jwt", "kid": "k1"}));
        for token in [format!("{h}.{payload}."), format!("{h}.{payload}.AAAA")] {
            assert_eq!(
                f.verifier.verify(&token, NOW),
                Err(TokenError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    // The key-confusion attack: the attacker takes our published public key and uses it as
    // an HMAC secret, hoping the verifier feeds the same bytes to HMAC.
    let f = fixture();
    let x = f.key.public_jwk().x.unwrap();
    let raw = URL_SAFE_NO_PAD.decode(&x).unwrap();
    let jwk_json = serde_json::to_vec(&f.key.public_jwk()).unwrap();
    for secret in [raw.as_slice(), x.as_bytes(), jwk_json.as_slice()] {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = Some("k1".into());
        let token = jsonwebtoken::encode(
            &h,
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap();
        assert_eq!(
            f.verifier.verify(&token, NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }
}

#[test]
fn only_allow_listed_algorithms_are_accepted() {
    let f = fixture();
    let token = f.key.sign(&claims()).unwrap();
    let none_allowed = Verifier::new(
        VerifyPolicy {
            algorithms: vec![],
            ..policy()
        },
        &Jwks {
            keys: vec![f.key.public_jwk()],
        },
    );
    assert_eq!(
        none_allowed.verify(&token, NOW),
        Err(TokenError::UnsupportedAlgorithm)
    );
    for alg in ["RS256", "ES256", "PS256", "HS512", "eddsa", "Ed25519", ""] {
        let h = json!({"alg": alg, "typ": "at+jwt", "kid": "k1"});
        let token = forge(&f.pkcs8, &h, &claims_json());
        assert_eq!(
            f.verifier.verify(&token, NOW),
            Err(TokenError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
}

#[test]
fn unknown_kid_is_refused() {
    let f = fixture();
    let (other, _) = SigningKey::generate(Algorithm::EdDSA, "k2".into()).unwrap();
    let token = other.sign(&claims()).unwrap();
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::UnknownKey));
}

#[test]
fn missing_kid_is_refused() {
    let f = fixture();
    let token = forge(
        &f.pkcs8,
        &json!({"alg": "EdDSA", "typ": "at+jwt"}),
        &claims_json(),
    );
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::UnknownKey));
    let token = forge(
        &f.pkcs8,
        &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": null}),
        &claims_json(),
    );
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::UnknownKey));
    let token = forge(
        &f.pkcs8,
        &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": 1}),
        &claims_json(),
    );
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::Malformed));
}

#[test]
fn typ_must_be_at_jwt() {
    let f = fixture();
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("at+jwt2"),
        json!("text/at+jwt"),
        json!("application/jwt"),
        json!("application/at+jwt/x"),
        json!(""),
        Value::Null,
    ] {
        let token = forge(
            &f.pkcs8,
            &json!({"alg": "EdDSA", "typ": typ, "kid": "k1"}),
            &claims_json(),
        );
        assert_eq!(
            f.verifier.verify(&token, NOW),
            Err(TokenError::WrongType),
            "{typ}"
        );
    }
    let token = forge(
        &f.pkcs8,
        &json!({"alg": "EdDSA", "kid": "k1"}),
        &claims_json(),
    );
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::WrongType));
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+jwt",
    ] {
        let token = forge(
            &f.pkcs8,
            &json!({"alg": "EdDSA", "typ": typ, "kid": "k1"}),
            &claims_json(),
        );
        assert_eq!(f.verifier.verify(&token, NOW), Ok(claims()), "{typ}");
    }
}

#[test]
fn embedded_jwk_header_is_not_trusted() {
    // The attacker signs with their own key and ships its public half in the header.
    let f = fixture();
    let (attacker, attacker_pkcs8) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
    let jwk = serde_json::to_value(attacker.public_jwk()).unwrap();
    let h = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1", "jwk": jwk});
    let token = forge(&attacker_pkcs8, &h, &claims_json());
    assert_eq!(
        f.verifier.verify(&token, NOW),
        Err(TokenError::BadSignature)
    );

    let h = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "evil", "jwk": jwk});
    let token = forge(&attacker_pkcs8, &h, &claims_json());
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::UnknownKey));
    let h = json!({"alg": "EdDSA", "typ": "at+jwt", "jwk": jwk});
    let token = forge(&attacker_pkcs8, &h, &claims_json());
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::UnknownKey));
}

#[test]
fn jku_and_x5u_headers_are_ignored() {
    let f = fixture();
    let (_, attacker_pkcs8) = SigningKey::generate(Algorithm::EdDSA, "evil".into()).unwrap();
    for extra in ["jku", "x5u"] {
        let mut h = header("evil");
        h[extra] = json!("https://evil.example/jwks.json");
        let token = forge(&attacker_pkcs8, &h, &claims_json());
        assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::UnknownKey));
        // Our own key's token with the header present is judged on our key alone.
        let mut h = header("k1");
        h[extra] = json!("https://evil.example/jwks.json");
        let token = forge(&f.pkcs8, &h, &claims_json());
        assert_eq!(f.verifier.verify(&token, NOW), Ok(claims()));
    }
}

#[test]
fn crit_header_is_refused() {
    let f = fixture();
    let mut h = header("k1");
    h["crit"] = json!(["b64"]);
    h["b64"] = json!(false);
    let token = forge(&f.pkcs8, &h, &claims_json());
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::Malformed));
}

#[test]
fn header_is_judged_before_the_payload() {
    // Payload garbage is never looked at when the header already fails.
    let f = fixture();
    let junk = b64(b"not json");
    let none = b64_json(&json!({"alg": "none", "typ": "at+jwt", "kid": "k1"}));
    assert_eq!(
        f.verifier.verify(&format!("{none}.{junk}."), NOW),
        Err(TokenError::UnsupportedAlgorithm)
    );
    let unknown = b64_json(&header("nope"));
    assert_eq!(
        f.verifier.verify(&format!("{unknown}.{junk}.AAAA"), NOW),
        Err(TokenError::UnknownKey)
    );
    // And an unsigned payload is never parsed: bad signature wins over bad claims.
    let h = b64_json(&header("k1"));
    assert_eq!(
        f.verifier.verify(&format!("{h}.{junk}.AAAA"), NOW),
        Err(TokenError::BadSignature)
    );
    // Validly signed junk is malformed.
    let token = forge_raw(&f.pkcs8, &header("k1"), b"not json");
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::Malformed));
}

#[test]
fn duplicate_claims_are_malformed() {
    let f = fixture();
    let payload = format!(
        r#"{{"iss":"{ISS}","sub":"user-1","sub":"admin","aud":"{AUD}","exp":{},"iat":{NOW},"jti":"j","sid":"s","roles":[]}}"#,
        NOW + 900
    );
    let token = forge_raw(&f.pkcs8, &header("k1"), payload.as_bytes());
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::Malformed));
    let h = b64(br#"{"alg":"none","alg":"EdDSA","typ":"at+jwt","kid":"k1"}"#);
    let p = b64_json(&claims_json());
    assert_eq!(
        f.verifier.verify(&format!("{h}.{p}.AAAA"), NOW),
        Err(TokenError::Malformed)
    );
}

#[test]
fn oversized_token_is_malformed_even_if_signed() {
    let f = fixture();
    let mut c = claims();
    c.roles = (0..200).map(|i| format!("role-{i:04}")).collect();
    let token = f.key.sign(&c).unwrap();
    assert!(token.len() < MAX_TOKEN_LEN);
    assert!(f.verifier.verify(&token, NOW).is_ok());
    c.roles = (0..800).map(|i| format!("role-{i:04}")).collect();
    let token = f.key.sign(&c).unwrap();
    assert!(token.len() > MAX_TOKEN_LEN);
    assert_eq!(f.verifier.verify(&token, NOW), Err(TokenError::Malformed));
    let huge = "A".repeat(10 * 1024 * 1024);
    assert_eq!(f.verifier.verify(&huge, NOW), Err(TokenError::Malformed));
}

#[test]
fn garbage_is_malformed() {
    let f = fixture();
    let token = f.key.sign(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let not_json = b64(b"{not json");
    let array = b64_json(&json!([1, 2]));
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "abc".into(),
        "abc.def".into(),
        format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[2]),
        format!("{}.{}.{}.", parts[0], parts[1], parts[2]),
        format!("{}..{}", parts[0], parts[2]),
        format!(".{}.{}", parts[1], parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!(" {token}"),
        format!("{token}\n"),
        format!("Bearer {token}"),
        "!!!.###.$$$".into(),
        "ü.ü.ü".into(),
        format!("{not_json}.{}.{}", parts[1], parts[2]),
        format!("{array}.{}.{}", parts[1], parts[2]),
        format!("{}.{}.{}", b64("null"), parts[1], parts[2]),
        format!("{}.{}.{}", b64("\"at+jwt\""), parts[1], parts[2]),
        format!("A.{}.{}", parts[1], parts[2]),
    ];
    for case in cases {
        assert_eq!(
            f.verifier.verify(&case, NOW),
            Err(TokenError::Malformed),
            "{case:?}"
        );
    }
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_input_never_panics_or_verifies() {
    let f = fixture();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
    for _ in 0..20_000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = if rng.below(2) == 0 {
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect()
        };
        let input = String::from_utf8_lossy(&bytes);
        assert!(f.verifier.verify(&input, NOW).is_err());
    }
}

#[test]
fn every_single_character_change_is_refused() {
    let f = fixture();
    let token = f.key.sign(&claims()).unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    let mut rng = Rng(42);
    for i in 0..token.len() {
        for _ in 0..4 {
            let mut bytes = token.clone().into_bytes();
            let c = alphabet[rng.below(alphabet.len())];
            if bytes[i] == c {
                continue;
            }
            bytes[i] = c;
            let mutated = String::from_utf8(bytes).unwrap();
            assert!(f.verifier.verify(&mutated, NOW).is_err(), "{mutated}");
        }
    }
}

#[test]
fn verifier_skips_unusable_keys() {
    let (k1, _) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
    let (k2, _) = SigningKey::generate(Algorithm::EdDSA, "k2".into()).unwrap();
    let mut bad_x = k2.public_jwk();
    bad_x.kid = "bad-x".into();
    bad_x.x = Some("AAAA".into());
    let mut rsa = k2.public_jwk();
    rsa.kid = "rsa".into();
    rsa.kty = "RSA".into();
    rsa.alg = "RS256".into();
    let mut hmac = k2.public_jwk();
    hmac.kid = "oct".into();
    hmac.kty = "oct".into();
    hmac.alg = "HS256".into();
    let mut dup = k2.public_jwk();
    dup.kid = "k1".into();
    let jwks = Jwks {
        keys: vec![k1.public_jwk(), bad_x, rsa, hmac, dup, k2.public_jwk()],
    };
    let verifier = Verifier::new(policy(), &jwks);
    assert_eq!(verifier.kids(), vec!["k1".to_owned(), "k2".to_owned()]);
    // The first k1 won: a token of the real k1 verifies.
    assert!(verifier.verify(&k1.sign(&claims()).unwrap(), NOW).is_ok());
    assert!(verifier.verify(&k2.sign(&claims()).unwrap(), NOW).is_ok());
    let debug = format!("{verifier:?}");
    assert!(debug.contains("k1") && !debug.contains(k1.public_jwk().x.as_deref().unwrap()));
}

#[test]
fn policy_new_defaults() {
    let p = VerifyPolicy::new(ISS, AUD);
    assert_eq!(p, policy());
}
