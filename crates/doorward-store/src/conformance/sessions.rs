//! Conformance cases for sessions: start, list active, revoke by scope.

use std::collections::BTreeSet;

use doorward_core::store::{AuditKind, RevokeScope, RevokedSession, SessionRecord};
use uuid::Uuid;

use super::{all_audit, at, event, login, seeded, session_for, Fixture, DAY};

fn ids(sessions: &[SessionRecord]) -> Vec<Uuid> {
    sessions.iter().map(|s| s.id).collect()
}

fn set(ids: &[Uuid]) -> BTreeSet<Uuid> {
    ids.iter().copied().collect()
}

pub async fn start_session_lists_active_sessions_newest_first(fx: &Fixture) {
    let store = fx.open().await;
    let (u, signup_session) = seeded(&*store, "ada@example.org").await;
    let (w, other) = seeded(&*store, "bob@example.org").await;

    let s1 = login(&*store, u.id, at(10), DAY).await;
    let s2 = login(&*store, u.id, at(20), DAY).await;
    let short = login(&*store, u.id, at(30), 30).await; // expires at(60)
    let revoked = login(&*store, u.id, at(40), DAY).await;
    let logout = event(AuditKind::Logout, at(45), Some(u.id), Some(revoked.id));
    store
        .revoke_sessions(u.id, RevokeScope::One(revoked.id), at(45), &logout)
        .await
        .unwrap();

    let active = store.active_sessions(u.id, at(59)).await.unwrap();
    assert_eq!(
        ids(&active),
        vec![short.id, s2.id, s1.id, signup_session.id]
    );
    assert_eq!(
        active[2],
        SessionRecord {
            id: s1.id,
            user_id: u.id,
            created_at: at(10),
            last_used_at: at(10),
            expires_at: s1.expires_at,
            revoked_at: None,
            ip: s1.ip.clone(),
            user_agent: s1.user_agent.clone(),
        }
    );
    // `expires_at == now` is expired.
    let active = store.active_sessions(u.id, at(60)).await.unwrap();
    assert_eq!(ids(&active), vec![s2.id, s1.id, signup_session.id]);
    assert_eq!(
        ids(&store.active_sessions(w.id, at(60)).await.unwrap()),
        vec![other.id]
    );
    assert!(store
        .active_sessions(Uuid::now_v7(), at(60))
        .await
        .unwrap()
        .is_empty());

    let logins: BTreeSet<_> = store
        .recent_audit(Some(u.id), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == AuditKind::Login)
        .filter_map(|e| e.session_id)
        .collect();
    assert_eq!(logins, set(&[s1.id, s2.id, short.id, revoked.id]));
}

pub async fn start_session_for_an_unknown_user_writes_nothing(fx: &Fixture) {
    let store = fx.open().await;
    let ghost = Uuid::now_v7();
    let s = session_for(ghost, at(0), DAY);
    let e = event(AuditKind::Login, at(0), Some(ghost), Some(s.id));
    assert!(store.start_session(&s, &e).await.is_err());
    assert_eq!(store.session(s.id).await.unwrap(), None);
    assert!(all_audit(&*store).await.is_empty());
}

pub async fn revoke_all_revokes_every_active_session_of_the_user(fx: &Fixture) {
    let store = fx.open().await;
    let (u, a) = seeded(&*store, "ada@example.org").await;
    let (w, theirs) = seeded(&*store, "bob@example.org").await;
    let b = login(&*store, u.id, at(20), DAY).await;
    let expired = login(&*store, u.id, at(30), 5).await;
    let earlier = login(&*store, u.id, at(40), DAY).await;
    let first = event(
        AuditKind::SessionRevoked,
        at(45),
        Some(u.id),
        Some(earlier.id),
    );
    store
        .revoke_sessions(u.id, RevokeScope::One(earlier.id), at(45), &first)
        .await
        .unwrap();
    let before = all_audit(&*store).await;

    let template = event(AuditKind::Logout, at(100), Some(u.id), Some(a.id));
    let revoked = store
        .revoke_sessions(u.id, RevokeScope::All, at(100), &template)
        .await
        .unwrap();
    assert_eq!(set(&revoked), set(&[a.id, b.id]));
    assert_eq!(revoked.len(), 2);

    let revoked_at = |id| {
        let store = store.clone();
        async move { store.session(id).await.unwrap().unwrap().revoked_at }
    };
    assert_eq!(revoked_at(a.id).await, Some(at(100)));
    assert_eq!(revoked_at(b.id).await, Some(at(100)));
    assert_eq!(revoked_at(expired.id).await, None);
    assert_eq!(revoked_at(earlier.id).await, Some(at(45)));
    assert_eq!(revoked_at(theirs.id).await, None);
    assert!(store
        .active_sessions(u.id, at(100))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&store.active_sessions(w.id, at(100)).await.unwrap()),
        vec![theirs.id]
    );

    // One audit row per revoked session: the template with a fresh id and
    // that session's id.
    let after = all_audit(&*store).await;
    let new: Vec<_> = after.iter().filter(|e| !before.contains(e)).collect();
    assert_eq!(new.len(), 2);
    let new_ids: BTreeSet<_> = new.iter().map(|e| e.id).collect();
    assert_eq!(new_ids.len(), 2);
    assert!(!new_ids.contains(&template.id));
    assert_eq!(
        set(&new.iter().filter_map(|e| e.session_id).collect::<Vec<_>>()),
        set(&revoked)
    );
    for e in new {
        let expected = doorward_core::store::AuditEvent {
            id: e.id,
            session_id: e.session_id,
            ..template.clone()
        };
        assert_eq!(*e, expected);
    }

    // Nothing left to revoke: nothing revoked, nothing audited.
    let again = store
        .revoke_sessions(u.id, RevokeScope::All, at(200), &template)
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(all_audit(&*store).await.len(), after.len());
}

