//! Argon2id hash and verify with the default parameters (m = 19456 KiB, t = 2, p = 1), through
//! `PasswordHasher` as the server runs them (the hash threads, bounded queue). One verify is
//! the unit of the login-throughput target: cores ÷ this time. `pool/verify_batch` sends one
//! verify per hash thread at once: with the threads on separate cores it takes about one
//! verify's time (the pool's throughput is threads ÷ that).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
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

    let threads = HashPool::default().max_in_flight;
    let hasher = Arc::new(hasher);
    let stored: Arc<str> = stored.into();
    let mut group = c.benchmark_group("pool");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(format!("verify_batch_of_{threads}"), |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut all = tokio::task::JoinSet::new();
                for _ in 0..threads {
                    let (hasher, stored) = (hasher.clone(), stored.clone());
                    all.spawn(async move {
                        let password = Password::for_login("correct horse battery staple").unwrap();
                        hasher.verify(&password, Some(&stored)).await
                    });
                }
                while let Some(verified) = all.join_next().await {
                    assert!(verified.unwrap().unwrap().ok);
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, argon2id);
criterion_main!(benches);
