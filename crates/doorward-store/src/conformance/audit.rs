//! Conformance cases for the audit log and for starting up: the newest
//! events first, every event type stored as given, instances racing on an
//! empty database.

use doorward_core::store::{AuditEvent, AuditKind};
use uuid::Uuid;

use super::{at, event, user, Fixture};

pub async fn recent_audit_is_newest_first_filtered_and_limited(fx: &Fixture) {
    let store = fx.open().await;
    let (u1, u2) = (Uuid::now_v7(), Uuid::now_v7());
    let e1 = event(AuditKind::Login, at(10), Some(u1), Some(Uuid::now_v7()));
    let e2 = event(AuditKind::Login, at(20), Some(u2), None);
    let e3 = AuditEvent {
        actor_id: None,
        user_id: None,
        ip: None,
        user_agent: None,
        ..event(AuditKind::Throttled, at(30), None, None)
    };
    let e4 = AuditEvent {
        actor_id: None,
        outcome: "failure: wrong password".to_owned(),
        ..event(AuditKind::LoginFailed, at(40), Some(u1), None)
    };
    let e5 = AuditEvent {
        actor_id: Some(u2),
        ..event(AuditKind::UserDisabled, at(50), Some(u1), None)
    };
    // Recorded out of order: the log sorts by `at`, not by arrival.
    for e in [&e3, &e1, &e5, &e2, &e4] {
        store.record_event(e).await.unwrap();
    }

    let all = vec![e5.clone(), e4.clone(), e3.clone(), e2.clone(), e1.clone()];
    assert_eq!(store.recent_audit(None, 10).await.unwrap(), all);
    assert_eq!(
        store.recent_audit(None, 2).await.unwrap(),
        vec![e5.clone(), e4.clone()]
    );
    assert_eq!(
        store.recent_audit(Some(u1), 10).await.unwrap(),
        vec![e5.clone(), e4, e1]
    );
    assert_eq!(store.recent_audit(Some(u1), 1).await.unwrap(), vec![e5]);
    assert_eq!(store.recent_audit(Some(u2), 10).await.unwrap(), vec![e2]);
    assert!(store
        .recent_audit(Some(Uuid::now_v7()), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.recent_audit(None, 0).await.unwrap().is_empty());
}

pub async fn every_audit_kind_round_trips(fx: &Fixture) {
    let store = fx.open().await;
    let u = Uuid::now_v7();
    let events: Vec<_> = AuditKind::ALL
        .iter()
        .zip(0..)
        .map(|(&kind, i)| event(kind, at(i), Some(u), None))
        .collect();
    for e in &events {
        store.record_event(e).await.unwrap();
    }
    let mut stored = store.recent_audit(Some(u), 100).await.unwrap();
    stored.reverse();
    assert_eq!(stored, events);
}

/// Several instances may start at the same moment on an empty database:
/// every one migrates without error and the first key is created once.
pub async fn instances_starting_together_on_an_empty_database(fx: &Fixture) {
    const INSTANCES: usize = 4;
    let mut tasks = Vec::new();
    for i in 0..INSTANCES {
        let url = fx.url().to_owned();
        tasks.push(tokio::spawn(async move {
            let store = crate::connect(&url, &crate::ConnectOptions::default()).await?;
            let first = super::keys::key(&format!("start{i}"), at(0));
            let inserted = store.insert_first_signing_key(&first).await?;
            Ok::<_, doorward_core::store::StoreError>((store, inserted))
        }));
    }
    let mut stores = Vec::new();
    let mut inserted = 0;
    for task in tasks {
        let (store, won) = task.await.unwrap().expect("every instance starts");
        inserted += usize::from(won);
        stores.push(store);
    }
    assert_eq!(inserted, 1);
    crate::migrate(fx.url())
        .await
        .expect("migrating again is a no-op");

    // The schema is whole: any instance can write, every instance reads it.
    let u = user("ada@example.org", None);
    let signup = event(AuditKind::Signup, at(0), Some(u.id), None);
    stores[0].create_user(&u, None, &signup).await.unwrap();
    for store in &stores {
        assert_eq!(store.user_by_id(u.id).await.unwrap().as_ref(), Some(&u));
        assert_eq!(store.signing_keys().await.unwrap().len(), 1);
    }
}
