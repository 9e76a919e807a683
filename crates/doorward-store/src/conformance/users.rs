//! Conformance cases for accounts: create, look up, conflicts, the hash swap.

use doorward_core::store::{AuditKind, SessionRecord, StoreError};
use time::Duration;
use uuid::Uuid;

use super::{all_audit, at, event, peek, seeded, session_for, user, Fixture, DAY, HASH, T0};

pub async fn user_round_trips_by_id_email_and_username(fx: &Fixture) {
    let store = fx.open().await;
    store.ping().await.unwrap();

    let mut ada = user("ada@example.org", Some("ada"));
    ada.roles = vec!["admin".to_owned(), "ops".to_owned()];
    ada.email_verified = true;
    ada.updated_at = at(5);
    let signup = event(AuditKind::Signup, at(0), Some(ada.id), None);
    store.create_user(&ada, None, &signup).await.unwrap();

    assert_eq!(store.user_by_id(ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(
        store.user_by_email("ada@example.org").await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(
        store.user_by_username("ada").await.unwrap(),
        Some(ada.clone())
    );

    let mut bob = user("bob@example.org", None);
    bob.disabled = true;
    let signup_bob = event(AuditKind::Signup, at(1), Some(bob.id), None);
    store.create_user(&bob, None, &signup_bob).await.unwrap();
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(
        store.user_by_email("bob@example.org").await.unwrap(),
        Some(bob)
    );

    assert_eq!(store.user_by_id(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(
        store.user_by_email("nobody@example.org").await.unwrap(),
        None
    );
    assert_eq!(store.user_by_username("nobody").await.unwrap(), None);
    // Look-ups are exact: the core normalises before it asks.
    assert_eq!(store.user_by_email("ADA@example.org").await.unwrap(), None);

    assert_eq!(
        store.recent_audit(Some(ada.id), 10).await.unwrap(),
        vec![signup]
    );
}

pub async fn create_user_with_session_stores_session_token_and_audit(fx: &Fixture) {
    let store = fx.open().await;
    let (u, s) = seeded(&*store, "ada@example.org").await;

    let expected = SessionRecord {
        id: s.id,
        user_id: u.id,
        created_at: s.created_at,
        last_used_at: s.created_at,
        expires_at: s.expires_at,
        revoked_at: None,
        ip: s.ip.clone(),
        user_agent: s.user_agent.clone(),
    };
    assert_eq!(store.session(s.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(
        store.active_sessions(u.id, at(1)).await.unwrap(),
        vec![expected.clone()]
    );

    let state = peek(&*store, &s.refresh_hash)
        .await
        .expect("first refresh token stored");
    assert_eq!(state.session, expected);
    assert_eq!(state.user, u);
    assert_eq!(state.rotated_at, None);

    let audit = store.recent_audit(Some(u.id), 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].kind, AuditKind::Signup);
    assert_eq!(audit[0].session_id, Some(s.id));
}

/// Creates `first`, then tries a second user that collides on `field`, with
/// a session and an audit row; checks the error and that none of it landed.
async fn conflict_writes_nothing(fx: &Fixture, field: &'static str) {
    let store = fx.open().await;
    let first = user("ada@example.org", Some("ada"));
    let first_signup = event(AuditKind::Signup, at(0), Some(first.id), None);
    store
        .create_user(&first, None, &first_signup)
        .await
        .unwrap();

    let second = match field {
        "email" => user("ada@example.org", Some("lovelace")),
        _ => user("lovelace@example.org", Some("ada")),
    };
    let session = session_for(second.id, at(1), DAY);
    let signup = event(AuditKind::Signup, at(1), Some(second.id), Some(session.id));
    match store.create_user(&second, Some(&session), &signup).await {
        Err(StoreError::Conflict(f)) => assert_eq!(f, field),
        other => panic!("expected Conflict({field:?}), got {other:?}"),
    }

    assert_eq!(store.user_by_id(second.id).await.unwrap(), None);
    assert_eq!(
        store.user_by_email("lovelace@example.org").await.unwrap(),
        None
    );
    assert_eq!(store.user_by_username("lovelace").await.unwrap(), None);
    assert_eq!(store.session(session.id).await.unwrap(), None);
    assert!(peek(&*store, &session.refresh_hash).await.is_none());
    assert_eq!(all_audit(&*store).await, vec![first_signup]);
    assert_eq!(store.user_by_id(first.id).await.unwrap(), Some(first));
}

pub async fn duplicate_email_is_a_conflict_and_writes_nothing(fx: &Fixture) {
    conflict_writes_nothing(fx, "email").await;
}

pub async fn duplicate_username_is_a_conflict_and_writes_nothing(fx: &Fixture) {
    conflict_writes_nothing(fx, "username").await;
}

pub async fn users_without_username_never_conflict(fx: &Fixture) {
    let store = fx.open().await;
    let users: Vec<_> = (0..3)
        .map(|i| user(&format!("user{i}@example.org"), None))
        .collect();
    for u in &users {
        let signup = event(AuditKind::Signup, at(0), Some(u.id), None);
        store.create_user(u, None, &signup).await.unwrap();
    }
    for u in &users {
        assert_eq!(
            store.user_by_email(&u.email).await.unwrap().as_ref(),
            Some(u)
        );
    }
}

pub async fn upgrade_password_hash_is_compare_and_set(fx: &Fixture) {
    let store = fx.open().await;
    let u = user("ada@example.org", None);
    let signup = event(AuditKind::Signup, at(0), Some(u.id), None);
    store.create_user(&u, None, &signup).await.unwrap();
    let current = || async { store.user_by_id(u.id).await.unwrap().unwrap() };

    assert!(!store
        .upgrade_password_hash(u.id, "$2b$12$wrong", "$new1", at(10))
        .await
        .unwrap());
    assert_eq!(current().await, u);

    assert!(store
        .upgrade_password_hash(u.id, HASH, "$new1", at(20))
        .await
        .unwrap());
    let after = current().await;
    assert_eq!(after.password_hash, "$new1");
    assert_eq!(after.updated_at, at(20));

    // A second upgrade from the old hash lost the race: nothing changes.
    assert!(!store
        .upgrade_password_hash(u.id, HASH, "$new2", at(30))
        .await
        .unwrap());
    assert_eq!(current().await, after);

    assert!(!store
        .upgrade_password_hash(Uuid::now_v7(), "$new1", "$new2", at(40))
        .await
        .unwrap());
}

pub async fn times_are_kept_to_the_millisecond(fx: &Fixture) {
    let store = fx.open().await;
    let mut u = user("ada@example.org", None);
    u.created_at = T0 + Duration::nanoseconds(123_456_789);
    u.updated_at = T0 - Duration::nanoseconds(1_500_000);
    let signup = event(AuditKind::Signup, u.created_at, Some(u.id), None);
    store.create_user(&u, None, &signup).await.unwrap();

    let stored = store.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(stored.created_at, T0 + Duration::milliseconds(123));
    // Sub-millisecond digits are dropped, not rounded.
    assert_eq!(stored.updated_at, T0 - Duration::milliseconds(2));
    let audit = store.recent_audit(Some(u.id), 1).await.unwrap();
    assert_eq!(audit[0].at, T0 + Duration::milliseconds(123));
}
