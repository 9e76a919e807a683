//! `Guard::check` cold (cache off: a full EdDSA verify every time) against cached (a repeat
//! token: hash, compare, expiry and revocation checks only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use doorward_guard::{Claims, Guard, Jwks, VerifyPolicy};
use doorward_token::{Algorithm, SigningKey};

const NOW: i64 = 1_700_000_000;

fn guard_check(c: &mut Criterion) {
    let (key, _) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let policy = VerifyPolicy::new("https://auth.example", "https://auth.example");
    let token = key
        .sign(&Claims {
            iss: "https://auth.example".into(),
            sub: "0190c6a0-7b8e-7c3a-9f1e-2d4b5a6c7d8e".into(),
            aud: "https://auth.example".into(),
            exp: NOW + 900,
            iat: NOW,
            nbf: None,
            jti: "0190c6a0-7b8e-7c3a-9f1e-2d4b5a6c7d8f".into(),
            sid: "0190c6a0-7b8e-7c3a-9f1e-2d4b5a6c7d90".into(),
            roles: vec!["user".into()],
        })
        .unwrap();
    let cold = Guard::with_cache_capacity(policy.clone(), &jwks, 0);
    let cached = Guard::new(policy, &jwks);
    // A realistic revocation set: a few hundred recent logouts.
    for i in 0..500 {
        cold.revocations()
            .revoke(&format!("revoked-{i}"), NOW + 900);
        cached
            .revocations()
            .revoke(&format!("revoked-{i}"), NOW + 900);
    }
    cached.check(&token, NOW).unwrap();

    let mut group = c.benchmark_group("guard_check");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("cold", |b| {
        b.iter(|| cold.check(black_box(&token), NOW).unwrap())
    });
    group.bench_function("cached_claims", |b| {
        b.iter(|| cached.check(black_box(&token), NOW).unwrap())
    });
    group.bench_function("cached_shared", |b| {
        b.iter(|| cached.check_shared(black_box(&token), NOW).unwrap())
    });
    group.finish();
}

criterion_group!(benches, guard_check);
criterion_main!(benches);
