//! Signing and verifying an EdDSA access token: the per-request cost the guard's cache saves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use doorward_token::{Algorithm, Claims, Jwks, SigningKey, Verifier, VerifyPolicy};

const NOW: i64 = 1_700_000_000;

fn claims() -> Claims {
    Claims {
        iss: "https://auth.example".into(),
        sub: "0190c6a0-7b8e-7c3a-9f1e-2d4b5a6c7d8e".into(),
        aud: "https://auth.example".into(),
        exp: NOW + 900,
        iat: NOW,
        nbf: None,
        jti: "0190c6a0-7b8e-7c3a-9f1e-2d4b5a6c7d8f".into(),
        sid: "0190c6a0-7b8e-7c3a-9f1e-2d4b5a6c7d90".into(),
        roles: vec!["user".into()],
    }
}

fn sign_and_verify(c: &mut Criterion) {
    let (key, _) = SigningKey::generate(Algorithm::EdDSA, "k1".into()).unwrap();
    let verifier = Verifier::new(
        VerifyPolicy::new("https://auth.example", "https://auth.example"),
        &Jwks {
            keys: vec![key.public_jwk()],
        },
    );
    let claims = claims();
    let token = key.sign(&claims).unwrap();

    let mut group = c.benchmark_group("token_eddsa");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("sign", |b| b.iter(|| key.sign(black_box(&claims)).unwrap()));
    group.bench_function("verify", |b| {
        b.iter(|| verifier.verify(black_box(&token), NOW).unwrap())
    });
    group.finish();
}

criterion_group!(benches, sign_and_verify);
criterion_main!(benches);
