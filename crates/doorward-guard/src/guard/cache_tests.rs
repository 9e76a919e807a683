//! The verified-token cache as the guard uses it: each test fails if one of the cache's
//! promises (same claims, expiry, revocation, key change, exact token, bound) is dropped.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use doorward_token::{Algorithm, SigningKey};

use super::*;

const NOW: i64 = 1_700_000_000;

fn claims(sub: &str, sid: &str) -> Claims {
    Claims {
        iss: "https://auth.example".into(),
        sub: sub.into(),
        aud: "https://api.example".into(),
        exp: NOW + 900,
        iat: NOW,
        nbf: None,
        jti: format!("j-{sub}-{sid}"),
        sid: sid.into(),
        roles: vec!["user".into()],
    }
}

fn setup(capacity: usize) -> (SigningKey, Guard) {
    let (key, _) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
    let guard = Guard::with_cache_capacity(
        VerifyPolicy::new("https://auth.example", "https://api.example"),
        &Jwks {
            keys: vec![key.public_jwk()],
        },
        capacity,
    );
    (key, guard)
}

#[test]
fn a_hit_returns_the_same_claims_without_verifying_again() {
    let (key, guard) = setup(1_000);
    let token = key.sign(&claims("u1", "s1")).unwrap();
    let first = guard.check_shared(&token, NOW).unwrap();
    assert_eq!(guard.cached_tokens(), 1);
    let second = guard.check_shared(&token, NOW + 1).unwrap();
    assert!(Arc::ptr_eq(&first, &second), "second check was not a hit");
    assert_eq!(*second, claims("u1", "s1"));
    assert_eq!(guard.check(&token, NOW + 2), Ok(claims("u1", "s1")));
}

#[test]
fn a_cached_token_past_its_expiry_is_refused() {
    let (key, guard) = setup(1_000);
    let token = key.sign(&claims("u1", "s1")).unwrap();
    assert!(guard.check(&token, NOW).is_ok());
    // The verifier's leeway (5 s) still applies to a cached token, and no more.
    assert!(guard.check(&token, NOW + 905).is_ok());
    assert_eq!(
        guard.check(&token, NOW + 906),
        Err(GuardError::Invalid(TokenError::Expired))
    );
    assert_eq!(guard.cached_tokens(), 0, "the expired entry is dropped");
}

#[test]
fn a_cached_token_before_its_nbf_is_refused() {
    let (key, guard) = setup(1_000);
    let token = key
        .sign(&Claims {
            nbf: Some(NOW),
            ..claims("u1", "s1")
        })
        .unwrap();
    assert!(guard.check(&token, NOW).is_ok());
    assert_eq!(
        guard.check(&token, NOW - 6),
        Err(GuardError::Invalid(TokenError::NotYetValid))
    );
}

#[test]
fn a_revoked_session_is_refused_on_a_hit() {
    let (key, guard) = setup(1_000);
    let token = key.sign(&claims("u1", "s1")).unwrap();
    assert!(guard.check(&token, NOW).is_ok());
    guard.revocations().revoke("s1", NOW + 900);
    assert_eq!(guard.check(&token, NOW), Err(GuardError::Revoked));
    assert_eq!(guard.check_shared(&token, NOW), Err(GuardError::Revoked));
}

#[test]
fn set_keys_refuses_cached_tokens_of_a_removed_key_at_once() {
    let (key, guard) = setup(1_000);
    let token = key.sign(&claims("u1", "s1")).unwrap();
    assert!(guard.check(&token, NOW).is_ok());
    let (other, _) = SigningKey::generate(Algorithm::EdDSA, "k2".into()).unwrap();
    guard.set_keys(&Jwks {
        keys: vec![other.public_jwk()],
    });
    assert_eq!(guard.cached_tokens(), 0);
    assert_eq!(
        guard.check(&token, NOW),
        Err(GuardError::Invalid(TokenError::UnknownKey))
    );
}

#[test]
fn set_keys_during_concurrent_checks_leaves_no_stale_entry() {
    let (key, guard) = setup(1_000);
    let tokens: Vec<String> = (0..50)
        .map(|i| key.sign(&claims(&format!("u{i}"), "s1")).unwrap())
        .collect();
    let tokens = Arc::new(tokens);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let guard = guard.clone();
            let tokens = Arc::clone(&tokens);
            std::thread::spawn(move || {
                for _ in 0..20 {
                    for token in tokens.iter() {
                        let _ = guard.check(token, NOW);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(5));
    guard.set_keys(&Jwks::default());
    for token in tokens.iter() {
        assert_eq!(
            guard.check(token, NOW),
            Err(GuardError::Invalid(TokenError::UnknownKey))
        );
    }
    for w in workers {
        w.join().unwrap();
    }
    for token in tokens.iter() {
        assert!(guard.check(token, NOW).is_err());
    }
}

#[test]
fn a_forged_token_with_a_cached_tokens_signature_is_refused() {
    let (key, guard) = setup(1_000);
    let token = key.sign(&claims("u1", "s1")).unwrap();
    assert!(guard.check(&token, NOW).is_ok());
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let (header, _) = signing_input.split_once('.').unwrap();
    // Same header and signature, the payload of an admin of another user.
    let evil = Claims {
        roles: vec!["admin".into()],
        ..claims("u2", "s1")
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil).unwrap());
    let forged = format!("{header}.{payload}.{signature}");
    assert_eq!(
        guard.check(&forged, NOW),
        Err(GuardError::Invalid(TokenError::BadSignature))
    );
    // One byte of the payload changed, same length.
    let mut bytes = token.clone().into_bytes();
    let at = header.len() + 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert!(guard.check(&tampered, NOW).is_err());
    // The genuine token still hits.
    assert!(guard.check(&token, NOW).is_ok());
}

#[test]
fn the_cache_never_holds_more_than_its_capacity() {
    let (key, guard) = setup(64);
    assert_eq!(guard.cache_capacity(), 64);
    for i in 0..500 {
        let token = key.sign(&claims(&format!("u{i}"), "s1")).unwrap();
        assert!(guard.check(&token, NOW).is_ok());
        assert!(
            guard.cached_tokens() <= 64,
            "{} cached",
            guard.cached_tokens()
        );
    }
    assert!(guard.cached_tokens() > 0);
    let (_, off) = setup(0);
    assert_eq!(off.cache_capacity(), 0);
}
