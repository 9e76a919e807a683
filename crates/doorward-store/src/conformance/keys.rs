//! Conformance cases for signing keys: the first key once, activation
//! retiring the previous one, both atomic.

use std::sync::Arc;

use doorward_core::store::KeyRecord;
use time::OffsetDateTime;
use tokio::sync::Barrier;

use super::{at, Fixture};

pub(super) fn key(kid: &str, activated_at: OffsetDateTime) -> KeyRecord {
    KeyRecord {
        kid: kid.to_owned(),
        alg: "EdDSA".to_owned(),
        public_jwk: format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}"#
        ),
        // Arbitrary bytes, NULs included: stored opaque.
        private_key: vec![0, 1, 2, 0xff, 0, kid.len() as u8],
        created_at: activated_at,
        activated_at,
        retired_at: None,
    }
}

fn retired(mut k: KeyRecord, at: OffsetDateTime) -> KeyRecord {
    k.retired_at = Some(at);
    k
}

pub async fn first_signing_key_is_inserted_only_into_an_empty_table(fx: &Fixture) {
    let store = fx.open().await;
    assert!(store.signing_keys().await.unwrap().is_empty());
    let k1 = key("k1", at(0));
    assert!(store.insert_first_signing_key(&k1).await.unwrap());
    assert!(!store
        .insert_first_signing_key(&key("k2", at(10)))
        .await
        .unwrap());
    assert_eq!(store.signing_keys().await.unwrap(), vec![k1]);
}

pub async fn first_signing_key_race_inserts_exactly_one(fx: &Fixture) {
    const RACERS: usize = 8;
    let handles = [fx.open().await, fx.open().await];
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = handles[i % 2].clone();
        let barrier = barrier.clone();
        let k = key(&format!("k{i}"), at(i as i64));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.insert_first_signing_key(&k).await.map(|won| (won, k))
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (won, k) = task.await.unwrap().expect("every instance gets an answer");
        if won {
            winners.push(k);
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(handles[1].signing_keys().await.unwrap(), winners);
}

pub async fn activate_signing_key_retires_the_previous(fx: &Fixture) {
    let store = fx.open().await;
    let k1 = key("k1", at(0));
    assert!(store.insert_first_signing_key(&k1).await.unwrap());

    let k2 = key("k2", at(100));
    store.activate_signing_key(&k2).await.unwrap();
    assert_eq!(
        store.signing_keys().await.unwrap(),
        vec![k2.clone(), retired(k1.clone(), at(100))]
    );

    let k3 = key("k3", at(200));
    store.activate_signing_key(&k3).await.unwrap();
    assert_eq!(
        store.signing_keys().await.unwrap(),
        vec![k3, retired(k2, at(200)), retired(k1, at(100))],
        "newest first; an earlier retirement is kept"
    );
}

pub async fn failed_activation_rolls_back_the_retirement(fx: &Fixture) {
    let store = fx.open().await;
    let k1 = key("k1", at(0));
    store.activate_signing_key(&k1).await.unwrap();
    let before = store.signing_keys().await.unwrap();

    // A second key with the same kid cannot be inserted; the retirement of
    // k1 in the same transaction must not survive.
    assert!(store
        .activate_signing_key(&key("k1", at(100)))
        .await
        .is_err());
    assert_eq!(store.signing_keys().await.unwrap(), before);
    // And the writer is usable afterwards.
    store
        .activate_signing_key(&key("k2", at(200)))
        .await
        .unwrap();
    assert_eq!(store.signing_keys().await.unwrap().len(), 2);
}