pub async fn revoke_all_except_keeps_the_named_session(fx: &Fixture) {
    let store = fx.open().await;
    let (u, a) = seeded(&*store, "ada@example.org").await;
    let b = login(&*store, u.id, at(10), DAY).await;
    let c = login(&*store, u.id, at(20), DAY).await;
    let template = event(AuditKind::Logout, at(100), Some(u.id), Some(b.id));

    let revoked = store
        .revoke_sessions(u.id, RevokeScope::AllExcept(b.id), at(100), &template)
        .await
        .unwrap();
    assert_eq!(set(&revoked), set(&[a.id, c.id]));
    assert_eq!(
        ids(&store.active_sessions(u.id, at(100)).await.unwrap()),
        vec![b.id]
    );
    let logouts = all_audit(&*store)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::Logout)
        .count();
    assert_eq!(logouts, 2);
}

pub async fn revoke_one_touches_only_the_users_own_session(fx: &Fixture) {
    let store = fx.open().await;
    let (u, a) = seeded(&*store, "ada@example.org").await;
    let b = login(&*store, u.id, at(10), DAY).await;
    let (w, theirs) = seeded(&*store, "bob@example.org").await;
    let before = all_audit(&*store).await.len();

    // Another user's session: nothing revoked, nothing audited.
    let probe = event(
        AuditKind::SessionRevoked,
        at(50),
        Some(u.id),
        Some(theirs.id),
    );
    let revoked = store
        .revoke_sessions(u.id, RevokeScope::One(theirs.id), at(50), &probe)
        .await
        .unwrap();
    assert!(revoked.is_empty());
    assert_eq!(
        ids(&store.active_sessions(w.id, at(50)).await.unwrap()),
        vec![theirs.id]
    );
    let unknown = store
        .revoke_sessions(u.id, RevokeScope::One(Uuid::now_v7()), at(50), &probe)
        .await
        .unwrap();
    assert!(unknown.is_empty());
    assert_eq!(all_audit(&*store).await.len(), before);

    let own = event(AuditKind::SessionRevoked, at(60), Some(u.id), Some(a.id));
    let revoked = store
        .revoke_sessions(u.id, RevokeScope::One(a.id), at(60), &own)
        .await
        .unwrap();
    assert_eq!(revoked, vec![a.id]);
    assert_eq!(
        ids(&store.active_sessions(u.id, at(60)).await.unwrap()),
        vec![b.id]
    );
    let audit = all_audit(&*store).await;
    assert_eq!(audit.len(), before + 1);
    assert_eq!(audit[0].kind, AuditKind::SessionRevoked);
    assert_eq!(audit[0].session_id, Some(a.id));

    // Already revoked: not again.
    let again = store
        .revoke_sessions(u.id, RevokeScope::One(a.id), at(70), &own)
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(
        store.session(a.id).await.unwrap().unwrap().revoked_at,
        Some(at(60))
    );
}

pub async fn revoked_since_is_inclusive_and_ordered(fx: &Fixture) {
    let store = fx.open().await;
    let (u, a) = seeded(&*store, "ada@example.org").await;
    let b = login(&*store, u.id, at(5), DAY).await;
    let _c = login(&*store, u.id, at(6), DAY).await;
    for (id, when) in [(b.id, 20), (a.id, 10)] {
        let e = event(AuditKind::SessionRevoked, at(when), Some(u.id), Some(id));
        store
            .revoke_sessions(u.id, RevokeScope::One(id), at(when), &e)
            .await
            .unwrap();
    }

    let rs = |id, when| RevokedSession {
        id,
        revoked_at: at(when),
    };
    assert_eq!(
        store.revoked_since(at(10)).await.unwrap(),
        vec![rs(a.id, 10), rs(b.id, 20)]
    );
    assert_eq!(
        store.revoked_since(at(11)).await.unwrap(),
        vec![rs(b.id, 20)]
    );
    assert_eq!(
        store.revoked_since(at(20)).await.unwrap(),
        vec![rs(b.id, 20)]
    );
    assert!(store.revoked_since(at(21)).await.unwrap().is_empty());
}
