//! Argon2id hash and verify with the default parameters (m = 19456 KiB, t = 2, p = 1), through
//! `PasswordHasher` as the server runs them (blocking pool, bounded). One verify is the unit
//! of the login-throughput target: cores ÷ this time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use doorward_core::passwords::{HashParams, HashPool, PasswordHasher};
use doorward_core::types::Password;

fn argon2id(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let hasher = PasswordHasher::new(HashParams::default(), HashPool::default()).unwrap();
    let password = Password::for_login("correct horse battery staple").unwrap();
    let stored = runtime.block_on(hasher.hash(&password)).unwrap();

    let mut group = c.benchmark_group("argon2id_default");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("hash", |b| {
        b.iter(|| runtime.block_on(hasher.hash(&password)).unwrap())
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            let verified = runtime
                .block_on(hasher.verify(&password, Some(&stored)))
                .unwrap();
            assert!(verified.ok);
        })
    });
    group.finish();
}

criterion_group!(benches, argon2id);
criterion_main!(benches);
